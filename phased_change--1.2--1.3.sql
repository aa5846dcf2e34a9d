/* phased_change--1.2--1.3.sql
 *
 * Upgrade from 1.2 (issue 10, hardening): see the sections below.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION phased_change UPDATE TO '1.3'" to load this file. \quit
