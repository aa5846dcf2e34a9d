/* phased_change--1.1--1.2.sql
 *
 * Upgrade from 1.1: the progress view looks up one plan's objects through
 * indexes and the usage tracker one object at a time, instead of reading
 * every object of every plan (phase_advance reads its blockers there);
 * guarded_objects gains plan_id for that.  usage_of() is new.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION phased_change UPDATE TO '1.2'" to load this file. \quit

CREATE FUNCTION phased_change.usage_of(
	object_id pg_catalog.int8,
	OUT reads pg_catalog.int8,
	OUT writes pg_catalog.int8,
	OUT first_seen pg_catalog.timestamptz,
	OUT last_seen pg_catalog.timestamptz,
	OUT last_role pg_catalog.name,
	OUT last_application_name pg_catalog.text)
RETURNS record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'usage_of';

REVOKE ALL ON FUNCTION phased_change.usage_of(pg_catalog.int8) FROM PUBLIC;
COMMENT ON FUNCTION phased_change.usage_of(pg_catalog.int8)
	IS 'Reads and writes of one guarded object';

CREATE OR REPLACE VIEW phased_change.guarded_objects AS
SELECT p.name AS plan,
	   o.object_type,
	   o.identity AS object,
	   o.role,
	   x.present AS exists,
	   (p.status OPERATOR(pg_catalog.<>) 'active'
		OR (o.role OPERATOR(pg_catalog.=) 'retired' AND p.phase OPERATOR(pg_catalog.=) 4)
		OR (o.role OPERATOR(pg_catalog.=) 'introduced' AND p.phase OPERATOR(pg_catalog.=) 1))
	   AS may_drop,
	   p.status AS plan_status,
	   ph.name AS plan_phase,
	   o.registered_at,
	   o.rel,
	   o.col,
	   o.object_id,
	   o.plan_id
FROM phased_change.object o
JOIN phased_change.plan p ON p.plan_id OPERATOR(pg_catalog.=) o.plan_id
JOIN phased_change.phase ph ON ph.phase OPERATOR(pg_catalog.=) p.phase
CROSS JOIN LATERAL (
	SELECT CASE
		WHEN o.col IS NULL THEN EXISTS (
			SELECT FROM pg_catalog.pg_class c
			WHERE c.oid OPERATOR(pg_catalog.=) o.rel::pg_catalog.oid)
		ELSE EXISTS (
			SELECT FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) o.rel::pg_catalog.oid
			  AND a.attname OPERATOR(pg_catalog.=) o.col
			  AND NOT a.attisdropped)
	END AS present
) x;

CREATE OR REPLACE VIEW phased_change.progress AS
SELECT p.name AS plan,
	   p.description,
	   p.status,
	   ph.name AS phase,
	   p.phase AS phase_number,
	   p.entered_at,
	   k.soak,
	   s.soak_remaining,
	   c.checks_passed,
	   c.checks_total,
	   v.at AS last_verified_at,
	   (p.status OPERATOR(pg_catalog.=) 'active'
		AND pg_catalog.cardinality(b.blockers) OPERATOR(pg_catalog.=) 0) AS ready,
	   b.blockers,
	   n.next_step,
	   w.warnings,
	   CASE WHEN t.preloaded AND p.status OPERATOR(pg_catalog.=) 'active' AND r.has_retired
			THEN r.usage END AS retired_usage,
	   p.owner,
	   p.created_at
FROM phased_change.plan p
JOIN phased_change.phase ph ON ph.phase OPERATOR(pg_catalog.=) p.phase
CROSS JOIN phased_change.usage_tracking() t
/* the use of the plan's retired objects, one probe of the tracker each */
CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 AS has_retired,
		   pg_catalog.max(u.last_seen) AS last_use,
		   pg_catalog.array_agg(CASE
				WHEN u.last_seen IS NULL THEN
					pg_catalog.format('Retired %s "%s" has not been used since usage tracking began.',
									  o.object_type, o.identity)
				ELSE
					pg_catalog.format('Retired %s "%s" was last used at %s by role "%s"%s: %s reads, %s writes.',
									  o.object_type, o.identity, u.last_seen, u.last_role,
									  CASE WHEN u.last_application_name OPERATOR(pg_catalog.<>) ''
										   THEN pg_catalog.format(' (application "%s")', u.last_application_name)
										   ELSE '' END,
									  u.reads, u.writes)
				END ORDER BY o.identity) AS usage
	FROM phased_change.object o
	LEFT JOIN LATERAL phased_change.usage_of(o.object_id) u ON true
	WHERE o.plan_id OPERATOR(pg_catalog.=) p.plan_id
	  AND o.role OPERATOR(pg_catalog.=) 'retired'
) r
/* the latest verification recorded in this stay in the phase */
LEFT JOIN LATERAL (
	SELECT e.at, e.detail
	FROM phased_change.event_log e
	WHERE e.plan_id OPERATOR(pg_catalog.=) p.plan_id
	  AND e.from_phase OPERATOR(pg_catalog.=) p.phase
	  AND e.at OPERATOR(pg_catalog.>=) p.entered_at
	  AND e.checks_ok IS NOT NULL
	ORDER BY e.at DESC, e.event_id DESC
	LIMIT 1
) v ON true
/* what the soak counts from */
CROSS JOIN LATERAL (
	SELECT CASE WHEN p.phase OPERATOR(pg_catalog.=) 4 THEN '0'::pg_catalog.interval
			   ELSE COALESCE((SELECT ps.soak FROM phased_change.phase_soak ps
							  WHERE ps.plan_id OPERATOR(pg_catalog.=) p.plan_id
								AND ps.phase OPERATOR(pg_catalog.=) p.phase),
							 p.soak)
		   END AS soak,
		   (SELECT pg_catalog.max(e.at)
			FROM phased_change.event_log e
			WHERE e.plan_id OPERATOR(pg_catalog.=) p.plan_id
			  AND e.from_phase OPERATOR(pg_catalog.=) p.phase
			  AND e.at OPERATOR(pg_catalog.>=) p.entered_at
			  AND e.checks_ok IS NOT NULL
			  AND NOT e.checks_ok) AS last_failed,
		   CASE WHEN p.phase OPERATOR(pg_catalog.=) 3 THEN r.last_use END AS last_use,
		   CASE WHEN p.phase OPERATOR(pg_catalog.=) 3 AND t.preloaded AND r.has_retired
				THEN t.tracking_since END AS tracked_from,
		   (p.phase OPERATOR(pg_catalog.=) 3 AND r.has_retired) AS needs_evidence
) k
CROSS JOIN LATERAL (
	SELECT GREATEST(p.entered_at, k.last_failed, k.last_use) AS evidence_from,
		   GREATEST(p.entered_at, k.last_failed, k.last_use,
					CASE WHEN t.require_evidence THEN k.tracked_from END) AS since
) f
CROSS JOIN LATERAL (
	SELECT CASE WHEN p.status OPERATOR(pg_catalog.=) 'active' THEN
			   GREATEST(k.soak OPERATOR(pg_catalog.-)
						(pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) f.since),
						'0'::pg_catalog.interval)
		   END AS soak_remaining,
		   GREATEST(pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) f.since,
					'0'::pg_catalog.interval) AS soaked,
		   CASE WHEN f.since OPERATOR(pg_catalog.=) p.entered_at THEN ''
				WHEN f.since OPERATOR(pg_catalog.=) k.last_failed
					THEN ', counted from the last failed verification'
				WHEN f.since OPERATOR(pg_catalog.=) k.last_use
					THEN ', counted from the last use of a retired object'
				ELSE pg_catalog.format(', counted from the start of usage tracking at %s, because the server restarted without saved usage statistics',
									   k.tracked_from)
		   END AS counted_from
) s
/* the checks of the current phase against the latest verification */
CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS checks_total,
		   pg_catalog.count(*) FILTER (WHERE r.ok) AS checks_passed,
		   COALESCE(pg_catalog.array_agg(
				pg_catalog.format('Check "%s" did not hold at the last verification: %s.',
								  ck.name, r.error)
				ORDER BY ck.name) FILTER (WHERE NOT r.ok), '{}') AS failed,
		   COALESCE(pg_catalog.array_agg(
				pg_catalog.format('Check "%s" has not been verified since the plan entered phase "%s".',
								  ck.name, ph.name)
				ORDER BY ck.name) FILTER (WHERE r.ok IS NULL), '{}') AS unverified,
		   pg_catalog.min(ck.name) FILTER (WHERE NOT r.ok) AS first_failed
	FROM phased_change.plan_check ck
	LEFT JOIN pg_catalog.jsonb_to_recordset(v.detail OPERATOR(pg_catalog.->) 'checks')
		AS r(name pg_catalog.text, ok pg_catalog.bool, error pg_catalog.text)
		ON r.name OPERATOR(pg_catalog.=) ck.name
	WHERE ck.plan_id OPERATOR(pg_catalog.=) p.plan_id
	  AND ck.phase OPERATOR(pg_catalog.=) p.phase
) c
/* introduced objects that have gone missing, retired ones still standing */
CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.array_agg(
				pg_catalog.format('Introduced %s "%s" no longer exists.', g.object_type, g.object)
				ORDER BY g.object) FILTER (WHERE g.role OPERATOR(pg_catalog.=) 'introduced'
										   AND NOT g.exists), '{}') AS missing,
		   COALESCE(pg_catalog.array_agg(
				pg_catalog.format('Retired %s "%s" has not been dropped yet.', g.object_type, g.object)
				ORDER BY g.object) FILTER (WHERE g.role OPERATOR(pg_catalog.=) 'retired'
										   AND g.exists), '{}') AS standing,
		   pg_catalog.string_agg(
				CASE WHEN g.col IS NULL
					 THEN pg_catalog.format('DROP %s %s;', pg_catalog.upper(g.object_type), g.object)
					 ELSE pg_catalog.format('ALTER TABLE %s DROP COLUMN %s;',
											g.rel, pg_catalog.quote_ident(g.col))
				END, ' ' ORDER BY g.object) FILTER (WHERE g.role OPERATOR(pg_catalog.=) 'retired'
													AND g.exists) AS drops
	FROM phased_change.guarded_objects g
	WHERE g.plan_id OPERATOR(pg_catalog.=) p.plan_id
) o
/* what is known about the evidence of non-use, as sentences */
CROSS JOIN LATERAL (
	SELECT CASE
		WHEN p.status OPERATOR(pg_catalog.<>) 'active' OR NOT r.has_retired
			 OR p.phase OPERATOR(pg_catalog.=) 4 THEN NULL
		WHEN NOT t.preloaded THEN
			'Usage tracking is off because phased_change is not in shared_preload_libraries: nothing proves that the retired objects are unused.'
		WHEN k.needs_evidence AND t.uncounted OPERATOR(pg_catalog.>) 0 THEN
			pg_catalog.format('Usage tracking is full (phased_change.max_tracked_columns): %s uses went uncounted.',
							  t.uncounted)
		WHEN k.needs_evidence AND k.tracked_from OPERATOR(pg_catalog.>) f.evidence_from THEN
			pg_catalog.format('Usage tracking has covered the retired objects only since %s, because the server restarted without saved usage statistics.',
							  k.tracked_from)
	END AS evidence
) x
/* every unmet condition, as sentences */
CROSS JOIN LATERAL (
	SELECT CASE WHEN p.status OPERATOR(pg_catalog.<>) 'active' THEN '{}'::pg_catalog.text[]
		   ELSE o.missing OPERATOR(pg_catalog.||) c.failed OPERATOR(pg_catalog.||) c.unverified
				OPERATOR(pg_catalog.||)
				CASE WHEN p.phase OPERATOR(pg_catalog.=) 4 THEN o.standing ELSE '{}' END
				OPERATOR(pg_catalog.||)
				CASE WHEN t.require_evidence AND t.uncounted OPERATOR(pg_catalog.>) 0
						  AND k.needs_evidence THEN ARRAY[x.evidence]
					 ELSE '{}' END
				OPERATOR(pg_catalog.||)
				CASE WHEN s.soak_remaining OPERATOR(pg_catalog.>) '0'::pg_catalog.interval THEN
					ARRAY[pg_catalog.format('Phase "%s" has soaked for %s of its %s soak%s.',
						ph.name,
						pg_catalog.date_trunc('second', s.soaked),
						k.soak,
						s.counted_from)]
				ELSE '{}' END
		   END AS blockers
) b
/* what is worth knowing but blocks nothing */
CROSS JOIN LATERAL (
	SELECT CASE WHEN x.evidence IS NULL
					 OR (t.require_evidence AND t.preloaded) THEN '{}'::pg_catalog.text[]
				ELSE ARRAY[x.evidence] END AS warnings
) w
/* what to do next */
CROSS JOIN LATERAL (
	SELECT CASE
		WHEN p.status OPERATOR(pg_catalog.=) 'completed' THEN 'Nothing: the plan is completed.'
		WHEN p.status OPERATOR(pg_catalog.=) 'abandoned' THEN 'Nothing: the plan was abandoned.'
		WHEN pg_catalog.cardinality(o.missing) OPERATOR(pg_catalog.>) 0 THEN
			'Re-create the missing introduced objects before advancing.'
		WHEN c.first_failed IS NOT NULL THEN
			pg_catalog.format('Make check "%s" hold, then run SELECT phase_verify(%L).', c.first_failed, p.name)
		WHEN pg_catalog.cardinality(c.unverified) OPERATOR(pg_catalog.>) 0 THEN
			pg_catalog.format('Run SELECT phase_verify(%L).', p.name)
		WHEN p.phase OPERATOR(pg_catalog.=) 4 AND o.drops IS NOT NULL THEN
			pg_catalog.format('Run %s then SELECT phase_advance(%L).', o.drops, p.name)
		WHEN t.require_evidence AND t.uncounted OPERATOR(pg_catalog.>) 0 AND k.needs_evidence THEN
			'Raise phased_change.max_tracked_columns and restart the server, or set phased_change.require_usage_evidence to off.'
		WHEN s.soak_remaining OPERATOR(pg_catalog.>) '0'::pg_catalog.interval THEN
			pg_catalog.format('Wait %s for the soak, then run SELECT phase_advance(%L).',
				pg_catalog.date_trunc('second', s.soak_remaining
					OPERATOR(pg_catalog.+) '0.999999 second'::pg_catalog.interval), p.name)
		ELSE pg_catalog.format('Run SELECT phase_advance(%L).', p.name)
	END AS next_step
) n;
