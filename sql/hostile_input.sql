--
-- hostile_input.sql: a property test of the SQL interface against hostile
-- text.  A PL/pgSQL generator, seeded with setseed() so that every run sees
-- the same inputs, makes a few hundred plan names, descriptions, phases,
-- check names, predicates and column names that are long (10,000
-- characters), empty, blank, odd Unicode (combining marks, right-to-left
-- text and overrides, emoji and ZWJ sequences, characters outside the BMP,
-- control characters), or full of quoting and comment syntax ($$, ', ",
-- --, /*, ;, backslashes, E'' escapes, printf directives), and feeds them to
-- phase_plan_create, phase_check_add and phase_retire, each call inside an
-- exception handler.  Only aggregated counts and booleans are printed:
--
--   * every refusal has one of the expected SQLSTATEs;
--   * every accepted name, description, check name, predicate and column
--     round-trips exactly, in the catalog and in the history;
--   * a refused call leaves no trace in the history;
--   * no input created, dropped or changed anything outside phased_change;
--   * every accepted predicate, when verified, holds, fails or errors, but
--     never writes; the guard refuses to drop every retired column.
--
-- It runs in a database of its own, created with UTF8 encoding, so that the
-- Unicode inputs mean the same whatever the cluster's default encoding.
-- The source is plain ASCII: every non-ASCII character is made with chr().
--
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_hostile TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C';
\c regress_hostile
SELECT getdatabaseencoding() AS encoding;
CREATE EXTENSION phased_change;
CREATE ROLE regress_hostile;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO regress_hostile;

-- Names that print as blank are refused like blank ones: no-break (U+00A0),
-- ideographic (U+3000) and zero-width (U+200B) spaces, a byte order mark,
-- alone or among ordinary blanks.  One visible character is enough (the
-- last call gets as far as looking up its plan).
SELECT phase_plan_create(chr(160));
SELECT phase_plan_create(chr(12288) || chr(12288));
SELECT phase_plan_create(chr(8203));
SELECT phase_plan_create(' ' || chr(160) || chr(8203) || chr(65279) || ' ');
SELECT phase_check_add('no such plan', 'expand', chr(12288), 'true');
SELECT phase_check_add('no such plan', 'expand', 'a check', chr(8203) || chr(160));
SELECT phase_check_add('no such plan', 'expand', chr(8203) || 'x', 'true');

-- What a write would change: a canary table, a sequence; and functions
-- that try to write, as the caller and as a superuser.
CREATE TABLE hostile_canary (v text);
INSERT INTO hostile_canary VALUES ('one'), ('two'), ('three');
CREATE SEQUENCE hostile_seq;
SELECT nextval('hostile_seq') AS seq_start;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON hostile_canary TO regress_hostile;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE hostile_seq TO regress_hostile;
CREATE FUNCTION hostile_write(v text) RETURNS boolean
LANGUAGE sql AS $$ INSERT INTO hostile_canary VALUES (v) RETURNING true $$;
CREATE FUNCTION hostile_write_definer(v text) RETURNS boolean
LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO hostile_canary VALUES (v) RETURNING true $$;
CREATE FUNCTION hostile_ddl() RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN CREATE TABLE hostile_made_by_a_check (); RETURN true; END $$;
GRANT EXECUTE ON FUNCTION hostile_write(text), hostile_write_definer(text), hostile_ddl()
	TO regress_hostile;

-- The building blocks of hostile text.
CREATE FUNCTION hostile_fragments() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $f$
SELECT ARRAY[
	-- blank and invisible
	'', ' ', E'\t', E'\n', E' \r\n\t ', chr(160), chr(12288), chr(8203), chr(65279),
	-- combining marks, precomposed and decomposed forms of the same letter
	'e' || chr(769), chr(233), 'a' || repeat(chr(776), 20), chr(769),
	-- right-to-left text, marks and overrides
	chr(8238) || 'gnp.exe', chr(8207), chr(1513) || chr(1500) || chr(1493) || chr(1501),
	chr(1605) || chr(1585) || chr(1581) || chr(1576) || chr(1575),
	-- emoji, a ZWJ sequence, a flag, a variation selector, outside the BMP
	chr(128512), chr(128104) || chr(8205) || chr(128105) || chr(8205) || chr(128103),
	chr(127467) || chr(127479), chr(10084) || chr(65039), chr(131072),
	-- control characters
	chr(1), chr(7), chr(27) || '[31m', chr(127),
	-- quoting, comments, escapes, printf directives, JSON escapes
	'$$', '$x$', '''', '''''', '"', '""', '--', '/*', '*/', ';', '\', '\\',
	'E''\x41''', 'E''\''', '%s', '%n%n%n', '%%', '{}', '[', '\u0000', 'NULL', 'null',
	-- injection attempts
	''' OR 1=1 --', '''); DROP TABLE hostile_canary; --', '$$; DROP TABLE hostile_canary; $$',
	'true; DELETE FROM hostile_canary', 'x"; DROP TABLE hostile_canary; --',
	-- words that mean something here
	'expand', 'cleanup', 'SELECT', 'phased_change.plan', 'plan', 'p'
]
$f$;

-- One hostile text: 1 to 3 fragments, or (about 1 time in 12) something
-- long or empty.
CREATE FUNCTION hostile_text() RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
	f text[] := hostile_fragments();
	r float8 := random();
	s text := '';
BEGIN
	IF r < 0.02 THEN
		RETURN repeat('x', 10000);
	ELSIF r < 0.04 THEN
		RETURN repeat('$$''"', 2500);
	ELSIF r < 0.06 THEN
		-- 10,000 characters picked at random below U+2EE0 (controls,
		-- combining marks, Hebrew, Arabic, ...): they do not compress
		FOR i IN 1..10000 LOOP
			s := s || chr(1 + floor(random() * 12000)::int);
		END LOOP;
		RETURN s;
	ELSIF r < 0.08 THEN
		RETURN '';
	END IF;
	FOR i IN 1..1 + floor(random() * 3)::int LOOP
		s := s || f[1 + floor(random() * array_length(f, 1))::int];
	END LOOP;
	RETURN s;
END
$f$;

-- One predicate: hostile text alone, inside literals and dollar quotes, in
-- expressions, or trying to write.
CREATE FUNCTION hostile_predicate() RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
	k int := floor(random() * 12)::int;
	writers text[] := ARRAY[
		'nextval(''hostile_seq'') > 0',
		'(SELECT true FROM hostile_canary FOR UPDATE LIMIT 1)',
		'(WITH d AS (DELETE FROM hostile_canary RETURNING 1) SELECT true)',
		'true; DROP TABLE hostile_canary',
		'true) FROM hostile_canary WHERE (true',
		'set_config(''work_mem'', ''1234kB'', false) = ''1234kB''',
		'hostile_ddl()',
		'(SELECT bool_and(hostile_write(v)) FROM hostile_canary)'];
BEGIN
	RETURN CASE k
		WHEN 0 THEN hostile_text()
		WHEN 1 THEN quote_literal(hostile_text()) || ' = ' || quote_literal(hostile_text())
		WHEN 2 THEN 'length(' || quote_literal(hostile_text()) || ') > 0'
		WHEN 3 THEN '$$' || hostile_text() || '$$ IS NOT NULL'
		WHEN 4 THEN 'E''' || hostile_text() || ''' <> '''''
		WHEN 5 THEN hostile_text() || ' IS NOT NULL'
		WHEN 6 THEN '(SELECT count(*) FROM hostile_canary) = 3'
		WHEN 7 THEN 'hostile_write(' || quote_literal(hostile_text()) || ')'
		WHEN 8 THEN 'hostile_write_definer(' || quote_literal(hostile_text()) || ')'
		WHEN 9 THEN writers[1 + floor(random() * array_length(writers, 1))::int]
		WHEN 10 THEN 'format(' || quote_literal(hostile_text()) || ', 1) IS NOT NULL'
		ELSE quote_ident(hostile_text()) || ' IS NULL'
	END;
END
$f$;

-- Tables to retire columns of, owned by the role that runs the test: one
-- with odd column names, one with an odd name of its own.
CREATE TABLE hostile_odd_names (id int);
CREATE TABLE hostile_columns (name name PRIMARY KEY);
INSERT INTO hostile_columns VALUES
	('it''s'), ('a"b'), ('$$'), ('--; DROP TABLE hostile_canary'), (chr(128512)),
	(chr(8238) || 'evil'), ('e' || chr(769)), (chr(233)), (' '), (repeat('x', 63)),
	(repeat(chr(128512), 15)), ('SELECT'), ('Mixed Case'), (E'tab\there'), ('\');
DO $f$
DECLARE
	c name;
BEGIN
	FOR c IN SELECT name FROM hostile_columns ORDER BY name LOOP
		EXECUTE format('ALTER TABLE hostile_odd_names ADD COLUMN %I text', c);
	END LOOP;
	EXECUTE format('CREATE TABLE %I (id int, %I int)',
				   'tbl '' " $$ ' || chr(128512), 'col ' || chr(1513) || chr(1500));
	EXECUTE format('ALTER TABLE %I OWNER TO regress_hostile', 'tbl '' " $$ ' || chr(128512));
END
$f$;
ALTER TABLE hostile_odd_names OWNER TO regress_hostile;
GRANT SELECT ON hostile_columns TO regress_hostile;
SELECT count(*) AS odd_columns FROM pg_attribute
WHERE attrelid = 'hostile_odd_names'::regclass AND attnum > 1 AND NOT attisdropped;

-- Every call and its outcome.
CREATE TABLE hostile_call (
	call_id serial PRIMARY KEY,
	fn text NOT NULL,
	plan text, arg2 text, arg3 text, arg4 text,
	accepted boolean NOT NULL,
	sqlstate text
);
GRANT ALL ON hostile_call, hostile_call_call_id_seq TO regress_hostile;

-- What must not change: the catalog outside phased_change, the canary.
CREATE TABLE hostile_snapshot (classes bigint, attributes bigint, procs bigint, types bigint,
							   namespaces bigint, roles bigint, large_objects bigint,
							   canary text, seq bigint);
INSERT INTO hostile_snapshot
SELECT (SELECT count(*) FROM pg_class) AS classes,
	   (SELECT count(*) FROM pg_attribute WHERE NOT attisdropped) AS attributes,
	   (SELECT count(*) FROM pg_proc) AS procs,
	   (SELECT count(*) FROM pg_type) AS types,
	   (SELECT count(*) FROM pg_namespace) AS namespaces,
	   (SELECT count(*) FROM pg_roles) AS roles,
	   (SELECT count(*) FROM pg_largeobject_metadata) AS large_objects,
	   (SELECT string_agg(v, ',' ORDER BY v) FROM hostile_canary) AS canary,
	   (SELECT last_value FROM hostile_seq) AS seq;

SET ROLE regress_hostile;
SELECT setseed(0.20261127);
SELECT phase_plan_create('hostile-checks', 'the plan that hostile checks are added to', '0');

-- 300 plans, 300 checks, 150 retirements.
DO $f$
DECLARE
	name text; descr text; phase text; check_name text; predicate text;
	rel oid; col text; r float8;
	plans text[];
	odd_table oid := (SELECT c.oid FROM pg_class c
					  WHERE c.relname = 'tbl '' " $$ ' || chr(128512));
	cols text[] := ARRAY(SELECT h.name::text FROM hostile_columns h ORDER BY h.name);
BEGIN
	FOR i IN 1..300 LOOP
		name := hostile_text();
		descr := CASE WHEN random() < 0.2 THEN NULL ELSE hostile_text() END;
		BEGIN
			PERFORM phase_plan_create(name, descr, '0');
			INSERT INTO hostile_call (fn, plan, arg2, accepted)
				VALUES ('phase_plan_create', name, descr, true);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO hostile_call (fn, plan, arg2, accepted, sqlstate)
				VALUES ('phase_plan_create', name, descr, false, SQLSTATE);
		END;
	END LOOP;

	FOR i IN 1..300 LOOP
		r := random();
		phase := CASE WHEN r < 0.75 THEN 'expand'
					  WHEN r < 0.80 THEN 'migrate'
					  WHEN r < 0.85 THEN 'EXPAND'
					  WHEN r < 0.90 THEN 'expand '
					  ELSE hostile_text() END;
		check_name := hostile_text();
		predicate := hostile_predicate();
		BEGIN
			PERFORM phase_check_add('hostile-checks', phase, check_name, predicate);
			INSERT INTO hostile_call (fn, plan, arg2, arg3, arg4, accepted)
				VALUES ('phase_check_add', 'hostile-checks', phase, check_name, predicate, true);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO hostile_call (fn, plan, arg2, arg3, arg4, accepted, sqlstate)
				VALUES ('phase_check_add', 'hostile-checks', phase, check_name, predicate,
						false, SQLSTATE);
		END;
	END LOOP;

	plans := ARRAY(SELECT c.plan FROM hostile_call c
				   WHERE c.fn = 'phase_plan_create' AND c.accepted ORDER BY c.call_id);
	FOR i IN 1..150 LOOP
		r := random();
		name := CASE WHEN r < 0.6 THEN plans[1 + floor(random() * array_length(plans, 1))::int]
					 WHEN r < 0.65 THEN NULL
					 WHEN r < 0.7 THEN ''
					 ELSE hostile_text() END;
		r := random();
		rel := CASE WHEN r < 0.6 THEN 'hostile_odd_names'::regclass::oid
					WHEN r < 0.95 THEN odd_table END;
		r := random();
		col := CASE WHEN rel = odd_table AND r < 0.5 THEN 'col ' || chr(1513) || chr(1500)
					WHEN r < 0.7 THEN cols[1 + floor(random() * array_length(cols, 1))::int]
					WHEN r < 0.9 THEN hostile_text() END;
		BEGIN
			PERFORM phase_retire(name, rel::regclass, col::name);
			INSERT INTO hostile_call (fn, plan, arg2, arg3, accepted)
				VALUES ('phase_retire', name, rel::text, col::name::text, true);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO hostile_call (fn, plan, arg2, arg3, accepted, sqlstate)
				VALUES ('phase_retire', name, rel::text, col::name::text, false, SQLSTATE);
		END;
	END LOOP;
END
$f$;

-- The verification runs every accepted check of phase expand, as the
-- plan's owner; then the guard is asked to drop every retired object.
SELECT phase_verify('hostile-checks') AS all_checks_hold;
DO $f$
DECLARE
	o record;
BEGIN
	FOR o IN SELECT DISTINCT c.arg2::oid AS rel, c.arg3 AS col FROM hostile_call c
			 WHERE c.fn = 'phase_retire' AND c.accepted ORDER BY 1, 2 LOOP
		BEGIN
			IF o.col IS NULL THEN
				EXECUTE format('DROP TABLE %s', o.rel::regclass);
			ELSE
				EXECUTE format('ALTER TABLE %s DROP COLUMN %I', o.rel::regclass, o.col);
			END IF;
			INSERT INTO hostile_call (fn, arg2, arg3, accepted)
				VALUES ('guarded drop', o.rel::text, o.col, true);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO hostile_call (fn, arg2, arg3, accepted, sqlstate)
				VALUES ('guarded drop', o.rel::text, o.col, false, SQLSTATE);
		END;
	END LOOP;
END
$f$;
RESET ROLE;

-- What was tried, and how it ended.
SELECT fn, count(*) AS calls, count(*) FILTER (WHERE accepted) AS accepted,
	   count(*) FILTER (WHERE NOT accepted) AS refused
FROM hostile_call GROUP BY fn ORDER BY fn;
SELECT fn, sqlstate, count(*) FROM hostile_call WHERE NOT accepted
GROUP BY fn, sqlstate ORDER BY fn, sqlstate;
-- 22004 null argument, 22023 empty or malformed argument (unknown phase, a
-- predicate that is not one expression), 42601 a predicate that does not
-- parse, 42704 no such plan, 42703 no such column, 42710 already exists or
-- already guarded, 42622 a name longer than 1000 bytes, 55000 the guard's
-- refusal.
SELECT bool_and(sqlstate IN ('22004', '22023', '42601', '42704', '42703', '42710', '42622'))
		   FILTER (WHERE fn <> 'guarded drop') AS function_refusals_expected,
	   bool_and(sqlstate = '55000') FILTER (WHERE fn = 'guarded drop') AS drops_refused_by_guard
FROM hostile_call WHERE NOT accepted;

-- Every accepted plan name, description, check name, predicate and column
-- round-trips exactly, in the catalog and in the history; refused calls
-- left no trace.
SELECT phased_change.recorder_wait();
SELECT count(*) AS plans_accepted,
	   count(*) FILTER (WHERE c.plan ~ '^\s*$') AS blank_names_accepted,
	   count(*) FILTER (WHERE length(c.plan) >= 10000) AS long_names_accepted,
	   bool_and(EXISTS (SELECT FROM phased_change.plan p
						WHERE p.name = c.plan
						  AND convert_to(p.name, 'UTF8') = convert_to(c.plan, 'UTF8')
						  AND p.description IS NOT DISTINCT FROM c.arg2))
		   AS plans_round_trip,
	   bool_and(EXISTS (SELECT FROM phased_change.history h
						WHERE h.event = 'created' AND h.plan = c.plan
						  AND h.detail ->> 'description' IS NOT DISTINCT FROM c.arg2))
		   AS history_round_trips
FROM hostile_call c WHERE c.fn = 'phase_plan_create' AND c.accepted;
SELECT count(*) AS checks_accepted,
	   bool_and(EXISTS (SELECT FROM phased_change.plan_check k
						JOIN phased_change.phase ph ON ph.phase = k.phase
						WHERE ph.name = c.arg2 AND k.name = c.arg3 AND k.predicate = c.arg4))
		   AS checks_round_trip,
	   bool_and(EXISTS (SELECT FROM phased_change.history h
						WHERE h.event = 'check_added' AND h.plan = 'hostile-checks'
						  AND h.detail ->> 'phase' = c.arg2
						  AND h.detail ->> 'check' = c.arg3
						  AND h.detail ->> 'predicate' = c.arg4))
		   AS history_round_trips
FROM hostile_call c WHERE c.fn = 'phase_check_add' AND c.accepted;
SELECT count(*) AS retirements_accepted,
	   bool_and(EXISTS (SELECT FROM phased_change.object o
						JOIN phased_change.plan p ON p.plan_id = o.plan_id
						WHERE p.name = c.plan AND o.rel = c.arg2::oid::regclass
						  AND o.col IS NOT DISTINCT FROM c.arg3::name))
		   AS objects_round_trip
FROM hostile_call c WHERE c.fn = 'phase_retire' AND c.accepted;
SELECT (SELECT count(*) FROM phased_change.history WHERE event = 'created')
		   = 1 + (SELECT count(*) FROM hostile_call WHERE fn = 'phase_plan_create' AND accepted)
		   AS one_created_event_per_plan,
	   (SELECT count(*) FROM phased_change.history WHERE event = 'check_added')
		   = (SELECT count(*) FROM hostile_call WHERE fn = 'phase_check_add' AND accepted)
		   AS one_event_per_check,
	   (SELECT count(*) FROM phased_change.history WHERE event = 'retired')
		   = (SELECT count(*) FROM hostile_call WHERE fn = 'phase_retire' AND accepted)
		   AS one_event_per_retirement,
	   (SELECT count(*) FROM phased_change.blocked_ddl)
		   = (SELECT count(*) FROM hostile_call WHERE fn = 'guarded drop' AND NOT accepted)
		   AS one_record_per_refused_drop,
	   (SELECT count(*) FROM phased_change.progress)
		   = (SELECT count(*) FROM phased_change.plan) AS progress_has_every_plan,
	   (SELECT bool_and(next_step IS NOT NULL) FROM phased_change.progress) AS every_next_step;

-- The verification: every accepted check of expand held, failed or raised
-- an error, and it is recorded once with its outcome ...
SELECT CASE WHEN r.ok THEN 'held'
			ELSE regexp_replace(r.error, '^(it (returned false|returned NULL|returned type|did not return one row|raised an error)).*$', '\1')
	   END AS outcome,
	   count(*)
FROM phased_change.history h,
	 jsonb_to_recordset(h.detail -> 'checks') AS r(name text, ok boolean, error text)
WHERE h.event IN ('verified', 'verify_failed') AND h.plan = 'hostile-checks'
GROUP BY 1 ORDER BY 1;
SELECT (SELECT count(*) FROM phased_change.plan_check k
		JOIN phased_change.plan p USING (plan_id)
		WHERE p.name = 'hostile-checks' AND k.phase = 1)
	   = (SELECT jsonb_array_length(h.detail -> 'checks') FROM phased_change.history h
		  WHERE h.event IN ('verified', 'verify_failed') AND h.plan = 'hostile-checks')
	   AS every_check_ran;
-- ... and the checks that try to write raise an error (read-only), but
-- set_config() of a session setting, which a read-only transaction allows:
-- it holds, and the setting goes with the check's subtransaction (the
-- caller's work_mem is unchanged below).
SELECT w.kind, count(*) AS checks,
	   count(*) FILTER (WHERE NOT r.ok AND r.error LIKE 'it raised an error: %') AS raised,
	   count(*) FILTER (WHERE r.ok) AS held
FROM phased_change.history h,
	 jsonb_to_recordset(h.detail -> 'checks') AS r(name text, ok boolean, error text)
JOIN phased_change.plan_check k ON k.name = r.name AND k.phase = 1
CROSS JOIN LATERAL (
	SELECT CASE
		WHEN k.predicate LIKE 'hostile_write(%' THEN 'INSERT as the owner'
		WHEN k.predicate LIKE 'hostile_write_definer(%' THEN 'INSERT as a superuser (SECURITY DEFINER)'
		WHEN k.predicate LIKE '(SELECT bool_and(hostile_write(v))%' THEN 'INSERT for every row read'
		WHEN k.predicate LIKE '(WITH d AS (DELETE%' THEN 'DELETE in a WITH subquery'
		WHEN k.predicate LIKE '(SELECT true FROM hostile_canary FOR UPDATE%' THEN 'SELECT FOR UPDATE'
		WHEN k.predicate LIKE 'nextval(%' THEN 'nextval()'
		WHEN k.predicate LIKE 'hostile_ddl()%' THEN 'CREATE TABLE'
		WHEN k.predicate LIKE 'set_config(%' THEN 'set_config() of the session'
	END AS kind) w
WHERE h.event IN ('verified', 'verify_failed') AND h.plan = 'hostile-checks'
  AND w.kind IS NOT NULL
GROUP BY w.kind ORDER BY w.kind;

-- A check that creates a large object: PostgreSQL 15 allows that in
-- a read-only transaction, 17 and 18 refuse it; either way the object
-- goes with the check's subtransaction (the count is unchanged below).
SELECT phase_plan_create('hostile-large-object');
SELECT phase_check_add('hostile-large-object', 'expand', 'makes a large object', 'lo_create(0) > 0');
SELECT phase_verify('hostile-large-object') IS NOT NULL AS verified;
SELECT phase_abandon('hostile-large-object', 'done');

-- Nothing outside phased_change changed: the catalog counts, the canary,
-- the sequence, the retired columns, the caller's session settings.
SELECT s.classes = (SELECT count(*) FROM pg_class) AS classes_unchanged,
	   s.attributes = (SELECT count(*) FROM pg_attribute WHERE NOT attisdropped)
		   AS attributes_unchanged,
	   s.procs = (SELECT count(*) FROM pg_proc) AS procs_unchanged,
	   s.types = (SELECT count(*) FROM pg_type) AS types_unchanged,
	   s.namespaces = (SELECT count(*) FROM pg_namespace) AS namespaces_unchanged,
	   s.roles = (SELECT count(*) FROM pg_roles) AS roles_unchanged,
	   s.large_objects = (SELECT count(*) FROM pg_largeobject_metadata) AS large_objects_unchanged,
	   s.canary = (SELECT string_agg(v, ',' ORDER BY v) FROM hostile_canary) AS canary_unchanged,
	   s.seq = (SELECT last_value FROM hostile_seq) AS sequence_unchanged,
	   (SELECT count(*) FROM pg_attribute
		WHERE attrelid = 'hostile_odd_names'::regclass AND attnum > 1 AND NOT attisdropped)
		   = (SELECT count(*) FROM hostile_columns) AS odd_columns_still_there,
	   to_regclass('hostile_made_by_a_check') IS NULL AS no_table_made_by_a_check,
	   current_setting('work_mem') <> '1234kB' AS session_setting_unchanged
FROM hostile_snapshot s;

\c :regress_db
DROP DATABASE regress_hostile;
DROP ROLE regress_hostile;
