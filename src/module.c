/*-------------------------------------------------------------------------
 *
 * module.c
 *		The phased_change shared library: module magic and registration.
 *
 * _PG_init only registers: the guard's settings and the relcache callback
 * that keeps the guard cache current.  phased_change needs no
 * shared_preload_libraries: the library is loaded when a phase_* function
 * or one of its event triggers first runs, and the history writer
 * (preserve.c) is a dynamic background worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "guard.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	guard_define_settings();
	MarkGUCPrefixReserved("phased_change");
	guard_cache_register();
}
