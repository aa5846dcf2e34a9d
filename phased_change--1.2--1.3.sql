/* phased_change--1.2--1.3.sql
 *
 * Upgrade from 1.2 (issue 10, hardening): see the sections below.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION phased_change UPDATE TO '1.3'" to load this file. \quit

/*
 * Issue 10, the refusal recorder: refusals are spooled in the data directory
 * and recorded by at most one worker per database.  recorder_status() and
 * the recorder view say what waits and what could not be recorded;
 * recorder_wait() waits, bounded, until this database's spool is empty.
 */
CREATE FUNCTION phased_change.recorder_status(
	OUT pending pg_catalog.int8,
	OUT unrecorded pg_catalog.int8,
	OUT last_error pg_catalog.text)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'recorder_status';

CREATE FUNCTION phased_change.recorder_wait(
	timeout pg_catalog.interval DEFAULT '30 seconds')
RETURNS pg_catalog.bool
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'recorder_wait';

REVOKE ALL ON FUNCTION phased_change.recorder_status(),
	phased_change.recorder_wait(pg_catalog.interval) FROM PUBLIC;

CREATE VIEW phased_change.recorder AS
SELECT s.pending, s.unrecorded, s.last_error
FROM phased_change.recorder_status() s;

REVOKE ALL ON phased_change.recorder FROM PUBLIC;

COMMENT ON FUNCTION phased_change.recorder_status()
	IS 'Refusals of this database waiting to be recorded, those that could not be, and the latest recording problem';
COMMENT ON FUNCTION phased_change.recorder_wait(pg_catalog.interval)
	IS 'Wait, at most the timeout, until every refusal of this database is recorded; false if some still wait';
COMMENT ON VIEW phased_change.recorder IS 'Whether every refusal has been recorded: pending, unrecorded, last error';
