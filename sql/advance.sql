--
-- advance.sql: phase_advance and phase_rollback through all four phases.
-- An advance is refused, with one error listing every unmet condition,
-- until the phase's checks hold now and it has been verified for its soak;
-- the refused attempt stays in the history although its transaction rolls
-- back; a failed verification restarts the soak; cleanup completes once
-- every retired object is gone, and cannot be rolled back after a drop.
--
CREATE TABLE orders (id int, old_total int, new_total int);
INSERT INTO orders VALUES (1, 10, NULL), (2, 20, NULL);

SELECT phase_plan_create('adv', 'move totals to new_total', '0');
SELECT phase_retire('adv', 'orders', 'old_total');
SELECT phase_introduce('adv', 'orders', 'new_total');
SELECT phase_check_add('adv', 'migrate', 'backfilled',
	'NOT EXISTS (SELECT 1 FROM orders WHERE new_total IS DISTINCT FROM old_total)');
SELECT phase_check_add('adv', 'migrate', 'no nulls',
	'NOT EXISTS (SELECT 1 FROM orders WHERE new_total IS NULL)');

SELECT phase_advance('adv');

-- In migrate the checks fail: refused, and the attempt is recorded.
SELECT phase_advance('adv');
SELECT phased_change.recorder_wait();
SELECT event, from_phase, checks_ok, detail -> 'blockers' AS blockers
FROM phased_change.history WHERE plan = 'adv' AND event IN ('verify_failed', 'advance_refused')
ORDER BY event_id;
SELECT phase, ready, checks_passed, checks_total, next_step
FROM phased_change.progress WHERE plan = 'adv';

-- With a soak, the failed verification restarts the clock: every unmet
-- condition is listed in one error.
SELECT phase_soak_set('adv', 'migrate', '1 hour');
SELECT try($$SELECT phase_advance('adv')$$);
SELECT soak_remaining > '59 minutes' AS soak_restarted
FROM phased_change.progress WHERE plan = 'adv';
SELECT phase_soak_set('adv', 'migrate', '0');

-- The backfill makes the checks hold.
UPDATE orders SET new_total = old_total;
SELECT ready, blockers FROM phased_change.progress WHERE plan = 'adv';
SELECT phase_verify('adv');
SELECT ready, checks_passed, checks_total, blockers, next_step
FROM phased_change.progress WHERE plan = 'adv';
SELECT phase_advance('adv');
SELECT phase_advance('adv');

-- In cleanup the plan completes only once the retired column is gone.
SELECT next_step FROM phased_change.progress WHERE plan = 'adv';
SELECT plan, object, role, may_drop FROM phased_change.guarded_objects
WHERE plan = 'adv' ORDER BY object;
SELECT phase_advance('adv');
-- Until the drop, cleanup can be rolled back.
SELECT phase_rollback('adv', 'found a late reader');
SELECT phase_advance('adv');
ALTER TABLE orders DROP COLUMN old_total;
SELECT phase_rollback('adv');
SELECT phase_advance('adv');
SELECT status, phase, ready, blockers, next_step FROM phased_change.progress WHERE plan = 'adv';
SELECT object, role, exists, may_drop FROM phased_change.guarded_objects
WHERE plan = 'adv' ORDER BY object;
SELECT phase_advance('adv');

-- The audit trail: who moved the plan, from where to where, how long it
-- stayed, which checks held.
SELECT phased_change.recorder_wait();
SELECT event, from_phase, to_phase, time_in_phase IS NOT NULL AS timed,
	   actor = session_user AS actor_ok, detail -> 'checks' AS checks
FROM phased_change.history
WHERE plan = 'adv' AND event IN ('advanced', 'rolled_back', 'completed')
ORDER BY event_id;

-- A retired table: once dropped in cleanup, the plan completes and forgets
-- the table's OID, keeping its name.
CREATE TABLE old_lookup (id int);
SELECT phase_plan_create('drop-table', NULL, '0');
SELECT phase_retire('drop-table', 'old_lookup');
SELECT phase_advance('drop-table');
SELECT phase_advance('drop-table');
SELECT phase_advance('drop-table');
DROP TABLE old_lookup;
SELECT phase_advance('drop-table');
SELECT o.rel, o.identity FROM phased_change.object o
JOIN phased_change.plan p USING (plan_id) WHERE p.name = 'drop-table';

-- An introduced object that goes missing blocks the plan.
CREATE TABLE widgets (id int, colour text);
SELECT phase_plan_create('widgets', NULL, '0');
SELECT phase_introduce('widgets', 'widgets', 'colour');
ALTER TABLE widgets DROP COLUMN colour;
SELECT phase_advance('widgets');
SELECT ready, blockers, next_step FROM phased_change.progress WHERE plan = 'widgets';
ALTER TABLE widgets ADD COLUMN colour text;
SELECT phase_advance('widgets');

-- A check added to the current phase is unverified until the next
-- verification.
SELECT phase_check_add('widgets', 'migrate', 'has widgets', 'true');
SELECT ready, checks_passed, checks_total, blockers, next_step
FROM phased_change.progress WHERE plan = 'widgets';
SELECT phase_verify('widgets');
SELECT ready, checks_passed, checks_total FROM phased_change.progress WHERE plan = 'widgets';
