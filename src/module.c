/*-------------------------------------------------------------------------
 *
 * module.c
 *		The phased_change shared library: module magic.
 *
 * phased_change needs no shared_preload_libraries: the library is loaded
 * when a phase_* function is first called, and the history writer
 * (preserve.c) is a dynamic background worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
