/*-------------------------------------------------------------------------
 *
 * guard_hooks.c
 *		The guard when phased_change is in shared_preload_libraries: it runs
 *		from a ProcessUtility_hook and an object_access_hook, so that no
 *		session setting, disabled or dropped event trigger switches it off.
 *
 * The ProcessUtility_hook applies the same guard as the ddl_command_start
 * event trigger (identical refusals), and also protects what event
 * triggers cannot see: DROP EXTENSION phased_change while a plan is active,
 * and ALTER / DROP of the extension's own event triggers.  The
 * object_access_hook (OAT_DROP) is the backstop for drops that cascade into
 * a guarded object, as the sql_drop event trigger is without preloading.
 * While the hooks are installed the event triggers stand down.  Both hooks
 * are chained to whatever was installed before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "utils/acl.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "guard.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

/* DROP EXTENSION phased_change is under way: the catalog is going. */
static bool guard_dropping_extension = false;

static const char *const guard_event_triggers[] = {"phased_change_guard", "phased_change_guard_drop"};

static bool
is_guard_event_trigger(const char *name)
{
	return strcmp(name, guard_event_triggers[0]) == 0 ||
		strcmp(name, guard_event_triggers[1]) == 0;
}

/*
 * guard_protected_refuse
 *		Refuse (or, with the override, let through with a WARNING) a
 *		statement against the guard itself; both are audited.
 */
static void
guard_protected_refuse(const char *identity, const char *action, const char *what,
					   const char *detail, const char *hint)
{
	const char *reason = guard_override_reason();

	if (reason == NULL)
	{
		guard_audit("ddl_blocked", 0, PHASE_NONE, identity, action, false, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s", what),
				 errdetail_internal("%s", detail),
				 errhint("%s", hint)));
	}
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("overriding the guard to %s", what),
			 errdetail("The setting phased_change.override is \"%s\". The override is recorded in phased_change.history.",
					   reason)));
	guard_audit("override", 0, PHASE_NONE, identity, action, false, reason);
}

/*
 * active_plans_summary
 *		NULL when no plan is active, else a sentence naming them.
 */
static char *
active_plans_summary(void)
{
	CatalogSession session;
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *summary = NULL;

	catalog_begin(&session);
	if (SPI_execute("SELECT pg_catalog.string_agg(pg_catalog.format('\"%s\" (phase \"%s\")', p.name, ph.name),"
					"  ', ' ORDER BY p.plan_id)"
					" FROM phased_change.plan p JOIN phased_change.phase ph ON ph.phase = p.phase"
					" WHERE p.status = 'active'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the active change plans");
	if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
		summary = MemoryContextStrdup(caller_context,
									  psprintf("Active change plans: %s.",
											   SPI_getvalue(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 1)));
	catalog_end(&session);
	return summary;
}

/*
 * guard_refuse_while_active
 *		Refuse a statement that would drop the extension while any plan is
 *		active (the override applies).
 */
static void
guard_refuse_while_active(const char *identity, const char *what, const char *consequence)
{
	char	   *summary = active_plans_summary();

	if (summary == NULL)
		return;
	guard_protected_refuse(identity, "drop",
						   psprintf("%s while change plans are active", what),
						   consequence ? psprintf("%s %s", consequence, summary) : summary,
						   "Complete or abandon the active plans first.");
}

/*
 * protect_drop
 *		DROP EXTENSION phased_change, and DROP SCHEMA ... CASCADE of a schema
 *		the extension lives in.  Returns true for a DROP EXTENSION
 *		phased_change that may go ahead.
 */
static bool
protect_drop(DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		if (stmt->removeType == OBJECT_EXTENSION &&
			strcmp(strVal(lfirst(lc)), PHASED_CHANGE_EXTENSION) == 0)
		{
			if (!pc_extension_ownercheck(get_extension_oid(PHASED_CHANGE_EXTENSION, false),
										 GetUserId()))
				return false;	/* PostgreSQL refuses it, telling nothing */
			guard_refuse_while_active("extension phased_change",
									  "drop extension \"phased_change\"", NULL);
			return true;
		}
		if (stmt->removeType == OBJECT_SCHEMA && stmt->behavior == DROP_CASCADE)
		{
			char	   *schema = strVal(lfirst(lc));
			Oid			nspid = get_namespace_oid(schema, true);

			if (OidIsValid(nspid) && pc_namespace_ownercheck(nspid, GetUserId()) &&
				(nspid == extension_namespace() ||
				 strcmp(schema, PHASED_CHANGE_EXTENSION) == 0))
				guard_refuse_while_active(psprintf("schema %s", schema),
										  psprintf("drop schema \"%s\"", schema),
										  "Dropping it drops extension \"phased_change\".");
		}
		if (stmt->removeType == OBJECT_EVENT_TRIGGER && is_guard_event_trigger(strVal(lfirst(lc))) &&
			pc_event_trigger_ownercheck(get_event_trigger_oid(strVal(lfirst(lc)), false),
										GetUserId()))
			guard_protected_refuse(psprintf("event trigger %s", strVal(lfirst(lc))), "drop",
								   psprintf("drop event trigger \"%s\"", strVal(lfirst(lc))),
								   "The event trigger is part of the phased_change guard.",
								   "Drop the extension instead, once no change plan is active.");
	}
	return false;
}

/*
 * protect_drop_owned
 *		DROP OWNED BY the extension's owner would drop the extension.
 */
static void
protect_drop_owned(DropOwnedStmt *stmt)
{
	Oid			owner = extension_owner();
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		RoleSpec   *role = lfirst(lc);

		if (get_rolespec_oid(role, true) == owner && has_privs_of_role(GetUserId(), owner))
			guard_refuse_while_active(psprintf("role %s", get_rolespec_name(role)),
									  psprintf("drop the objects owned by role \"%s\"",
											   get_rolespec_name(role)),
									  "Its objects include extension \"phased_change\".");
	}
}

/*
 * protect_event_trigger
 *		ALTER or RENAME of the guard's event triggers (seen only by the
 *		ProcessUtility hook: event triggers do not fire for them).
 */
static void
protect_event_trigger(const char *name, const char *verb)
{
	if (is_guard_event_trigger(name) &&
		pc_event_trigger_ownercheck(get_event_trigger_oid(name, false), GetUserId()))
		guard_protected_refuse(psprintf("event trigger %s", name), verb,
							   psprintf("%s event trigger \"%s\"", verb, name),
							   "The event trigger is part of the phased_change guard.",
							   "Drop the extension instead, once no change plan is active.");
}

/*
 * guard_protect_extension
 *		Statements that would take the guard apart, sent by a role that may
 *		run them (others get PostgreSQL's own error): DROP EXTENSION
 *		phased_change, DROP SCHEMA ... CASCADE or DROP OWNED that would drop
 *		it, while a plan is active; ALTER, RENAME or DROP of its event
 *		triggers.  Returns true for a DROP EXTENSION phased_change that may
 *		go ahead.  Called by the ProcessUtility hook and, without
 *		preloading, by the ddl_command_start event trigger.
 */
bool
guard_protect_extension(Node *parsetree)
{
	if (creating_extension)
		return false;			/* the extension's own scripts */
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			return protect_drop((DropStmt *) parsetree);
		case T_DropOwnedStmt:
			protect_drop_owned((DropOwnedStmt *) parsetree);
			return false;
		case T_AlterEventTrigStmt:
			protect_event_trigger(((AlterEventTrigStmt *) parsetree)->trigname, "alter");
			return false;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_EVENT_TRIGGER)
				protect_event_trigger(strVal(((RenameStmt *) parsetree)->object), "rename");
			return false;
		default:
			return false;
	}
}

/*
 * guard_may_matter
 *		The statement kinds the guard looks at; everything else passes with
 *		one switch.
 */
static bool
guard_may_matter(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
		case T_RenameStmt:
		case T_AlterObjectSchemaStmt:
		case T_DropStmt:
		case T_DropOwnedStmt:
		case T_AlterEventTrigStmt:
			return true;
		default:
			return false;
	}
}

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

	if (guard_may_matter(parsetree) && IsTransactionState() && guard_catalog_present())
	{
		dropping_extension = guard_protect_extension(parsetree);
		guard_enforce(guard_statement_targets(parsetree));
	}

	PG_TRY();
	{
		guard_dropping_extension = dropping_extension;
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		guard_dropping_extension = false;
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
	if (access == OAT_DROP && classId == ExtensionRelationId && !guard_dropping_extension &&
		IsTransactionState() && guard_catalog_present() &&
		objectId == get_extension_oid(PHASED_CHANGE_EXTENSION, true))
		guard_refuse_while_active("extension phased_change",
								  "drop extension \"phased_change\" through a dependency",
								  NULL);
	if (access != OAT_DROP || classId != RelationRelationId || guard_dropping_extension ||
		(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL) ||
		!IsTransactionState() || !guard_catalog_present() ||
		guard_cache_lookup(objectId) == NIL)
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
