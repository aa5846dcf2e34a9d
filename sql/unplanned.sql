--
-- unplanned.sql: phased_change.unplanned_ddl (allow | warn | block) for
-- destructive DDL on tables no active plan retires, and the superuser's
-- emergency phased_change.override.  Both settings are superuser-only.
--
CREATE ROLE regress_unplanned_user;
LOAD 'phased_change';	-- the settings exist once the library is loaded
SHOW phased_change.unplanned_ddl;
CREATE TABLE ledger (id int, legacy text, note text, amount int, extra int);

-- warn (the default): the statement goes through with a WARNING.
ALTER TABLE ledger DROP COLUMN legacy;
ALTER TABLE ledger RENAME COLUMN note TO memo;
ALTER TABLE ledger ALTER COLUMN amount TYPE bigint;
ALTER TABLE ledger ADD COLUMN added int;		-- not destructive: silent

-- block: refused, and recorded with no plan.
SET phased_change.unplanned_ddl = block;
ALTER TABLE ledger DROP COLUMN extra;
ALTER TABLE ledger RENAME TO journal;
DROP TABLE ledger;
SELECT phased_change.recorder_wait();
SELECT plan, object, statement FROM phased_change.blocked_ddl
WHERE object LIKE 'public.ledger%' ORDER BY at;
SELECT phased_change.recorder_wait();
SELECT event, plan, detail ->> 'reason' AS reason FROM phased_change.history
WHERE detail ->> 'object' LIKE 'public.ledger%' ORDER BY event_id;

-- Exempt: temporary tables, tables created in this transaction, views, and
-- objects that an active plan retires once it allows the drop.
CREATE TEMP TABLE scratch (id int, gone int);
ALTER TABLE scratch DROP COLUMN gone;
BEGIN;
CREATE TABLE fresh (id int, gone int);
ALTER TABLE fresh DROP COLUMN gone;
ALTER TABLE fresh RENAME TO fresher;
COMMIT;
CREATE VIEW ledger_view AS SELECT id FROM ledger;
DROP VIEW ledger_view;
SELECT phase_plan_create('ledger-plan', NULL, '0');
SELECT phase_retire('ledger-plan', 'ledger', 'extra');
SELECT phase_advance('ledger-plan');
SELECT phase_advance('ledger-plan');
SELECT phase_advance('ledger-plan');
ALTER TABLE ledger DROP COLUMN extra;
SELECT phase_advance('ledger-plan');

-- allow: silent.
SET phased_change.unplanned_ddl = allow;
ALTER TABLE ledger DROP COLUMN added;
RESET phased_change.unplanned_ddl;

-- Only superusers may set either setting.
ALTER TABLE ledger OWNER TO regress_unplanned_user;
SET ROLE regress_unplanned_user;
SET phased_change.unplanned_ddl = allow;
SET phased_change.override = 'let me';
RESET ROLE;

-- The override: a superuser lets a guarded statement through, audited.
SELECT phase_plan_create('memo-plan', NULL, '0');
SELECT phase_retire('memo-plan', 'ledger', 'memo');
\set VERBOSITY terse
ALTER TABLE ledger DROP COLUMN memo;
\set VERBOSITY default
SET phased_change.override = 'incident 4711: memo holds PII';
SHOW phased_change.override;
-- ... honoured only while the session user is a superuser
SET SESSION AUTHORIZATION regress_unplanned_user;
\set VERBOSITY terse
ALTER TABLE ledger DROP COLUMN memo;
\set VERBOSITY default
RESET SESSION AUTHORIZATION;
ALTER TABLE ledger DROP COLUMN memo;
RESET phased_change.override;
SELECT phased_change.recorder_wait();
SELECT plan, event, detail ->> 'object' AS object, detail ->> 'reason' AS reason,
	   detail ->> 'statement' AS statement
FROM phased_change.history WHERE event = 'override';

SELECT phase_abandon('memo-plan', 'end of test');
DROP TABLE ledger;

-- block holds for what a statement reaches through a dependency (DROP
-- SCHEMA ... CASCADE, DROP TYPE ... CASCADE), and for whoever PostgreSQL
-- lets drop a table: the owner of its schema, who does not own the table.
CREATE SCHEMA junk;
CREATE TABLE junk.leftovers (id int);
CREATE TYPE mood AS ENUM ('calm');
CREATE TABLE diary (id int, feeling mood);
CREATE SCHEMA rented AUTHORIZATION regress_unplanned_user;
CREATE TABLE rented.lodger (id int);
SET phased_change.unplanned_ddl = block;
\set VERBOSITY terse
DROP SCHEMA junk CASCADE;
DROP TYPE mood CASCADE;
SET ROLE regress_unplanned_user;
DROP TABLE rented.lodger;
RESET ROLE;
\set VERBOSITY default
SELECT count(*) AS still_there FROM pg_class
WHERE oid IN ('junk.leftovers'::regclass, 'diary'::regclass, 'rented.lodger'::regclass);
SELECT phased_change.recorder_wait();
SELECT object, statement FROM phased_change.blocked_ddl
WHERE object IN ('junk.leftovers', 'public.diary.feeling', 'rented.lodger') ORDER BY at;
RESET phased_change.unplanned_ddl;
SET client_min_messages = error;
DROP SCHEMA junk, rented CASCADE;
DROP TABLE diary;
DROP TYPE mood;
RESET client_min_messages;
DROP ROLE regress_unplanned_user;
