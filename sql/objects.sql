--
-- objects.sql: registering what a plan retires and introduces, and every
-- way of getting that wrong.  An object is guarded by one active plan at
-- a time; only its owner may register it, and only in phase expand.
--
CREATE TABLE account (
	id int PRIMARY KEY,
	legacy_categories text[],
	primary_categories text[]
);
CREATE TABLE audit_note (id int, body text);
CREATE VIEW legacy_profile AS SELECT id, legacy_categories FROM account;
CREATE TABLE measurements (at timestamptz, reading int) PARTITION BY RANGE (at);
CREATE TEMP TABLE scratch (id int);

SELECT phase_plan_create('objects-plan', NULL, '0');
SELECT phase_retire('objects-plan', 'account', 'legacy_categories');
SELECT phase_introduce('objects-plan', 'account', 'primary_categories');
SELECT phase_retire('objects-plan', 'legacy_profile');
SELECT phase_retire('objects-plan', 'measurements', 'reading');
SELECT plan, object_type, object, role, exists, may_drop
FROM phased_change.guarded_objects ORDER BY object;
SELECT phased_change.recorder_wait();
SELECT event, detail FROM phased_change.history
WHERE plan = 'objects-plan' AND event IN ('retired', 'introduced') ORDER BY event_id;

-- Bad input: refused, nothing recorded.
SELECT phased_change.recorder_wait();
SELECT count(*) AS events_before FROM phased_change.history \gset
SELECT phase_retire('objects-plan', 'account', 'no_such_column');
SELECT phase_retire('objects-plan', 'account', 'ctid');
SELECT phase_retire('objects-plan', 'no_such_table');
SELECT phase_retire('objects-plan', NULL);
SELECT phase_retire(NULL, 'account');
SELECT phase_retire('no-such-plan', 'audit_note');
SELECT phase_retire('objects-plan', 'scratch');
SELECT phase_retire('objects-plan', 'legacy_profile', 'id');
SELECT phase_retire('objects-plan', 'pg_class');
SELECT phase_retire('objects-plan', 'account_pkey');
-- retiring twice, or what the plan already guards through its table
SELECT phase_retire('objects-plan', 'account', 'legacy_categories');
SELECT phase_introduce('objects-plan', 'account', 'legacy_categories');
SELECT phase_retire('objects-plan', 'account');
SELECT phased_change.recorder_wait();
SELECT count(*) = :events_before AS nothing_recorded FROM phased_change.history;

-- Another active plan cannot guard the same objects, nor their table.
SELECT phase_plan_create('rival-plan', NULL, '0');
SELECT phase_retire('rival-plan', 'account', 'legacy_categories');
SELECT phase_retire('rival-plan', 'account');
SELECT phase_introduce('rival-plan', 'account', 'primary_categories');
SELECT phase_retire('rival-plan', 'audit_note', 'body');

-- Objects join a plan only in expand.
SELECT phase_advance('rival-plan');
SELECT phase_retire('rival-plan', 'audit_note', 'id');

-- An abandoned plan guards nothing: its objects can join another plan.
SELECT phase_abandon('rival-plan', 'wrong approach');
SELECT plan, object, may_drop FROM phased_change.guarded_objects
WHERE plan = 'rival-plan';
SELECT phase_plan_create('third-plan', NULL, '0');
SELECT phase_retire('third-plan', 'audit_note', 'body');
SELECT phase_abandon('third-plan', 'cleanup of the test');

-- Objects are stored so that they re-resolve by name.
SELECT rel, col, identity FROM phased_change.object ORDER BY object_id;
