/*-------------------------------------------------------------------------
 *
 * guard.h
 *		The DDL guard, top-down: the entry points (guard_events.c without
 *		preloading, guard_hooks.c with it), what a statement would destroy
 *		(guard_statement.c), the extension's self-protection (guard_self.c),
 *		the decision, refusal and audit (guard.c), and below them which
 *		plans guard a relation (guard_cache.c) and the settings
 *		(guard_settings.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_GUARD_H
#define PHASED_CHANGE_GUARD_H

#include "phased_change.h"

#include "utils/hsearch.h"

/* What a statement does to a relation or column. */
typedef enum GuardAction
{
	GUARD_DROP,
	GUARD_RENAME,
	GUARD_RETYPE,
	GUARD_SET_SCHEMA,
	GUARD_TO_VIEW
} GuardAction;

/* One relation or column a statement would destroy, rename or retype. */
typedef struct GuardTarget
{
	Oid			relid;
	char	   *column;			/* NULL: the relation itself */
	GuardAction action;
	bool		cascaded;		/* reached through a dependency (sql_drop) */
	bool		gone;			/* already dropped (sql_drop): use the fields below */
	bool		temporary;		/* when gone: a temporary table */
	/* filled in when needed for messages (target_resolve) */
	char		relkind;
	char	   *relname;
	char	   *identity;		/* qualified name of the relation or column */
} GuardTarget;

/* One object on a relation guarded by an active plan (guard_cache.c). */
typedef struct GuardEntry
{
	int64		object_id;
	char	   *column;			/* NULL: the whole relation */
	bool		retired;		/* else introduced */
	int64		plan_id;
	char	   *plan_name;
	Phase		phase;
} GuardEntry;

/* guard_statement.c */
extern List *guard_statement_targets(Node *parsetree);
extern bool guard_statement_may_matter(Node *parsetree);

/* guard_cache.c */
extern HTAB *relid_cache_create(MemoryContext *context, const char *name, Size entrysize);
extern List *guard_cache_lookup(Oid relid);
extern bool guard_catalog_present(void);
extern bool guard_catalog_unreadable(void);
extern void guard_catalog_require(void);
extern uint64 guard_cache_generation(void);
extern void guard_cache_register(void);

/* phased_change.unplanned_ddl */
typedef enum UnplannedDdl
{
	UNPLANNED_ALLOW,
	UNPLANNED_WARN,
	UNPLANNED_BLOCK
} UnplannedDdl;

/* guard_settings.c */
extern PGDLLIMPORT int guard_unplanned_ddl;
extern void guard_define_settings(void);
extern const char *guard_override_reason(void);

/* guard.c: the decision, refusal and audit */
extern void guard_enforce(List *targets);
extern bool guard_dropped_needs_check(Oid relid, int subId);
extern void guard_register_xact_callbacks(void);
extern void guard_audit(const char *event, int64 plan_id, Phase phase,
						const char *identity, const char *action, bool cascaded,
						const char *reason);

/* guard_events.c: the event triggers (SQL-callable only) */

/* guard_hooks.c */
extern PGDLLIMPORT bool guard_hooks_installed;
extern void guard_install_hooks(void);

/* guard_self.c */
extern PGDLLIMPORT bool guard_self_dropping;
extern bool guard_self_protect(Node *parsetree);
extern void guard_self_dropped(Oid classId, Oid objectId);

#endif							/* PHASED_CHANGE_GUARD_H */
