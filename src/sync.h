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

/* What the catalog says about one sync, and its plan. */
typedef struct SyncRow
{
	Oid			relid;
	char	   *from_col;
	char	   *to_col;
	char	   *forward;
	char	   *backward;
	char	   *search_path;	/* the caller's, at registration */
	char	   *forward_resolved;	/* what the trigger parses */
	char	   *backward_resolved;
	int64		plan_id;
	char	   *plan_name;
	Phase		phase;
	bool		active;			/* plan active, in migrate or contract */
} SyncRow;

/*
 * The search_path the resolved text of a sync's expressions is printed for
 * and parsed under (sync.c, sync_expression_deparse).
 */
#define SYNC_RESOLVED_SEARCH_PATH "pg_catalog, pg_temp"

/* sync.c */
extern bool sync_running_own_ddl(void);
extern void sync_apply_phase(const PlanRow *plan, Phase phase, const char *status);
extern Expr *sync_expression_compile(Relation rel, const SyncSource *source,
									 const char *expression, AttrNumber target,
									 const char *search_path, char **resolved);

/* sync_trigger.c */
extern void sync_register_callbacks(void);
extern bool sync_catalog_read(int64 sync_id, SyncRow *row);

/* sync_guard.c */
extern void sync_guard_protect(Node *parsetree);

#endif							/* PHASED_CHANGE_SYNC_H */
