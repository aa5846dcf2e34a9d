--
-- usage_unloaded.sql (run without shared_preload_libraries): there is no
-- usage evidence; the views say so plainly, and nothing is blocked for it.
--
SELECT preloaded, tracking_since, tracked, capacity, uncounted, require_evidence
FROM phased_change.usage_tracking();
SELECT count(*) AS counted FROM phased_change.usage_counts();

CREATE TABLE invoices (id int, legacy_total int, total int);
SELECT phase_plan_create('usage-plan', NULL, '0');
SELECT phase_retire('usage-plan', 'invoices', 'legacy_total');

-- The guard reads the extension's tables without predicate locks: a
-- SERIALIZABLE transaction reading and changing an unguarded and a guarded
-- table as the guard allows holds no SIReadLock on any relation of schema
-- phased_change (usage_preloaded.sql: the same preloaded).
CREATE TABLE unguarded_notes (id int, note text);
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*) FROM unguarded_notes;
SELECT count(id) FROM invoices;
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
SELECT legacy_total FROM invoices;
SELECT plan, "table", "column", role, reads, writes, tracking_since, tracking_complete
FROM phased_change.column_usage WHERE plan = 'usage-plan';
SELECT phase_advance('usage-plan');
SELECT phase_advance('usage-plan');
SELECT phase, ready, blockers, warnings, retired_usage
FROM phased_change.progress WHERE plan = 'usage-plan';
SELECT phase_advance('usage-plan');
SELECT phase_abandon('usage-plan', 'end of test');
