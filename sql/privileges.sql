--
-- privileges.sql: nothing is granted to PUBLIC; the operator and auditor
-- roles of the README can do exactly what it says; a plan is changed only
-- by its owner, members of the owner role and superusers; the catalog
-- tables change only through the functions.
--
CREATE ROLE regress_nobody;
CREATE ROLE regress_operator;
CREATE ROLE regress_other_operator;
CREATE ROLE regress_member IN ROLE regress_operator;
CREATE ROLE regress_auditor;

-- The grants shown in the README.
GRANT USAGE ON SCHEMA phased_change TO regress_operator, regress_other_operator, regress_auditor;
GRANT SELECT ON phased_change.progress, phased_change.history, phased_change.guarded_objects,
	phased_change.blocked_ddl, phased_change.column_usage, phased_change.recorder,
	phased_change.retired_usage, phased_change.status, phased_change.metrics,
	phased_change.usage_sources, phased_change.syncs, phased_change.backfills
	TO regress_operator, regress_other_operator, regress_auditor;
GRANT EXECUTE ON FUNCTION phased_change.usage_tracking(), phased_change.usage_counts(),
	phased_change.usage_of(bigint), phased_change.recorder_status(),
	phased_change.usage_users(bigint), phased_change.usage_users_sentence(bigint),
	phased_change.blocker_gist(text), phased_change.text_shorten(text, integer)
	TO regress_operator, regress_other_operator, regress_auditor;
GRANT EXECUTE ON FUNCTION
	phase_plan_create(text, text, interval), phase_retire(text, regclass, name),
	phase_introduce(text, regclass, name), phase_check_add(text, text, text, text),
	phase_soak_set(text, text, interval), phase_advance(text), phase_rollback(text, text),
	phase_verify(text), phase_abandon(text, text), phase_owner_set(text, regrole),
	phase_advance(text, text), phase_check_drop(text, text, text),
	phase_sync(text, regclass, name, name, text, text),
	phase_backfill(text, regclass, text, text, integer, interval, interval),
	phase_backfill_cancel(text, regclass), phased_change.backfill_wait(text, regclass, interval),
	phased_change.recorder_wait(interval)
	TO regress_operator, regress_other_operator;

CREATE TABLE op_table (id int, old_col int);
ALTER TABLE op_table OWNER TO regress_operator;
CREATE TABLE someone_elses (id int, old_col int);

-- A role with no grants: every function refused, nothing readable.
SET ROLE regress_nobody;
SELECT phase_plan_create('nobody-plan');
SELECT phase_retire('nobody-plan', 'op_table');
SELECT phase_introduce('nobody-plan', 'op_table');
SELECT phase_check_add('nobody-plan', 'expand', 'c', 'true');
SELECT phase_soak_set('nobody-plan', 'expand', '1 hour');
SELECT phase_advance('nobody-plan');
SELECT phase_rollback('nobody-plan');
SELECT phase_verify('nobody-plan');
SELECT phase_abandon('nobody-plan', 'r');
SELECT phase_advance('nobody-plan', 'cleanup');
SELECT phase_check_drop('nobody-plan', 'expand', 'c');
SELECT phase_sync('nobody-plan', 'op_table', 'old_col', 'id', 'old_col');
SELECT phase_backfill('nobody-plan', 'op_table', 'id = old_col', 'id IS NULL');
SELECT phase_backfill_cancel('nobody-plan', 'op_table');
SELECT phased_change.backfill_wait('nobody-plan', 'op_table');
SELECT phase_usage_source_add('s', 'host=/tmp');
SELECT phase_usage_source_drop('s');
SELECT phase_verify_all();
SELECT * FROM phased_change.syncs;
SELECT * FROM phased_change.backfills;
SELECT * FROM phased_change.usage_sources;
SELECT * FROM phased_change.status;
SELECT * FROM phased_change.metrics;
SELECT * FROM phased_change.retired_usage;
SELECT * FROM phased_change.progress;
SELECT * FROM phased_change.history;
SELECT * FROM phased_change.guarded_objects;
SELECT * FROM phased_change.plan;
RESET ROLE;

-- The operator runs its own plans, and owns what it guards.
SET ROLE regress_operator;
SELECT phase_plan_create('op-plan', NULL, '0');
SELECT phase_retire('op-plan', 'op_table', 'old_col');
SELECT phase_retire('op-plan', 'someone_elses', 'old_col');
SELECT phase_advance('op-plan');
SELECT plan, phase, owner FROM phased_change.progress WHERE plan = 'op-plan';
-- ... but never writes the catalog directly.
INSERT INTO phased_change.plan (name, owner, soak, created_at, entered_at)
	VALUES ('forged', 'regress_operator', '0', now(), now());
UPDATE phased_change.plan SET phase = 4;
SELECT * FROM phased_change.event_log;
RESET ROLE;

-- Another operator cannot change the plan; a member of the owner role can.
SET ROLE regress_other_operator;
SELECT phase_advance('op-plan');
SELECT phase_rollback('op-plan');
SELECT phase_verify('op-plan');
SELECT phase_check_add('op-plan', 'migrate', 'c', 'true');
SELECT phase_soak_set('op-plan', 'migrate', '0');
SELECT phase_abandon('op-plan', 'hostile');
SELECT phase_owner_set('op-plan', 'regress_other_operator');
SELECT phase_advance('op-plan', 'cleanup');
SELECT phase_check_drop('op-plan', 'migrate', 'c');
RESET ROLE;
GRANT EXECUTE ON FUNCTION phase_advance(text) TO regress_member;
SET ROLE regress_member;
SELECT phase_advance('op-plan');
RESET ROLE;

-- The auditor reads every view and changes nothing.
SELECT phased_change.recorder_wait();
SET ROLE regress_auditor;
SELECT plan, phase, status FROM phased_change.progress WHERE plan = 'op-plan';
SELECT event, from_phase, to_phase, role FROM phased_change.history
WHERE plan = 'op-plan' ORDER BY event_id;
SELECT plan, object, role FROM phased_change.guarded_objects WHERE plan = 'op-plan';
SELECT plan, "column", role FROM phased_change.column_usage WHERE plan = 'op-plan';
SELECT count(*) FROM phased_change.blocked_ddl WHERE plan = 'op-plan';
SELECT pending, unrecorded FROM phased_change.recorder;
SELECT plan, phase, state FROM phased_change.status WHERE plan = 'op-plan';
SELECT plan, phase, ready FROM phased_change.metrics WHERE plan = 'op-plan';
SELECT count(*) FROM phased_change.retired_usage WHERE plan = 'op-plan';
SELECT name, status FROM phased_change.usage_sources;
SELECT plan, "table", installed FROM phased_change.syncs WHERE plan = 'op-plan';
SELECT plan, "table", status FROM phased_change.backfills WHERE plan = 'op-plan';
SELECT phased_change.recorder_wait();
SELECT phase_advance('op-plan');
SELECT phase_sync('op-plan', 'op_table', 'old_col', 'id', 'old_col');
SELECT * FROM phased_change.plan;
RESET ROLE;

-- A superuser may change any plan.
SELECT phase_rollback('op-plan', 'superuser decision');
SELECT phase_abandon('op-plan', 'end of test');

-- Nothing in the extension is granted to PUBLIC: a role without grants
-- may execute none of its functions and read none of its relations.
SELECT count(*) AS executable_by_nobody
FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'phased_change')
  AND d.classid = 'pg_proc'::regclass
  AND has_function_privilege('regress_nobody', p.oid, 'EXECUTE');
SELECT count(*) AS readable_by_nobody
FROM pg_class c
WHERE c.relnamespace = 'phased_change'::regnamespace AND c.relkind IN ('r', 'v', 'S')
  AND has_table_privilege('regress_nobody', c.oid, 'SELECT, INSERT, UPDATE, DELETE');
SELECT has_schema_privilege('regress_nobody', 'phased_change', 'USAGE') AS schema_usage;
