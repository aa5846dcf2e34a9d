--
-- verification_cost.sql: progress for one plan, a refused phase_advance, a
-- refused DROP and a successful phase_advance read as many buffers after
-- 100,000 successful verifications in the phase as after one: since 1.4
-- the latest verification and the last failed one are read from the plan
-- row, not the history (in 1.3, through an index of the failed ones only;
-- without it the counts were 58 against 12,387 buffers for progress).
-- Buffers are counted by EXPLAIN (ANALYZE, BUFFERS), which includes the
-- statements a function runs; the output shows only whether the ratio
-- stays within 1.10, so it is the same on every run and in both modes.
--
SET phased_change.unplanned_ddl = allow;
CREATE TABLE vc_one (id int, old int);
CREATE TABLE vc_many (id int, old int);
SELECT phase_plan_create('vc-one', NULL, '100 years');
SELECT phase_retire('vc-one', 'vc_one', 'old');
SELECT phase_plan_create('vc-many', NULL, '100 years');
SELECT phase_retire('vc-many', 'vc_many', 'old');
SELECT phase_verify('vc-one'), phase_verify('vc-many');
-- 100,000 more successful verifications of vc-many in expand, as
-- phase_verify records them.
INSERT INTO phased_change.event_log (at, plan_id, event, from_phase, checks_ok, actor, role, detail)
SELECT clock_timestamp(), p.plan_id, 'verified', 1, true, session_user, current_user,
	   '{"source": "phase_verify", "checks": []}'
FROM phased_change.plan p, generate_series(1, 100000)
WHERE p.name = 'vc-many';
ANALYZE phased_change.event_log;
SELECT plan, count(*) AS verifications
FROM phased_change.history WHERE event = 'verified' AND plan LIKE 'vc-%'
GROUP BY plan ORDER BY plan;

-- The shared buffers a statement reads (hits included), nested statements
-- included; a refusal is caught, so that it can be counted.
CREATE FUNCTION vc_buffers(stmt text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) ' || stmt
		INTO plan;
	RETURN (plan -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::bigint
		+ (plan -> 0 -> 'Plan' ->> 'Shared Read Blocks')::bigint;
END
$$;
CREATE FUNCTION vc_refused(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'done';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RETURN 'refused';
END
$$;
-- each statement once for each plan first, so that caches are warm
CREATE TEMP TABLE vc_cost (what text, plan text, buffers bigint);
DO $$
DECLARE
	stmts text[] := ARRAY[
		'SELECT * FROM phased_change.progress WHERE plan = %L',
		'SELECT vc_refused(format(''SELECT phase_advance(%%L)'', %L))',
		'SELECT vc_refused(format(''ALTER TABLE %%I DROP COLUMN old'', replace(%L, ''-'', ''_'')))'];
	names text[] := ARRAY['progress, one plan', 'refused phase_advance', 'refused DROP COLUMN'];
	p text;
BEGIN
	FOR round IN 1..2 LOOP
		FOR i IN 1..3 LOOP
			FOREACH p IN ARRAY ARRAY['vc-one', 'vc-many'] LOOP
				IF round = 2 THEN
					INSERT INTO vc_cost VALUES (names[i], p, vc_buffers(format(stmts[i], p)));
				ELSE
					PERFORM vc_buffers(format(stmts[i], p));
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;
-- the refusals were refusals
SELECT vc_refused('SELECT phase_advance(''vc-many'')') AS advance,
	   vc_refused('ALTER TABLE vc_many DROP COLUMN old') AS drop_column;
-- A successful phase_advance, once for each plan.  Each comes after a
-- change to the plan catalog (a new plan), which makes the guard's and the
-- usage tracker's caches reload alike.
SELECT phase_soak_set('vc-one', 'expand', '0'), phase_soak_set('vc-many', 'expand', '0');
SELECT phase_plan_create('vc-before-one');
INSERT INTO vc_cost SELECT 'phase_advance', 'vc-one', vc_buffers($$SELECT phase_advance('vc-one')$$);
SELECT phase_plan_create('vc-before-many');
INSERT INTO vc_cost SELECT 'phase_advance', 'vc-many', vc_buffers($$SELECT phase_advance('vc-many')$$);
SELECT plan, phase FROM phased_change.progress WHERE plan LIKE 'vc-%' ORDER BY plan;

-- after 100,000 verifications / after one
SELECT what, m.buffers::numeric / o.buffers <= 1.10 AS within_ten_percent
FROM vc_cost o JOIN vc_cost m USING (what)
WHERE o.plan = 'vc-one' AND m.plan = 'vc-many'
ORDER BY what;

SELECT phase_abandon(p, 'test done') FROM unnest(ARRAY['vc-one', 'vc-many', 'vc-before-one', 'vc-before-many']) p;
DROP TABLE vc_one, vc_many, vc_cost;
DROP FUNCTION vc_buffers(text), vc_refused(text);
RESET phased_change.unplanned_ddl;
