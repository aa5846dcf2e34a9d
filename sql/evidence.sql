--
-- evidence.sql: what PostgreSQL's catalog shows still using a retired
-- object is listed in progress from the moment it is retired, one sentence
-- per object naming it and the SQL to look at it: as warnings in expand and
-- migrate, as blockers from contract on, so that phase_advance refuses to
-- leave contract (naming them) until they are gone.  Covered: a view, a
-- row-level-security policy, a trigger whose function reads NEW.<column>
-- (in any case), a trigger that names the column in its arguments, a
-- generated column, an index, a check constraint, a rule; for a retired
-- table, the views, foreign keys and children outside it.  The column's
-- own default and NOT NULL, a function naming a longer word, and a view the
-- plan retires as well are not uses.  The output is the same with and
-- without preloading.
--
SET phased_change.unplanned_ddl = allow;

CREATE TABLE ev_log (id int);
CREATE TABLE ev_profile (
	id int PRIMARY KEY,
	legacy_categories text[] NOT NULL DEFAULT '{}',
	primary_categories text[],
	legacy_categories_count int,
	category_count int GENERATED ALWAYS AS (pg_catalog.cardinality(legacy_categories)) STORED,
	CONSTRAINT ev_legacy_small CHECK (pg_catalog.cardinality(legacy_categories) < 100)
);
CREATE INDEX ev_profile_legacy_idx ON ev_profile USING gin (legacy_categories);
CREATE VIEW ev_profile_legacy AS SELECT id, legacy_categories FROM ev_profile;
CREATE POLICY ev_legacy_visible ON ev_profile USING (legacy_categories IS NOT NULL);
CREATE RULE ev_legacy_changed AS ON UPDATE TO ev_profile
	WHERE old.legacy_categories IS DISTINCT FROM new.legacy_categories
	DO ALSO INSERT INTO ev_log VALUES (new.id);
-- the usual dual-write trigger: PL/pgSQL reading NEW.<column>
CREATE FUNCTION ev_dual_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.primary_categories := NEW.Legacy_Categories;
	RETURN NEW;
END
$$;
CREATE TRIGGER ev_dual_write BEFORE INSERT OR UPDATE ON ev_profile
	FOR EACH ROW EXECUTE FUNCTION ev_dual_write();
-- a generic trigger function told the column in its arguments
CREATE FUNCTION ev_copy_column() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEW;		-- would copy TG_ARGV[0] into TG_ARGV[1]
END
$$;
CREATE TRIGGER ev_copy BEFORE INSERT ON ev_profile
	FOR EACH ROW EXECUTE FUNCTION ev_copy_column('legacy_categories', 'primary_categories');
-- not uses: a trigger function naming only a longer word
CREATE FUNCTION ev_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.legacy_categories_count := 0;
	RETURN NEW;
END
$$;
CREATE TRIGGER ev_count BEFORE INSERT ON ev_profile
	FOR EACH ROW EXECUTE FUNCTION ev_count();
INSERT INTO ev_profile (id, legacy_categories) VALUES (1, '{TypeA}');

SELECT phase_plan_create('ev', 'retire legacy_categories', '0');
SELECT phase_retire('ev', 'ev_profile', 'legacy_categories');
SELECT phase_introduce('ev', 'ev_profile', 'primary_categories');

-- In expand the uses are warnings: they block nothing yet.
SELECT phase, ready, blockers FROM phased_change.progress WHERE plan = 'ev';
SELECT w AS warning FROM phased_change.progress, unnest(warnings) w
WHERE plan = 'ev' AND w NOT LIKE 'Usage tracking%' ORDER BY 1;
SELECT phase_advance('ev');
SELECT phase_advance('ev');

-- From contract they are blockers, and phase_advance names every one.
SELECT phase, ready, next_step FROM phased_change.progress WHERE plan = 'ev';
SELECT b AS blocker FROM phased_change.progress, unnest(blockers) b WHERE plan = 'ev' ORDER BY 1;
SELECT count(*) AS uses_in_warnings
FROM phased_change.progress, unnest(warnings) w WHERE plan = 'ev' AND w NOT LIKE 'Usage tracking%';
SELECT try($$SELECT phase_advance('ev')$$);
SELECT phased_change.recorder_wait();
SELECT event, jsonb_array_length(detail -> 'blockers') AS blockers FROM phased_change.history
WHERE plan = 'ev' AND event = 'advance_refused';

-- Each blocker's SQL shows the object.
-- (pg_get_viewdef qualifies column names up to PostgreSQL 15, not from 16)
SELECT pg_catalog.pg_get_viewdef('public.ev_profile_legacy'::pg_catalog.regclass) LIKE '%legacy_categories%' AS shows_the_column;
SELECT pg_catalog.pg_get_functiondef('public.ev_dual_write()'::pg_catalog.regprocedure);
SELECT policyname, qual FROM pg_catalog.pg_policies
WHERE schemaname = 'public' AND tablename = 'ev_profile' AND policyname = 'ev_legacy_visible';
SELECT pg_catalog.pg_get_expr(adbin, adrelid) FROM pg_catalog.pg_attrdef
WHERE (adrelid, adnum) = (SELECT attrelid, attnum FROM pg_catalog.pg_attribute
						  WHERE attrelid = 'public.ev_profile'::pg_catalog.regclass AND attname = 'category_count');

-- Removing them one by one shrinks the list; once none is left, the plan
-- leaves contract.
DROP VIEW ev_profile_legacy;
DROP POLICY ev_legacy_visible ON ev_profile;
DROP RULE ev_legacy_changed ON ev_profile;
DROP TRIGGER ev_dual_write ON ev_profile;
DROP INDEX ev_profile_legacy_idx;
SELECT b AS blocker FROM phased_change.progress, unnest(blockers) b WHERE plan = 'ev' ORDER BY 1;
SELECT try($$SELECT phase_advance('ev')$$);
DROP TRIGGER ev_copy ON ev_profile;
ALTER TABLE ev_profile DROP CONSTRAINT ev_legacy_small;
ALTER TABLE ev_profile DROP COLUMN category_count;
SELECT ready, blockers, next_step FROM phased_change.progress WHERE plan = 'ev';
SELECT phase_advance('ev');

-- In cleanup a use is still a blocker while the column stands.
CREATE VIEW ev_profile_late AS SELECT legacy_categories FROM ev_profile;
SELECT b AS blocker FROM phased_change.progress, unnest(blockers) b WHERE plan = 'ev' ORDER BY 1;
SELECT next_step FROM phased_change.progress WHERE plan = 'ev';
DROP VIEW ev_profile_late;

-- Cleanup: the column goes with its own default and NOT NULL; the plan
-- completes.
ALTER TABLE ev_profile DROP COLUMN legacy_categories;
SELECT phase_advance('ev');
INSERT INTO ev_profile (id, primary_categories) VALUES (2, '{TypeB}');

-- A column name is matched as a word, its characters taken literally: the
-- dot in "Legacy.Tag" matches only a dot.
CREATE TABLE ev_tags (id int, "Legacy.Tag" text, note text);
CREATE FUNCTION ev_tags_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.note := NEW."Legacy.Tag";
	RETURN NEW;
END
$$;
CREATE FUNCTION ev_tags_other() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.note := 'LegacyXTag';
	RETURN NEW;
END
$$;
CREATE TRIGGER ev_tags_copy BEFORE INSERT ON ev_tags FOR EACH ROW EXECUTE FUNCTION ev_tags_copy();
CREATE TRIGGER ev_tags_other BEFORE INSERT ON ev_tags FOR EACH ROW EXECUTE FUNCTION ev_tags_other();
SELECT phase_plan_create('ev-tags', NULL, '0');
SELECT phase_retire('ev-tags', 'ev_tags', 'Legacy.Tag');
SELECT w AS warning FROM phased_change.progress, unnest(warnings) w
WHERE plan = 'ev-tags' AND w NOT LIKE 'Usage tracking%' ORDER BY 1;
SELECT phase_abandon('ev-tags', 'test done');
DROP TABLE ev_tags;
DROP FUNCTION ev_tags_copy(), ev_tags_other();

-- A retired table: the views, foreign keys and inheritance children
-- outside it are its uses; its own index, trigger, policy and rule go with
-- it and are not listed.
CREATE TABLE ev_lookup (id int PRIMARY KEY, label text);
CREATE INDEX ev_lookup_label_idx ON ev_lookup (label);
CREATE POLICY ev_lookup_own ON ev_lookup USING (label IS NOT NULL);
CREATE TRIGGER ev_lookup_count BEFORE INSERT ON ev_lookup
	FOR EACH ROW EXECUTE FUNCTION ev_count();
CREATE TABLE ev_order (id int, lookup_id int REFERENCES ev_lookup);
CREATE VIEW ev_lookup_labels AS SELECT label FROM ev_lookup;
CREATE TABLE ev_lookup_archive () INHERITS (ev_lookup);
-- a view the plan retires as well is dropped with the table, in cleanup
CREATE VIEW ev_lookup_old_labels AS SELECT id, label FROM ev_lookup;
SELECT phase_plan_create('ev-table', NULL, '0');
SELECT phase_retire('ev-table', 'ev_lookup');
SELECT phase_retire('ev-table', 'ev_lookup_old_labels');
SELECT phase_advance('ev-table');
SELECT phase_advance('ev-table');
SELECT b AS blocker FROM phased_change.progress, unnest(blockers) b WHERE plan = 'ev-table' ORDER BY 1;
SELECT try($$SELECT phase_advance('ev-table')$$);
DROP VIEW ev_lookup_labels;
DROP TABLE ev_order;
DROP TABLE ev_lookup_archive;
SELECT phase_advance('ev-table');
DROP VIEW ev_lookup_old_labels;
DROP TABLE ev_lookup;
SELECT phase_advance('ev-table');

DROP TABLE ev_profile, ev_log;
DROP FUNCTION ev_dual_write(), ev_copy_column(), ev_count();
RESET phased_change.unplanned_ddl;
