--
-- checks.sql: verification checks.  A predicate is one boolean expression;
-- it runs as the plan's owner (never the caller), read-only, with the
-- search_path in force when it was added, and a failing or erroring check
-- makes phase_verify return false with the reason recorded, never raise.
--
CREATE ROLE regress_checks_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO regress_checks_owner;
CREATE SCHEMA checks_schema;
CREATE TABLE checks_schema.inventory (id int, qty int);
INSERT INTO checks_schema.inventory VALUES (1, 10), (2, 0);
GRANT USAGE ON SCHEMA checks_schema TO regress_checks_owner;
GRANT SELECT, INSERT ON checks_schema.inventory TO regress_checks_owner;
CREATE FUNCTION checks_schema.sneaky_insert() RETURNS boolean
LANGUAGE sql VOLATILE AS $$ INSERT INTO checks_schema.inventory VALUES (99, 99) RETURNING true $$;
GRANT EXECUTE ON FUNCTION checks_schema.sneaky_insert() TO regress_checks_owner;

SET ROLE regress_checks_owner;
SET search_path = checks_schema, public;
SELECT phase_plan_create('checks-plan', NULL, '0');

-- Well-formed predicates; names resolve through the search_path of now.
SELECT phase_check_add('checks-plan', 'expand', 'stock exists', $$EXISTS (SELECT 1 FROM inventory)$$);
SELECT phase_check_add('checks-plan', 'expand', 'runs as owner', $$current_user = 'regress_checks_owner'$$);
SELECT phase_check_add('checks-plan', 'migrate', 'no empty stock', $$NOT EXISTS (SELECT 1 FROM inventory WHERE qty = 0)$$);

-- Bad predicates and arguments: refused, nothing recorded.
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT count(*) AS events_before FROM phased_change.history \gset
SET ROLE regress_checks_owner;
SELECT phase_check_add('checks-plan', 'expand', 'broken', 'EXISTS (SELECT 1 FROM');
SELECT phase_check_add('checks-plan', 'expand', 'two statements', 'true; DROP TABLE inventory');
SELECT phase_check_add('checks-plan', 'expand', 'smuggled from', 'count(*) > 0 FROM inventory');
SELECT phase_check_add('checks-plan', 'expand', 'smuggled where', 'true WHERE false');
SELECT phase_check_add('checks-plan', 'expand', 'smuggled union', 'true UNION SELECT false');
SELECT phase_check_add('checks-plan', 'expand', 'two values', 'true, false');
SELECT phase_check_add('checks-plan', 'expand', 'blank', '   ');
SELECT phase_check_add('checks-plan', 'expand', 'empty', '');
SELECT phase_check_add('checks-plan', 'expand', 'null', NULL);
SELECT phase_check_add('checks-plan', 'expand', '', 'true');
SELECT phase_check_add('checks-plan', 'soak', 'wrong phase', 'true');
SELECT phase_check_add('checks-plan', 'expand', 'stock exists', 'true');
SELECT phase_check_add('no-such-plan', 'expand', 'x', 'true');
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT count(*) = :events_before AS nothing_recorded FROM phased_change.history;
SET ROLE regress_checks_owner;

-- Checks that do not hold, each for its own reason.
SELECT phase_check_add('checks-plan', 'expand', 'returns false', 'false');
SELECT phase_check_add('checks-plan', 'expand', 'returns null', 'NULL::boolean');
SELECT phase_check_add('checks-plan', 'expand', 'not boolean', '42');
SELECT phase_check_add('checks-plan', 'expand', 'raises', '1 / 0 = 1');
SELECT phase_check_add('checks-plan', 'expand', 'writes', 'sneaky_insert()');
SELECT phase_check_add('checks-plan', 'expand', 'reads a server file',
	$$length(pg_read_file('postgresql.conf')) > 0$$);
SELECT phase_check_add('checks-plan', 'expand', 'changes role',
	$$set_config('role', 'none', true) IS NOT NULL$$);
RESET ROLE;

-- A superuser runs the verification from another search_path: the checks
-- still run as the owner, with the owner's search_path, and cannot write.
SET search_path = public;
SELECT phase_verify('checks-plan');
SELECT phased_change.recorder_wait();
SELECT r.name, r.ok, r.error
FROM phased_change.history h,
	 jsonb_to_recordset(h.detail -> 'checks') AS r(name text, ok boolean, error text)
WHERE h.plan = 'checks-plan' AND h.event = 'verify_failed'
ORDER BY r.name;
SELECT count(*) AS rows_after_verify FROM checks_schema.inventory;
SELECT checks_passed, checks_total, last_verified_at IS NOT NULL AS verified, blockers
FROM phased_change.progress WHERE plan = 'checks-plan';

-- The predicate is data: quotes and odd names stay inside their string.
SET ROLE regress_checks_owner;
SELECT phase_plan_create($$it's "quoted"; DROP TABLE x; --$$, NULL, '0');
SELECT phase_check_add($$it's "quoted"; DROP TABLE x; --$$, 'expand', $$name with 'quote' and "dq"$$,
	$$'it''s' = 'it''s'$$);
SELECT phase_verify($$it's "quoted"; DROP TABLE x; --$$);
RESET ROLE;
SELECT next_step FROM phased_change.progress WHERE plan = $$it's "quoted"; DROP TABLE x; --$$;
SET ROLE regress_checks_owner;
SELECT phase_advance($$it's "quoted"; DROP TABLE x; --$$);
RESET ROLE;
SELECT phased_change.recorder_wait();
SELECT plan, event, detail ->> 'check' AS check_name FROM phased_change.history
WHERE plan LIKE 'it''s%' ORDER BY event_id;
RESET search_path;

-- A check reads only what it was written for: a temporary table, function
-- or operator of the caller never stands in for what the check names.
-- pg_temp is searched last, a predicate may not name pg_temp, and a check
-- that would read a temporary relation fails.
CREATE TABLE checks_schema.backfill (id int, done boolean);
INSERT INTO checks_schema.backfill VALUES (1, false);
GRANT SELECT ON checks_schema.backfill TO regress_checks_owner;
CREATE FUNCTION checks_schema.backfill_done() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT bool_and(done) FROM checks_schema.backfill $$;
GRANT EXECUTE ON FUNCTION checks_schema.backfill_done() TO regress_checks_owner;
SET ROLE regress_checks_owner;
SET search_path = checks_schema, public;
SELECT phase_plan_create('shadow-plan', NULL, '0');
SELECT phase_check_add('shadow-plan', 'expand', 'table', $$NOT EXISTS (SELECT 1 FROM backfill WHERE NOT done)$$);
SELECT phase_check_add('shadow-plan', 'expand', 'function', $$backfill_done()$$);
SELECT phase_check_add('shadow-plan', 'expand', 'operator', $$NOT EXISTS (SELECT 1 FROM backfill WHERE done = false)$$);
SELECT phase_check_add('shadow-plan', 'expand', 'temporary only', $$NOT EXISTS (SELECT 1 FROM shadow_only)$$);
SELECT phase_check_add('shadow-plan', 'expand', 'names pg_temp', $$NOT EXISTS (SELECT 1 FROM pg_temp.backfill)$$);
SELECT phase_check_add('shadow-plan', 'expand', 'names PG_TEMP_3', $$"PG_TEMP_3".f()$$);
RESET ROLE;
-- The caller (a superuser, whose temporary objects the owner could read)
-- shadows the table, the function and the operator, and makes a table
-- that only exists as a temporary one.
SET search_path = checks_schema, public;
CREATE TEMP TABLE backfill (id int, done boolean);
INSERT INTO backfill VALUES (1, true);
CREATE TEMP TABLE shadow_only (id int);
CREATE FUNCTION pg_temp.backfill_done() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE FUNCTION pg_temp.always_equal(boolean, boolean) RETURNS boolean
LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR pg_temp.= (LEFTARG = boolean, RIGHTARG = boolean, FUNCTION = pg_temp.always_equal);
GRANT SELECT ON backfill, shadow_only TO regress_checks_owner;
SELECT phase_verify('shadow-plan') AS verified;
SELECT r.name, r.ok, r.error
FROM phased_change.history h,
	 jsonb_to_recordset(h.detail -> 'checks') AS r(name text, ok boolean, error text)
WHERE h.plan = 'shadow-plan' AND h.event = 'verify_failed'
ORDER BY r.name;
SELECT phase_advance('shadow-plan');
-- (the refusal is recorded asynchronously: wait, so that the latest event below is the verification)
SELECT phased_change.recorder_wait();
DROP TABLE backfill, shadow_only;
DROP FUNCTION pg_temp.backfill_done();
DROP OPERATOR pg_temp.= (boolean, boolean);
DROP FUNCTION pg_temp.always_equal(boolean, boolean);
-- Once the real table is backfilled, the three checks on it hold.
UPDATE checks_schema.backfill SET done = true;
SELECT phase_verify('shadow-plan') AS verified;
SELECT r.name, r.ok, r.error
FROM phased_change.history h,
	 jsonb_to_recordset(h.detail -> 'checks') AS r(name text, ok boolean, error text)
WHERE h.plan = 'shadow-plan' AND h.event IN ('verified', 'verify_failed')
  AND h.event_id = (SELECT max(event_id) FROM phased_change.history WHERE plan = 'shadow-plan')
ORDER BY r.name;
SELECT phase_abandon('shadow-plan', 'done');
RESET search_path;
