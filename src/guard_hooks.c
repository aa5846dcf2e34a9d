/*-------------------------------------------------------------------------
 *
 * guard_hooks.c
 *		The guard when phased_change is in shared_preload_libraries: it runs
 *		from a ProcessUtility_hook and an object_access_hook, so that no
 *		session setting, disabled or dropped event trigger switches it off.
 *
 * The ProcessUtility_hook applies the same guard as the ddl_command_start
 * event trigger (identical refusals), and also protects what event
 * triggers cannot see: ALTER of the extension's own event triggers
 * (guard_self.c).  The object_access_hook (OAT_DROP) is the backstop for
 * drops that cascade into a guarded object, as the sql_drop event trigger
 * is without preloading, and for cascades that would drop the extension
 * itself: it sees the extension's members go before the extension and its
 * catalog.
 * While the hooks are installed the event triggers stand down.  Both hooks
 * are chained to whatever was installed before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"

#include "guard.h"

/* Set when preloaded: the event triggers (guard_events.c) stand down. */
bool		guard_hooks_installed = false;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

/*
 * guard_process_utility
 *		ProcessUtility_hook: the guard, then the previous hook or standard
 *		processing.
 */
static void
guard_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		dropping_extension = false;

	if (guard_statement_may_matter(parsetree) && IsTransactionState() &&
		(guard_catalog_present() || guard_catalog_unreadable()))
	{
		dropping_extension = guard_self_protect(parsetree);
		guard_enforce(guard_statement_targets(parsetree));
	}

	PG_TRY();
	{
		guard_self_dropping = dropping_extension;
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		guard_self_dropping = false;
	}
	PG_END_TRY();
}

/*
 * guard_object_access
 *		object_access_hook: every relation or column about to be dropped,
 *		however the drop reached it.
 */
static void
guard_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId,
					void *arg)
{
	GuardTarget *target;
	ObjectAddress address;

	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access != OAT_DROP || guard_self_dropping || !IsTransactionState())
		return;
	/* PERFORM_DELETION_INTERNAL: ALTER EXTENSION UPDATE, temporary tables */
	if (!(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL))
		guard_self_dropped(classId, objectId);
	if (classId != RelationRelationId || guard_self_dropping ||
		(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL) ||
		!guard_catalog_present() || !guard_dropped_needs_check(objectId, subId))
		return;

	target = palloc0(sizeof(GuardTarget));
	target->relid = objectId;
	target->column = subId > 0 ? get_attname(objectId, subId, true) : NULL;
	target->action = GUARD_DROP;
	target->cascaded = true;
	target->relkind = get_rel_relkind(objectId);
	target->relname = get_rel_name(objectId);
	ObjectAddressSubSet(address, RelationRelationId, objectId, subId);
	target->identity = getObjectIdentity(&address, true);
	guard_enforce(list_make1(target));
}

/*
 * guard_install_hooks
 *		Called from _PG_init when preloading.
 */
void
guard_install_hooks(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = guard_process_utility;
	prev_object_access = object_access_hook;
	object_access_hook = guard_object_access;
	guard_hooks_installed = true;
}
