--
-- usage_preloaded.sql (run with shared_preload_libraries): every read and
-- write of a guarded column is counted (selected, inserted and updated
-- columns, whole-row references, prepared statements, COPY, inheritance
-- children and partitions mapped to the parent's column), once per query
-- even when parallel, never for the extension's own checks.  In contract a
-- use of a retired column restarts the soak.  DROP EXTENSION under an
-- active plan and changes to the guard's event triggers are refused.
--
SET intervalstyle = postgres;
SELECT now() AS test_start \gset
SELECT preloaded, tracking_since IS NOT NULL AS tracking, capacity, uncounted, require_evidence
FROM phased_change.usage_tracking();

CREATE TABLE invoices (id int PRIMARY KEY, legacy_total int, total int);
CREATE TABLE invoices_archive () INHERITS (invoices);
CREATE TABLE readings (at date, legacy_unit text, value int) PARTITION BY RANGE (at);
CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO invoices VALUES (1, 10, 10);		-- not guarded yet: not counted
SELECT phase_plan_create('usage-plan', NULL, '0');
SELECT phase_retire('usage-plan', 'invoices', 'legacy_total');
SELECT phase_introduce('usage-plan', 'invoices', 'total');
SELECT phase_retire('usage-plan', 'readings', 'legacy_unit');

-- The extension reads its own tables without predicate locks: a
-- SERIALIZABLE reader of an unguarded and of a guarded table (both looked
-- up for the first time since the plan changed), which then changes both
-- as the guard allows, holds no SIReadLock on any relation of schema
-- phased_change (usage_unloaded.sql: the same without preloading).
CREATE TABLE unguarded_notes (id int, note text);
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM unguarded_notes;
SELECT count(id) FROM invoices;				-- guarded, but no guarded column
ALTER TABLE unguarded_notes ADD COLUMN author text;
ALTER TABLE invoices ADD COLUMN currency text;
CREATE TABLE serializable_scratch (id int);
DROP TABLE serializable_scratch;
SELECT count(*) AS phased_change_sireadlocks
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.mode = 'SIReadLock' AND l.pid = pg_backend_pid()
  AND c.relnamespace = 'phased_change'::regnamespace;
SELECT count(*) > 0 AS reader_holds_sireadlocks
FROM pg_locks WHERE mode = 'SIReadLock' AND pid = pg_backend_pid();
ROLLBACK;
CREATE VIEW usage_now AS
	SELECT "table", "column", reads, writes, last_role, last_application_name
	FROM phased_change.column_usage WHERE plan = 'usage-plan' ORDER BY "table", "column";
SELECT * FROM usage_now;

-- Reads: a guarded column selected, in *, in a whole-row reference, in WHERE.
SELECT id FROM invoices;						-- no guarded column
SELECT legacy_total FROM invoices;				-- legacy_total
SELECT * FROM invoices;							-- legacy_total, total
SELECT i FROM invoices i;						-- whole row: legacy_total, total
SELECT count(*) FROM invoices WHERE legacy_total > 0;	-- legacy_total
SELECT * FROM usage_now;

-- Writes: updated and inserted columns.
UPDATE invoices SET legacy_total = 11;			-- legacy_total written
INSERT INTO invoices (id, total) VALUES (2, 5);	-- total written
INSERT INTO invoices VALUES (3, 1, 1);			-- both written
SELECT * FROM usage_now;

-- Every execution of a prepared statement, and COPY both ways.
PREPARE legacy_by_id AS SELECT legacy_total FROM invoices WHERE id = $1;
EXECUTE legacy_by_id(1);
EXECUTE legacy_by_id(1);
COPY invoices (id, legacy_total) TO STDOUT;
COPY invoices (id, legacy_total) FROM STDIN;
4	4
\.
SELECT * FROM usage_now;

-- Inheritance children and partitions count for the parent's column.
SELECT legacy_total FROM invoices_archive;
SELECT legacy_unit FROM readings_2026;
SELECT legacy_unit FROM readings;
SELECT * FROM usage_now;

-- A parallel query counts once; EXPLAIN, backups (pg_dump) and the
-- extension's own checks not at all.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) AS parallel_mode;
SELECT count(legacy_total) FROM invoices;
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'off', false) AS parallel_mode;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
EXPLAIN (COSTS OFF) SELECT legacy_total FROM invoices;	-- plans, reads nothing
SET application_name = 'pg_dump';				-- phased_change.untracked_applications
SELECT legacy_total FROM invoices WHERE id = 1;
RESET application_name;
SELECT phase_check_add('usage-plan', 'expand', 'reads legacy_total',
	'EXISTS (SELECT legacy_total FROM invoices)');
SELECT phase_verify('usage-plan');
SELECT * FROM usage_now;

-- In contract, a use of a retired column restarts the soak.
SELECT phase_advance('usage-plan');
SELECT phase_soak_set('usage-plan', 'contract', '1 hour');
SELECT phase_advance('usage-plan');
SELECT regexp_replace(blockers[1], '\d+:\d\d:\d\d', 'HH:MM:SS', 'g') AS blocker
FROM phased_change.progress WHERE plan = 'usage-plan';
SELECT legacy_total FROM invoices WHERE id = 1;
-- (the blocker and next_step say who used it and when, and promise no time)
SELECT regexp_replace(regexp_replace(blockers[1], ' at [^"]* by role', ' at TIMESTAMP by role', 'g'),
					  '\d+:\d\d:\d\d', 'HH:MM:SS', 'g') AS blocker,
	   warnings,
	   regexp_replace(regexp_replace(array_to_string(retired_usage, E'\n'),
					  ' at [^"]* by role', ' at TIMESTAMP by role', 'g'),
					  'last at [^;.]*\.\d+ \d{4} \w+', 'last at TIMESTAMP', 'g') AS retired_usage,
	   regexp_replace(regexp_replace(next_step, ' at [^"]* by role', ' at TIMESTAMP by role', 'g'),
					  '\d+:\d\d:\d\d', 'HH:MM:SS', 'g') AS next_step
FROM phased_change.progress WHERE plan = 'usage-plan';
-- A refused DROP says the same.
CREATE FUNCTION users_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	hint text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
	RETURN regexp_replace(regexp_replace(hint, ' at [^"]* by role', ' at TIMESTAMP by role', 'g'),
						  '\d+:\d\d:\d\d', 'HH:MM:SS', 'g');
END
$$;
SELECT users_try($$ALTER TABLE invoices DROP COLUMN legacy_total$$) AS hint;
SELECT phase_soak_set('usage-plan', 'contract', '0');

-- Every role and application that used a retired column in the plan's
-- current phase is kept, with its counts (retired_usage); beyond 16 pairs
-- the rest is summed in one "others" row.  A new phase starts a new list.
CREATE TABLE subscriptions (id int, legacy_tier text, tier text);
INSERT INTO subscriptions VALUES (1, 'gold', 'gold');
SELECT phase_plan_create('users-plan', NULL, '0');
SELECT phase_retire('users-plan', 'subscriptions', 'legacy_tier');
SELECT phase_advance('users-plan', 'contract');
CREATE ROLE usage_reader_a;
CREATE ROLE usage_reader_b;
GRANT SELECT, UPDATE ON subscriptions TO usage_reader_a, usage_reader_b;
SET application_name = 'billing';
SET ROLE usage_reader_a;
SELECT count(legacy_tier) FROM subscriptions;
RESET ROLE;
SET application_name = 'nightly-report';
SET ROLE usage_reader_b;
SELECT count(legacy_tier) FROM subscriptions;
UPDATE subscriptions SET legacy_tier = 'silver';
RESET ROLE;
SET application_name = 'billing';
SET ROLE usage_reader_b;
SELECT count(legacy_tier) FROM subscriptions;
RESET ROLE;
RESET application_name;
SELECT plan, object_type, object, role, application, uses, reads, writes,
	   first_seen <= last_seen AS ordered, others
FROM phased_change.retired_usage WHERE plan = 'users-plan' ORDER BY role, application;
-- 20 more applications: 13 fit in the 16 pairs, 7 uses go to "others"
DO $$
BEGIN
	FOR i IN 1..20 LOOP
		PERFORM set_config('application_name', 'batch-' || i, false);
		EXECUTE 'SELECT count(legacy_tier) FROM subscriptions';
	END LOOP;
END
$$;
RESET application_name;
SELECT count(*) FILTER (WHERE NOT others) AS pairs,
	   sum(uses) FILTER (WHERE others) AS other_uses,
	   bool_and(role IS NULL AND application IS NULL) FILTER (WHERE others) AS others_unnamed,
	   count(*) FILTER (WHERE application LIKE 'batch-%') AS batches_named
FROM phased_change.retired_usage WHERE plan = 'users-plan';
SELECT retired_usage[1] ~ 'role "usage_reader_a" \(application "billing"\) 1 uses \(1 reads, 0 writes\)' AS names_a,
	   retired_usage[1] ~ 'role "usage_reader_b" \(application "nightly-report"\) 2 uses \(1 reads, 1 writes\)' AS names_b,
	   retired_usage[1] ~ 'other roles and applications 7 uses \(7 reads, 0 writes\)' AS names_others
FROM phased_change.progress WHERE plan = 'users-plan';
SELECT role, application, uses, reads, writes, others
FROM phased_change.usage_users((SELECT object_id FROM phased_change.object o
								JOIN phased_change.plan p USING (plan_id)
								WHERE p.name = 'users-plan'))
WHERE role IS DISTINCT FROM 'postgres' AND application NOT LIKE 'batch-%'
ORDER BY role, application;
-- the usage counts keep their meaning: every use since tracking began
SELECT u.reads, u.writes FROM phased_change.usage_counts() u
JOIN phased_change.object o USING (object_id)
JOIN phased_change.plan p USING (plan_id) WHERE p.name = 'users-plan';
-- A new phase (here a rollback) starts a new list; the counts stay.
SELECT phase_rollback('users-plan');
SELECT count(*) AS users_after_rollback FROM phased_change.retired_usage WHERE plan = 'users-plan';
SELECT u.reads, u.writes FROM phased_change.usage_counts() u
JOIN phased_change.object o USING (object_id)
JOIN phased_change.plan p USING (plan_id) WHERE p.name = 'users-plan';
-- A rolled-back phase change keeps the list.
SELECT count(legacy_tier) FROM subscriptions;
BEGIN;
SELECT phase_advance('users-plan');
ROLLBACK;
SELECT count(*) AS users_kept FROM phased_change.retired_usage WHERE plan = 'users-plan';
SELECT phase_abandon('users-plan', 'end of test');
DROP TABLE subscriptions;
DROP ROLE usage_reader_a, usage_reader_b;
DROP FUNCTION users_try(text);

-- The guard cannot be taken apart while plans are active ...
\set VERBOSITY terse
DROP EXTENSION phased_change;
DROP EXTENSION phased_change CASCADE;
ALTER EVENT TRIGGER phased_change_guard DISABLE;
ALTER EVENT TRIGGER phased_change_guard_drop RENAME TO something_else;
DROP EVENT TRIGGER phased_change_guard;
\set VERBOSITY default
-- ... except by a superuser's override, audited; and with the event
-- triggers disabled the hooks still guard.
SET phased_change.override = 'testing the hooks';
ALTER EVENT TRIGGER phased_change_guard DISABLE;
ALTER EVENT TRIGGER phased_change_guard_drop DISABLE;
RESET phased_change.override;
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY evtname;
\set VERBOSITY terse
ALTER TABLE invoices DROP COLUMN legacy_total;
ALTER TABLE invoices RENAME COLUMN legacy_total TO old_total;
CREATE TYPE unit AS ENUM ('kg');
ALTER TABLE readings ADD COLUMN legacy_kind unit;
SELECT phase_plan_create('kind-plan', NULL, '0');
SELECT phase_retire('kind-plan', 'readings', 'legacy_kind');
DROP TYPE unit CASCADE;
\set VERBOSITY default
SET phased_change.override = 'testing the hooks';
ALTER EVENT TRIGGER phased_change_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER phased_change_guard_drop ENABLE ALWAYS;
RESET phased_change.override;
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY evtname;
SELECT phased_change.recorder_wait();
SELECT plan, object, statement FROM phased_change.blocked_ddl
WHERE at >= :'test_start' ORDER BY at;
SELECT phased_change.recorder_wait();
SELECT event, detail ->> 'object' AS object, detail ->> 'reason' AS reason
FROM phased_change.history WHERE event = 'override' AND at >= :'test_start' ORDER BY event_id;

SELECT phase_abandon('usage-plan', 'end of test');
SELECT phase_abandon('kind-plan', 'end of test');
DROP VIEW usage_now;

-- An ended plan's counts are dropped only if its end commits: an abandon
-- rolled back (whole transaction, savepoint at any depth, an exception
-- block, a prepared transaction rolled back here or from another session)
-- keeps them, also through later commits; an end committed drops them, a
-- prepared one (committed from any session) by the next plan end of the
-- database.  Each case reads the
-- column first, so that each shows whether that case kept its count.
CREATE TABLE forget_me (id int, legacy_flag bool);
CREATE TABLE forget_me_too (id int, legacy_code text);
SELECT phase_plan_create('forget-plan', NULL, '0');
SELECT phase_retire('forget-plan', 'forget_me', 'legacy_flag');
SELECT phase_plan_create('forget-plan-2', NULL, '0');
SELECT phase_retire('forget-plan-2', 'forget_me_too', 'legacy_code');
SELECT phase_plan_create('forget-plan-3', NULL, '0');
SELECT o.object_id AS forget_id FROM phased_change.object o
	JOIN phased_change.plan p ON p.plan_id = o.plan_id WHERE p.name = 'forget-plan' \gset
SELECT o.object_id AS forget_id_2 FROM phased_change.object o
	JOIN phased_change.plan p ON p.plan_id = o.plan_id WHERE p.name = 'forget-plan-2' \gset
CREATE FUNCTION counted(object_id bigint) RETURNS boolean LANGUAGE sql
	AS 'SELECT EXISTS (SELECT FROM phased_change.usage_of(object_id) WHERE reads > 0)';
SELECT count(legacy_code) FROM forget_me_too;
SELECT count(legacy_flag) FROM forget_me;
BEGIN;
SELECT phase_abandon('forget-plan', 'rolled back');
ROLLBACK;
SELECT counted(:forget_id) AS kept_after_rollback;

SELECT count(legacy_flag) FROM forget_me;
BEGIN;
SAVEPOINT s1;
SELECT phase_abandon('forget-plan', 'rolled back to a savepoint');
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT counted(:forget_id) AS kept_after_savepoint_rollback;

SELECT count(legacy_flag) FROM forget_me;
BEGIN;
SAVEPOINT outer_sp;
SAVEPOINT inner_sp;
SELECT phase_abandon('forget-plan', 'released, then rolled back');
RELEASE SAVEPOINT inner_sp;
SAVEPOINT third_sp;
ROLLBACK TO SAVEPOINT outer_sp;
COMMIT;
SELECT counted(:forget_id) AS kept_after_nested_rollback;

SELECT count(legacy_flag) FROM forget_me;
DO $$
BEGIN
	BEGIN
		PERFORM phase_abandon('forget-plan', 'in an exception block');
		RAISE EXCEPTION 'undo it';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
END
$$;
SELECT counted(:forget_id) AS kept_after_exception_block;

SELECT count(legacy_flag) FROM forget_me;
BEGIN;
SELECT phase_abandon('forget-plan', 'prepared, then rolled back here');
PREPARE TRANSACTION 'forget_rollback_here';
ROLLBACK PREPARED 'forget_rollback_here';
SELECT counted(:forget_id) AS kept_after_rollback_prepared;

SELECT count(legacy_flag) FROM forget_me;
BEGIN;
SELECT phase_abandon('forget-plan', 'prepared, then rolled back elsewhere');
PREPARE TRANSACTION 'forget_rollback_elsewhere';
\c -
ROLLBACK PREPARED 'forget_rollback_elsewhere';
SELECT counted(:forget_id) AS kept_after_rollback_prepared_elsewhere;
SELECT name, status FROM phased_change.plan WHERE name LIKE 'forget-plan%' ORDER BY name;

-- Ends that commit: through released savepoints, then a prepared end
-- committed from another session.
BEGIN;
SAVEPOINT s1;
SAVEPOINT s2;
SELECT phase_abandon('forget-plan-2', 'committed');
RELEASE SAVEPOINT s1;
COMMIT;
SELECT counted(:forget_id_2) AS kept_after_commit, counted(:forget_id) AS other_plan_kept;
BEGIN;
SELECT phase_abandon('forget-plan', 'prepared, then committed');
PREPARE TRANSACTION 'forget_commit';
\c -
COMMIT PREPARED 'forget_commit';
SELECT counted(:forget_id) AS kept_until_the_next_plan_end;
SELECT phase_abandon('forget-plan-3', 'the next plan end sweeps');
SELECT counted(:forget_id) AS kept_after_commit_prepared_and_sweep;
SELECT name, status FROM phased_change.plan WHERE name LIKE 'forget-plan%' ORDER BY name;

-- The same for a completion: rolled back to a savepoint it keeps the
-- counts, committed it drops them.
CREATE TABLE complete_me (id int, legacy_x int);
SELECT phase_plan_create('complete-plan', NULL, '0');
SELECT phase_retire('complete-plan', 'complete_me', 'legacy_x');
SELECT o.object_id AS complete_id FROM phased_change.object o
	JOIN phased_change.plan p ON p.plan_id = o.plan_id WHERE p.name = 'complete-plan' \gset
SELECT count(legacy_x) FROM complete_me;
SELECT phase_advance('complete-plan');
SELECT phase_advance('complete-plan');
SELECT phase_advance('complete-plan');
ALTER TABLE complete_me DROP COLUMN legacy_x;
BEGIN;
SAVEPOINT s1;
SELECT phase_advance('complete-plan');
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT counted(:complete_id) AS kept_after_completion_rolled_back;
SELECT phase_advance('complete-plan');
SELECT counted(:complete_id) AS kept_after_completion;
SELECT status FROM phased_change.plan WHERE name = 'complete-plan';
DROP FUNCTION counted(bigint);

-- Dual-write syncs (phase_sync): what the sync trigger writes into the
-- retired column, and what its expressions read, is not a use of it; what a
-- writer writes there is, and so is what a query of a function that an
-- expression calls reads.
CREATE TABLE synced_profile (id int PRIMARY KEY, legacy_categories text[], primary_categories text[]);
-- a function that queries the retired column, called by the backward expression
CREATE FUNCTION touches_legacy(int) RETURNS boolean LANGUAGE sql STABLE
	AS $$ SELECT count(legacy_categories) >= 0 FROM synced_profile WHERE id = $1 $$;
SELECT phase_plan_create('sync-usage-plan', NULL, '0');
SELECT phase_retire('sync-usage-plan', 'synced_profile', 'legacy_categories');
SELECT phase_introduce('sync-usage-plan', 'synced_profile', 'primary_categories');
SELECT phase_sync('sync-usage-plan', 'synced_profile', 'legacy_categories', 'primary_categories',
				  'legacy_categories', 'CASE WHEN touches_legacy(id) THEN primary_categories END');
SELECT phase_advance('sync-usage-plan');
CREATE VIEW sync_usage_now AS
	SELECT "column", reads, writes FROM phased_change.column_usage
	WHERE plan = 'sync-usage-plan' ORDER BY "column";
SELECT * FROM sync_usage_now;
INSERT INTO synced_profile (id, primary_categories) VALUES (1, '{new}');	-- the sync writes legacy_categories; touches_legacy reads it
UPDATE synced_profile SET primary_categories = '{newer}' WHERE id = 1;		-- and again
SELECT * FROM sync_usage_now;
UPDATE synced_profile SET legacy_categories = '{old}' WHERE id = 1;		-- a writer's write counts, the forward expression's read does not
SELECT * FROM sync_usage_now;
SELECT * FROM synced_profile;
SELECT phase_abandon('sync-usage-plan', 'done');
SET phased_change.unplanned_ddl = allow;
DROP VIEW sync_usage_now;
DROP TABLE synced_profile;
DROP FUNCTION touches_legacy(int);
RESET phased_change.unplanned_ddl;
