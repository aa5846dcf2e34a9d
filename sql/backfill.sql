--
-- backfill.sql: backfills.  phase_backfill registers a batched UPDATE of a
-- table with a plan and the migrate check "backfill of <table>"; a
-- background worker runs it in migrate, one transaction per batch, as the
-- plan's owner.  Bad input is refused when registered, with nothing
-- recorded; a pending that raises fails the backfill with the key at
-- fault; cancelling, rolling back out of migrate and abandoning stop it.
--
CREATE ROLE regress_backfill_owner;
CREATE ROLE regress_backfill_other;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO regress_backfill_owner, regress_backfill_other;
CREATE SCHEMA bf;
GRANT USAGE ON SCHEMA bf TO regress_backfill_owner, regress_backfill_other;
CREATE TABLE bf.user_profile (id bigint PRIMARY KEY, legacy_categories text[],
							  primary_categories text[]);
INSERT INTO bf.user_profile
SELECT i, ARRAY['c' || i % 7], CASE WHEN i % 10 = 0 THEN ARRAY['c' || i % 7] END
FROM generate_series(1, 2500) i;
ANALYZE bf.user_profile;
CREATE TABLE bf.ukey (a int NOT NULL UNIQUE, b int, v int);
INSERT INTO bf.ukey SELECT i, i, NULL FROM generate_series(1, 20) i;
CREATE TABLE bf.nokey (a int UNIQUE, v int);
CREATE VIEW bf.a_view AS SELECT * FROM bf.ukey;
CREATE TABLE bf.others (id int PRIMARY KEY, v int);
ALTER TABLE bf.user_profile OWNER TO regress_backfill_owner;
ALTER TABLE bf.ukey OWNER TO regress_backfill_owner;
ALTER TABLE bf.nokey OWNER TO regress_backfill_owner;
ALTER VIEW bf.a_view OWNER TO regress_backfill_owner;
ALTER TABLE bf.others OWNER TO regress_backfill_other;

SET ROLE regress_backfill_owner;
SET search_path = bf, public;
SELECT phase_plan_create('bf', NULL, '0');

-- Bad input: refused with a clear error, nothing recorded.
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT count(*) AS events_before FROM phased_change.history \gset
SET ROLE regress_backfill_owner;
\set pending 'primary_categories IS NULL OR NOT primary_categories @> legacy_categories'
SELECT phase_backfill('bf', 'user_profile', 'no_such_column = legacy_categories', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', 'no_such_column IS NULL');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = no_such_function(legacy_categories)', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = ', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories; DROP TABLE user_profile', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories WHERE id > 0', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = o.v FROM others o', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories RETURNING id', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'id = id + 1', :'pending');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', 'true; DELETE FROM user_profile');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', 'true FROM user_profile');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', 'id');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories',
	'EXISTS (WITH d AS (DELETE FROM user_profile RETURNING 1) SELECT 1 FROM d)');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = pg_temp.f(legacy_categories)', :'pending');
SELECT phase_backfill('bf', 'nokey', 'v = 1', 'v IS NULL');
SELECT phase_backfill('bf', 'a_view', 'v = 1', 'v IS NULL');
SELECT phase_backfill('bf', 'no_such_table', 'v = 1', 'v IS NULL');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', :'pending', 0);
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', :'pending', 10, '-1 second');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', :'pending', 10, '0', NULL);
-- a pause whose milliseconds would overflow (infinity, on majors that have it, too)
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', :'pending', 10, '1000 years');
SELECT phase_backfill('bf', 'user_profile', 'primary_categories = legacy_categories', :'pending', 10, '1 day 1 second');
SELECT phase_backfill('bf', NULL, 'primary_categories = legacy_categories', :'pending');
SELECT phase_backfill('bf', 'user_profile', '  ', :'pending');
SELECT phase_backfill('no-such-plan', 'user_profile', 'primary_categories = legacy_categories', :'pending');
-- not the table's owner; not the plan's owner
SELECT phase_backfill('bf', 'others', 'v = 1', 'v IS NULL');
SET ROLE regress_backfill_other;
SELECT phase_plan_create('bf-other', NULL, '0');
SELECT phase_backfill('bf-other', 'bf.user_profile', 'primary_categories = legacy_categories', 'primary_categories IS NULL');
SELECT phase_backfill('bf', 'bf.others', 'v = 1', 'v IS NULL');
RESET ROLE;
-- a superuser registering for a plan whose owner may not update the table
SELECT phase_backfill('bf', 'bf.others', 'v = 1', 'v IS NULL');
-- an owner with SELECT but not UPDATE (both rights are needed, not either)
GRANT SELECT ON bf.others TO regress_backfill_owner;
SELECT phase_backfill('bf', 'bf.others', 'v = 1', 'v IS NULL');
REVOKE SELECT ON bf.others FROM regress_backfill_owner;
SELECT phase_abandon('bf-other', 'end of test');
SELECT phased_change.recorder_wait();
SELECT count(*) - :events_before AS events_recorded FROM phased_change.history
WHERE plan IS DISTINCT FROM 'bf-other';
SET ROLE regress_backfill_owner;

-- In expand, a backfill waits for migrate; its check is a migrate check.
SELECT phase_backfill('bf', 'user_profile',
	'primary_categories = array_cat(coalesce(primary_categories, ''{}''), legacy_categories)',
	:'pending');
RESET ROLE;
SELECT plan, "table", status, rows_done, rows_estimated, batches, last_key, eta, started_at,
	   finished_at, throttled_by, last_error
FROM phased_change.backfills ORDER BY plan, "table";
SELECT ph.name AS phase, c.name, c.predicate, c.search_path
FROM phased_change.plan_check c JOIN phased_change.phase ph USING (phase)
JOIN phased_change.plan p USING (plan_id) WHERE p.name = 'bf';
SET ROLE regress_backfill_owner;

-- Entering migrate starts it.  Before it has run, the check fails: the new
-- column is NULL everywhere, and NULL @> x is NULL, not false.  After, it holds.
BEGIN;
SELECT phase_advance('bf');
SELECT phase_verify('bf');
RESET ROLE;
SELECT unnest(blockers) FROM phased_change.progress WHERE plan = 'bf';
COMMIT;
SELECT phased_change.backfill_wait('bf', 'user_profile');
-- backfill_wait: a timeout that would overflow, an unknown plan, and a
-- snapshot that would never see the worker's progress are refused.
SELECT phased_change.backfill_wait('bf', 'user_profile', '1000 years');
SELECT phased_change.backfill_wait('no-such-plan', 'bf.user_profile');
SELECT phased_change.backfill_wait('bf', 'bf.nokey');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT phased_change.backfill_wait('bf', 'user_profile');
ROLLBACK;
SET ROLE regress_backfill_owner;
SELECT count(*) AS pending_rows FROM user_profile
WHERE primary_categories IS NULL OR NOT primary_categories @> legacy_categories;
SELECT count(*) AS rows_changed FROM user_profile WHERE primary_categories <> legacy_categories;
SELECT phase_verify('bf');
RESET ROLE;
SELECT plan, "table", status, rows_done, rows_updated, rows_estimated, batches, last_key,
	   rows_per_second > 0 AS has_rate, eta, started_at IS NOT NULL AS started,
	   finished_at >= started_at AS finished, throttled_by, last_error
FROM phased_change.backfills ORDER BY plan, "table";
SELECT event, role, detail - 'search_path' AS detail FROM phased_change.history
WHERE plan = 'bf' AND event LIKE 'backfill%' ORDER BY event_id;

-- A pending that raises on a row: failed, naming the key; earlier batches
-- are kept; the plan is blocked.  A unique NOT NULL key serves as well.
SET ROLE regress_backfill_owner;
SELECT phase_backfill('bf', 'ukey', 'v = b * 10', 'CASE WHEN a = 8 THEN b / (a - 8) = 0 ELSE v IS NULL END', 3);
RESET ROLE;
SELECT phased_change.backfill_wait('bf', 'ukey');
SELECT "table", status, rows_done, rows_updated, batches, last_key, last_error
FROM phased_change.backfills WHERE "table" = 'bf.ukey';
SELECT count(*) AS rows_done_kept FROM bf.ukey WHERE v = b * 10;
SELECT phase_verify('bf');
SELECT unnest(blockers), next_step FROM phased_change.progress WHERE plan = 'bf';
SELECT event, role, detail FROM phased_change.history
WHERE plan = 'bf' AND event = 'backfill_failed';

-- Registering again replaces a backfill that is not running, from the start;
-- one that runs is refused.
RESET ROLE;
BEGIN;
UPDATE phased_change.backfill SET status = 'running' WHERE rel = 'bf.ukey'::regclass;
SELECT phase_backfill('bf', 'bf.ukey', 'v = b * 10', 'v IS NULL');
ROLLBACK;
SET ROLE regress_backfill_owner;
SELECT phase_backfill('bf', 'ukey', 'v = b * 10', 'v IS NULL OR v <> b * 10', 3);
RESET ROLE;
SELECT phased_change.backfill_wait('bf', 'ukey');
SELECT "table", status, rows_done, rows_updated, batches, last_key, last_error
FROM phased_change.backfills WHERE "table" = 'bf.ukey';
SET ROLE regress_backfill_owner;
SELECT phase_verify('bf');

-- Cancelling: a done or cancelled backfill cannot be; the check stays.
SELECT phase_backfill_cancel('bf', 'ukey');
SELECT phase_backfill_cancel('bf', 'nokey');
UPDATE ukey SET v = NULL WHERE a = 3;
SELECT phase_backfill('bf', 'ukey', 'v = b * 10', 'v IS NULL OR v <> b * 10', 1, '1 hour');
SELECT phase_backfill_cancel('bf', 'ukey');
SELECT phase_backfill_cancel('bf', 'ukey');
SELECT phase_verify('bf');
RESET ROLE;
SELECT phased_change.backfill_wait('bf', 'ukey');
SELECT (jsonb_path_query(detail, '$.checks[*] ? (@.ok == false)')) ->> 'name' AS failing
FROM phased_change.history WHERE plan = 'bf' AND event = 'verify_failed'
ORDER BY at DESC LIMIT 1;
SELECT unnest(blockers) FROM phased_change.progress WHERE plan = 'bf';
SET ROLE regress_backfill_owner;
UPDATE ukey SET v = b * 10 WHERE a = 3;

-- Rolling back out of migrate cancels the backfills not finished;
-- abandoning a plan cancels its waiting ones.
SELECT phase_backfill('bf', 'ukey', 'v = b * 10', 'v IS NULL OR v <> b * 10', 1, '1 hour');
SELECT phase_rollback('bf', 'test');
RESET ROLE;
SELECT "table", status FROM phased_change.backfills WHERE plan = 'bf' ORDER BY "table";
SET ROLE regress_backfill_owner;
SELECT phase_backfill('bf', 'ukey', 'v = b * 10', 'v IS NULL OR v <> b * 10');
SELECT phase_abandon('bf', 'end of test');
RESET ROLE;
SELECT "table", status FROM phased_change.backfills WHERE plan = 'bf' ORDER BY "table";
SELECT event, detail ->> 'table' AS "table", detail ->> 'reason' AS reason
FROM phased_change.history
WHERE plan = 'bf' AND event IN ('backfill_cancelled', 'rolled_back', 'abandoned')
ORDER BY event_id;
SET ROLE regress_backfill_owner;
SELECT phase_backfill('bf', 'ukey', 'v = 1', 'v IS NULL');

-- A key of several columns is walked with row comparisons.
RESET ROLE;
CREATE TABLE bf.pair (a int, b text, v int, PRIMARY KEY (a, b));
INSERT INTO bf.pair SELECT i / 4, 'k' || i % 4, NULL FROM generate_series(0, 13) i;
ALTER TABLE bf.pair OWNER TO regress_backfill_owner;
SET ROLE regress_backfill_owner;
SELECT phase_plan_create('bf-pair', NULL, '0');
SELECT phase_advance('bf-pair');
SELECT phase_backfill('bf-pair', 'pair', 'v = a', 'v IS NULL', 5);
RESET ROLE;
SELECT phased_change.backfill_wait('bf-pair', 'bf.pair');
SELECT "table", status, rows_done, rows_updated, batches, last_key
FROM phased_change.backfills WHERE plan = 'bf-pair';
SELECT count(*) AS not_done FROM bf.pair WHERE v IS DISTINCT FROM a;
SET ROLE regress_backfill_owner;
SELECT phase_abandon('bf-pair', 'end of test');

-- What the worker reads is not use of a retired column (preloaded, usage
-- tracking would count it; not preloaded there is nothing to count).
RESET ROLE;
CREATE TABLE bf.tracked (id int PRIMARY KEY, old_value int, new_value int);
INSERT INTO bf.tracked SELECT i, i, NULL FROM generate_series(1, 50) i;
ALTER TABLE bf.tracked OWNER TO regress_backfill_owner;
SET ROLE regress_backfill_owner;
SELECT phase_plan_create('bf-usage', NULL, '0');
SELECT phase_retire('bf-usage', 'tracked', 'old_value');
SELECT phase_advance('bf-usage');
SELECT phase_backfill('bf-usage', 'tracked', 'new_value = old_value', 'new_value IS NULL', 20);
RESET ROLE;
SELECT phased_change.backfill_wait('bf-usage', 'bf.tracked');
SELECT "column", COALESCE(reads, 0) AS reads, COALESCE(writes, 0) AS writes
FROM phased_change.column_usage WHERE plan = 'bf-usage';
SET ROLE regress_backfill_owner;
SELECT phase_abandon('bf-usage', 'end of test');

-- The key walked is stored at registration: when the table no longer has
-- it (dropped, or of another type), the backfill fails and says so rather
-- than walk another key from a last key of this one, which could skip rows.
RESET ROLE;
CREATE TABLE bf.rekey (a int PRIMARY KEY, b int NOT NULL UNIQUE, v int);
INSERT INTO bf.rekey SELECT i, 100 - i, NULL FROM generate_series(1, 30) i;
ALTER TABLE bf.rekey OWNER TO regress_backfill_owner;
SET ROLE regress_backfill_owner;
SELECT phase_plan_create('bf-rekey', NULL, '0');
SELECT phase_backfill('bf-rekey', 'rekey', 'v = a', 'v IS NULL', 10);
RESET ROLE;
SELECT key_attnums, key_types FROM phased_change.backfill WHERE rel = 'bf.rekey'::regclass;
SET ROLE regress_backfill_owner;
ALTER TABLE rekey DROP CONSTRAINT rekey_pkey;
SELECT phase_advance('bf-rekey');
RESET ROLE;
SELECT phased_change.backfill_wait('bf-rekey', 'bf.rekey');
SELECT "table", status, rows_done, batches, last_error
FROM phased_change.backfills WHERE plan = 'bf-rekey';
SELECT event, detail ->> 'error' AS error FROM phased_change.history
WHERE plan = 'bf-rekey' AND event = 'backfill_failed';
SELECT count(*) AS not_done FROM bf.rekey WHERE v IS NULL;
-- registered again, it walks the key the table has now; a type change of
-- that key fails the next registration's walk the same way
SET ROLE regress_backfill_owner;
SELECT phase_backfill('bf-rekey', 'rekey', 'v = a', 'v IS NULL', 10);
RESET ROLE;
SELECT phased_change.backfill_wait('bf-rekey', 'bf.rekey');
SELECT "table", status, rows_done, batches, last_key, last_error
FROM phased_change.backfills WHERE plan = 'bf-rekey';
SET ROLE regress_backfill_owner;
UPDATE rekey SET v = NULL WHERE a > 20;
BEGIN;
SELECT phase_backfill('bf-rekey', 'rekey', 'v = a', 'v IS NULL', 10);
ALTER TABLE rekey ALTER COLUMN b TYPE bigint;
COMMIT;
RESET ROLE;
SELECT phased_change.backfill_wait('bf-rekey', 'bf.rekey');
SELECT "table", status, rows_done, batches, last_error
FROM phased_change.backfills WHERE plan = 'bf-rekey';
SET ROLE regress_backfill_owner;
SELECT phase_abandon('bf-rekey', 'end of test');

RESET ROLE;
RESET search_path;
DROP SCHEMA bf CASCADE;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM regress_backfill_owner, regress_backfill_other;
DROP ROLE regress_backfill_owner, regress_backfill_other;
