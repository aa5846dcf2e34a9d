/* phased_change--1.3--1.4.sql
 *
 * Upgrade from 1.3: the migrate phase done by the database (issue 11:
 * backfills and dual-write syncs), operating plans day to day (issue 12)
 * and usage evidence from standbys (issue 13).  See the sections below.
 *
 * The install script of 1.4 is built by make from phased_change--1.3.sql
 * followed by this file, so every statement here must also be right on a
 * fresh install.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION phased_change UPDATE TO '1.4'" to load this file. \quit

/*
 * Sections of 1.4 (each headed by a comment naming its part) go here, above
 * the views: the views below may call functions they define.
 */

/*
 * Operating plans day to day (issue 12, items 1 to 3: verification without
 * a job per plan, history that does not grow with the schedule,
 * notifications).
 *
 * The plan row keeps its latest verification in the current stay in its
 * phase (reset on every transition); a verification reaches the history
 * only when its outcome differs from the previous one (outcome: which
 * checks ran and which failed), so a plan verified every minute adds rows
 * only when something changes.  last_failed_at is the soak clock's start
 * (every failed verification moves it, recorded or not); verification_since
 * is when the latest outcome was first seen.
 */
ALTER TABLE phased_change.plan
	ADD COLUMN last_verified_at pg_catalog.timestamptz,
	ADD COLUMN last_verification_ok pg_catalog.bool,
	ADD COLUMN last_verification pg_catalog.jsonb,
	ADD COLUMN last_failed_at pg_catalog.timestamptz,
	ADD COLUMN verification_since pg_catalog.timestamptz;
COMMENT ON COLUMN phased_change.plan.last_verified_at
	IS 'When the current phase was last verified (NULL: not since the plan entered it)';
COMMENT ON COLUMN phased_change.plan.last_verification_ok
	IS 'Whether every check held at the latest verification in the current phase';
COMMENT ON COLUMN phased_change.plan.last_verification
	IS 'The latest verification in the current phase: its source and the result of each check';
COMMENT ON COLUMN phased_change.plan.last_failed_at
	IS 'The latest failed verification in the current phase: the soak counts from it';
COMMENT ON COLUMN phased_change.plan.verification_since
	IS 'When the outcome of the latest verification was first seen in the current phase';

/*
 * Keeping a verification on the plan row changes nothing the guard reads:
 * the guard caches are invalidated only by changes of the columns 1.3 had
 * (a verification every minute would otherwise make every session reload
 * them).  A column added later that the guard reads must join this list.
 */
DROP TRIGGER plan_guard_invalidate ON phased_change.plan;
CREATE TRIGGER plan_guard_invalidate
	AFTER INSERT OR DELETE
	OR UPDATE OF plan_id, name, description, owner, status, phase, soak, created_at,
				 entered_at, ended_at
	ON phased_change.plan
	FOR EACH ROW EXECUTE FUNCTION phased_change.guard_catalog_changed();
ALTER TABLE phased_change.plan ENABLE ALWAYS TRIGGER plan_guard_invalidate;

/* What makes two verifications differ: the checks that ran, and which failed. */
CREATE FUNCTION phased_change.verification_outcome(verification pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT pg_catalog.jsonb_build_array(
	pg_catalog.jsonb_path_query_array(verification, '$.checks[*].name'),
	pg_catalog.jsonb_path_query_array(verification, '$.checks[*] ? (@.ok == false).name'))
$$;
REVOKE ALL ON FUNCTION phased_change.verification_outcome(pg_catalog.jsonb) FROM PUBLIC;
COMMENT ON FUNCTION phased_change.verification_outcome(pg_catalog.jsonb)
	IS 'The checks a verification ran and those that failed, to tell whether it differs from the previous one';

/*
 * Existing history is kept: the plan rows start from the latest verification
 * of their stay (a DO block: an UPDATE of several columns cannot be written
 * with qualified operators only).
 */
DO $$
BEGIN
	WITH stay AS (
		SELECT p.plan_id,
			   (SELECT pg_catalog.max(e.at) FROM phased_change.event_log e
				WHERE e.plan_id OPERATOR(pg_catalog.=) p.plan_id
				  AND e.from_phase OPERATOR(pg_catalog.=) p.phase
				  AND e.at OPERATOR(pg_catalog.>=) p.entered_at
				  AND NOT e.checks_ok) AS last_failed_at,
			   v.at, v.checks_ok, v.detail
		FROM phased_change.plan p
		CROSS JOIN LATERAL (
			SELECT e.at, e.checks_ok, e.detail
			FROM phased_change.event_log e
			WHERE e.plan_id OPERATOR(pg_catalog.=) p.plan_id
			  AND e.from_phase OPERATOR(pg_catalog.=) p.phase
			  AND e.at OPERATOR(pg_catalog.>=) p.entered_at
			  AND e.checks_ok IS NOT NULL
			ORDER BY e.at DESC, e.event_id DESC
			LIMIT 1) v
		WHERE p.status OPERATOR(pg_catalog.=) 'active'
	)
	UPDATE phased_change.plan p
	SET last_verified_at = s.at,
		last_verification_ok = s.checks_ok,
		last_verification = s.detail,
		last_failed_at = s.last_failed_at,
		/* a passing run started with the first verification after the last failure */
		verification_since = CASE WHEN s.checks_ok THEN
			(SELECT pg_catalog.min(e.at) FROM phased_change.event_log e
			 WHERE e.plan_id OPERATOR(pg_catalog.=) p.plan_id
			   AND e.from_phase OPERATOR(pg_catalog.=) p.phase
			   AND e.at OPERATOR(pg_catalog.>=) p.entered_at
			   AND e.at OPERATOR(pg_catalog.>) COALESCE(s.last_failed_at, '-infinity')
			   AND e.checks_ok)
			ELSE s.at END
	FROM stay s
	WHERE s.plan_id OPERATOR(pg_catalog.=) p.plan_id;
END
$$;

/*
 * History pruning: the append-only trigger lets a DELETE through only while
 * phase_history_prune (C) runs, which it alone can say.
 */
CREATE FUNCTION phased_change.history_pruning()
RETURNS pg_catalog.bool
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'history_pruning';
REVOKE ALL ON FUNCTION phased_change.history_pruning() FROM PUBLIC;
COMMENT ON FUNCTION phased_change.history_pruning()
	IS 'Whether phase_history_prune is deleting history in this session (the append-only trigger asks)';

CREATE OR REPLACE FUNCTION phased_change.event_log_refuse_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND phased_change.history_pruning() THEN
		RETURN OLD;
	END IF;
	RAISE EXCEPTION 'table "phased_change.event_log" is append-only'
		USING ERRCODE = 'insufficient_privilege',
			  DETAIL = 'The change history may only be added to.';
END
$$;

CREATE FUNCTION @extschema@.phase_history_prune(before pg_catalog.timestamptz)
RETURNS pg_catalog.int8
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_history_prune';
REVOKE ALL ON FUNCTION @extschema@.phase_history_prune(pg_catalog.timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.phase_history_prune(pg_catalog.timestamptz)
	IS 'Remove the history of change plans that ended before the given time (superusers; the prune is recorded)';

CREATE FUNCTION @extschema@.phase_verify_all(
	OUT plan pg_catalog.text,
	OUT phase pg_catalog.text,
	OUT ok pg_catalog.bool,
	OUT ready pg_catalog.bool)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'phase_verify_all';
REVOKE ALL ON FUNCTION @extschema@.phase_verify_all() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.phase_verify_all()
	IS 'Verify every active change plan the caller may change, each on its own; one row per plan';

/*
 * The views that 1.4 redefines, last, after everything they call.  CREATE OR
 * REPLACE keeps their privileges and comments; new columns go at the end.
 */

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

CREATE OR REPLACE VIEW phased_change.column_usage AS
SELECT g.plan,
	   g.role,
	   g.object_type,
	   (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE c.oid OPERATOR(pg_catalog.=) g.rel::pg_catalog.oid) AS "table",
	   g.col AS "column",
	   COALESCE(u.reads, CASE WHEN t.preloaded THEN 0 END) AS reads,
	   COALESCE(u.writes, CASE WHEN t.preloaded THEN 0 END) AS writes,
	   u.first_seen,
	   u.last_seen,
	   u.last_role,
	   u.last_application_name,
	   t.tracking_since,
	   (t.preloaded AND t.uncounted OPERATOR(pg_catalog.=) 0) AS tracking_complete
FROM phased_change.guarded_objects g
CROSS JOIN phased_change.usage_tracking() t
LEFT JOIN phased_change.usage_counts() u ON u.object_id OPERATOR(pg_catalog.=) g.object_id
WHERE g.plan_status OPERATOR(pg_catalog.=) 'active';

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
	   /* replication and restores (1.3): the owner is stored by name; NULL when missing */
	   pg_catalog.to_regrole(pg_catalog.quote_ident(p.owner)) AS owner,
	   p.created_at,
	   /*
	    * operations (1.4): since when nothing has stood in the way: the later
	    * of the end of the soak and the start of the run of passing
	    * verifications (when the phase has checks)
	    */
	   CASE WHEN p.status OPERATOR(pg_catalog.=) 'active'
				 AND pg_catalog.cardinality(b.blockers) OPERATOR(pg_catalog.=) 0
			THEN GREATEST(f.since OPERATOR(pg_catalog.+) k.soak,
						  CASE WHEN c.checks_total OPERATOR(pg_catalog.>) 0
							   THEN p.verification_since END)
	   END AS ready_since
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
/* the latest verification in this stay in the phase, kept on the plan row (1.4) */
LEFT JOIN LATERAL (
	SELECT p.last_verified_at AS at, p.last_verification AS detail
	WHERE p.last_verified_at OPERATOR(pg_catalog.>=) p.entered_at
) v ON true
/* what the soak counts from */
CROSS JOIN LATERAL (
	SELECT CASE WHEN p.phase OPERATOR(pg_catalog.=) 4 THEN '0'::pg_catalog.interval
			   ELSE COALESCE((SELECT ps.soak FROM phased_change.phase_soak ps
							  WHERE ps.plan_id OPERATOR(pg_catalog.=) p.plan_id
								AND ps.phase OPERATOR(pg_catalog.=) p.phase),
							 p.soak)
		   END AS soak,
		   /* kept on the plan row (1.4): every failed verification moves it */
		   CASE WHEN p.last_failed_at OPERATOR(pg_catalog.>=) p.entered_at
				THEN p.last_failed_at END AS last_failed,
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
/*
 * what the catalog shows still using the plan's retired objects, as
 * sentences naming each object and the SQL to look at it: the objects
 * pg_depend records as depending on a retired column (views, rules,
 * policies, indexes, constraints, generated columns, triggers, statistics,
 * functions with SQL-standard bodies) or, for a retired relation, on the
 * relation from outside it; and the triggers of a retired column's table
 * whose function body or arguments name the column (a word, in any case).
 * Only the plan's retired objects are looked at, through pg_depend's and
 * pg_trigger's indexes.
 */
CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.array_agg(su.sentence COLLATE pg_catalog."default"
										 ORDER BY su.sentence COLLATE pg_catalog."C"),
					'{}') AS sentences
	FROM phased_change.object ro
	JOIN pg_catalog.pg_class rc ON rc.oid OPERATOR(pg_catalog.=) ro.rel::pg_catalog.oid
	LEFT JOIN pg_catalog.pg_attribute ra
		ON ra.attrelid OPERATOR(pg_catalog.=) rc.oid
	   AND ra.attname OPERATOR(pg_catalog.=) ro.col
	   AND NOT ra.attisdropped
	CROSS JOIN LATERAL (
		/* dependent objects: of a column, any but its own parts; of a relation, those outside it */
		SELECT pg_catalog.format('%s %s uses retired %s "%s". To look at it: %s;',
					pg_catalog.upper(pg_catalog.left(dn.kind, 1)) OPERATOR(pg_catalog.||)
						pg_catalog.substr(dn.kind, 2),
					dn.identity, ro.object_type, ro.identity, dn.look) AS sentence
		FROM (
			SELECT d.classid, d.objid, d.objsubid
			FROM pg_catalog.pg_depend d
			WHERE ro.col IS NOT NULL
			  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
			  AND d.refobjid OPERATOR(pg_catalog.=) rc.oid
			  AND d.refobjsubid OPERATOR(pg_catalog.=) ra.attnum
			  AND d.deptype OPERATOR(pg_catalog.=) ANY ('{n,a}'::"char"[])
			UNION
			SELECT d.classid, d.objid, d.objsubid
			FROM pg_catalog.pg_depend d
			WHERE ro.col IS NULL
			  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
			  AND d.refobjid OPERATOR(pg_catalog.=) rc.oid
			  AND d.deptype OPERATOR(pg_catalog.=) 'n'
		) dep
		/* the facts that name the object and say what it is */
		CROSS JOIN LATERAL (
			SELECT (SELECT r.ev_class FROM pg_catalog.pg_rewrite r
					WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
					  AND r.oid OPERATOR(pg_catalog.=) dep.objid
					  AND r.rulename OPERATOR(pg_catalog.=) '_RETURN') AS view_oid,
				   (SELECT c.relkind FROM pg_catalog.pg_class c
					WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
					  AND c.oid OPERATOR(pg_catalog.=) dep.objid) AS relkind,
				   (SELECT ga.attgenerated OPERATOR(pg_catalog.<>) ''
					FROM pg_catalog.pg_attrdef ad
					JOIN pg_catalog.pg_attribute ga ON ga.attrelid OPERATOR(pg_catalog.=) ad.adrelid
												   AND ga.attnum OPERATOR(pg_catalog.=) ad.adnum
					WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
					  AND ad.oid OPERATOR(pg_catalog.=) dep.objid) AS generated,
				   (SELECT ad.adrelid OPERATOR(pg_catalog.=) rc.oid
						   AND ad.adnum OPERATOR(pg_catalog.=) ra.attnum
					FROM pg_catalog.pg_attrdef ad
					WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
					  AND ad.oid OPERATOR(pg_catalog.=) dep.objid) AS own_default,
				   (SELECT cn.contype FROM pg_catalog.pg_constraint cn
					WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass
					  AND cn.oid OPERATOR(pg_catalog.=) dep.objid) AS contype,
				   /* the relations it is a part of (it goes with them) */
				   ARRAY(SELECT od.refobjid FROM pg_catalog.pg_depend od
						 WHERE od.classid OPERATOR(pg_catalog.=) dep.classid
						   AND od.objid OPERATOR(pg_catalog.=) dep.objid
						   AND od.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
						   AND od.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}'::"char"[])
						 UNION ALL
						 SELECT dep.objid
						 WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)
					   AS part_of
		) fx
		/* the object as PostgreSQL names it (a view rather than its _RETURN rule) */
		CROSS JOIN LATERAL (
			SELECT CASE WHEN fx.view_oid IS NOT NULL THEN 'pg_catalog.pg_class'::pg_catalog.regclass
						ELSE dep.classid END AS classid,
				   COALESCE(fx.view_oid, dep.objid) AS objid,
				   CASE WHEN fx.view_oid IS NOT NULL THEN 0 ELSE dep.objsubid END AS objsubid
		) ob
		CROSS JOIN LATERAL pg_catalog.pg_identify_object(ob.classid, ob.objid, ob.objsubid) io
		CROSS JOIN LATERAL pg_catalog.pg_identify_object_as_address(ob.classid, ob.objid, ob.objsubid) ia
		/* what to call it, and the SQL that shows it */
		CROSS JOIN LATERAL (
			SELECT CASE WHEN io.type OPERATOR(pg_catalog.=) 'default value'
							 AND fx.generated
						THEN 'generated column' ELSE io.type END AS kind,
				   CASE WHEN io.type OPERATOR(pg_catalog.=) 'default value'
						THEN pg_catalog.format('%I.%I.%I', ia.object_names[1], ia.object_names[2],
											   ia.object_names[3])
						ELSE io.identity END AS identity,
				   CASE
					WHEN io.type OPERATOR(pg_catalog.=) ANY (ARRAY['view', 'materialized view']) THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_viewdef(%L::pg_catalog.regclass)', io.identity)
					WHEN io.type OPERATOR(pg_catalog.=) 'index' THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_indexdef(%L::pg_catalog.regclass)', io.identity)
					WHEN io.type OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'procedure']) THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_functiondef(%L::pg_catalog.regprocedure)', io.identity)
					WHEN io.type OPERATOR(pg_catalog.=) 'policy' THEN
						pg_catalog.format('SELECT * FROM pg_catalog.pg_policies WHERE schemaname = %L AND tablename = %L AND policyname = %L',
										  ia.object_names[1], ia.object_names[2], ia.object_names[3])
					WHEN io.type OPERATOR(pg_catalog.=) 'rule' THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_ruledef(oid) FROM pg_catalog.pg_rewrite WHERE ev_class = %L::pg_catalog.regclass AND rulename = %L',
										  pg_catalog.format('%I.%I', ia.object_names[1], ia.object_names[2]), ia.object_names[3])
					WHEN io.type OPERATOR(pg_catalog.=) 'trigger' THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_triggerdef(oid) FROM pg_catalog.pg_trigger WHERE tgrelid = %L::pg_catalog.regclass AND tgname = %L',
										  pg_catalog.format('%I.%I', ia.object_names[1], ia.object_names[2]), ia.object_names[3])
					WHEN io.type OPERATOR(pg_catalog.=) 'table constraint' THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE conrelid = %L::pg_catalog.regclass AND conname = %L',
										  pg_catalog.format('%I.%I', ia.object_names[1], ia.object_names[2]), ia.object_names[3])
					WHEN io.type OPERATOR(pg_catalog.=) 'default value' THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_expr(adbin, adrelid) FROM pg_catalog.pg_attrdef WHERE (adrelid, adnum) = (SELECT attrelid, attnum FROM pg_catalog.pg_attribute WHERE attrelid = %L::pg_catalog.regclass AND attname = %L)',
										  pg_catalog.format('%I.%I', ia.object_names[1], ia.object_names[2]), ia.object_names[3])
					WHEN io.type OPERATOR(pg_catalog.=) 'statistics object' THEN
						pg_catalog.format('SELECT pg_catalog.pg_get_statisticsobjdef(oid) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace = %L::pg_catalog.regnamespace AND stxname = %L',
										  pg_catalog.quote_ident(ia.object_names[1]), ia.object_names[2])
					ELSE
						pg_catalog.format('SELECT pg_catalog.pg_describe_object(classid, objid, objsubid) FROM pg_catalog.pg_get_object_address(%L, %L, %L)',
										  ia.type, ia.object_names, ia.object_args)
				   END AS look
		) dn
		WHERE CASE WHEN ro.col IS NULL
				   /* a relation's own parts go with it */
				   THEN NOT rc.oid OPERATOR(pg_catalog.=) ANY (fx.part_of)
				   /* a column's own default, NOT NULL constraint and sequence go with it */
				   ELSE fx.own_default IS NOT TRUE
						AND fx.contype IS DISTINCT FROM 'n'
						AND fx.relkind IS DISTINCT FROM 'S'
			  END
		  /* a relation the plan retires too goes in cleanup, with the rest */
		  AND NOT EXISTS (
				SELECT FROM phased_change.object so
				WHERE so.rel OPERATOR(pg_catalog.=) ANY (fx.part_of::pg_catalog.regclass[])
				  AND so.col IS NULL
				  AND so.plan_id OPERATOR(pg_catalog.=) ro.plan_id
				  AND so.role OPERATOR(pg_catalog.=) 'retired')
		  /* an index that backs a constraint is shown as the constraint */
		  AND NOT (fx.relkind OPERATOR(pg_catalog.=) ANY ('{i,I}'::"char"[]) AND EXISTS (
				SELECT FROM pg_catalog.pg_depend ci
				WHERE ci.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
				  AND ci.objid OPERATOR(pg_catalog.=) dep.objid
				  AND ci.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass
				  AND ci.deptype OPERATOR(pg_catalog.=) 'i'))
		UNION ALL
		/* triggers of the column's table whose function or arguments name it */
		SELECT CASE WHEN pg_catalog.replace(pg_catalog.encode(tg.tgargs, 'escape'), '\000', ' ') OPERATOR(pg_catalog.~*) w.pattern
					THEN pg_catalog.format('Trigger %s names retired %s "%s" in its arguments. To look at it: SELECT pg_catalog.pg_get_triggerdef(oid) FROM pg_catalog.pg_trigger WHERE tgrelid = %L::pg_catalog.regclass AND tgname = %L;',
										   tio.identity, ro.object_type, ro.identity,
										   pg_catalog.format('%I.%I', tia.object_names[1], tia.object_names[2]),
										   tg.tgname)
					ELSE pg_catalog.format('Trigger %s runs function %s, whose body names retired %s "%s". To look at it: SELECT pg_catalog.pg_get_functiondef(%L::pg_catalog.regprocedure);',
										   tio.identity, fio.identity, ro.object_type, ro.identity, fio.identity)
			   END
		FROM (SELECT '(^|[^[:alnum:]_$])'
					 OPERATOR(pg_catalog.||) pg_catalog.regexp_replace(ro.col, '([^[:alnum:]_])', '\\\1', 'g')
					 OPERATOR(pg_catalog.||) '($|[^[:alnum:]_$])' AS pattern
			  WHERE ro.col IS NOT NULL) w
		JOIN pg_catalog.pg_trigger tg ON tg.tgrelid OPERATOR(pg_catalog.=) rc.oid AND NOT tg.tgisinternal
		JOIN pg_catalog.pg_proc fn ON fn.oid OPERATOR(pg_catalog.=) tg.tgfoid
		CROSS JOIN LATERAL pg_catalog.pg_identify_object('pg_catalog.pg_trigger'::pg_catalog.regclass, tg.oid, 0) tio
		CROSS JOIN LATERAL pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, fn.oid, 0) fio
		CROSS JOIN LATERAL pg_catalog.pg_identify_object_as_address('pg_catalog.pg_trigger'::pg_catalog.regclass, tg.oid, 0) tia
		WHERE (fn.prosrc OPERATOR(pg_catalog.~*) w.pattern
			   OR pg_catalog.replace(pg_catalog.encode(tg.tgargs, 'escape'), '\000', ' ') OPERATOR(pg_catalog.~*) w.pattern)
		  /* a trigger pg_depend already ties to the column is listed once, above */
		  AND NOT EXISTS (
				SELECT FROM pg_catalog.pg_depend td
				WHERE td.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
				  AND td.objid OPERATOR(pg_catalog.=) tg.oid
				  AND td.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
				  AND td.refobjid OPERATOR(pg_catalog.=) rc.oid
				  AND td.refobjsubid OPERATOR(pg_catalog.=) ra.attnum)
	) su
	WHERE ro.plan_id OPERATOR(pg_catalog.=) p.plan_id
	  AND ro.role OPERATOR(pg_catalog.=) 'retired'
	  AND p.status OPERATOR(pg_catalog.=) 'active'
	  AND (ro.col IS NULL OR ra.attnum IS NOT NULL)
) u
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
		   ELSE
				/* replication and restores (1.3): a plan whose owner role is missing */
				CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_roles ro
									  WHERE ro.rolname OPERATOR(pg_catalog.=) p.owner) THEN
					ARRAY[pg_catalog.format('The plan''s owner role "%s" does not exist: its checks cannot run. Create the role, or have a superuser run SELECT phase_owner_set(%L, ''role'').',
											p.owner::pg_catalog.text COLLATE pg_catalog."default", p.name)]
				ELSE '{}' END
				OPERATOR(pg_catalog.||)
				o.missing OPERATOR(pg_catalog.||) c.failed OPERATOR(pg_catalog.||) c.unverified
				OPERATOR(pg_catalog.||)
				CASE WHEN p.phase OPERATOR(pg_catalog.=) 4 THEN o.standing ELSE '{}' END
				OPERATOR(pg_catalog.||)
				CASE WHEN p.phase OPERATOR(pg_catalog.>=) 3 THEN u.sentences ELSE '{}' END
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
				ELSE ARRAY[x.evidence] END
		   OPERATOR(pg_catalog.||)
		   /* before contract, what still uses a retired object is worth knowing, not in the way */
		   CASE WHEN p.phase OPERATOR(pg_catalog.<) 3 THEN u.sentences
				ELSE '{}' END AS warnings
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
		WHEN p.phase OPERATOR(pg_catalog.>=) 3
			 AND pg_catalog.cardinality(u.sentences) OPERATOR(pg_catalog.>) 0 THEN
			pg_catalog.format('Drop or rewrite what still uses the retired objects (see the blockers), then run SELECT phase_advance(%L).', p.name)
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
