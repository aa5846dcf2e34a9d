--
-- settings_preloaded.sql (run with shared_preload_libraries): every setting
-- exists from the start of each session, and only superusers may set the
-- guard's settings.
--
SHOW phased_change.unplanned_ddl;
SHOW phased_change.override;
SHOW phased_change.require_usage_evidence;
SHOW phased_change.max_tracked_columns;
SET phased_change.max_tracked_columns = 10;
CREATE ROLE regress_settings_user;
SET ROLE regress_settings_user;
SET phased_change.unplanned_ddl = allow;
SET phased_change.override = 'sneaky';
SET phased_change.require_usage_evidence = off;
RESET ROLE;
DROP ROLE regress_settings_user;
