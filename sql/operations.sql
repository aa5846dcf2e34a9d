--
-- operations.sql: running plans from migration tools, and words that are
-- right (issue 12).  phase_advance(plan, to_phase) does nothing when the
-- plan is already there or beyond, takes the steps it may, and refuses its
-- first step exactly as phase_advance(plan) does; phase_check_drop removes
-- a check (recorded), and refuses unknown checks and ended plans.  A
-- refused DROP's hint lists what actually remains (phases to pass, failing
-- checks, soak) and names no time while something else blocks.  An unknown
-- plan name gets the closest existing name, never an invitation to create
-- it.  The status view fits in under 120 characters a line; the metrics
-- view has one row per active plan.
--
SET intervalstyle = postgres;

-- Run a statement; show its error in full, with times and durations masked.
CREATE FUNCTION ops_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
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

CREATE TABLE accounts (id int, legacy_note text, note text);
SELECT phase_plan_create('ops-plan', NULL, '0');
SELECT phase_retire('ops-plan', 'accounts', 'legacy_note');
SELECT phase_check_add('ops-plan', 'migrate', 'notes copied',
	'NOT EXISTS (SELECT FROM accounts WHERE note IS DISTINCT FROM legacy_note)');
SELECT phase_check_add('ops-plan', 'migrate', 'always', 'true');

-- A migration asks for migrate: one step.  Run again, or after an operator
-- moved the plan on, it changes nothing and says where the plan is.
SELECT phase_advance('ops-plan', 'migrate');
SELECT phase_advance('ops-plan', 'migrate');
SELECT phase_advance('ops-plan', 'expand');

-- A failing check: the same refusal as phase_advance(plan), recorded.
INSERT INTO accounts VALUES (1, 'a', NULL);
SELECT ops_try($$SELECT phase_advance('ops-plan', 'cleanup')$$);
SELECT ops_try($$SELECT phase_advance('ops-plan')$$);
SELECT phased_change.recorder_wait();
SELECT event, from_phase, to_phase FROM phased_change.history
WHERE plan = 'ops-plan' ORDER BY event_id DESC LIMIT 4;

-- A refused DROP two phases before cleanup names the failing check and the
-- phase still to pass, and no time.
SELECT ops_try($$ALTER TABLE accounts DROP COLUMN legacy_note$$);

-- phase_check_drop: bad input is refused and changes nothing.
SELECT ops_try($$SELECT phase_check_drop('ops-plan', 'migrate', 'no such check')$$);
SELECT ops_try($$SELECT phase_check_drop('ops-plan', 'contract', 'notes copied')$$);
SELECT ops_try($$SELECT phase_check_drop('ops-plan', 'nowhere', 'notes copied')$$);
SELECT ops_try($$SELECT phase_check_drop('ops-plan', 'migrate', NULL)$$);
SELECT ops_try($$SELECT phase_check_drop('ops-plan', 'migrate', '')$$);
SELECT ops_try($$SELECT phase_check_drop('ops-plna', 'migrate', 'notes copied')$$);
SELECT checks_total FROM phased_change.progress WHERE plan = 'ops-plan';

-- A wrong check no longer blocks the plan for ever.
SELECT phase_check_drop('ops-plan', 'migrate', 'notes copied');
SELECT checks_total FROM phased_change.progress WHERE plan = 'ops-plan';
SELECT event, from_phase, detail ->> 'check' AS "check", detail ->> 'phase' AS phase,
	   detail ->> 'predicate' AS predicate
FROM phased_change.history WHERE plan = 'ops-plan' AND event = 'check_dropped';

-- With no soak, every step may be taken in one call: migrate to cleanup.
SELECT phase_advance('ops-plan', 'cleanup');
SELECT event, from_phase, to_phase FROM phased_change.history
WHERE plan = 'ops-plan' AND event = 'advanced' ORDER BY event_id;

-- 'completed' is a target too; the first step is refused while the
-- retired column stands.
SELECT ops_try($$SELECT phase_advance('ops-plan', 'completed')$$);
ALTER TABLE accounts DROP COLUMN legacy_note;
SELECT phase_advance('ops-plan', 'completed');
SELECT phase_advance('ops-plan', 'completed');
SELECT phase_advance('ops-plan', 'migrate');
SELECT ops_try($$SELECT phase_check_drop('ops-plan', 'migrate', 'always')$$);

-- Later steps are taken only while nothing blocks them: here the soak of
-- contract stops the call there, and the steps taken are kept.
SELECT phase_plan_create('ops-two', NULL, '0');
SELECT phase_soak_set('ops-two', 'contract', '1 hour');
-- (the NOTICE that says why is not shown: it names the seconds soaked)
SET client_min_messages = warning;
SELECT phase_advance('ops-two', 'cleanup');
RESET client_min_messages;
SELECT phase FROM phased_change.progress WHERE plan = 'ops-two';
SELECT ops_try($$SELECT phase_advance('ops-two', 'cleanup')$$);

-- Bad targets, abandoned plans, and plans of other roles are refused.
SELECT ops_try($$SELECT phase_advance('ops-two', 'finished')$$);
SELECT ops_try($$SELECT phase_advance('ops-two', NULL)$$);
SELECT ops_try($$SELECT phase_advance(NULL, 'cleanup')$$);
SELECT phase_plan_create('ops-gone', NULL, '0');
SELECT phase_abandon('ops-gone', 'not needed');
SELECT ops_try($$SELECT phase_advance('ops-gone', 'migrate')$$);
CREATE ROLE ops_stranger;
GRANT EXECUTE ON FUNCTION phase_advance(text, text), phase_check_drop(text, text, text)
	TO ops_stranger;
GRANT EXECUTE ON FUNCTION ops_try(text) TO ops_stranger;
SET ROLE ops_stranger;
SELECT ops_try($$SELECT phase_advance('ops-two', 'cleanup')$$);
SELECT ops_try($$SELECT phase_check_drop('ops-two', 'migrate', 'x')$$);
RESET ROLE;
SELECT has_function_privilege('public', 'phase_advance(text, text)', 'EXECUTE') AS public_advance,
	   has_function_privilege('public', 'phase_check_drop(text, text, text)', 'EXECUTE') AS public_drop;

-- An unknown plan: the closest name when one is close, never "create it".
SELECT ops_try($$SELECT phase_advance('ops-tow')$$);
SELECT ops_try($$SELECT phase_verify('ops_plan')$$);
SELECT ops_try($$SELECT phase_verify('something else entirely')$$);

-- Words: in expand with a soak to go, the hint lists the soak and the
-- phases still to pass; once the soak has passed but a check fails, the
-- check, not "00:00:00 to go".
CREATE TABLE ledgers (id int, old_code text, code text);
SELECT phase_plan_create('ops-words', NULL, '1 hour');
SELECT phase_retire('ops-words', 'ledgers', 'old_code');
SELECT phase_check_add('ops-words', 'expand', 'codes present', 'false');
SELECT ops_try($$ALTER TABLE ledgers DROP COLUMN old_code$$);
SELECT phase_soak_set('ops-words', 'expand', '0');
SELECT phase_verify('ops-words');
SELECT ops_try($$ALTER TABLE ledgers DROP COLUMN old_code$$);
SELECT ops_try($$ALTER TABLE ledgers RENAME TO ledgers_old$$);

-- status: where every plan is, one short line each, even for long names.
SELECT phase_plan_create('ops-a-plan-with-a-rather-long-name-that-a-team-might-choose-for-a-ticket');
SELECT plan, phase, state, in_phase ~ '^\d+d \d\d:\d\d$' AS in_phase_ok,
	   regexp_replace(blocker, '\d+:\d\d:\d\d', 'HH:MM:SS', 'g') AS blocker
FROM phased_change.status WHERE plan LIKE 'ops%';
-- psql's aligned output: the widest value of each column, separators, margins
SELECT greatest(max(char_length(plan)), 4) + greatest(max(char_length(phase)), 5)
	   + greatest(max(char_length(state)), 5) + greatest(max(char_length(in_phase)), 8)
	   + greatest(max(char_length(blocker)), 7) + 4 * 3 + 2 < 120 AS fits
FROM phased_change.status;

-- metrics: one row per active plan, in numbers (refusals once recorded).
SELECT phased_change.recorder_wait();
SELECT plan, phase, soak_seconds, soak_remaining_seconds > 0 AS soaking, ready,
	   ready_seconds, checks_failing, refusals_total,
	   seconds_in_phase >= 0 AS in_phase_ok,
	   verification_age_seconds >= 0 AS verified_ok
FROM phased_change.metrics WHERE plan LIKE 'ops%' ORDER BY plan;
SELECT count(*) AS ended_plans_in_metrics FROM phased_change.metrics
WHERE plan IN ('ops-plan', 'ops-gone');

SELECT phase_abandon(plan, 'end of test') FROM phased_change.progress
WHERE plan LIKE 'ops%' AND status = 'active';
DROP TABLE accounts, ledgers;
DROP FUNCTION ops_try(text);
REVOKE EXECUTE ON FUNCTION phase_advance(text, text), phase_check_drop(text, text, text)
	FROM ops_stranger;
DROP ROLE ops_stranger;
