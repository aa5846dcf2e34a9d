/*-------------------------------------------------------------------------
 *
 * sync.h
 *		Dual-write syncs (sync.c: registration, installation with the plan's
 *		phases, compiling a sync's expressions; sync_trigger.c: the row
 *		trigger and its per-backend cache).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_SYNC_H
#define PHASED_CHANGE_SYNC_H

#include "nodes/primnodes.h"
#include "utils/relcache.h"

#include "phased_change.h"

/* Where a sync's expression came from, for its error messages. */
typedef struct SyncSource
{
	const char *which;			/* "forward" or "backward" */
	const char *from_col;
	const char *to_col;
} SyncSource;

/* sync.c */
extern void sync_apply_phase(const PlanRow *plan, Phase phase, const char *status);
extern Expr *sync_expression_compile(Relation rel, const SyncSource *source,
									 const char *expression, AttrNumber target,
									 const char *search_path);

/* sync_trigger.c */
extern void sync_register_callbacks(void);

#endif							/* PHASED_CHANGE_SYNC_H */
