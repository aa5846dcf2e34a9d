--
-- self_protection.sql: while a plan is active, phased_change cannot be
-- dropped by any cascade that would reach it (through the language of its
-- PL/pgSQL functions, the extension it requires, the schemas it lives in),
-- nor can its catalog be renamed or moved out of the guard's sight; a
-- catalog renamed anyway (with the override) makes the guard refuse
-- destructive DDL instead of guarding nothing.  A table cannot be turned
-- into a view (CREATE RULE "_RETURN") while a plan retires it.  The same
-- output in both modes (event triggers, preloaded hooks).
--
CREATE TABLE sp_accounts (id int, legacy text);
CREATE TABLE sp_retired (id int);
SELECT phase_plan_create('self-plan', NULL, '0');
SELECT phase_retire('self-plan', 'sp_accounts', 'legacy');
SELECT phase_retire('self-plan', 'sp_retired');
SELECT phase_advance('self-plan');

-- Cascades that would drop the extension, every plan and the history.
\set VERBOSITY terse
DROP EXTENSION plpgsql CASCADE;
DROP LANGUAGE plpgsql CASCADE;
DROP SCHEMA phased_change CASCADE;
DROP SCHEMA public CASCADE;
DROP EXTENSION IF EXISTS no_such_extension, plpgsql CASCADE;
DO $$
BEGIN
	EXECUTE pg_catalog.format('DROP OWNED BY %I CASCADE', current_user);
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'DROP OWNED refused: %', replace(SQLERRM, current_user, 'SUPERUSER');
END $$;
-- DROP OWNED BY the owner of something the extension depends on (here the
-- schema it is installed in).
CREATE ROLE regress_sp_landlord;
ALTER SCHEMA public OWNER TO regress_sp_landlord;
DROP OWNED BY regress_sp_landlord CASCADE;
ALTER SCHEMA public OWNER TO pg_database_owner;
DROP ROLE regress_sp_landlord;
-- (RESTRICT is left to PostgreSQL, which refuses it itself.)
DROP LANGUAGE plpgsql;
\set VERBOSITY default
SELECT extname FROM pg_extension WHERE extname IN ('phased_change', 'plpgsql') ORDER BY 1;
SELECT plan, phase FROM phased_change.progress WHERE plan = 'self-plan';

-- The catalog keeps its names and its members while a plan is active.
\set VERBOSITY terse
ALTER TABLE phased_change.plan RENAME TO plan_old;
ALTER TABLE phased_change.object RENAME COLUMN rel TO relation;
ALTER INDEX phased_change.object_rel_col_idx RENAME TO renamed_idx;
ALTER TABLE phased_change.object SET SCHEMA public;
ALTER SCHEMA phased_change RENAME TO pc_elsewhere;
ALTER SCHEMA phased_change OWNER TO CURRENT_USER;
ALTER EXTENSION phased_change DROP TABLE phased_change.plan;
\set VERBOSITY default

-- A table retired by the plan is not turned into a view (PostgreSQL 15
-- would do it for an empty table; 16 and later refuse it anyway).
\set VERBOSITY terse
CREATE RULE "_RETURN" AS ON SELECT TO sp_retired DO INSTEAD SELECT 1 AS id;
\set VERBOSITY default

-- Renamed with the override (audited), the catalog cannot be read: the
-- guard refuses destructive DDL on any table until the name is back.
SET client_min_messages = error;
SET phased_change.override = 'rename drill';
ALTER TABLE phased_change.plan RENAME TO plan_hidden;
RESET phased_change.override;
RESET client_min_messages;
ALTER TABLE sp_accounts DROP COLUMN legacy;
\set VERBOSITY terse
CREATE TABLE sp_unrelated (id int);
DROP TABLE sp_unrelated;
DROP EXTENSION phased_change;
\set VERBOSITY default
ALTER TABLE phased_change.plan_hidden RENAME TO plan;
DROP TABLE sp_unrelated;
\set VERBOSITY terse
ALTER TABLE sp_accounts DROP COLUMN legacy;
\set VERBOSITY default

-- Every refusal and the override are recorded.
SELECT phased_change.recorder_wait();
SELECT event, replace(detail ->> 'object', current_user, 'SUPERUSER') AS object, detail ->> 'action' AS action,
	detail ->> 'reason' AS reason
FROM phased_change.history
WHERE event IN ('ddl_blocked', 'override') AND detail ->> 'statement' !~ 'sp_accounts'
	AND event_id > (SELECT min(event_id) FROM phased_change.history WHERE plan = 'self-plan')
ORDER BY at, event_id;

SELECT phase_abandon('self-plan', 'end of test');
DROP TABLE sp_accounts, sp_retired;
