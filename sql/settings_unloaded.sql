--
-- settings_unloaded.sql (run without shared_preload_libraries): the
-- settings exist once the library is loaded, by the first phase_* call or
-- guarded DDL of a session.  A value set before that by a role that may not
-- set it is discarded when the library loads.
--
SELECT current_user AS superuser \gset
CREATE ROLE regress_settings_user LOGIN;
\c - regress_settings_user
SET phased_change.unplanned_ddl = allow;
SET phased_change.override = 'sneaky';
CREATE TEMP TABLE loader (a int);
ALTER TABLE loader ADD COLUMN b int;	-- fires the guard, which loads the library
SHOW phased_change.unplanned_ddl;
SHOW phased_change.override;
SHOW phased_change.max_tracked_columns;	-- exists only when preloaded
DROP TABLE loader;
\c - :superuser
DROP ROLE regress_settings_user;
