--
-- walkthrough.sql: the story of one ticket, four deployments.  `make demo`
-- runs this file narrated (psql -v demo=1), with a writer playing the
-- application in the background (scripts/demo.sh); as a regression test it
-- proves the whole path from expand to a completed plan, with times masked.
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
	legacy_categories text[]
);
INSERT INTO user_profile
SELECT g, CASE g % 3 WHEN 0 THEN '{TypeA,TypeB}' WHEN 1 THEN '{TypeC}' ELSE '{}' END::text[]
FROM generate_series(1, 5000) g;

\echo
\echo '--- Phase 1, expand: the first deployment adds the new column; nothing uses it yet.'
ALTER TABLE user_profile ADD COLUMN primary_categories text[];
\echo '    The plan, what it retires, what it introduces.  Soaks are 2 seconds here;'
\echo '    in production they are hours or days.'
SELECT phase_plan_create('merge-aggregators',
	'Merge the aggregators filter into the methods filter', '2 seconds');
SELECT phase_retire('merge-aggregators', 'user_profile', 'legacy_categories');
SELECT phase_introduce('merge-aggregators', 'user_profile', 'primary_categories');
\echo
\echo '    While both application versions run, the database keeps the two columns in'
\echo '    step: a writer that gives only one of them gets the other filled in.'
SELECT phase_sync('merge-aggregators', 'user_profile',
	'legacy_categories', 'primary_categories',
	forward => 'legacy_categories', backward => 'primary_categories');
\echo
\echo '    And it backfills the rows written before, 1000 per transaction, in the'
\echo '    background.  A row is pending while its legacy values are not all in'
\echo '    primary_categories -- a NULL primary_categories included:'
SELECT phase_backfill('merge-aggregators', 'user_profile',
	set_clause => $$primary_categories = array_cat(coalesce(primary_categories, '{}'), legacy_categories)$$,
	pending => $$primary_categories IS NULL OR NOT primary_categories @> legacy_categories$$,
	batch_size => 1000);
\echo '    Both wait for migrate.  The backfill is also a migrate check:'
SELECT plan, "table", status FROM phased_change.backfills WHERE plan = 'merge-aggregators';
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
\echo '    Two seconds later it may go on.  Entering migrate installs the sync and'
\echo '    starts the backfill when the transaction commits; until it has run, the'
\echo '    migrate check fails:'
SELECT pg_sleep(2.1);
BEGIN;
SELECT phase_advance('merge-aggregators');
SELECT phase_verify('merge-aggregators');
COMMIT;

\echo
\echo '--- Phase 2, migrate: the backfill runs in a background worker, batch by batch.'
\if :{?demo}
SELECT pg_sleep(0.5);
SELECT phase, ready, blockers FROM phased_change.progress WHERE plan = 'merge-aggregators';
\endif
SELECT phased_change.backfill_wait('merge-aggregators', 'user_profile', '1 minute');
\if :{?demo}
SELECT "table", status, rows_done, batches, rows_per_second FROM phased_change.backfills
WHERE plan = 'merge-aggregators';
\else
SELECT "table", status, rows_done, batches FROM phased_change.backfills
WHERE plan = 'merge-aggregators';
\endif
\echo
\echo '    The old application still writes legacy_categories only; the sync fills'
\echo '    primary_categories.  The new one writes primary_categories only; old'
\echo '    readers still see its values:'
INSERT INTO user_profile (id, legacy_categories) VALUES (5001, '{TypeD}');
UPDATE user_profile SET primary_categories = '{TypeE}' WHERE id = 1;
SELECT id, legacy_categories, primary_categories FROM user_profile
WHERE id IN (1, 5001) ORDER BY id;
\echo
\echo '    Nothing is pending now, so the check holds; once it has held for the soak:'
SELECT phase_verify('merge-aggregators');
SELECT pg_sleep(2.1);
SELECT phase, checks_passed, checks_total, ready, next_step
FROM phased_change.progress WHERE plan = 'merge-aggregators';
SELECT phase_advance('merge-aggregators');

\echo
\echo '--- Phase 3, contract: the application switches to primary_categories;'
\echo '    legacy_categories sits unused while the soak runs (the sync still keeps it'
\echo '    in step for a rollback).  Dropping it now is refused by the server itself,'
\echo '    whoever sends the statement:'
\if :{?demo}
ALTER TABLE user_profile DROP COLUMN legacy_categories;
\else
SELECT try($$ALTER TABLE user_profile DROP COLUMN legacy_categories$$);
\endif
\echo '    A migration tool names the phase it needs; once the soak has passed:'
SELECT pg_sleep(2.1);
SELECT phase_advance('merge-aggregators', 'cleanup');
\echo '    Run twice, or after an operator advanced by hand, it changes nothing:'
SELECT phase_advance('merge-aggregators', 'cleanup');

\echo
\echo '--- Phase 4, cleanup: the only irreversible step.  The sync is gone; the same'
\echo '    statement now goes through.'
SELECT plan, "table", from_column, to_column, active, installed FROM phased_change.syncs
WHERE plan = 'merge-aggregators';
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
SELECT plan, phase, state FROM phased_change.status WHERE plan = 'merge-aggregators';
SELECT plan, object, role, exists, may_drop FROM phased_change.guarded_objects
WHERE plan = 'merge-aggregators' ORDER BY object;
\echo
\echo '--- Every statement the guard refused, and who sent it:'
SELECT phased_change.recorder_wait();
SELECT plan, object, actor = session_user AS by_me FROM phased_change.blocked_ddl
WHERE plan = 'merge-aggregators';
