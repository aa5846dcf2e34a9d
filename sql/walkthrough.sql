--
-- walkthrough.sql: the story of one ticket, four deployments.  `make demo`
-- runs this file narrated (psql -v demo=1); as a regression test it proves
-- the whole path from expand to a completed plan, with times masked.
--
\pset footer off
\echo
\echo '=== phased_change walkthrough ==='
\echo 'Ticket: "remove the aggregators filter and add those values to the methods filter".'
\echo 'Column user_profile.legacy_categories must go; primary_categories replaces it.'
\echo 'Each phase is its own deployment; the database holds the plan.'
\echo
CREATE TABLE user_profile (
	id int PRIMARY KEY,
	legacy_categories text[],
	primary_categories text[]
);
INSERT INTO user_profile VALUES
	(1, '{TypeA,TypeB}', '{STANDARD}'),
	(2, '{TypeC}', '{PREMIUM}'),
	(3, '{}', '{STANDARD}');

\echo
\echo '--- Phase 1, expand: register the plan, what it retires, what it introduces.'
\echo '    Soaks are 2 seconds here; in production they are hours or days.'
SELECT phase_plan_create('merge-aggregators',
	'Merge the aggregators filter into the methods filter', '2 seconds');
SELECT phase_retire('merge-aggregators', 'user_profile', 'legacy_categories');
SELECT phase_introduce('merge-aggregators', 'user_profile', 'primary_categories');
\echo
\echo '    To leave migrate, every legacy value must also be in primary_categories:'
SELECT phase_check_add('merge-aggregators', 'migrate', 'backfilled',
	$$NOT EXISTS (SELECT 1 FROM user_profile
				 WHERE NOT primary_categories @> legacy_categories)$$);
\echo
\echo '    Advancing at once is refused: expand has not soaked yet.'
\if :{?demo}
SELECT phase_advance('merge-aggregators');
\else
SELECT try($$SELECT phase_advance('merge-aggregators')$$);
-- (the test waits until the refusal is recorded: the history below is in order)
SELECT phased_change.recorder_wait() AS recorded \gset
\endif
\echo
\echo '    Two seconds later it may go on.'
SELECT pg_sleep(2.1);
SELECT phase_advance('merge-aggregators');

\echo
\echo '--- Phase 2, migrate: backfill.  Before the backfill the check fails'
\echo '    (preloaded, the scheduler runs this every minute):'
SELECT phase_verify('merge-aggregators');
\if :{?demo}
SELECT phase, checks_passed, checks_total, ready, blockers
FROM phased_change.progress WHERE plan = 'merge-aggregators';
\else
SELECT phase, checks_passed, checks_total, ready,
	   regexp_replace(blockers::text, 'soaked for [^"]* of its', 'soaked for ... of its') AS blockers
FROM phased_change.progress WHERE plan = 'merge-aggregators';
\endif
\echo
\echo '    The backfill, the second deployment:'
UPDATE user_profile
SET primary_categories = array_cat(primary_categories, legacy_categories)
WHERE legacy_categories && ARRAY['TypeA', 'TypeB', 'TypeC'];
SELECT phase_verify('merge-aggregators');
\echo
\echo '    The failed verification restarted the soak; once it has passed:'
SELECT pg_sleep(2.1);
SELECT phase, checks_passed, checks_total, ready, next_step
FROM phased_change.progress WHERE plan = 'merge-aggregators';
SELECT phase_advance('merge-aggregators');

\echo
\echo '--- Phase 3, contract: the application switches to primary_categories;'
\echo '    legacy_categories sits unused while the soak runs.  Dropping it now is'
\echo '    refused by the server itself, whoever sends the statement:'
\if :{?demo}
ALTER TABLE user_profile DROP COLUMN legacy_categories;
\else
SELECT try($$ALTER TABLE user_profile DROP COLUMN legacy_categories$$);
\endif
SELECT pg_sleep(2.1);
SELECT phase_advance('merge-aggregators');

\echo
\echo '--- Phase 4, cleanup: the only irreversible step.  The same statement'
\echo '    now goes through.'
SELECT next_step FROM phased_change.progress WHERE plan = 'merge-aggregators';
ALTER TABLE user_profile DROP COLUMN legacy_categories;
SELECT phase_advance('merge-aggregators');

\echo
\echo '--- The audit trail: who moved the plan, when, how long each phase lasted,'
\echo '    and which checks held.'
\if :{?demo}
SELECT phased_change.recorder_wait();
SELECT event, from_phase, to_phase,
	   date_trunc('second', time_in_phase) AS time_in_phase,
	   actor = session_user AS by_me,
	   (SELECT string_agg(c ->> 'name' || CASE WHEN (c ->> 'ok')::boolean
											THEN ' held' ELSE ' failed' END, ', ')
		FROM jsonb_array_elements(detail -> 'checks') c) AS checks
FROM phased_change.history
WHERE plan = 'merge-aggregators'
ORDER BY event_id;
\else
SELECT phased_change.recorder_wait();
SELECT event, from_phase, to_phase,
	   time_in_phase >= '2 seconds' AS soaked_2s,
	   actor = session_user AS by_me,
	   (SELECT string_agg(c ->> 'name' || CASE WHEN (c ->> 'ok')::boolean
											THEN ' held' ELSE ' failed' END, ', ')
		FROM jsonb_array_elements(detail -> 'checks') c) AS checks
FROM phased_change.history
WHERE plan = 'merge-aggregators'
ORDER BY event_id;
\endif
SELECT plan, status, phase, ready, next_step FROM phased_change.progress
WHERE plan = 'merge-aggregators';
SELECT plan, object, role, exists, may_drop FROM phased_change.guarded_objects
WHERE plan = 'merge-aggregators' ORDER BY object;
\echo
\echo '--- Every statement the guard refused, and who sent it:'
SELECT phased_change.recorder_wait();
SELECT plan, object, actor = session_user AS by_me FROM phased_change.blocked_ddl
WHERE plan = 'merge-aggregators';
