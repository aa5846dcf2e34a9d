/* phased_change--1.0--1.1.sql
 *
 * Upgrade from 1.0: comments on every function, view and catalog table.
 * Nothing else changes; plans, checks and history are untouched.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION phased_change UPDATE TO '1.1'" to load this file. \quit

COMMENT ON FUNCTION @extschema@.phase_plan_create(pg_catalog.text, pg_catalog.text, pg_catalog.interval)
	IS 'Create a change plan in phase expand, owned by the current role';
COMMENT ON FUNCTION @extschema@.phase_retire(pg_catalog.text, pg_catalog.regclass, pg_catalog.name)
	IS 'Register the column or relation that the plan removes in cleanup';
COMMENT ON FUNCTION @extschema@.phase_introduce(pg_catalog.text, pg_catalog.regclass, pg_catalog.name)
	IS 'Register the column or relation that the plan adds in expand';
COMMENT ON FUNCTION @extschema@.phase_check_add(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text)
	IS 'Add a boolean SQL check that must hold to leave a phase';
COMMENT ON FUNCTION @extschema@.phase_soak_set(pg_catalog.text, pg_catalog.text, pg_catalog.interval)
	IS 'Set the soak of one phase, overriding the plan''s';
COMMENT ON FUNCTION @extschema@.phase_advance(pg_catalog.text)
	IS 'Move the plan to its next phase once its checks hold and its soak has passed';
COMMENT ON FUNCTION @extschema@.phase_rollback(pg_catalog.text, pg_catalog.text)
	IS 'Move the plan one phase back';
COMMENT ON FUNCTION @extschema@.phase_verify(pg_catalog.text)
	IS 'Run the current phase''s checks and record the outcome';
COMMENT ON FUNCTION @extschema@.phase_abandon(pg_catalog.text, pg_catalog.text)
	IS 'End the plan; its objects are no longer guarded';
COMMENT ON FUNCTION phased_change.usage_tracking()
	IS 'State of column usage tracking (shared_preload_libraries only)';
COMMENT ON FUNCTION phased_change.usage_counts()
	IS 'Reads and writes of this database''s guarded objects';
COMMENT ON VIEW phased_change.progress IS 'Where every change plan stands, what blocks it, and what to do next';
COMMENT ON VIEW phased_change.history IS 'Append-only audit trail of every change plan';
COMMENT ON VIEW phased_change.guarded_objects IS 'Objects retired or introduced by change plans, and whether they may be dropped now';
COMMENT ON VIEW phased_change.blocked_ddl IS 'Every statement the DDL guard refused, and who sent it';
COMMENT ON VIEW phased_change.column_usage IS 'Reads and writes of guarded objects since usage tracking began';
COMMENT ON TABLE phased_change.plan IS 'Change plans (changed only through the phase_* functions)';
COMMENT ON TABLE phased_change.object IS 'Objects retired or introduced by change plans, kept by name';
COMMENT ON TABLE phased_change.plan_check IS 'Verification checks of change plans';
COMMENT ON TABLE phased_change.phase_soak IS 'Per-phase soak overrides of change plans';
COMMENT ON TABLE phased_change.event_log IS 'Append-only event log behind phased_change.history';
COMMENT ON TABLE phased_change.phase IS 'The four phases';
