/* phased_change--1.2--1.3.sql
 *
 * Upgrade from 1.2 (issue 10, hardening): see the sections below.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION phased_change UPDATE TO '1.3'" to load this file. \quit

-- The DDL guard decides from the dependency closure (issue 10, guard): the
-- ddl_command_start event trigger fires for every command, so that a
-- DROP ... CASCADE of any object the extension depends on (DROP LANGUAGE,
-- DROP EXTENSION plpgsql, DROP TYPE, DROP FUNCTION, ...), ALTER EXTENSION
-- ... DROP and CREATE RULE reach it; it returns at once for the others.
DROP EVENT TRIGGER phased_change_guard;
CREATE EVENT TRIGGER phased_change_guard
	ON ddl_command_start
	EXECUTE FUNCTION phased_change.guard_ddl_command_start();
ALTER EVENT TRIGGER phased_change_guard ENABLE ALWAYS;
