--
-- settings_unloaded.sql (run without shared_preload_libraries): the
-- settings exist once the library is loaded, by the first phase_* call or
-- guarded DDL of a session.  A value set before that by a role that may not
-- set it is discarded when the library loads.  Then the settings of the
-- database and role hold: a non-superuser connecting with
-- options='-c phased_change.unplanned_ddl=allow' under a role set to block
-- gets block, not the built-in default.
--
SELECT current_user AS superuser \gset
CREATE ROLE regress_settings_user LOGIN;
\c - regress_settings_user
SET phased_change.unplanned_ddl = allow;
SET phased_change.override = 'sneaky';
CREATE TEMP TABLE loader (a int);	-- fires the guard, which loads the library
ALTER TABLE loader ADD COLUMN b int;
SHOW phased_change.unplanned_ddl;
SHOW phased_change.override;
SHOW phased_change.max_tracked_columns;	-- exists only when preloaded
DROP TABLE loader;
\c - :superuser
ALTER ROLE regress_settings_user SET phased_change.unplanned_ddl = block;
SELECT pg_catalog.format('dbname=%s user=regress_settings_user options=-cphased_change.unplanned_ddl=allow',
	current_database()) AS conninfo \gset
\c :conninfo
SELECT current_user;
CREATE TEMP TABLE loader (a int);	-- loads the library
SHOW phased_change.unplanned_ddl;
DROP TABLE loader;
\c - :superuser
ALTER ROLE regress_settings_user RESET phased_change.unplanned_ddl;
DROP ROLE regress_settings_user;
