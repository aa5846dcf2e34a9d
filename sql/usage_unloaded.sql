--
-- usage_unloaded.sql (run without shared_preload_libraries): there is no
-- usage evidence; the views say so plainly, and nothing is blocked for it.
--
SELECT preloaded, tracking_since, tracked, capacity, uncounted, require_evidence
FROM phased_change.usage_tracking();
SELECT count(*) AS counted FROM phased_change.usage_counts();

CREATE TABLE invoices (id int, legacy_total int, total int);
SELECT phase_plan_create('usage-plan', NULL, '0');
SELECT phase_retire('usage-plan', 'invoices', 'legacy_total');
SELECT legacy_total FROM invoices;
SELECT plan, "table", "column", role, reads, writes, tracking_since, tracking_complete
FROM phased_change.column_usage WHERE plan = 'usage-plan';
SELECT phase_advance('usage-plan');
SELECT phase_advance('usage-plan');
SELECT phase, ready, blockers, warnings, retired_usage
FROM phased_change.progress WHERE plan = 'usage-plan';
SELECT phase_advance('usage-plan');
SELECT phase_abandon('usage-plan', 'end of test');
