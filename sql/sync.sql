--
-- sync.sql: dual-write syncs (phase_sync).  Registration is validated (one
-- row-level expression per direction, columns that exist, a type that
-- assigns, no volatile function, the caller owns plan and table) and bad
-- input changes nothing; the trigger computes the column the writer did not
-- give (INSERT: not NULL; UPDATE: changed), as the writer, also under
-- session_replication_role = replica; the plan installs it in migrate and
-- contract and removes it anywhere else, a rollback into migrate or contract
-- installing it again; a missing or disabled trigger is a blocker, and
-- phase_sync puts it back.
--
CREATE ROLE regress_sync_owner;
CREATE ROLE regress_sync_other;
CREATE ROLE regress_sync_writer;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO regress_sync_owner, regress_sync_other;
GRANT USAGE ON SCHEMA phased_change TO regress_sync_owner;
GRANT SELECT ON phased_change.syncs, phased_change.progress, phased_change.guarded_objects
	TO regress_sync_owner;
GRANT EXECUTE ON FUNCTION phased_change.usage_tracking(), phased_change.usage_of(bigint),
	phased_change.recorder_wait(interval) TO regress_sync_owner;

CREATE TABLE sync_profile (id bigint PRIMARY KEY, legacy_categories text[], primary_categories text[],
						   note text, doubled int GENERATED ALWAYS AS (id * 2) STORED);
ALTER TABLE sync_profile OWNER TO regress_sync_owner;
GRANT SELECT, INSERT, UPDATE ON sync_profile TO regress_sync_writer;
CREATE VIEW sync_profile_view AS SELECT id FROM sync_profile;
ALTER VIEW sync_profile_view OWNER TO regress_sync_owner;
CREATE TABLE sync_not_mine (id int, a text, b text);
-- A function only the owner may run, to show whose rights a sync uses.
CREATE FUNCTION owner_only_upper(text[]) RETURNS text[] LANGUAGE sql IMMUTABLE
	AS $$ SELECT pg_catalog.array_agg(pg_catalog.upper(x)) FROM pg_catalog.unnest($1) x $$;
REVOKE ALL ON FUNCTION owner_only_upper(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION owner_only_upper(text[]) TO regress_sync_owner;
CREATE FUNCTION noisy(text[]) RETURNS text[] LANGUAGE sql VOLATILE AS $$ SELECT $1 $$;
CREATE FUNCTION sync_passthrough() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;

SET ROLE regress_sync_owner;
SELECT phase_plan_create('sync-plan', NULL, '0');
SELECT phase_retire('sync-plan', 'sync_profile', 'legacy_categories');
SELECT phase_introduce('sync-plan', 'sync_profile', 'primary_categories');
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT count(*) AS events_before FROM phased_change.history \gset

-- Bad input: refused, nothing recorded.
SET ROLE regress_sync_owner;
SELECT phase_sync(NULL, 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', NULL, 'legacy_categories', 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', NULL, 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', NULL);
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', '  ');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories', '');
SELECT phase_sync('no-such-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', 'nope', 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'nope', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', 'ctid', 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'legacy_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_profile', 'note', 'doubled', '1');
SELECT phase_sync('sync-plan', 'sync_profile_view', 'legacy_categories', 'primary_categories', 'legacy_categories');
SELECT phase_sync('sync-plan', 'sync_not_mine', 'a', 'b', 'a');
DROP VIEW sync_profile_view;
SELECT phase_sync('sync-plan', 'pg_catalog.pg_class', 'relname', 'relname', 'relname');
SELECT phase_sync('sync-plan', 'phased_change.sync', 'from_col', 'to_col', 'from_col');
CREATE TEMPORARY TABLE scratch (a text, b text);
SELECT phase_sync('sync-plan', 'scratch', 'a', 'b', 'a');
DROP TABLE scratch;
-- the expressions
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories +');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories; DELETE FROM sync_profile');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories FROM sync_profile');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories) UNION (SELECT NULL');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', '(SELECT legacy_categories FROM sync_profile LIMIT 1)');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'array_agg(note)');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'ARRAY[row_number() OVER ()::text]');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'ARRAY[generate_series(1, 2)::text]');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'ARRAY[ctid::text]');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'ARRAY[sync_profile::text]');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'noisy(legacy_categories)');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'id');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories', 'no_such_column');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'no_such_function(legacy_categories)');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'pg_temp.f(legacy_categories)');
RESET ROLE;
-- only who may change the plan and owns the table
CREATE TABLE sync_others_table (id int, a text, b text);
ALTER TABLE sync_others_table OWNER TO regress_sync_other;
SET ROLE regress_sync_other;
SELECT phase_sync('sync-plan', 'sync_others_table', 'a', 'b', 'a');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories');
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT count(*) - :events_before AS events_recorded_by_refusals FROM phased_change.history;
SELECT count(*) AS syncs FROM phased_change.sync;

-- Registered in expand: stored, not installed yet.
SET ROLE regress_sync_owner;
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories',
				  $$array_cat(coalesce(primary_categories, '{}'), legacy_categories)$$,
				  $$primary_categories[1:1]$$);
SELECT plan, "table", from_column, to_column, forward, backward, active, installed, trigger_name, plan_phase
FROM phased_change.syncs;
SELECT object, role, syncs FROM phased_change.guarded_objects WHERE plan = 'sync-plan' ORDER BY object;
-- a second sync of one of its columns is refused
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'note', 'legacy_categories[1]');
RESET ROLE;
SELECT event, detail FROM phased_change.history WHERE plan = 'sync-plan' AND event LIKE 'sync%';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'sync_profile'::regclass;
INSERT INTO sync_profile (id, legacy_categories) VALUES (1, '{a}');	-- no sync in expand
SELECT id, legacy_categories, primary_categories FROM sync_profile;

-- Migrate: installed, enabled ALWAYS.
SET ROLE regress_sync_owner;
SELECT phase_advance('sync-plan');
RESET ROLE;
SELECT tgname, tgenabled, tgfoid::regprocedure FROM pg_trigger WHERE tgrelid = 'sync_profile'::regclass;
SELECT active, installed FROM phased_change.syncs;

-- What the writers give decides.  The first write of this session parses
-- the expressions as resolved at registration, whatever the writer's
-- search_path.
SET ROLE regress_sync_writer;
SET search_path = pg_catalog;
INSERT INTO public.sync_profile (id, legacy_categories) VALUES (2, '{old}');			-- old writer
RESET search_path;
INSERT INTO sync_profile (id, primary_categories) VALUES (3, '{new,more}');			-- new writer
INSERT INTO sync_profile (id, legacy_categories, primary_categories) VALUES (4, '{x}', '{y}');	-- both
INSERT INTO sync_profile (id, note) VALUES (5, 'neither');
SELECT id, legacy_categories, primary_categories FROM sync_profile WHERE id > 1 ORDER BY id;
UPDATE sync_profile SET legacy_categories = '{old2}' WHERE id = 2;					-- old writer
UPDATE sync_profile SET primary_categories = '{new2}' WHERE id = 3;					-- new writer
UPDATE sync_profile SET legacy_categories = '{x2}', primary_categories = '{y2}' WHERE id = 4;	-- both
UPDATE sync_profile SET note = 'touched', legacy_categories = legacy_categories WHERE id = 4;	-- neither changed
UPDATE sync_profile SET primary_categories = NULL WHERE id = 2;						-- new writer clears
SELECT id, legacy_categories, primary_categories, note FROM sync_profile WHERE id > 1 ORDER BY id;
-- a writer in replica mode is synced all the same
RESET ROLE;
SET session_replication_role = replica;
SET ROLE regress_sync_writer;
INSERT INTO sync_profile (id, legacy_categories) VALUES (6, '{replica}');
RESET ROLE;
RESET session_replication_role;
SELECT id, legacy_categories, primary_categories FROM sync_profile WHERE id = 6;

-- Expressions run with the writer's rights, like a column default.
SET ROLE regress_sync_owner;
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories',
				  'owner_only_upper(legacy_categories)');
RESET ROLE;
SELECT event FROM phased_change.history WHERE plan = 'sync-plan' ORDER BY event_id DESC LIMIT 1;
SET ROLE regress_sync_owner;
INSERT INTO sync_profile (id, legacy_categories) VALUES (7, '{owner}');
SET ROLE regress_sync_writer;
INSERT INTO sync_profile (id, legacy_categories) VALUES (8, '{writer}');
RESET ROLE;
GRANT EXECUTE ON FUNCTION owner_only_upper(text[]) TO regress_sync_writer;
SET ROLE regress_sync_writer;
INSERT INTO sync_profile (id, legacy_categories) VALUES (8, '{writer}');
RESET ROLE;
SELECT id, legacy_categories, primary_categories FROM sync_profile WHERE id IN (7, 8) ORDER BY id;
SET ROLE regress_sync_owner;
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories',
				  $$array_cat(coalesce(primary_categories, '{}'), legacy_categories)$$,
				  $$primary_categories[1:1]$$);
RESET ROLE;

-- The guard keeps the trigger in service: the table's owner cannot drop,
-- disable, re-enable in another mode, rename or replace it (and the refusal is
-- recorded; each refusal is waited for, so that the recorder never has
-- to be started twice at once); ENABLE ALWAYS, which changes nothing, goes
-- through.
SET ROLE regress_sync_owner;
DROP TRIGGER phased_change_sync_primary_categories ON sync_profile;
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TABLE sync_profile DISABLE TRIGGER phased_change_sync_primary_categories;
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TABLE sync_profile DISABLE TRIGGER ALL;
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TABLE sync_profile DISABLE TRIGGER USER;
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TABLE sync_profile ENABLE TRIGGER phased_change_sync_primary_categories;
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TABLE sync_profile ENABLE REPLICA TRIGGER phased_change_sync_primary_categories;
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TRIGGER phased_change_sync_primary_categories ON sync_profile RENAME TO other_name;
SELECT phased_change.recorder_wait() AS recorded \gset
CREATE OR REPLACE TRIGGER phased_change_sync_primary_categories BEFORE INSERT ON sync_profile
	FOR EACH ROW EXECUTE FUNCTION sync_passthrough();
SELECT phased_change.recorder_wait() AS recorded \gset
ALTER TABLE sync_profile ENABLE ALWAYS TRIGGER phased_change_sync_primary_categories;
RESET ROLE;
-- someone else's trigger on the table is not the guard's business
CREATE FUNCTION sync_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER other_trigger BEFORE UPDATE ON sync_profile FOR EACH ROW EXECUTE FUNCTION sync_noop();
ALTER TABLE sync_profile DISABLE TRIGGER other_trigger;
DROP TRIGGER other_trigger ON sync_profile;
DROP FUNCTION sync_noop();
SELECT phased_change.recorder_wait();
SELECT object, statement FROM phased_change.blocked_ddl WHERE plan = 'sync-plan' ORDER BY at;

-- A missing or disabled trigger is a blocker; phase_sync installs it again.
-- (Only the override gets there.)
SET phased_change.override = 'sync test';
ALTER TABLE sync_profile DISABLE TRIGGER phased_change_sync_primary_categories;
SELECT installed FROM phased_change.syncs;
SELECT unnest(blockers) AS blockers FROM phased_change.progress WHERE plan = 'sync-plan';
DROP TRIGGER phased_change_sync_primary_categories ON sync_profile;
RESET phased_change.override;
SET ROLE regress_sync_owner;
SELECT phase_advance('sync-plan');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories',
				  $$array_cat(coalesce(primary_categories, '{}'), legacy_categories)$$,
				  $$primary_categories[1:1]$$);
SELECT installed FROM phased_change.syncs;
SELECT blockers FROM phased_change.progress WHERE plan = 'sync-plan';

-- The plan installs and removes it at every transition.
SELECT phase_advance('sync-plan');									-- contract
SELECT plan_phase, active, installed FROM phased_change.syncs;
SELECT phase_rollback('sync-plan', 'test');							-- migrate
SELECT plan_phase, active, installed FROM phased_change.syncs;
SELECT phase_rollback('sync-plan', 'test');							-- expand
SELECT plan_phase, active, installed FROM phased_change.syncs;
INSERT INTO sync_profile (id, legacy_categories) VALUES (9, '{expand}');
SELECT phase_advance('sync-plan');									-- migrate
SELECT phase_advance('sync-plan');									-- contract
SELECT phase_advance('sync-plan');									-- cleanup
SELECT plan_phase, active, installed FROM phased_change.syncs;
INSERT INTO sync_profile (id, legacy_categories) VALUES (10, '{cleanup}');
SELECT phase_sync('sync-plan', 'sync_profile', 'legacy_categories', 'primary_categories', 'legacy_categories');
SELECT phase_rollback('sync-plan', 'test');							-- contract
SELECT plan_phase, active, installed FROM phased_change.syncs;
INSERT INTO sync_profile (id, legacy_categories) VALUES (11, '{contract}');
SELECT id, legacy_categories, primary_categories FROM sync_profile WHERE id >= 9 ORDER BY id;
SELECT phase_advance('sync-plan');									-- cleanup
ALTER TABLE sync_profile DROP COLUMN legacy_categories;
SELECT phase_advance('sync-plan');									-- completed
SELECT plan_status, active, installed FROM phased_change.syncs;
RESET ROLE;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'sync_profile'::regclass;

-- Registered in migrate: installed at once; abandon removes it.
CREATE TABLE sync_accounts (id int PRIMARY KEY, old_name text, new_name text);
ALTER TABLE sync_accounts OWNER TO regress_sync_owner;
SET ROLE regress_sync_owner;
SELECT phase_plan_create('sync-abandon', NULL, '0');
SELECT phase_advance('sync-abandon');
SELECT phase_sync('sync-abandon', 'sync_accounts', 'old_name', 'new_name', 'upper(old_name)', 'lower(new_name)');
SELECT "table", active, installed FROM phased_change.syncs WHERE plan = 'sync-abandon';
INSERT INTO sync_accounts VALUES (1, 'ann', NULL), (2, NULL, 'BOB');
SELECT * FROM sync_accounts ORDER BY id;
SELECT phase_abandon('sync-abandon', 'test');
SELECT "table", active, installed FROM phased_change.syncs WHERE plan = 'sync-abandon';
INSERT INTO sync_accounts VALUES (3, 'cy', NULL);
SELECT * FROM sync_accounts ORDER BY id;
SELECT phase_sync('sync-abandon', 'sync_accounts', 'old_name', 'new_name', 'old_name');
RESET ROLE;

-- Names are resolved at registration, for good.  Registered with public
-- before pg_catalog: a built-in function and operator, a function found
-- through the search_path and one named with its schema.
CREATE SCHEMA sync_lib;
-- (its body names its operator with the schema: an unqualified one would be
-- resolved under the search_path of the session that plans the call)
CREATE FUNCTION sync_lib.tag(text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT 'lib:' OPERATOR(pg_catalog.||) $1 $$;
GRANT USAGE ON SCHEMA sync_lib TO regress_sync_owner, regress_sync_writer;
CREATE TABLE sync_names (id int PRIMARY KEY, old_name varchar, new_name text, old_tag varchar, new_tag varchar);
ALTER TABLE sync_names OWNER TO regress_sync_owner;
GRANT SELECT, INSERT, UPDATE ON sync_names TO regress_sync_writer;
SET ROLE regress_sync_owner;
SELECT phase_plan_create('sync-names', NULL, '0');
SELECT phase_advance('sync-names');
SET search_path = public, pg_catalog;
SELECT phase_sync('sync-names', 'sync_names', 'old_name', 'new_name', $$upper(old_name) || '-x'$$);
SET search_path = sync_lib, public, pg_catalog;
SELECT phase_sync('sync-names', 'sync_names', 'old_tag', 'new_tag', 'tag(old_tag)', 'sync_lib.tag(new_tag)');
RESET search_path;
-- what the trigger parses, under search_path = pg_catalog, pg_temp
SELECT to_column, forward, forward_resolved, backward, backward_resolved
FROM phased_change.syncs WHERE plan = 'sync-names' ORDER BY to_column;
RESET ROLE;
INSERT INTO sync_names (id, old_name, old_tag) VALUES (1, 'ann', 'a');
INSERT INTO sync_names (id, new_tag) VALUES (2, 'b');
-- A role with CREATE on public adds functions and an operator that match
-- better or come first on the registration's search_path.
GRANT CREATE ON SCHEMA public TO regress_sync_other;
SET ROLE regress_sync_other;
CREATE FUNCTION public.upper(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'shadowed' $$;
CREATE FUNCTION public.tag(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'shadowed' $$;
CREATE FUNCTION public.sync_shadow_cat(text, text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT 'shadowed' $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.sync_shadow_cat);
SET search_path = public, pg_catalog;
SELECT upper('ann'::varchar) || '-x' AS what_a_reparse_would_run, tag('a'::varchar) AS tag_reparsed;
RESET search_path;
RESET ROLE;
-- and the schema of the function itself gets a better match
CREATE FUNCTION sync_lib.tag(varchar) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'shadowed' $$;
-- every writer still runs what was registered (a superuser; a writer in a
-- session that parses the expressions afresh, with public first)
INSERT INTO sync_names (id, old_name, old_tag) VALUES (3, 'bob', 'c');
UPDATE sync_names SET new_tag = 'd' WHERE id = 2;
\c -
SET ROLE regress_sync_writer;
SET search_path = public, pg_catalog;
INSERT INTO sync_names (id, old_name, old_tag) VALUES (4, 'cy', 'e');
RESET search_path;
RESET ROLE;
SELECT * FROM sync_names ORDER BY id;
DROP OPERATOR public.|| (text, text);
DROP FUNCTION public.upper(varchar), public.tag(varchar), public.sync_shadow_cat(text, text),
	sync_lib.tag(varchar);
REVOKE CREATE ON SCHEMA public FROM regress_sync_other;

-- A function of an expression that writes to a synced table (a stable
-- function may call a volatile one) makes the write fail: the sync trigger
-- does not run inside the evaluation of a sync expression.
CREATE TABLE sync_loop (id int PRIMARY KEY, a text, b text);
ALTER TABLE sync_loop OWNER TO regress_sync_owner;
CREATE FUNCTION sync_loop_write(text) RETURNS text LANGUAGE plpgsql VOLATILE
	AS $$ BEGIN INSERT INTO public.sync_loop (id, a) VALUES (100, $1); RETURN $1; END $$;
CREATE FUNCTION sync_loop_lookup(text) RETURNS text LANGUAGE plpgsql STABLE
	AS $$ BEGIN RETURN public.sync_loop_write($1); END $$;
SET ROLE regress_sync_owner;
SELECT phase_sync('sync-names', 'sync_loop', 'a', 'b', 'sync_loop_lookup(a)');
\set VERBOSITY terse
INSERT INTO sync_loop (id, a) VALUES (1, 'x');
\set VERBOSITY default
SELECT count(*) AS rows_written FROM sync_loop;
SELECT phase_abandon('sync-names', 'test');
RESET ROLE;

SET phased_change.unplanned_ddl = allow;
DROP TABLE sync_profile, sync_accounts, sync_not_mine, sync_others_table, sync_names, sync_loop CASCADE;
DROP FUNCTION owner_only_upper(text[]), noisy(text[]), sync_passthrough(), sync_loop_lookup(text),
	sync_loop_write(text);
DROP SCHEMA sync_lib CASCADE;
REVOKE ALL ON phased_change.syncs, phased_change.progress, phased_change.guarded_objects
	FROM regress_sync_owner;
REVOKE ALL ON FUNCTION phased_change.usage_tracking(), phased_change.usage_of(bigint),
	phased_change.recorder_wait(interval) FROM regress_sync_owner;
REVOKE USAGE ON SCHEMA phased_change FROM regress_sync_owner;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM regress_sync_owner, regress_sync_other;
DROP ROLE regress_sync_owner, regress_sync_other, regress_sync_writer;
RESET phased_change.unplanned_ddl;
