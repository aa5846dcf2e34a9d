--
-- guard.sql: the server refuses destructive DDL on guarded objects until the
-- plan's phase allows it, whatever path the statement takes: DROP COLUMN
-- (with IF EXISTS, CASCADE, among other subcommands), RENAME, ALTER COLUMN
-- TYPE, SET SCHEMA, DROP TABLE/VIEW, and drops that cascade into a guarded
-- object.  Each refusal is recorded; each statement goes through once the
-- phase allows it.  Messages are shown in full once per kind through try()
-- (times masked), otherwise tersely.
--
SET phased_change.unplanned_ddl = allow;	-- unplanned.sql covers that setting

-- The event triggers are enabled ALWAYS.
SELECT evtname, evtevent, evtenabled FROM pg_event_trigger ORDER BY evtname;

CREATE TABLE member (
	id int PRIMARY KEY,
	legacy_categories text[],
	primary_categories text[],
	note text
);
SELECT phase_plan_create('guard-plan', NULL, '72 hours');
SELECT phase_soak_set('guard-plan', 'expand', '0');
SELECT phase_soak_set('guard-plan', 'migrate', '0');
SELECT phase_retire('guard-plan', 'member', 'legacy_categories');
SELECT phase_introduce('guard-plan', 'member', 'primary_categories');

-- In expand: the retired column is guarded, in full ...
SELECT try($$ALTER TABLE member DROP COLUMN legacy_categories$$);
-- ... and on every path.
\set VERBOSITY terse
ALTER TABLE member DROP COLUMN legacy_categories;
ALTER TABLE member DROP COLUMN IF EXISTS legacy_categories;
ALTER TABLE member DROP COLUMN legacy_categories CASCADE;
ALTER TABLE member ADD COLUMN extra int, DROP COLUMN legacy_categories;
ALTER TABLE member RENAME COLUMN legacy_categories TO old_categories;
ALTER TABLE member ALTER COLUMN legacy_categories TYPE text;
ALTER TABLE member RENAME TO profiles;
CREATE SCHEMA archive;
ALTER TABLE member SET SCHEMA archive;
DROP TABLE member;
DROP TABLE IF EXISTS member CASCADE;
-- session_replication_role does not switch the guard off
SET session_replication_role = replica;
ALTER TABLE member DROP COLUMN legacy_categories;
RESET session_replication_role;
\set VERBOSITY default
SELECT try($$ALTER TABLE member RENAME TO profiles$$);
SELECT try($$ALTER TABLE member ALTER COLUMN legacy_categories TYPE text$$);

-- Unguarded work on the same table is untouched; nothing was changed.
ALTER TABLE member ADD COLUMN extra int;
ALTER TABLE member DROP COLUMN extra;
ALTER TABLE member RENAME COLUMN note TO remark;
SELECT attname FROM pg_attribute
WHERE attrelid = 'member'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;

-- In expand the introduced column may go: that is the rollback of phase 1.
CREATE TABLE gadgets (id int, colour text, size int);
SELECT phase_plan_create('gadgets-plan', NULL, '0');
SELECT phase_introduce('gadgets-plan', 'gadgets', 'colour');
SELECT phase_introduce('gadgets-plan', 'gadgets', 'size');
ALTER TABLE gadgets DROP COLUMN colour;
-- From migrate on, it holds data and is guarded.
SELECT phase_abandon('gadgets-plan', 'colour was a mistake');
SELECT phase_plan_create('gadgets-plan-2', NULL, '0');
SELECT phase_introduce('gadgets-plan-2', 'gadgets', 'size');
SELECT phase_advance('gadgets-plan-2');
SELECT try($$ALTER TABLE gadgets DROP COLUMN size$$);
\set VERBOSITY terse
ALTER TABLE gadgets RENAME COLUMN size TO dimension;
DROP TABLE gadgets;
\set VERBOSITY default

-- On to cleanup: now the retired column may be dropped, the introduced one
-- still not, and the table as a whole still not.
SELECT phase_advance('guard-plan');
SELECT phase_soak_set('guard-plan', 'contract', '72 hours');
SELECT phase_advance('guard-plan');
SELECT try($$ALTER TABLE member DROP COLUMN legacy_categories$$);
SELECT phase_soak_set('guard-plan', 'contract', '0');
SELECT phase_advance('guard-plan');
SELECT try($$DROP TABLE member$$);
\set VERBOSITY terse
ALTER TABLE member DROP COLUMN primary_categories;
\set VERBOSITY default
ALTER TABLE member DROP COLUMN legacy_categories;
SELECT phase_advance('guard-plan');
-- A completed plan guards nothing.
ALTER TABLE member RENAME COLUMN primary_categories TO categories;

-- A retired view, and a drop that cascades into it.
CREATE TABLE reports (id int, body text);
CREATE VIEW report_bodies AS SELECT id, body FROM reports;
SELECT phase_plan_create('views-plan', NULL, '0');
SELECT phase_retire('views-plan', 'report_bodies');
\set VERBOSITY terse
DROP VIEW report_bodies;
ALTER VIEW report_bodies RENAME TO bodies;
ALTER TABLE reports DROP COLUMN body CASCADE;
DROP TABLE reports CASCADE;
\set VERBOSITY default
SELECT try($$ALTER TABLE reports DROP COLUMN body CASCADE$$);
SELECT phase_abandon('views-plan', 'end of test');

-- Drops that cascade: through a type, a domain, a schema, an owner.
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE DOMAIN percent AS int CHECK (VALUE BETWEEN 0 AND 100);
CREATE SCHEMA shop;
CREATE TABLE shop.items (id int, feeling mood, discount percent, legacy_code text);
CREATE ROLE regress_guard_owner;
CREATE TABLE owned_stuff (id int, legacy text);
ALTER TABLE owned_stuff OWNER TO regress_guard_owner;
SELECT phase_plan_create('cascade-plan', NULL, '0');
SELECT phase_retire('cascade-plan', 'shop.items', 'feeling');
SELECT phase_retire('cascade-plan', 'shop.items', 'discount');
SELECT phase_retire('cascade-plan', 'shop.items', 'legacy_code');
SELECT phase_retire('cascade-plan', 'owned_stuff', 'legacy');
\set VERBOSITY terse
DROP TYPE mood CASCADE;
DROP DOMAIN percent CASCADE;
DROP SCHEMA shop CASCADE;
DROP OWNED BY regress_guard_owner CASCADE;
\set VERBOSITY default
SELECT try($$DROP TYPE mood CASCADE$$);
SELECT count(*) AS items_columns FROM pg_attribute
WHERE attrelid = 'shop.items'::regclass AND attnum > 0 AND NOT attisdropped;

-- Partitioned and inheritance parents: the guarded column is guarded on
-- the parent, since dropping it there drops it everywhere.
CREATE TABLE events (at date, legacy_kind text) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE animals (id int, legacy_sound text);
CREATE TABLE dogs () INHERITS (animals);
SELECT phase_retire('cascade-plan', 'events', 'legacy_kind');
SELECT phase_retire('cascade-plan', 'animals', 'legacy_sound');
\set VERBOSITY terse
ALTER TABLE events DROP COLUMN legacy_kind;
ALTER TABLE animals DROP COLUMN legacy_sound;
ALTER TABLE animals RENAME COLUMN legacy_sound TO sound;
\set VERBOSITY default

-- Temporary tables and tables created in this transaction are untouched.
CREATE TEMP TABLE scratch (id int, legacy_categories text);
ALTER TABLE scratch DROP COLUMN legacy_categories;
DROP TABLE scratch;
BEGIN;
CREATE TABLE fresh (id int, legacy text);
ALTER TABLE fresh DROP COLUMN legacy;
DROP TABLE fresh;
COMMIT;

-- Other spellings that would rename or retype a guarded object: ALTER INDEX
-- on a table, ALTER SCHEMA ... RENAME, ALTER TYPE on the type of a typed
-- table.
CREATE SCHEMA depot;
CREATE TABLE depot.crates (id int, legacy_label text);
CREATE TYPE parcel AS (id int, legacy_weight int);
CREATE TABLE parcels OF parcel;
SELECT phase_retire('cascade-plan', 'depot.crates', 'legacy_label');
SELECT phase_retire('cascade-plan', 'parcels', 'legacy_weight');
\set VERBOSITY terse
ALTER INDEX depot.crates RENAME TO boxes;
ALTER SEQUENCE depot.crates RENAME TO boxes;
ALTER SCHEMA depot RENAME TO warehouse;
ALTER TYPE parcel RENAME ATTRIBUTE legacy_weight TO weight CASCADE;
ALTER TYPE parcel ALTER ATTRIBUTE legacy_weight TYPE bigint CASCADE;
ALTER TYPE parcel DROP ATTRIBUTE legacy_weight CASCADE;
\set VERBOSITY default

-- A drop let through in cleanup stays checked: after the plan moves back,
-- the same transaction cannot drop the object through a cascade.
CREATE TABLE old_codes (id int);
SELECT phase_plan_create('codes-plan', NULL, '0');
SELECT phase_retire('codes-plan', 'old_codes');
SELECT phase_advance('codes-plan');
SELECT phase_advance('codes-plan');
SELECT phase_advance('codes-plan');
CREATE SCHEMA trash;
BEGIN;
ALTER TABLE old_codes SET SCHEMA trash;
SELECT phase_rollback('codes-plan', 'not yet');
\set VERBOSITY terse
DROP SCHEMA trash CASCADE;
\set VERBOSITY default
ROLLBACK;
SELECT phase_abandon('codes-plan', 'end of test');

-- Whoever may not alter a table gets PostgreSQL's own error, and learns
-- nothing about plans; nothing is recorded.
CREATE ROLE regress_guard_stranger;
GRANT USAGE ON SCHEMA depot TO regress_guard_stranger;
SET ROLE regress_guard_stranger;
ALTER TABLE depot.crates DROP COLUMN legacy_label;
DROP TABLE depot.crates;
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT count(*) AS stranger_records FROM phased_change.blocked_ddl
WHERE role = 'regress_guard_stranger';
REVOKE USAGE ON SCHEMA depot FROM regress_guard_stranger;
DROP ROLE regress_guard_stranger;

-- While plans are active, the extension cannot be dropped, directly or by
-- dropping its schema.
\set VERBOSITY terse
DROP EXTENSION phased_change;
DROP SCHEMA public CASCADE;
\set VERBOSITY default

-- Every refusal is recorded, and survives the rollback of its statement.
SELECT phased_change.recorder_wait();
SELECT plan, object, statement, actor = session_user AS actor_ok
FROM phased_change.blocked_ddl ORDER BY at, object, statement;

-- Abandoning releases the guards.
SELECT phase_abandon('cascade-plan', 'end of test');
DROP OWNED BY regress_guard_owner CASCADE;
DROP ROLE regress_guard_owner;
DROP TYPE mood CASCADE;
DROP SCHEMA shop CASCADE;
DROP SCHEMA depot CASCADE;
DROP TABLE parcels;
DROP TYPE parcel;
ALTER TABLE events DROP COLUMN legacy_kind;
RESET phased_change.unplanned_ddl;
