--
-- verify_all.sql: operating plans day to day (issue 12, items 1 to 3).
--  * phase_verify_all() verifies every active plan the caller may change,
--    one row each (plan, phase, ok, ready), each on its own: a plan whose
--    verification raises an error gets ok = false and a WARNING, the others
--    are verified all the same; completed and abandoned plans are skipped.
--  * A verification reaches the history only when its outcome differs from
--    the previous one in the phase; the plan row keeps the latest one, and
--    the soak still counts from the latest failed verification, recorded
--    or not.
--  * progress.ready_since: when the plan became ready, NULL while it is not.
--  * phase_history_prune(before) removes the history of plans that ended
--    before that time, only for superusers, and records itself.
-- (NOTIFY payloads, LOG lines and the scheduler: test/t/016_operations.pl.)
--
SET phased_change.unplanned_ddl = allow;
CREATE ROLE regress_ops_owner;
CREATE ROLE regress_ops_other;
GRANT CREATE ON SCHEMA public TO regress_ops_owner;
GRANT USAGE ON SCHEMA phased_change TO regress_ops_owner, regress_ops_other;
GRANT SELECT ON phased_change.progress, phased_change.history TO regress_ops_owner;
GRANT EXECUTE ON FUNCTION phased_change.usage_tracking(), phased_change.usage_counts(),
	phased_change.usage_of(bigint) TO regress_ops_owner;
GRANT EXECUTE ON FUNCTION phase_plan_create(text, text, interval), phase_check_add(text, text, text, text),
	phase_verify(text), phase_verify_all(), phase_advance(text), phase_abandon(text, text),
	phase_soak_set(text, text, interval)
	TO regress_ops_owner, regress_ops_other;

SET ROLE regress_ops_owner;
CREATE TABLE ops_items (id int, old_code text, new_code text);
INSERT INTO ops_items VALUES (1, 'a', 'a'), (2, 'b', NULL);
CREATE TABLE ops_doomed (id int);
SELECT phase_plan_create('va-a', 'backfill', '0');
SELECT phase_advance('va-a');
SELECT phase_check_add('va-a', 'migrate', 'backfilled',
	'NOT EXISTS (SELECT FROM ops_items WHERE new_code IS DISTINCT FROM old_code)');
SELECT phase_check_add('va-a', 'migrate', 'no nulls',
	'NOT EXISTS (SELECT FROM ops_items WHERE new_code IS NULL)');
SELECT phase_plan_create('va-b', 'no checks', '0');
SELECT phase_plan_create('va-broken', 'a check whose table is gone', '0');
SELECT phase_check_add('va-broken', 'expand', 'doomed', 'EXISTS (SELECT FROM ops_doomed)');
SELECT phase_plan_create('va-ended', NULL, '0');
SELECT phase_abandon('va-ended', 'not needed');
DROP TABLE ops_doomed;

-- One row per active plan the caller may change; a failing plan stops no
-- other.  (A verification that raises an error: test/t/016_operations.pl.)
SELECT * FROM phase_verify_all() ORDER BY plan;
-- Another role sees none of them, and verifies nothing.
SET ROLE regress_ops_other;
SELECT count(*) AS plans FROM phase_verify_all();
SET ROLE regress_ops_owner;
SELECT phase_abandon('va-broken', 'its table is gone');

-- History only on change.  Verified twice with the same failure: one row.
SELECT phase_verify('va-a') AS first, phase_verify('va-a') AS second;
SELECT event, detail -> 'checks' -> 0 ->> 'ok' AS backfilled, detail -> 'checks' -> 1 ->> 'ok' AS no_nulls
FROM phased_change.history WHERE plan = 'va-a' AND checks_ok IS NOT NULL ORDER BY event_id;
-- The plan row keeps the latest verification: the soak counts from it.
RESET ROLE;
SELECT p.last_verified_at = p.last_failed_at AS failed_last, p.last_verification_ok,
	   p.last_verification ->> 'source' AS source,
	   (SELECT max(at) FROM phased_change.history h
		WHERE h.plan = 'va-a' AND NOT h.checks_ok) < p.last_failed_at AS later_than_recorded
FROM phased_change.plan p WHERE p.name = 'va-a';
SET ROLE regress_ops_owner;
-- Only one check fails now: a different outcome, recorded.
UPDATE ops_items SET new_code = 'x' WHERE id = 1;
UPDATE ops_items SET new_code = old_code WHERE id = 2;
SELECT phase_verify('va-a'), phase_verify('va-a');
-- Fixed: recorded once, then no more.
UPDATE ops_items SET new_code = old_code;
SELECT phase_verify('va-a'), phase_verify('va-a'), phase_verify('va-a');
SELECT event, detail -> 'checks' -> 0 ->> 'ok' AS backfilled, detail -> 'checks' -> 1 ->> 'ok' AS no_nulls
FROM phased_change.history WHERE plan = 'va-a' AND checks_ok IS NOT NULL ORDER BY event_id;
SELECT count(*) AS verifications FROM phase_verify_all() WHERE plan = 'va-a';
SELECT count(*) AS rows_recorded
FROM phased_change.history WHERE plan = 'va-a' AND checks_ok IS NOT NULL;

-- With a soak, the soak counts from the last failed verification, even an
-- unrecorded one; the plan is not ready and has no ready_since.
SELECT phase_soak_set('va-a', 'migrate', '1 hour');
UPDATE ops_items SET new_code = NULL WHERE id = 2;
SELECT phase_verify('va-a'), phase_verify('va-a');
UPDATE ops_items SET new_code = old_code;
SELECT phase_verify('va-a');
SELECT ready, ready_since, cardinality(blockers) AS blockers,
	   blockers[1] LIKE '%counted from the last failed verification.' AS soak_from_failure
FROM phased_change.progress WHERE plan = 'va-a';
RESET ROLE;
SELECT p.last_failed_at > (SELECT max(at) FROM phased_change.history h
						   WHERE h.plan = 'va-a' AND NOT h.checks_ok) AS soak_from_unrecorded_failure,
	   pr.soak_remaining > '59 minutes' AS soak_restarted
FROM phased_change.plan p JOIN phased_change.progress pr ON pr.plan = p.name
WHERE p.name = 'va-a';
SET ROLE regress_ops_owner;

-- Without a soak it is ready since the first passing verification of the
-- run, and stays so however often it is verified.
SELECT phase_soak_set('va-a', 'migrate', '0');
SELECT phase_verify('va-a');
RESET ROLE;
SELECT pr.ready, pr.ready_since = p.verification_since AS since_first_pass,
	   pr.ready_since < p.last_verified_at AS before_latest
FROM phased_change.progress pr JOIN phased_change.plan p ON p.name = pr.plan
WHERE pr.plan = 'va-a';
SET ROLE regress_ops_owner;
-- No checks: ready since the end of the soak (here: entering the phase).
SELECT ready, ready_since = entered_at AS since_entered FROM phased_change.progress WHERE plan = 'va-b';

-- A refused advance keeps its verification in the history, with the
-- refusal, and a failure there restarts the soak.
SELECT phase_soak_set('va-a', 'migrate', '1 hour');
UPDATE ops_items SET new_code = NULL WHERE id = 2;
SELECT phase_verify('va-a');
SELECT try($$SELECT phase_advance('va-a')$$) ~ 'cannot leave phase' AS refused;
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT event, checks_ok, detail ->> 'source' AS source FROM phased_change.history
WHERE plan = 'va-a' ORDER BY event_id DESC LIMIT 3;
SELECT p.last_failed_at = (SELECT max(at) FROM phased_change.history h
						   WHERE h.plan = 'va-a' AND NOT h.checks_ok) AS soak_from_refused_advance
FROM phased_change.plan p WHERE p.name = 'va-a';
SET ROLE regress_ops_owner;
UPDATE ops_items SET new_code = old_code;
SELECT phase_soak_set('va-a', 'migrate', '0');
SELECT phase_advance('va-a');
-- A new phase starts without a verification.
SELECT phase, last_verified_at, checks_passed FROM phased_change.progress WHERE plan = 'va-a';
RESET ROLE;
SELECT last_verified_at, last_verification_ok, last_verification, last_failed_at, verification_since
FROM phased_change.plan WHERE name = 'va-a';

-- Pruning: superusers only; bad input changes nothing.
SET ROLE regress_ops_owner;
SELECT try($$SELECT phase_history_prune(now())$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION phase_history_prune(timestamptz) TO regress_ops_owner;
SET ROLE regress_ops_owner;
SELECT try($$SELECT phase_history_prune(now())$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION phase_history_prune(timestamptz) FROM regress_ops_owner;
SELECT try($$SELECT phase_history_prune(NULL)$$);
SELECT try($$SELECT phase_history_prune('infinity')$$);
-- Only plans that ended before the time lose their history: va-ended and
-- va-broken did; va-a (active) keeps all of it.
CREATE TEMP TABLE ops_before AS
SELECT plan, count(*) AS events FROM phased_change.history
WHERE plan LIKE 'va-%' GROUP BY plan;
SELECT phase_history_prune(now() - interval '1 hour') AS removed_nothing;
SELECT phase_history_prune(clock_timestamp()) >= (SELECT sum(events) FROM ops_before
												  WHERE plan IN ('va-ended', 'va-broken'))
	AS removed_ended;
SELECT b.plan, b.events AS before, count(h.event_id) AS after
FROM ops_before b LEFT JOIN phased_change.history h ON h.plan = b.plan
GROUP BY b.plan, b.events ORDER BY b.plan;
-- The prunes are recorded, without a plan: they outlive any later prune.
SELECT event, plan, detail -> 'plans' @> '["va-broken", "va-ended"]' AS names_them,
	   (detail ->> 'events')::int > 0 AS counted
FROM phased_change.history WHERE event = 'history_pruned' ORDER BY event_id;
-- The history stays append-only outside the prune.
SELECT try($$DELETE FROM phased_change.event_log WHERE event = 'history_pruned'$$);

SELECT phase_abandon('va-a', 'test done');
SELECT phase_abandon('va-b', 'test done');
DROP TABLE ops_items;
REVOKE ALL ON SCHEMA public FROM regress_ops_owner;
REVOKE ALL ON SCHEMA phased_change FROM regress_ops_owner, regress_ops_other;
REVOKE ALL ON phased_change.progress, phased_change.history FROM regress_ops_owner;
REVOKE ALL ON FUNCTION phased_change.usage_tracking(), phased_change.usage_counts(),
	phased_change.usage_of(bigint) FROM regress_ops_owner;
REVOKE ALL ON FUNCTION phase_plan_create(text, text, interval), phase_check_add(text, text, text, text),
	phase_verify(text), phase_verify_all(), phase_advance(text), phase_abandon(text, text),
	phase_soak_set(text, text, interval)
	FROM regress_ops_owner, regress_ops_other;
DROP ROLE regress_ops_owner, regress_ops_other;
RESET phased_change.unplanned_ddl;
