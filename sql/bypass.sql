--
-- bypass.sql: the guard cannot be bypassed by an unprivileged role.
--
-- A non-superuser owns a table, created the plan that retires one of its
-- columns (phase_retire requires the caller to own the table), and then
-- tries every way around the guard that its rights give it: switching the
-- guard off (session_replication_role, the override, the event triggers),
-- other roles (a member of the owner role, with and without INHERIT, a
-- caller of the owner's SECURITY DEFINER function, the owner of the schema
-- the table lives in), other code paths (DO, EXECUTE in PL/pgSQL, a SQL
-- function, a procedure, a trigger, several statements in one query string,
-- PREPARE), and other statements (DROP TABLE, renames, SET SCHEMA, DROP
-- SCHEMA ... CASCADE, DROP OWNED).  Every attempt is refused,
-- and both retired columns still exist at the end.  A role with no grants
-- at all can call no phase_* function and read no part of the catalog.
-- Errors are shown tersely, so that no timestamp appears.
--
SELECT current_user AS superuser \gset

CREATE ROLE regress_bp_operator NOLOGIN;	-- holds the grants
CREATE ROLE regress_bp_owner LOGIN IN ROLE regress_bp_operator;	-- owns the tables and the plan
CREATE ROLE regress_bp_member LOGIN IN ROLE regress_bp_owner;
CREATE ROLE regress_bp_noinherit LOGIN NOINHERIT IN ROLE regress_bp_owner;
CREATE ROLE regress_bp_caller LOGIN;		-- may call the owner's SECURITY DEFINER function
CREATE ROLE regress_bp_landlord LOGIN;		-- owns the schema of one of the tables
CREATE ROLE regress_bp_nobody LOGIN;		-- no grants at all

-- The owner has what the README grants an operator (through a group role),
-- and a schema of its own; it also rents space in a schema that another
-- role owns.
GRANT USAGE ON SCHEMA phased_change TO regress_bp_operator;
GRANT SELECT ON phased_change.progress, phased_change.history, phased_change.guarded_objects,
	phased_change.blocked_ddl, phased_change.column_usage TO regress_bp_operator;
GRANT EXECUTE ON FUNCTION phased_change.usage_tracking(), phased_change.usage_counts(),
	phased_change.usage_of(bigint)
	TO regress_bp_operator;
GRANT EXECUTE ON FUNCTION
	phase_plan_create(text, text, interval), phase_retire(text, regclass, name),
	phase_introduce(text, regclass, name), phase_check_add(text, text, text, text),
	phase_soak_set(text, text, interval), phase_advance(text), phase_rollback(text, text),
	phase_verify(text), phase_abandon(text, text)
	TO regress_bp_operator;
CREATE SCHEMA bp AUTHORIZATION regress_bp_owner;
CREATE SCHEMA bp_rented AUTHORIZATION regress_bp_landlord;
CREATE SCHEMA bp_kids AUTHORIZATION regress_bp_owner;
GRANT USAGE, CREATE ON SCHEMA bp_rented TO regress_bp_operator;
SELECT rolname, rolsuper, rolinherit FROM pg_roles
WHERE rolname LIKE 'regress\_bp\_%' ORDER BY rolname;

-- The owner's tables, its plan (in migrate, whose soak is 48 hours), and
-- the tools it will try.
\c - regress_bp_owner
SELECT current_user, session_user, rolsuper FROM pg_roles WHERE rolname = current_user;
CREATE TABLE bp.accounts (id int PRIMARY KEY, legacy_email text, email text);
CREATE TABLE bp_rented.tenants (id int, legacy_code text);
SELECT phase_plan_create('bypass-plan', 'an unprivileged owner retires its own columns', '48 hours');
SELECT phase_retire('bypass-plan', 'bp.accounts', 'legacy_email');
SELECT phase_retire('bypass-plan', 'bp_rented.tenants', 'legacy_code');
SELECT phase_soak_set('bypass-plan', 'expand', '0');
SELECT phase_advance('bypass-plan');
SELECT plan, object, role, plan_phase, may_drop FROM phased_change.guarded_objects
WHERE plan = 'bypass-plan' ORDER BY object;

CREATE FUNCTION bp.run_as_owner(stmt text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$ BEGIN EXECUTE stmt; END $$;
REVOKE ALL ON FUNCTION bp.run_as_owner(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA bp TO regress_bp_caller, regress_bp_noinherit;
GRANT EXECUTE ON FUNCTION bp.run_as_owner(text) TO regress_bp_caller;
CREATE FUNCTION bp.drop_in_sql() RETURNS void
LANGUAGE sql AS $$ ALTER TABLE bp.accounts DROP COLUMN legacy_email $$;
CREATE PROCEDURE bp.drop_in_procedure()
LANGUAGE plpgsql AS $$ BEGIN DROP TABLE bp.accounts; COMMIT; END $$;
CREATE TABLE bp.requests (stmt text);
CREATE FUNCTION bp.run_request() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN EXECUTE NEW.stmt; RETURN NEW; END $$;
CREATE TRIGGER run_request AFTER INSERT ON bp.requests
	FOR EACH ROW EXECUTE FUNCTION bp.run_request();

\set VERBOSITY terse
-- The direct statement, refused; this also loads the library in this
-- session, so the settings below are the extension's own.
ALTER TABLE bp.accounts DROP COLUMN legacy_email;

-- Switching the guard off: session_replication_role is superuser-only,
-- however it is set, and the DROP is still refused.  So are the override
-- and the event triggers.
SET session_replication_role = replica;
SELECT set_config('session_replication_role', 'replica', false);
BEGIN;
SET LOCAL session_replication_role = replica;
ROLLBACK;
CREATE FUNCTION bp.replica_drop() RETURNS void
LANGUAGE sql SET session_replication_role = replica
AS $$ ALTER TABLE bp.accounts DROP COLUMN legacy_email $$;
SHOW session_replication_role;
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
SET phased_change.override = 'I own the table';
SHOW phased_change.override;
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
-- (The event triggers and the extension belong to a superuser; the guard
-- may refuse before PostgreSQL's ownership check does, and the two modes
-- differ in which comes first, so only the refusal is shown.)
DO $$
BEGIN
	DROP EVENT TRIGGER phased_change_guard;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'DROP EVENT TRIGGER refused';
END $$;
DO $$
BEGIN
	ALTER EVENT TRIGGER phased_change_guard DISABLE;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'ALTER EVENT TRIGGER refused';
END $$;
DO $$
BEGIN
	DROP EXTENSION phased_change;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'DROP EXTENSION refused';
END $$;
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY evtname;

-- The owner's other statements on its own table and schema.
ALTER TABLE bp.accounts DROP COLUMN IF EXISTS legacy_email CASCADE;
ALTER TABLE bp.accounts ADD COLUMN note text, DROP COLUMN legacy_email;
ALTER TABLE bp.accounts RENAME COLUMN legacy_email TO old_email;
ALTER TABLE bp.accounts ALTER COLUMN legacy_email TYPE varchar(3);
DROP TABLE bp.accounts;
DROP TABLE bp.accounts CASCADE;
ALTER TABLE bp.accounts RENAME TO accounts_old;
ALTER INDEX bp.accounts RENAME TO accounts_old;
ALTER TABLE bp.accounts SET SCHEMA bp_rented;
ALTER SCHEMA bp RENAME TO bp_old;
DROP SCHEMA bp CASCADE;
-- (DROP OWNED reaches both tables; which refusal comes first depends on
-- whether the guard runs in event triggers or preloaded hooks.)
DO $$
BEGIN
	DROP OWNED BY CURRENT_USER CASCADE;
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'DROP OWNED refused: % %', SQLSTATE,
		SQLERRM ~ '^cannot drop table "(accounts|tenants)"$';
END $$;

-- Other code paths: DO, EXECUTE in PL/pgSQL, a SQL function, a procedure,
-- a trigger, two statements in one query string.  PREPARE takes no DDL.
DO $$ BEGIN ALTER TABLE bp.accounts DROP COLUMN legacy_email; END $$;
DO $$ BEGIN EXECUTE format('ALTER TABLE %I.%I DROP COLUMN %I', 'bp', 'accounts', 'legacy_email'); END $$;
DO $$ BEGIN EXECUTE 'DROP TABLE bp.accounts'; END $$;
DO $$
BEGIN
	ALTER TABLE bp.accounts DROP COLUMN legacy_email;
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE NOTICE 'refused inside PL/pgSQL too (%)', SQLSTATE;
END $$;
SELECT bp.drop_in_sql();
CALL bp.drop_in_procedure();
SELECT bp.run_as_owner('ALTER TABLE bp.accounts DROP COLUMN legacy_email');
INSERT INTO bp.requests VALUES ('ALTER TABLE bp.accounts RENAME COLUMN legacy_email TO e');
SELECT 1 AS first \; ALTER TABLE bp.accounts DROP COLUMN legacy_email;
PREPARE drop_it AS ALTER TABLE bp.accounts DROP COLUMN legacy_email;

-- Columns retired on an inheritance child and on a partition cannot be
-- renamed, retyped or dropped through the parent, which does the same to
-- the children.
CREATE TABLE bp_kids.animals (id int, legacy_sound text);
CREATE TABLE bp_kids.dogs () INHERITS (bp_kids.animals);
CREATE TABLE bp_kids.events (at date, legacy_kind text) PARTITION BY RANGE (at);
CREATE TABLE bp_kids.events_2026 PARTITION OF bp_kids.events
	FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT phase_plan_create('bypass-children', 'retired on the children', '48 hours');
SELECT phase_retire('bypass-children', 'bp_kids.dogs', 'legacy_sound');
SELECT phase_retire('bypass-children', 'bp_kids.events_2026', 'legacy_kind');
ALTER TABLE bp_kids.animals RENAME COLUMN legacy_sound TO sound;
ALTER TABLE bp_kids.animals ALTER COLUMN legacy_sound TYPE varchar(2);
ALTER TABLE bp_kids.animals DROP COLUMN legacy_sound;
ALTER TABLE bp_kids.events RENAME COLUMN legacy_kind TO kind;
ALTER TABLE bp_kids.events ALTER COLUMN legacy_kind TYPE varchar(2);
ALTER TABLE bp_kids.events DROP COLUMN legacy_kind;
EXECUTE drop_it;
EXPLAIN ALTER TABLE bp.accounts DROP COLUMN legacy_email;
SELECT count(*) AS requests_kept FROM bp.requests;

-- A member of the owner role has the owner's rights, and the owner's
-- refusals.
\c - regress_bp_member
\set VERBOSITY terse
SELECT pg_has_role('regress_bp_owner', 'USAGE') AS inherits_owner;
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
DROP TABLE bp.accounts;
SET ROLE regress_bp_owner;
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
ALTER TABLE bp.accounts RENAME TO accounts_old;
RESET ROLE;

-- A NOINHERIT member gets PostgreSQL's own error until it sets the role,
-- then the guard's.
\c - regress_bp_noinherit
\set VERBOSITY terse
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
SET ROLE regress_bp_owner;
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
RESET ROLE;

-- Another role through the owner's SECURITY DEFINER function: the DROP
-- runs as the owner, and is refused as the owner's would be.
\c - regress_bp_caller
\set VERBOSITY terse
ALTER TABLE bp.accounts DROP COLUMN legacy_email;
SELECT bp.run_as_owner('ALTER TABLE bp.accounts DROP COLUMN legacy_email');
SELECT bp.run_as_owner('DROP TABLE bp.accounts');

-- The owner of the schema may drop a table it does not own: the backstop
-- refuses it, and the schema's drop and rename.
\c - regress_bp_landlord
\set VERBOSITY terse
ALTER TABLE bp_rented.tenants DROP COLUMN legacy_code;
DROP TABLE bp_rented.tenants;
DROP SCHEMA bp_rented CASCADE;
ALTER SCHEMA bp_rented RENAME TO bp_moved;

-- A role with no grants at all: no phase_* function, no catalog, no view.
\c - regress_bp_nobody
\set VERBOSITY terse
SELECT phase_plan_create('nobody-plan');
SELECT phase_retire('bypass-plan', 'pg_class');
SELECT phase_introduce('bypass-plan', 'pg_class');
SELECT phase_check_add('bypass-plan', 'migrate', 'c', 'true');
SELECT phase_soak_set('bypass-plan', 'migrate', '0');
SELECT phase_advance('bypass-plan');
SELECT phase_rollback('bypass-plan', 'r');
SELECT phase_verify('bypass-plan');
SELECT phase_abandon('bypass-plan', 'r');
SELECT * FROM phased_change.plan;
SELECT * FROM phased_change.event_log;
SELECT * FROM phased_change.progress;
TABLE phased_change.object;
ALTER TABLE bp.accounts DROP COLUMN legacy_email;

-- At the end: both retired columns are still there, the plan is where the
-- owner left it, and every refusal by the guard is in the history.
\c - :superuser
SELECT c.relname, a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.oid IN ('bp.accounts'::regclass, 'bp_rented.tenants'::regclass,
				'bp_kids.dogs'::regclass, 'bp_kids.events_2026'::regclass)
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum;
SELECT n.nspname FROM pg_namespace n WHERE n.nspname LIKE 'bp%' ORDER BY 1;
SELECT plan, status, phase FROM phased_change.progress WHERE plan = 'bypass-plan';
-- (actor is the session user, role the current user: the caller's attempts
-- through the SECURITY DEFINER function ran as the owner.)
SELECT phased_change.recorder_wait();
SELECT actor, role, count(*) AS refusals_recorded FROM phased_change.blocked_ddl
WHERE plan = 'bypass-plan' GROUP BY actor, role ORDER BY actor, role;
SELECT phased_change.recorder_wait();
SELECT event, count(*) FROM phased_change.history WHERE plan = 'bypass-plan'
GROUP BY event ORDER BY event;

SELECT phase_abandon('bypass-plan', 'end of test');
SELECT phase_abandon('bypass-children', 'end of test');
DROP SCHEMA bp, bp_rented, bp_kids CASCADE;
DROP OWNED BY regress_bp_operator, regress_bp_owner, regress_bp_member, regress_bp_noinherit,
	regress_bp_caller, regress_bp_landlord, regress_bp_nobody;
DROP ROLE regress_bp_operator, regress_bp_owner, regress_bp_member, regress_bp_noinherit,
	regress_bp_caller, regress_bp_landlord, regress_bp_nobody;
