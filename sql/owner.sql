--
-- owner.sql: a plan's owner is kept by name, so that a restore never fails
-- on a role the target lacks.  A plan whose owner role is missing is kept:
-- its checks fail, progress says why, only superusers may change it, and
-- phase_owner_set gives it a new owner (recorded in the history).  The
-- phases are fixed, and re-inserting one of them is a no-op (what the table
-- sync of a logical-replication subscriber does).
--
CREATE ROLE regress_owner_gone;
CREATE ROLE regress_owner_new;
CREATE ROLE regress_owner_outsider;
GRANT EXECUTE ON FUNCTION phase_plan_create(text, text, interval),
	phase_owner_set(text, regrole), phase_verify(text)
	TO regress_owner_gone, regress_owner_new, regress_owner_outsider;

SET ROLE regress_owner_gone;
SELECT phase_plan_create('orphan', 'owner will be dropped', '0');
RESET ROLE;
SELECT phase_check_add('orphan', 'expand', 'always', 'true');
SELECT owner FROM phased_change.plan WHERE name = 'orphan';

-- Dropping the role leaves the plan with a missing owner.
REVOKE EXECUTE ON FUNCTION phase_plan_create(text, text, interval),
	phase_owner_set(text, regrole), phase_verify(text) FROM regress_owner_gone;
DROP ROLE regress_owner_gone;
SELECT plan, owner, ready, blockers FROM phased_change.progress WHERE plan = 'orphan';
SELECT phase_verify('orphan');
SELECT detail -> 'checks' AS checks FROM phased_change.history
WHERE plan = 'orphan' AND event = 'verify_failed';

-- Nobody but a superuser may change it now, nor give it away.
SET ROLE regress_owner_new;
SELECT phase_verify('orphan');
SELECT phase_owner_set('orphan', 'regress_owner_new');
RESET ROLE;

-- A role may only give a plan to a role whose rights it has.
SET ROLE regress_owner_outsider;
SELECT phase_owner_set('orphan', 'regress_owner_new');
RESET ROLE;
SELECT phase_owner_set('orphan', NULL);
SELECT phase_owner_set('no such plan', 'regress_owner_new');

-- A superuser reassigns it; the new owner runs it and the history says so.
SELECT phase_owner_set('orphan', 'regress_owner_new');
SELECT plan, owner, ready, blockers FROM phased_change.progress WHERE plan = 'orphan';
SET ROLE regress_owner_new;
SELECT phase_verify('orphan');
RESET ROLE;
SELECT event, role, detail FROM phased_change.history
WHERE plan = 'orphan' AND event = 'owner_set';

-- A plan row arriving with a missing owner (as a restore writes it) warns.
INSERT INTO phased_change.plan (name, owner, soak, created_at, entered_at)
VALUES ('restored', 'regress_no_such_role', '0', now(), now());
SELECT plan, owner, blockers FROM phased_change.progress WHERE plan = 'restored';

-- The phases: re-inserting one is a no-op, any other change is refused.
INSERT INTO phased_change.phase VALUES (2, 'migrate');
INSERT INTO phased_change.phase VALUES (5, 'extra');
UPDATE phased_change.phase SET name = 'grow' WHERE phase = 1;
DELETE FROM phased_change.phase WHERE phase = 4;
SELECT * FROM phased_change.phase ORDER BY phase;

SELECT phase_abandon('orphan', 'end of test');
SELECT phase_abandon('restored', 'end of test');
REVOKE EXECUTE ON FUNCTION phase_plan_create(text, text, interval),
	phase_owner_set(text, regrole), phase_verify(text)
	FROM regress_owner_new, regress_owner_outsider;
DROP ROLE regress_owner_new, regress_owner_outsider;
