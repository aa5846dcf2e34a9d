/*-------------------------------------------------------------------------
 *
 * module.c
 *		The phased_change shared library: module magic and registration.
 *
 * _PG_init only registers: the settings, the relcache callback that keeps
 * the guard cache current and, when the library is in
 * shared_preload_libraries, the hooks of the preloaded mode (the guard's
 * ProcessUtility and object access hooks, usage tracking's shared memory
 * and ExecutorCheckPerms hook).  Without preloading, the library is loaded
 * when a phase_* function or one of its event triggers first runs, and the
 * refusal recorder (refusal_recorder.c) is a dynamic background worker;
 * preloaded, the scheduler (scheduler.c) is the one static worker: at
 * server start it drains what a crash left in the recorder's spool, then
 * verifies every plan every phased_change.verify_interval.
 *
 * Loaded late, the library finds its settings as placeholders.  PostgreSQL
 * then applies each placeholder's value again, and discards one that a
 * non-superuser set (a connection option such as
 * options='-c phased_change.unplanned_ddl=allow'): the setting would fall
 * back to its built-in default, below what ALTER DATABASE or ALTER ROLE
 * ... SET chose.  The settings of the database and role are then applied
 * again, as at connection start; outside a transaction, where they cannot
 * be read, unplanned_ddl fails closed to block.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "backfill.h"
#include "guard.h"
#include "phased_change.h"
#include "refusal_recorder.h"
#include "sync.h"
#include "scheduler.h"
#include "usage.h"
#include "usage_sources.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* The superuser-only settings a non-superuser could try to set early. */
static const char *const module_guarded_settings[] = {
	"phased_change.unplanned_ddl",
	"phased_change.require_usage_evidence",
	"phased_change.untracked_applications",
	"phased_change.usage_source_timeout",
	"phased_change.override"
};

#define MODULE_GUARDED_SETTINGS lengthof(module_guarded_settings)

/*
 * module_settings_reapply
 *		Apply the database's and role's settings again, in the order and with
 *		the sources of connection start (process_settings in postinit.c).  A
 *		setting changed later in the session has a higher source and stays.
 */
static void
module_settings_reapply(void)
{
	Relation	relsetting;
	Snapshot	snapshot;
	Oid			roleid = GetSessionUserId();

	if (!IsTransactionState() || !OidIsValid(MyDatabaseId))
	{
		SetConfigOption("phased_change.unplanned_ddl", "block", PGC_SUSET,
						PGC_S_DATABASE_USER);
		return;
	}
	relsetting = table_open(DbRoleSettingRelationId, AccessShareLock);
	snapshot = RegisterSnapshot(GetCatalogSnapshot(DbRoleSettingRelationId));
	ApplySetting(snapshot, MyDatabaseId, roleid, relsetting, PGC_S_DATABASE_USER);
	ApplySetting(snapshot, InvalidOid, roleid, relsetting, PGC_S_USER);
	ApplySetting(snapshot, MyDatabaseId, InvalidOid, relsetting, PGC_S_DATABASE);
	ApplySetting(snapshot, InvalidOid, InvalidOid, relsetting, PGC_S_GLOBAL);
	UnregisterSnapshot(snapshot);
	table_close(relsetting, AccessShareLock);
}

void
_PG_init(void)
{
	char	   *placeholders[MODULE_GUARDED_SETTINGS];
	bool		discarded = false;

	for (int i = 0; i < MODULE_GUARDED_SETTINGS; i++)
	{
		const char *value = GetConfigOption(module_guarded_settings[i], true, false);

		placeholders[i] = value ? pstrdup(value) : NULL;
	}
	guard_define_settings();
	usage_define_settings();
	usage_sources_define_settings();
	scheduler_define_settings();
	for (int i = 0; i < MODULE_GUARDED_SETTINGS; i++)
	{
		const char *value = GetConfigOption(module_guarded_settings[i], true, false);

		if (placeholders[i] != NULL && value != NULL &&
			pg_strcasecmp(placeholders[i], value) != 0)
			discarded = true;
	}
	if (discarded)
		module_settings_reapply();
	MarkGUCPrefixReserved("phased_change");
	guard_cache_register();
	catalog_register_callbacks();
	sync_register_callbacks();
	guard_register_xact_callbacks();
	backfill_register_callbacks();
	history_register_xact_callbacks();
	if (process_shared_preload_libraries_in_progress)
	{
		guard_install_hooks();
		usage_install_hooks();
		scheduler_register();
	}
}
