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
LANGUAGE sql IMMUTABLE PARALLEL SAFE
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
 * Issue 12, items 4-6 (operating plans: metrics, migration tools, words).
 * phase_advance(plan, to_phase) and phase_check_drop for migration tools;
 * usage_users() and the retired_usage view: every role and application that
 * used a retired object in the current phase; the metrics view for
 * Prometheus (contrib/postgres_exporter); the status view, one short line
 * per plan.
 */
CREATE FUNCTION @extschema@.phase_advance(plan pg_catalog.text, to_phase pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_advance_to';

CREATE FUNCTION @extschema@.phase_check_drop(plan pg_catalog.text, phase pg_catalog.text,
											 check_name pg_catalog.text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_check_drop';

CREATE FUNCTION phased_change.usage_users(
	object pg_catalog.int8 DEFAULT NULL,
	OUT object_id pg_catalog.int8,
	OUT role pg_catalog.name,
	OUT application pg_catalog.text,
	OUT uses pg_catalog.int8,
	OUT reads pg_catalog.int8,
	OUT writes pg_catalog.int8,
	OUT first_seen pg_catalog.timestamptz,
	OUT last_seen pg_catalog.timestamptz,
	OUT others pg_catalog.bool)
RETURNS SETOF record
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'usage_users';

/* Who used one retired object in the current phase, as one sentence (progress.retired_usage). */
CREATE FUNCTION phased_change.usage_users_sentence(object_id pg_catalog.int8)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
AS $$
SELECT 'In the current phase: ' OPERATOR(pg_catalog.||)
	   pg_catalog.string_agg(
			CASE WHEN u.others
				 THEN pg_catalog.format('other roles and applications %s uses (%s reads, %s writes), last at %s',
										u.uses, u.reads, u.writes, u.last_seen)
				 ELSE pg_catalog.format('role "%s"%s %s uses (%s reads, %s writes), last at %s',
										u.role,
										CASE WHEN u.application OPERATOR(pg_catalog.<>) ''
											 THEN pg_catalog.format(' (application "%s")', u.application)
											 ELSE '' END,
										u.uses, u.reads, u.writes, u.last_seen)
			END, '; ' ORDER BY u.others, u.last_seen DESC, u.role, u.application)
	   OPERATOR(pg_catalog.||) '.'
FROM phased_change.usage_users($1) u
$$;

REVOKE ALL ON FUNCTION
	@extschema@.phase_advance(pg_catalog.text, pg_catalog.text),
	@extschema@.phase_check_drop(pg_catalog.text, pg_catalog.text, pg_catalog.text),
	phased_change.usage_users(pg_catalog.int8),
	phased_change.usage_users_sentence(pg_catalog.int8)
FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.phase_advance(pg_catalog.text, pg_catalog.text)
	IS 'Advance the plan until it is in the given phase; nothing when it is already there or beyond';
COMMENT ON FUNCTION @extschema@.phase_check_drop(pg_catalog.text, pg_catalog.text, pg_catalog.text)
	IS 'Remove a check of a phase (recorded in the history)';
COMMENT ON FUNCTION phased_change.usage_users(pg_catalog.int8)
	IS 'Every role and application that used guarded objects in their plan''s current phase';
COMMENT ON FUNCTION phased_change.usage_users_sentence(pg_catalog.int8)
	IS 'Who used one guarded object in its plan''s current phase, as a sentence';

CREATE VIEW phased_change.retired_usage AS
SELECT p.name AS plan,
	   o.object_type,
	   o.identity AS object,
	   u.role,
	   u.application,
	   u.uses,
	   u.reads,
	   u.writes,
	   u.first_seen,
	   u.last_seen,
	   u.others
FROM phased_change.object o
JOIN phased_change.plan p ON p.plan_id OPERATOR(pg_catalog.=) o.plan_id
CROSS JOIN LATERAL phased_change.usage_users(o.object_id) u
WHERE o.role OPERATOR(pg_catalog.=) 'retired'
  AND p.status OPERATOR(pg_catalog.=) 'active';

COMMENT ON VIEW phased_change.retired_usage
	IS 'Every role and application that used a retired object during its plan''s current phase';
REVOKE ALL ON phased_change.retired_usage FROM PUBLIC;

/* A text cut to at most n characters, "..." marking the cut. */
CREATE FUNCTION phased_change.text_shorten(value pg_catalog.text, n pg_catalog.int4)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE WHEN pg_catalog.char_length($1) OPERATOR(pg_catalog.<=) $2 THEN $1
			ELSE pg_catalog.left($1, $2 OPERATOR(pg_catalog.-) 3) OPERATOR(pg_catalog.||) '...' END
$$;

/* The gist of a blocker sentence of progress, in at most 46 characters. */
CREATE FUNCTION phased_change.blocker_gist(blocker pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT phased_change.text_shorten(CASE
	WHEN $1 OPERATOR(pg_catalog.~) '^Check ".*" did not hold' THEN
		pg_catalog.regexp_replace($1, '^Check "(.*)" did not hold.*$', 'check "\1" fails')
	WHEN $1 OPERATOR(pg_catalog.~) '^Check ".*" has not been verified' THEN
		pg_catalog.regexp_replace($1, '^Check "(.*)" has not been verified.*$', 'check "\1" not verified')
	WHEN $1 OPERATOR(pg_catalog.~) '^The plan''s owner role' THEN 'owner role missing'
	WHEN $1 OPERATOR(pg_catalog.~) '^Introduced ' THEN 'introduced object missing'
	WHEN $1 OPERATOR(pg_catalog.~) '^Retired .* has not been dropped yet' THEN 'retired objects not dropped yet'
	WHEN $1 OPERATOR(pg_catalog.~) '^Usage tracking is full' THEN 'usage tracking full'
	WHEN $1 OPERATOR(pg_catalog.~) '^Usage tracking has covered' THEN 'usage evidence incomplete'
	WHEN $1 OPERATOR(pg_catalog.~) '^Phase ".*" has soaked for .* counted from the last use' THEN
		'retired object in use (see retired_usage)'
	WHEN $1 OPERATOR(pg_catalog.~) '^Phase ".*" has soaked for ' THEN
		pg_catalog.regexp_replace($1, '^Phase ".*" has soaked for (\S+) of its (\S+) soak.*$', 'soaked \1 of \2')
	ELSE pg_catalog.regexp_replace($1, '\. To look at it: .*$', '')
END, 46)
$$;

REVOKE ALL ON FUNCTION phased_change.text_shorten(pg_catalog.text, pg_catalog.int4),
	phased_change.blocker_gist(pg_catalog.text) FROM PUBLIC;
COMMENT ON FUNCTION phased_change.text_shorten(pg_catalog.text, pg_catalog.int4)
	IS 'A text cut to at most n characters';
COMMENT ON FUNCTION phased_change.blocker_gist(pg_catalog.text)
	IS 'The gist of a blocker of phased_change.progress, in a few words';

/*
 * Where every plan is, one line of under 120 characters each: the plan's
 * name (cut at 28 characters), phase or end, ready or blocked, how long in
 * the phase, and the gist of the first blocker.
 */
CREATE VIEW phased_change.status AS
SELECT phased_change.text_shorten(pr.plan, 28) AS plan,
	   CASE WHEN pr.status OPERATOR(pg_catalog.=) 'active' THEN pr.phase ELSE pr.status END AS phase,
	   CASE WHEN pr.status OPERATOR(pg_catalog.<>) 'active' THEN ''
			WHEN pr.ready THEN 'ready' ELSE 'blocked' END AS state,
	   CASE WHEN pr.status OPERATOR(pg_catalog.=) 'active' THEN
			pg_catalog.format('%sd %s',
				pg_catalog.floor(pg_catalog.date_part('epoch', d.in_phase) OPERATOR(pg_catalog./) 86400),
				pg_catalog.to_char(d.in_phase, 'HH24:MI'))
	   END AS in_phase,
	   CASE WHEN pr.status OPERATOR(pg_catalog.=) 'active' THEN
			COALESCE(phased_change.blocker_gist(pr.blockers[1]), 'run phase_advance')
	   END AS blocker
FROM phased_change.progress pr
CROSS JOIN LATERAL (
	SELECT pg_catalog.justify_hours(pg_catalog.date_trunc('minute',
			   pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pr.entered_at)) AS in_phase
) d
ORDER BY pr.status OPERATOR(pg_catalog.<>) 'active', pr.plan;

COMMENT ON VIEW phased_change.status
	IS 'Where every change plan is, one short line each';
REVOKE ALL ON phased_change.status FROM PUBLIC;

/*
 * Issue 11, backfills: phase 2 done by the database.  phase_backfill()
 * registers a batched, throttled, resumable UPDATE of a table with a plan;
 * one background worker per database runs every runnable backfill of the
 * database, one batch (one transaction) at a time, and keeps its progress
 * in phased_change.backfill, which the backfills view shows.  Each backfill
 * also adds the migrate check "backfill of <table>".
 */
CREATE SEQUENCE phased_change.backfill_id_seq;
CREATE TABLE phased_change.backfill (
	backfill_id pg_catalog.int8 PRIMARY KEY
				DEFAULT phased_change.catalog_next_id('phased_change.backfill_id_seq',
													  'phased_change.backfill', 'backfill_id'),
	plan_id		pg_catalog.int8 NOT NULL REFERENCES phased_change.plan,
	rel			pg_catalog.regclass NOT NULL,
	set_clause	pg_catalog.text NOT NULL,
	pending		pg_catalog.text NOT NULL,
	search_path pg_catalog.text NOT NULL,
	batch_size	pg_catalog.int4 NOT NULL CHECK (batch_size OPERATOR(pg_catalog.>) 0),
	pause		pg_catalog.interval NOT NULL
				CHECK (pause OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval
					   AND pause OPERATOR(pg_catalog.<=) '1 day'::pg_catalog.interval),
	max_lag		pg_catalog.interval NOT NULL
				CHECK (max_lag OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval),
	status		pg_catalog.text NOT NULL
				CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['waiting', 'running', 'throttled',
																 'done', 'failed', 'cancelled'])),
	rows_done	pg_catalog.int8 NOT NULL DEFAULT 0,	-- rows the worker has passed
	rows_updated pg_catalog.int8 NOT NULL DEFAULT 0,	-- of which pending, and updated
	batches		pg_catalog.int8 NOT NULL DEFAULT 0,
	last_key	pg_catalog.text[],	-- the key columns' values of the last row passed
	key_attnums pg_catalog.int2[] NOT NULL,	-- the key walked, as registered:
	key_types	pg_catalog.regtype[] NOT NULL,	-- a changed key fails the backfill
	registered_at pg_catalog.timestamptz NOT NULL,
	started_at	pg_catalog.timestamptz,
	finished_at pg_catalog.timestamptz,
	throttled_by pg_catalog.text,
	last_error	pg_catalog.text,
	UNIQUE (plan_id, rel)
);
ALTER SEQUENCE phased_change.backfill_id_seq OWNED BY phased_change.backfill.backfill_id;
SELECT pg_catalog.pg_extension_config_dump('phased_change.backfill', '');
SELECT pg_catalog.pg_extension_config_dump('phased_change.backfill_id_seq', '');
REVOKE ALL ON phased_change.backfill FROM PUBLIC;
REVOKE ALL ON SEQUENCE phased_change.backfill_id_seq FROM PUBLIC;

CREATE FUNCTION @extschema@.phase_backfill(plan pg_catalog.text,
										   rel pg_catalog.regclass,
										   set_clause pg_catalog.text,
										   pending pg_catalog.text,
										   batch_size pg_catalog.int4 DEFAULT 1000,
										   pause pg_catalog.interval DEFAULT '0',
										   max_lag pg_catalog.interval DEFAULT '10 seconds')
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_backfill';

CREATE FUNCTION @extschema@.phase_backfill_cancel(plan pg_catalog.text, rel pg_catalog.regclass)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_backfill_cancel';

CREATE FUNCTION phased_change.backfill_wait(plan pg_catalog.text, rel pg_catalog.regclass,
											timeout pg_catalog.interval DEFAULT '30 seconds')
RETURNS pg_catalog.text
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'backfill_wait';

REVOKE ALL ON FUNCTION
	@extschema@.phase_backfill(pg_catalog.text, pg_catalog.regclass, pg_catalog.text,
							   pg_catalog.text, pg_catalog.int4, pg_catalog.interval,
							   pg_catalog.interval),
	@extschema@.phase_backfill_cancel(pg_catalog.text, pg_catalog.regclass),
	phased_change.backfill_wait(pg_catalog.text, pg_catalog.regclass, pg_catalog.interval)
	FROM PUBLIC;

/*
 * backfills: every backfill with its progress.  A backfill recorded as
 * running or throttled while no worker runs (a crash, a restart, no free
 * worker slot) shows as waiting: the next phase_* call, or the preloaded
 * scheduler, starts the worker again.  Whether the worker runs is read
 * from pg_locks: it holds a session-level advisory lock on a tag of its
 * own (db_worker.c: database, 0x70686173, 0x65645f72, 0x5042).
 */
CREATE VIEW phased_change.backfills AS
SELECT p.name AS plan,
	   (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE c.oid OPERATOR(pg_catalog.=) b.rel::pg_catalog.oid) AS "table",
	   CASE WHEN b.status OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'throttled'])
				 AND NOT EXISTS (
					SELECT FROM pg_catalog.pg_locks l
					WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
					  AND l.database OPERATOR(pg_catalog.=) (
							SELECT d.oid FROM pg_catalog.pg_database d
							WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
					  AND l.classid OPERATOR(pg_catalog.=) 1885888883::pg_catalog.oid
					  AND l.objid OPERATOR(pg_catalog.=) 1701076850::pg_catalog.oid
					  AND l.objsubid OPERATOR(pg_catalog.=) 20546
					  AND l.granted)
			THEN 'waiting' ELSE b.status END AS status,
	   b.rows_done,
	   e.rows_estimated,
	   b.batches,
	   CASE WHEN pg_catalog.cardinality(b.last_key) OPERATOR(pg_catalog.=) 1 THEN b.last_key[1]
			ELSE '(' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(b.last_key, ', ')
				 OPERATOR(pg_catalog.||) ')' END AS last_key,
	   r.rows_per_second,
	   CASE WHEN b.status OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'throttled'])
				 AND r.rows_per_second OPERATOR(pg_catalog.>) 0 AND e.rows_estimated IS NOT NULL
			THEN pg_catalog.make_interval(0, 0, 0, 0, 0, 0,
				(GREATEST(e.rows_estimated OPERATOR(pg_catalog.-) b.rows_done, 0)
				 OPERATOR(pg_catalog./) r.rows_per_second)::pg_catalog.float8)
	   END AS eta,
	   b.started_at,
	   b.finished_at,
	   b.throttled_by,
	   b.last_error,
	   b.rows_updated,
	   b.rel,
	   b.plan_id
FROM phased_change.backfill b
JOIN phased_change.plan p ON p.plan_id OPERATOR(pg_catalog.=) b.plan_id
CROSS JOIN LATERAL (
	SELECT (SELECT CASE WHEN c.reltuples OPERATOR(pg_catalog.>=) 0
						THEN pg_catalog.round(c.reltuples)::pg_catalog.int8 END
			FROM pg_catalog.pg_class c
			WHERE c.oid OPERATOR(pg_catalog.=) b.rel::pg_catalog.oid) AS rows_estimated
) e
CROSS JOIN LATERAL (
	SELECT CASE WHEN b.started_at IS NOT NULL THEN
			   pg_catalog.round((b.rows_done::pg_catalog.float8 OPERATOR(pg_catalog./)
								 GREATEST(pg_catalog.date_part('epoch',
											COALESCE(b.finished_at, pg_catalog.clock_timestamp())
											OPERATOR(pg_catalog.-) b.started_at),
										  0.001))::pg_catalog.numeric, 1)
		   END AS rows_per_second
) r;
REVOKE ALL ON phased_change.backfills FROM PUBLIC;

COMMENT ON TABLE phased_change.backfill IS 'Backfills registered with plans, and their progress';
COMMENT ON FUNCTION @extschema@.phase_backfill(pg_catalog.text, pg_catalog.regclass, pg_catalog.text,
											   pg_catalog.text, pg_catalog.int4, pg_catalog.interval,
											   pg_catalog.interval)
	IS 'Register a batched, throttled, resumable backfill of a table with a plan; it runs in migrate';
COMMENT ON FUNCTION @extschema@.phase_backfill_cancel(pg_catalog.text, pg_catalog.regclass)
	IS 'Cancel a backfill of a plan; its migrate check stays';
COMMENT ON FUNCTION phased_change.backfill_wait(pg_catalog.text, pg_catalog.regclass, pg_catalog.interval)
	IS 'Wait, at most the timeout, until a backfill is done, failed or cancelled; returns its status';
COMMENT ON VIEW phased_change.backfills IS 'Backfills and their progress: status, rows, rate, ETA, throttling, errors';

/*
 * Usage sources (issue 13): the hot standbys whose usage counts are
 * evidence too.  A standby with the library preloaded counts the reads of
 * guarded objects there exactly as the primary does; the primary reads
 * those counts over libpq (src/usage_sources.c) and keeps them here, so
 * that contract soaks from the last use on any node.  The primary also
 * keeps its own latest counts, per server (system identifier and
 * timeline): after a failover, the new primary knows how far the former
 * primary's evidence reaches, and counts the soak from the moment it took
 * over.  Collection writes only on the primary.
 */
CREATE TABLE phased_change.usage_source (
	name		pg_catalog.text PRIMARY KEY
				CHECK (name OPERATOR(pg_catalog.<>) ''),
	conninfo	pg_catalog.text NOT NULL,
	added_at	pg_catalog.timestamptz NOT NULL,
	added_by	pg_catalog.name NOT NULL,
	/* the latest collection: when tried, when it last succeeded, and how */
	status		pg_catalog.text NOT NULL DEFAULT 'not collected'
				CHECK (status OPERATOR(pg_catalog.=) ANY
					   (ARRAY['not collected', 'collected', 'unreadable', 'this server'])),
	attempted_at pg_catalog.timestamptz,
	collected_at pg_catalog.timestamptz,
	last_error	pg_catalog.text,
	tracking_since pg_catalog.timestamptz,
	replication_name pg_catalog.text
);

/* A source's counts, as of its latest successful collection. */
CREATE TABLE phased_change.usage_source_count (
	source		pg_catalog.text NOT NULL REFERENCES phased_change.usage_source ON DELETE CASCADE,
	object_id	pg_catalog.int8 NOT NULL,
	reads		pg_catalog.int8 NOT NULL,
	writes		pg_catalog.int8 NOT NULL,
	first_seen	pg_catalog.timestamptz,
	last_seen	pg_catalog.timestamptz,
	last_role	pg_catalog.name,
	last_application_name pg_catalog.text,
	PRIMARY KEY (source, object_id)
);

/*
 * Every server that collected as the primary of this database: noticed_at
 * is its first collection as the primary, collected_at its latest.
 */
CREATE TABLE phased_change.usage_primary (
	system_identifier pg_catalog.int8 NOT NULL,
	timeline	pg_catalog.int4 NOT NULL,
	noticed_at	pg_catalog.timestamptz NOT NULL,
	collected_at pg_catalog.timestamptz NOT NULL,
	tracking_since pg_catalog.timestamptz,
	PRIMARY KEY (system_identifier, timeline)
);

/* A primary's own counts, as of its latest collection. */
CREATE TABLE phased_change.usage_primary_count (
	system_identifier pg_catalog.int8 NOT NULL,
	timeline	pg_catalog.int4 NOT NULL,
	object_id	pg_catalog.int8 NOT NULL,
	reads		pg_catalog.int8 NOT NULL,
	writes		pg_catalog.int8 NOT NULL,
	first_seen	pg_catalog.timestamptz,
	last_seen	pg_catalog.timestamptz,
	last_role	pg_catalog.name,
	last_application_name pg_catalog.text,
	PRIMARY KEY (system_identifier, timeline, object_id),
	FOREIGN KEY (system_identifier, timeline) REFERENCES phased_change.usage_primary ON DELETE CASCADE
);

SELECT pg_catalog.pg_extension_config_dump('phased_change.usage_source', '');
SELECT pg_catalog.pg_extension_config_dump('phased_change.usage_source_count', '');
SELECT pg_catalog.pg_extension_config_dump('phased_change.usage_primary', '');
SELECT pg_catalog.pg_extension_config_dump('phased_change.usage_primary_count', '');
REVOKE ALL ON phased_change.usage_source, phased_change.usage_source_count,
	phased_change.usage_primary, phased_change.usage_primary_count FROM PUBLIC;

CREATE FUNCTION @extschema@.phase_usage_source_add(name pg_catalog.text, conninfo pg_catalog.text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_usage_source_add';

CREATE FUNCTION @extschema@.phase_usage_source_drop(name pg_catalog.text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_usage_source_drop';

/* Collect from every source now (the scheduler and phase_verify do it too). */
CREATE FUNCTION phased_change.usage_sources_collect()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'usage_sources_collect';

/*
 * This server as a usage source: called by the primary over libpq.  key
 * identifies the running server (system identifier and postmaster start),
 * replication_name is the application_name its WAL receiver gives the
 * primary (pg_stat_replication), database_oid the database that answers
 * (the same OID on a physical standby as on its primary): object ids are
 * per database.
 */
CREATE FUNCTION phased_change.usage_node(
	OUT in_recovery pg_catalog.bool,
	OUT system_identifier pg_catalog.int8,
	OUT timeline pg_catalog.int4,
	OUT started_at pg_catalog.timestamptz,
	OUT key pg_catalog.text,
	OUT replication_name pg_catalog.text,
	OUT database_oid pg_catalog.oid)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'usage_node';

REVOKE ALL ON FUNCTION @extschema@.phase_usage_source_add(pg_catalog.text, pg_catalog.text),
	@extschema@.phase_usage_source_drop(pg_catalog.text),
	phased_change.usage_sources_collect(), phased_change.usage_node() FROM PUBLIC;

/*
 * usage_sources: the registered sources and how their latest collection
 * went.  A conninfo never holds a password (phase_usage_source_add refuses
 * one).  reachable is NULL until the first collection.
 */
CREATE VIEW phased_change.usage_sources AS
SELECT s.name,
	   s.conninfo,
	   s.collected_at AS last_collected_at,
	   s.last_error,
	   s.tracking_since,
	   CASE WHEN s.status OPERATOR(pg_catalog.<>) 'not collected'
			THEN s.status OPERATOR(pg_catalog.<>) 'unreadable' END AS reachable,
	   s.status,
	   s.attempted_at AS last_attempted_at,
	   s.added_at,
	   s.added_by
FROM phased_change.usage_source s;

REVOKE ALL ON phased_change.usage_sources FROM PUBLIC;

COMMENT ON TABLE phased_change.usage_source IS 'Hot standbys whose usage counts are evidence too (usage sources)';
COMMENT ON TABLE phased_change.usage_source_count IS 'Usage counts collected from the usage sources';
COMMENT ON TABLE phased_change.usage_primary IS 'Servers that collected usage evidence as the primary, and when';
COMMENT ON TABLE phased_change.usage_primary_count IS 'Usage counts of each primary, as of its latest collection';
COMMENT ON FUNCTION @extschema@.phase_usage_source_add(pg_catalog.text, pg_catalog.text)
	IS 'Register a hot standby whose usage counts are evidence (superusers only; no password in the conninfo)';
COMMENT ON FUNCTION @extschema@.phase_usage_source_drop(pg_catalog.text)
	IS 'Stop counting a usage source''s usage as evidence (superusers only)';
COMMENT ON FUNCTION phased_change.usage_sources_collect()
	IS 'Read the usage counts of every usage source now (on the primary)';
COMMENT ON FUNCTION phased_change.usage_node()
	IS 'This server as a usage source: recovery, identity, its WAL receiver''s application_name, and the database that answers';
COMMENT ON VIEW phased_change.usage_sources IS 'Registered usage sources and how their latest collection went';

/*
 * Dual-write syncs (issue 11, phase_sync).
 *
 * A sync keeps a new column in step with the old one while both versions of
 * an application write the table: a C row trigger (phased_change.sync_row)
 * that the plan installs on entering migrate and removes on entering
 * cleanup, on abandon and on completion.  The sync's expressions are kept
 * as the caller wrote them (with the search_path in force when it was
 * registered) and as resolved then (forward_resolved, backward_resolved:
 * every name outside pg_catalog schema-qualified), which is what the trigger
 * parses, under search_path = pg_catalog, pg_temp, once per backend; a
 * change to this table invalidates every backend's guard cache, and with it
 * the parsed syncs (guard_catalog_changed).
 */
CREATE SEQUENCE phased_change.sync_id_seq;
CREATE TABLE phased_change.sync (
	sync_id		pg_catalog.int8 PRIMARY KEY
				DEFAULT phased_change.catalog_next_id('phased_change.sync_id_seq',
													  'phased_change.sync', 'sync_id'),
	plan_id		pg_catalog.int8 NOT NULL REFERENCES phased_change.plan,
	rel			pg_catalog.regclass,
	from_col	pg_catalog.name NOT NULL,
	to_col		pg_catalog.name NOT NULL,
	forward		pg_catalog.text NOT NULL,
	backward	pg_catalog.text,
	search_path pg_catalog.text NOT NULL,
	trigger_name pg_catalog.name NOT NULL,
	registered_at pg_catalog.timestamptz NOT NULL,
	/* what the trigger parses, under search_path = pg_catalog, pg_temp */
	forward_resolved pg_catalog.text NOT NULL,
	backward_resolved pg_catalog.text,
	UNIQUE (plan_id, rel, to_col)
);
ALTER SEQUENCE phased_change.sync_id_seq OWNED BY phased_change.sync.sync_id;
CREATE INDEX sync_rel_idx ON phased_change.sync (rel);
SELECT pg_catalog.pg_extension_config_dump('phased_change.sync', '');
SELECT pg_catalog.pg_extension_config_dump('phased_change.sync_id_seq', '');
REVOKE ALL ON phased_change.sync FROM PUBLIC;
REVOKE ALL ON SEQUENCE phased_change.sync_id_seq FROM PUBLIC;

CREATE TRIGGER sync_guard_invalidate
	AFTER INSERT OR UPDATE OR DELETE ON phased_change.sync
	FOR EACH ROW EXECUTE FUNCTION phased_change.guard_catalog_changed();
CREATE TRIGGER sync_guard_invalidate_truncate
	AFTER TRUNCATE ON phased_change.sync
	FOR EACH STATEMENT EXECUTE FUNCTION phased_change.guard_catalog_changed();
ALTER TABLE phased_change.sync ENABLE ALWAYS TRIGGER sync_guard_invalidate;
ALTER TABLE phased_change.sync ENABLE ALWAYS TRIGGER sync_guard_invalidate_truncate;

CREATE FUNCTION phased_change.sync_row()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sync_row';
REVOKE ALL ON FUNCTION phased_change.sync_row() FROM PUBLIC;

CREATE FUNCTION @extschema@.phase_sync(plan pg_catalog.text, rel pg_catalog.regclass,
									   from_col pg_catalog.name, to_col pg_catalog.name,
									   forward pg_catalog.text,
									   backward pg_catalog.text DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'phase_sync';
REVOKE ALL ON FUNCTION @extschema@.phase_sync(pg_catalog.text, pg_catalog.regclass, pg_catalog.name,
											  pg_catalog.name, pg_catalog.text, pg_catalog.text)
	FROM PUBLIC;

/*
 * syncs: every sync, whether the plan wants it in place now (active: the
 * plan is active, in migrate or contract) and whether it is (installed: its
 * trigger is on the table, runs phased_change.sync_row for this sync, and
 * is enabled ALWAYS).
 */
CREATE VIEW phased_change.syncs AS
SELECT p.name AS plan,
	   (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
		WHERE c.oid OPERATOR(pg_catalog.=) s.rel::pg_catalog.oid) AS "table",
	   s.from_col AS from_column,
	   s.to_col AS to_column,
	   s.forward,
	   s.backward,
	   (p.status OPERATOR(pg_catalog.=) 'active'
		AND p.phase OPERATOR(pg_catalog.=) ANY ('{2,3}'::pg_catalog.int2[])) AS active,
	   EXISTS (
		SELECT FROM pg_catalog.pg_trigger t
		WHERE t.tgrelid OPERATOR(pg_catalog.=) s.rel::pg_catalog.oid
		  AND t.tgname OPERATOR(pg_catalog.=) s.trigger_name
		  AND t.tgfoid OPERATOR(pg_catalog.=) 'phased_change.sync_row()'::pg_catalog.regprocedure::pg_catalog.oid
		  AND t.tgenabled OPERATOR(pg_catalog.=) 'A'
		  AND t.tgnargs OPERATOR(pg_catalog.=) 1
		  AND t.tgargs OPERATOR(pg_catalog.=)
			  (pg_catalog.convert_to(s.sync_id::pg_catalog.text, 'UTF8')
			   OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea)
	   ) AS installed,
	   s.trigger_name,
	   p.status AS plan_status,
	   ph.name AS plan_phase,
	   s.registered_at,
	   s.rel,
	   s.sync_id,
	   s.plan_id,
	   s.forward_resolved,
	   s.backward_resolved
FROM phased_change.sync s
JOIN phased_change.plan p ON p.plan_id OPERATOR(pg_catalog.=) s.plan_id
JOIN phased_change.phase ph ON ph.phase OPERATOR(pg_catalog.=) p.phase;
REVOKE ALL ON phased_change.syncs FROM PUBLIC;

COMMENT ON TABLE phased_change.sync IS 'Dual-write syncs of change plans: one column kept in step with another by a row trigger';
COMMENT ON FUNCTION phased_change.sync_row()
	IS 'Row trigger of a dual-write sync (installed and removed by the plan)';
COMMENT ON FUNCTION @extschema@.phase_sync(pg_catalog.text, pg_catalog.regclass, pg_catalog.name,
										   pg_catalog.name, pg_catalog.text, pg_catalog.text)
	IS 'Keep a new column in step with an old one from migrate through contract (a row trigger the plan installs and removes)';
COMMENT ON VIEW phased_change.syncs IS 'Every dual-write sync: its columns and expressions, whether it should be and is installed';

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
	   o.plan_id,
	   /* dual-write syncs (1.4): the plan's syncs that read or write the object */
	   ARRAY(SELECT pg_catalog.format('%I -> %I', sy.from_col, sy.to_col)
			 FROM phased_change.sync sy
			 WHERE sy.plan_id OPERATOR(pg_catalog.=) o.plan_id
			   AND sy.rel OPERATOR(pg_catalog.=) o.rel
			   AND (o.col IS NULL OR o.col OPERATOR(pg_catalog.=) ANY (ARRAY[sy.from_col, sy.to_col]))
			 ORDER BY sy.sync_id) AS syncs
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
	   COALESCE(n.reads, CASE WHEN n.counted THEN 0 END) AS reads,
	   COALESCE(n.writes, CASE WHEN n.counted THEN 0 END) AS writes,
	   n.first_seen,
	   n.last_seen,
	   n.last_role,
	   n.last_application_name,
	   n.tracking_since,
	   n.complete AS tracking_complete,
	   /* usage sources (issue 13): one row per node, 'primary' or a source */
	   n.node
FROM phased_change.guarded_objects g
CROSS JOIN phased_change.usage_tracking() t
LEFT JOIN phased_change.usage_counts() u ON u.object_id OPERATOR(pg_catalog.=) g.object_id
/*
 * usage sources (issue 13): the nodes whose usage is evidence: this server,
 * every source but this server itself, and (on a primary) the servers that
 * were the primary before a failover, with their counts as last collected
 */
CROSS JOIN LATERAL (
	SELECT 'primary'::pg_catalog.text AS node, t.tracking_since, t.preloaded AS counted,
		   (t.preloaded AND t.uncounted OPERATOR(pg_catalog.=) 0) AS complete,
		   u.reads, u.writes, u.first_seen, u.last_seen, u.last_role, u.last_application_name
	UNION ALL
	SELECT s.name, s.tracking_since, s.collected_at IS NOT NULL,
		   s.status OPERATOR(pg_catalog.=) 'collected',
		   c.reads, c.writes, c.first_seen, c.last_seen, c.last_role, c.last_application_name
	FROM phased_change.usage_source s
	LEFT JOIN phased_change.usage_source_count c ON c.source OPERATOR(pg_catalog.=) s.name
												AND c.object_id OPERATOR(pg_catalog.=) g.object_id
	WHERE s.status OPERATOR(pg_catalog.<>) 'this server'
	UNION ALL
	SELECT pg_catalog.format('former primary (timeline %s)', f.timeline), f.tracking_since, true, false,
		   c.reads, c.writes, c.first_seen, c.last_seen, c.last_role, c.last_application_name
	FROM phased_change.usage_primary f
	LEFT JOIN phased_change.usage_primary_count c
		ON c.system_identifier OPERATOR(pg_catalog.=) f.system_identifier
	   AND c.timeline OPERATOR(pg_catalog.=) f.timeline
	   AND c.object_id OPERATOR(pg_catalog.=) g.object_id
	WHERE NOT (f.system_identifier OPERATOR(pg_catalog.=)
				(SELECT cs.system_identifier FROM pg_catalog.pg_control_system() cs)
			   AND f.timeline OPERATOR(pg_catalog.=)
				CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN
					('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::pg_catalog.bit(32)::pg_catalog.int4
				END)
) n
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
			/* usage sources (issue 13): the last use on each other node too */
			THEN r.usage OPERATOR(pg_catalog.||) COALESCE(ev.node_usage, '{}') END AS retired_usage,
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
		   /* issue 12: the latest use, with who made it, for the words of a soak counted from it */
		   (pg_catalog.array_agg(pg_catalog.format('retired %s "%s", used at %s by role "%s"%s',
									o.object_type, o.identity, u.last_seen, u.last_role,
									CASE WHEN u.last_application_name OPERATOR(pg_catalog.<>) ''
										 THEN pg_catalog.format(' (application "%s")', u.last_application_name)
										 ELSE '' END)
				ORDER BY u.last_seen DESC) FILTER (WHERE u.last_seen IS NOT NULL))[1] AS last_use_by,
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
					OPERATOR(pg_catalog.||)
					COALESCE(' ' OPERATOR(pg_catalog.||) phased_change.usage_users_sentence(o.object_id), '')
				END ORDER BY o.identity) AS usage
	FROM phased_change.object o
	LEFT JOIN LATERAL phased_change.usage_of(o.object_id) u ON true
	WHERE o.plan_id OPERATOR(pg_catalog.=) p.plan_id
	  AND o.role OPERATOR(pg_catalog.=) 'retired'
) r
/*
 * usage sources (issue 13), for the plans that need evidence: the last use
 * of a retired object on another node (a source, or a primary's kept
 * counts); from when the evidence is continuous on every node, and why
 * (covered_from, covered_reason: the latest takeover by this server or
 * restart of a source's tracking during the phase; restarts lists them);
 * the sources that cannot be read (gaps); the standbys that stream from
 * here without being sources, matched by application_name (unseen)
 */
LEFT JOIN LATERAL (
	SELECT (SELECT pg_catalog.max(c.last_seen) FROM (
				SELECT sc.last_seen FROM phased_change.usage_source_count sc
				JOIN phased_change.object so ON so.object_id OPERATOR(pg_catalog.=) sc.object_id
				WHERE so.plan_id OPERATOR(pg_catalog.=) p.plan_id
				  AND so.role OPERATOR(pg_catalog.=) 'retired'
				UNION ALL
				SELECT pc.last_seen FROM phased_change.usage_primary_count pc
				JOIN phased_change.object so ON so.object_id OPERATOR(pg_catalog.=) pc.object_id
				WHERE so.plan_id OPERATOR(pg_catalog.=) p.plan_id
				  AND so.role OPERATOR(pg_catalog.=) 'retired') c) AS last_use,
		   cv.covered_from,
		   cv.covered_reason,
		   cv.restarts,
		   ARRAY(SELECT pg_catalog.format('Retired %s "%s" was last used on %s at %s by role "%s"%s: %s reads, %s writes.',
										  so.object_type, so.identity, nc.node, nc.last_seen, nc.last_role,
										  CASE WHEN nc.last_application_name OPERATOR(pg_catalog.<>) ''
											   THEN pg_catalog.format(' (application "%s")', nc.last_application_name)
											   ELSE '' END,
										  nc.reads, nc.writes)
				 FROM (SELECT pg_catalog.format('usage source "%s"', sc.source) AS node, sc.object_id,
							  sc.reads, sc.writes, sc.last_seen, sc.last_role, sc.last_application_name
					   FROM phased_change.usage_source_count sc
					   JOIN phased_change.usage_source us ON us.name OPERATOR(pg_catalog.=) sc.source
					   WHERE us.status OPERATOR(pg_catalog.<>) 'this server'
					   UNION ALL
					   SELECT pg_catalog.format('the former primary (timeline %s)', pc.timeline), pc.object_id,
							  pc.reads, pc.writes, pc.last_seen, pc.last_role, pc.last_application_name
					   FROM phased_change.usage_primary_count pc
					   CROSS JOIN pg_catalog.pg_control_system() cs
					   WHERE NOT (pc.system_identifier OPERATOR(pg_catalog.=) cs.system_identifier
								  AND pc.timeline OPERATOR(pg_catalog.=) CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN
											('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::pg_catalog.bit(32)::pg_catalog.int4
										END)) nc
				 JOIN phased_change.object so ON so.object_id OPERATOR(pg_catalog.=) nc.object_id
				 WHERE so.plan_id OPERATOR(pg_catalog.=) p.plan_id
				   AND so.role OPERATOR(pg_catalog.=) 'retired'
				   AND nc.last_seen IS NOT NULL
				 ORDER BY so.identity, nc.node) AS node_usage,
		   ARRAY(SELECT CASE WHEN us.status OPERATOR(pg_catalog.=) 'unreadable' THEN
						pg_catalog.format('Usage source "%s" could not be read at %s: %s. Its reads are not seen.',
										  us.name, us.attempted_at, us.last_error)
					ELSE pg_catalog.format('Usage source "%s" has not been read yet. Its reads are not seen.', us.name)
					END
				 FROM phased_change.usage_source us
				 WHERE us.status OPERATOR(pg_catalog.=) ANY (ARRAY['unreadable', 'not collected'])
				 ORDER BY us.name) AS gaps,
		   ARRAY(SELECT pg_catalog.format('Standby "%s"%s streams from this server but is not a usage source: its reads are not seen.',
										  sw.application_name,
										  COALESCE(' (connected from ' OPERATOR(pg_catalog.||)
												   pg_catalog.host(sw.client_addr) OPERATOR(pg_catalog.||) ')', ''))
				 FROM (SELECT rep.application_name, rep.client_addr,
							  pg_catalog.row_number() OVER (PARTITION BY rep.application_name
															ORDER BY rep.client_addr, rep.client_port) AS n
					   FROM pg_catalog.pg_stat_replication rep
					   JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) rep.pid
					   WHERE a.datid IS NULL) sw
				 WHERE sw.n OPERATOR(pg_catalog.>) (
						SELECT pg_catalog.count(*) FROM phased_change.usage_source us
						WHERE us.replication_name OPERATOR(pg_catalog.=) sw.application_name)
				 ORDER BY sw.application_name, sw.n) AS unseen
	FROM (
	SELECT (pg_catalog.array_agg(cx.at ORDER BY cx.at DESC))[1] AS covered_from,
		   (pg_catalog.array_agg(cx.reason ORDER BY cx.at DESC))[1] AS covered_reason,
		   COALESCE(pg_catalog.array_agg(
				pg_catalog.format('The evidence of non-use is continuous only from %s.', cx.reason)
				ORDER BY cx.at), '{}') AS restarts
	FROM (
		/* a takeover by this server during the phase (on a primary) */
		SELECT COALESCE(cur.noticed_at, pg_catalog.clock_timestamp()) AS at,
			   pg_catalog.format('%s, when this server became the primary: uses on the former primary after its last collection at %s were not seen%s',
								 COALESCE(cur.noticed_at, pg_catalog.clock_timestamp()), former.collected_at,
								 CASE WHEN cur.noticed_at IS NULL
									  THEN ' (phase_verify collects on this server)' ELSE '' END) AS reason
		FROM (SELECT cs.system_identifier, CASE WHEN NOT pg_catalog.pg_is_in_recovery() THEN
								('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::pg_catalog.bit(32)::pg_catalog.int4
							END AS timeline
			  FROM pg_catalog.pg_control_system() cs) h
		CROSS JOIN LATERAL (
			SELECT pg_catalog.max(f.collected_at) AS collected_at
			FROM phased_change.usage_primary f
			WHERE NOT (f.system_identifier OPERATOR(pg_catalog.=) h.system_identifier
					   AND f.timeline OPERATOR(pg_catalog.=) h.timeline)) former
		LEFT JOIN phased_change.usage_primary cur
			ON cur.system_identifier OPERATOR(pg_catalog.=) h.system_identifier
		   AND cur.timeline OPERATOR(pg_catalog.=) h.timeline
		WHERE h.timeline IS NOT NULL
		  AND former.collected_at IS NOT NULL
		  AND (cur.noticed_at IS NULL OR cur.noticed_at OPERATOR(pg_catalog.>) p.entered_at)
		UNION ALL
		/* a source whose tracking restarted during the phase */
		SELECT us.tracking_since,
			   pg_catalog.format('%s, when usage source "%s" restarted its usage tracking (a crash, an immediate shutdown or a run without phased_change preloaded)',
								 us.tracking_since, us.name)
		FROM phased_change.usage_source us
		WHERE us.status OPERATOR(pg_catalog.=) 'collected'
		  AND us.tracking_since OPERATOR(pg_catalog.>) p.entered_at
	) cx
	) cv
	WHERE p.status OPERATOR(pg_catalog.=) 'active'
	  AND p.phase OPERATOR(pg_catalog.<=) 3 AND r.has_retired
) ev ON true
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
		   CASE WHEN p.phase OPERATOR(pg_catalog.=) 3 THEN GREATEST(r.last_use, ev.last_use) END AS last_use,
		   /* who made that last use: here, or on another node (usage sources) */
		   CASE WHEN ev.last_use IS NULL OR r.last_use OPERATOR(pg_catalog.>=) ev.last_use THEN r.last_use_by
				ELSE pg_catalog.format('a retired object, used on another node at %s (progress.retired_usage names it)',
									   ev.last_use)
		   END AS last_use_by,
		   CASE WHEN p.phase OPERATOR(pg_catalog.=) 3 AND t.preloaded AND r.has_retired
				THEN t.tracking_since END AS tracked_from,
		   (p.phase OPERATOR(pg_catalog.=) 3 AND r.has_retired) AS needs_evidence,
		   /* usage sources (issue 13): from when every node's evidence is continuous */
		   CASE WHEN p.phase OPERATOR(pg_catalog.=) 3 THEN ev.covered_from END AS sources_from
) k
CROSS JOIN LATERAL (
	SELECT GREATEST(p.entered_at, k.last_failed, k.last_use) AS evidence_from,
		   GREATEST(p.entered_at, k.last_failed, k.last_use,
					CASE WHEN t.require_evidence THEN k.tracked_from END,
					CASE WHEN t.require_evidence THEN k.sources_from END) AS since
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
					THEN ', counted from the last use of a retired object: ' OPERATOR(pg_catalog.||) k.last_use_by
				WHEN f.since OPERATOR(pg_catalog.=) k.sources_from
					THEN ', counted from ' OPERATOR(pg_catalog.||) ev.covered_reason
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
/*
 * backfills (1.4): in migrate, a sentence for each backfill still running
 * (or waiting, or throttled) and each failed one, and what to do about the
 * first; a cancelled one leaves it to its check
 */
CROSS JOIN LATERAL (
	SELECT COALESCE(pg_catalog.array_agg(CASE WHEN bk.status OPERATOR(pg_catalog.=) 'failed'
				THEN pg_catalog.format('Backfill of table "%s" failed: %s.', bt.name, bk.last_error)
				ELSE pg_catalog.format('Backfill of table "%s" is not done yet: %s rows passed.',
									   bt.name, bk.rows_done) END
				ORDER BY bt.name), '{}') AS blockers,
		   (pg_catalog.array_agg(CASE WHEN bk.status OPERATOR(pg_catalog.=) 'failed'
				THEN pg_catalog.format('Fix what made the backfill of table "%s" fail, then register it again with SELECT phase_backfill(%L, %L, ...).',
									   bt.name, p.name, bt.name)
				ELSE pg_catalog.format('Wait for the backfill of table "%s" to finish (see phased_change.backfills), then run SELECT phase_verify(%L).',
									   bt.name, p.name) END
				ORDER BY bk.status OPERATOR(pg_catalog.=) 'failed' DESC, bt.name))[1]
			   AS next_step
	FROM phased_change.backfill bk
	CROSS JOIN LATERAL (
		SELECT COALESCE((SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
						 FROM pg_catalog.pg_class c
						 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
						 WHERE c.oid OPERATOR(pg_catalog.=) bk.rel::pg_catalog.oid),
						bk.rel::pg_catalog.oid::pg_catalog.text) AS name
	) bt
	WHERE bk.plan_id OPERATOR(pg_catalog.=) p.plan_id
	  AND p.status OPERATOR(pg_catalog.=) 'active'
	  AND p.phase OPERATOR(pg_catalog.=) 2
	  AND bk.status OPERATOR(pg_catalog.=) ANY (ARRAY['waiting', 'running', 'throttled', 'failed'])
) bf
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
				/* backfills (1.4): in migrate, each one not done */
				bf.blockers
				OPERATOR(pg_catalog.||)
				/* dual-write syncs (1.4): a sync the phase needs whose trigger is not in place */
				ARRAY(SELECT pg_catalog.format('The sync of column "%s" from "%s" of table %s is not installed: its trigger "%s" is missing, disabled or not enabled ALWAYS. Run SELECT phase_sync(%L, %L, %L, %L, %L%s) to install it again.',
											   sy.to_column, sy.from_column, sy.table, sy.trigger_name,
											   p.name, sy.table, sy.from_column, sy.to_column, sy.forward,
											   CASE WHEN sy.backward IS NULL THEN ''
													ELSE pg_catalog.format(', %L', sy.backward) END)
					  FROM phased_change.syncs sy
					  WHERE sy.plan_id OPERATOR(pg_catalog.=) p.plan_id
						AND sy.active AND NOT sy.installed AND sy.table IS NOT NULL
					  ORDER BY sy.sync_id)
				OPERATOR(pg_catalog.||)
				CASE WHEN p.phase OPERATOR(pg_catalog.=) 4 THEN o.standing ELSE '{}' END
				OPERATOR(pg_catalog.||)
				CASE WHEN p.phase OPERATOR(pg_catalog.>=) 3 THEN u.sentences ELSE '{}' END
				OPERATOR(pg_catalog.||)
				CASE WHEN t.require_evidence AND t.uncounted OPERATOR(pg_catalog.>) 0
						  AND k.needs_evidence THEN ARRAY[x.evidence]
					 ELSE '{}' END
				OPERATOR(pg_catalog.||)
				/* usage sources (issue 13): a source that cannot be read is a gap */
				CASE WHEN t.require_evidence AND k.needs_evidence THEN ev.gaps ELSE '{}' END
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
				ELSE '{}' END
		   OPERATOR(pg_catalog.||)
		   /* usage sources (issue 13): gaps that do not block, standbys not seen */
		   CASE WHEN NOT t.require_evidence AND k.needs_evidence
				THEN ev.gaps OPERATOR(pg_catalog.||) ev.restarts ELSE '{}' END
		   OPERATOR(pg_catalog.||)
		   CASE WHEN t.preloaded THEN COALESCE(ev.unseen, '{}') ELSE '{}' END AS warnings
) w
/* what to do next */
CROSS JOIN LATERAL (
	SELECT CASE
		WHEN p.status OPERATOR(pg_catalog.=) 'completed' THEN 'Nothing: the plan is completed.'
		WHEN p.status OPERATOR(pg_catalog.=) 'abandoned' THEN 'Nothing: the plan was abandoned.'
		WHEN pg_catalog.cardinality(o.missing) OPERATOR(pg_catalog.>) 0 THEN
			'Re-create the missing introduced objects before advancing.'
		WHEN bf.next_step IS NOT NULL THEN bf.next_step
		/* dual-write syncs (1.4) */
		WHEN EXISTS (SELECT FROM phased_change.syncs sy
					 WHERE sy.plan_id OPERATOR(pg_catalog.=) p.plan_id
					   AND sy.active AND NOT sy.installed AND sy.table IS NOT NULL) THEN
			pg_catalog.format('Install the syncs that are not installed again with phase_sync (see the blockers), then run SELECT phase_advance(%L).', p.name)
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
		/* a retired object still in use: no time can be promised */
		WHEN s.soak_remaining OPERATOR(pg_catalog.>) '0'::pg_catalog.interval
			 AND f.since OPERATOR(pg_catalog.=) k.last_use THEN
			pg_catalog.format('Stop the use of the retired objects (last: %s; see phased_change.retired_usage): phase "%s" must go %s without any use before SELECT phase_advance(%L) can succeed.',
				k.last_use_by, ph.name, k.soak, p.name)
		WHEN t.require_evidence AND k.needs_evidence
			 AND pg_catalog.cardinality(ev.gaps) OPERATOR(pg_catalog.>) 0 THEN
			pg_catalog.format('Make the usage sources named in the blockers readable (phased_change.usage_sources says why they are not), then run SELECT phase_verify(%L).', p.name)
		WHEN s.soak_remaining OPERATOR(pg_catalog.>) '0'::pg_catalog.interval THEN
			pg_catalog.format('Wait %s for the soak, then run SELECT phase_advance(%L).',
				pg_catalog.date_trunc('second', s.soak_remaining
					OPERATOR(pg_catalog.+) '0.999999 second'::pg_catalog.interval), p.name)
		ELSE pg_catalog.format('Run SELECT phase_advance(%L).', p.name)
	END AS next_step
) n;

/*
 * One row per active plan, in numbers, for prometheus-postgres-exporter
 * (contrib/postgres_exporter/queries.yaml).  It reads progress, so it
 * comes after progress is redefined.
 */
CREATE VIEW phased_change.metrics AS
SELECT pr.plan,
	   pr.phase,
	   pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pr.entered_at)
		   AS seconds_in_phase,
	   pg_catalog.date_part('epoch', pr.soak) AS soak_seconds,
	   pg_catalog.date_part('epoch', pr.soak_remaining) AS soak_remaining_seconds,
	   CASE WHEN pr.ready THEN 1 ELSE 0 END AS ready,
	   pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pr.ready_since)
		   AS ready_seconds,
	   pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) pr.last_verified_at)
		   AS verification_age_seconds,
	   pr.checks_total OPERATOR(pg_catalog.-) pr.checks_passed AS checks_failing,
	   (SELECT pg_catalog.count(*) FROM phased_change.event_log e
		WHERE e.plan_id OPERATOR(pg_catalog.=) p.plan_id
		  AND e.event OPERATOR(pg_catalog.=) ANY (ARRAY['advance_refused', 'ddl_blocked']))
		   AS refusals_total,
	   (SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-)
										   pg_catalog.max(u.last_seen))
		FROM phased_change.object o
		CROSS JOIN LATERAL phased_change.usage_of(o.object_id) u
		WHERE o.plan_id OPERATOR(pg_catalog.=) p.plan_id
		  AND o.role OPERATOR(pg_catalog.=) 'retired') AS retired_last_use_age_seconds
FROM phased_change.progress pr
JOIN phased_change.plan p ON p.name OPERATOR(pg_catalog.=) pr.plan
WHERE pr.status OPERATOR(pg_catalog.=) 'active';

COMMENT ON VIEW phased_change.metrics
	IS 'Every active change plan in numbers, for Prometheus';
REVOKE ALL ON phased_change.metrics FROM PUBLIC;
