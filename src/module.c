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
 * preloaded, a launcher at server start also drains what a crash left in
 * the recorder's spool.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "guard.h"
#include "refusal_recorder.h"
#include "usage.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	guard_define_settings();
	usage_define_settings();
	MarkGUCPrefixReserved("phased_change");
	guard_cache_register();
	guard_register_xact_callbacks();
	if (process_shared_preload_libraries_in_progress)
	{
		guard_install_hooks();
		usage_install_hooks();
		recorder_register_launcher();
	}
}
