--
-- plans.sql: installing the extension, creating plans, per-phase soaks,
-- abandoning and rolling back, and the errors of bad input.  Bad input
-- changes nothing, history included.
--

-- The install script never adopts a schema someone else made.  (Terse:
-- PostgreSQL 18 adds the script's line as CONTEXT.)
CREATE SCHEMA phased_change;
\set VERBOSITY terse
CREATE EXTENSION phased_change;
\set VERBOSITY default
DROP SCHEMA phased_change;
CREATE EXTENSION phased_change;

-- Tables and views in schema phased_change, functions in the extension's
-- schema (public here).
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'phased_change' AND c.relkind IN ('r', 'v')
ORDER BY c.relname;
SELECT p.oid::regprocedure AS function, p.prosecdef
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname LIKE 'phase\_%'
ORDER BY 1::text;

-- Run a statement; show its error in full, with times and durations masked.
CREATE FUNCTION try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text; msg text; detail text; hint text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN regexp_replace(regexp_replace(
			format(E'%s: %s\nDETAIL: %s\nHINT: %s', state, msg, detail, hint),
			'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[-+]\d\d', 'TIMESTAMP', 'g'),
		'\d+:\d\d:\d\d(\.\d+)?', 'HH:MM:SS', 'g');
END
$$;

-- A new plan starts in expand, active, with the default soak of 48 hours.
SELECT phase_plan_create('first-plan');
SELECT phase_plan_create('second-plan', 'with a description', '2 hours');
SELECT plan, description, status, phase, phase_number, soak, checks_total, ready
FROM phased_change.progress ORDER BY plan;
SELECT phased_change.recorder_wait();
SELECT plan, event, from_phase, to_phase, actor = session_user AS actor_ok,
	   role = current_user AS role_ok, detail
FROM phased_change.history ORDER BY event_id;

-- Bad input: each of these is refused and leaves no trace.
SELECT phased_change.recorder_wait();
SELECT count(*) AS events_before FROM phased_change.history \gset
SELECT phase_plan_create('first-plan');
SELECT phase_plan_create('');
SELECT phase_plan_create(NULL);
SELECT phase_plan_create('negative', NULL, '-1 second');
SELECT phase_plan_create('negative', NULL, '1 day -25 hours');
SELECT phase_plan_create('no-soak', NULL, NULL);
SELECT phase_advance('no-such-plan');
SELECT phase_advance(NULL);
SELECT phase_rollback('no-such-plan');
SELECT phase_verify('no-such-plan');
SELECT phase_abandon('no-such-plan', 'why');
SELECT phase_abandon('first-plan', NULL);
SELECT phase_abandon('first-plan', '');
SELECT phase_soak_set('no-such-plan', 'expand', '1 hour');
SELECT phase_soak_set('first-plan', 'deploy', '1 hour');
SELECT phase_soak_set('first-plan', NULL, '1 hour');
SELECT phase_soak_set('first-plan', 'cleanup', '1 hour');
SELECT phase_soak_set('first-plan', 'migrate', '-1 hour');
SELECT phase_soak_set('first-plan', 'migrate', NULL);
SELECT phase_rollback('first-plan');
SELECT phased_change.recorder_wait();
SELECT count(*) = :events_before AS nothing_recorded FROM phased_change.history;
SELECT count(*) AS plans FROM phased_change.plan;

-- Per-phase soaks override the plan's.
SELECT phase_soak_set('second-plan', 'expand', '0');
SELECT phase_soak_set('second-plan', 'migrate', '3 days');
SELECT phase_soak_set('second-plan', 'migrate', '72 hours');
SELECT plan, phase, soak, soak_remaining FROM phased_change.progress WHERE plan = 'second-plan';
SELECT phase, soak FROM phased_change.phase_soak ORDER BY phase;

-- A phase with no checks is ready once its soak has passed.
SELECT ready, blockers, next_step FROM phased_change.progress WHERE plan = 'second-plan';
SELECT phase_advance('second-plan');
SELECT phase, entered_at > created_at AS entered_later, soak, ready
FROM phased_change.progress WHERE plan = 'second-plan';
SELECT try($$SELECT phase_advance('second-plan')$$);

-- Rolling back re-enters the previous phase; its soak starts again.
SELECT phase_soak_set('second-plan', 'expand', '1 hour');
SELECT phase_rollback('second-plan', 'canary errors');
SELECT phase, soak, soak_remaining > '59 minutes' AS soak_restarted, ready
FROM phased_change.progress WHERE plan = 'second-plan';

-- Abandoning ends a plan; nothing can change it afterwards.
SELECT phase_abandon('first-plan', 'superseded by second-plan');
SELECT status, phase, ready, blockers, next_step, soak_remaining
FROM phased_change.progress WHERE plan = 'first-plan';
SELECT phase_advance('first-plan');
SELECT phase_rollback('first-plan');
SELECT phase_abandon('first-plan', 'again');
SELECT phase_soak_set('first-plan', 'expand', '1 hour');

SELECT phased_change.recorder_wait();
SELECT plan, event, from_phase, to_phase, time_in_phase IS NOT NULL AS timed, detail
FROM phased_change.history WHERE event IN ('rolled_back', 'abandoned', 'advanced', 'soak_set')
ORDER BY event_id;

-- The history is append-only, even for the extension's owner, and even
-- with session_replication_role = replica.
UPDATE phased_change.event_log SET event = 'tampered';
DELETE FROM phased_change.event_log;
TRUNCATE phased_change.event_log;
SET session_replication_role = replica;
DELETE FROM phased_change.event_log;
TRUNCATE phased_change.event_log;
RESET session_replication_role;
