/*-------------------------------------------------------------------------
 *
 * guard_self.c
 *		Extension self-protection: while a change plan is active, no
 *		statement may drop phased_change (directly, or through anything a
 *		cascade reaches it by), take its catalog out of the guard's sight
 *		(renaming or moving the schema, tables and indexes the guard reads),
 *		or switch off its event triggers.  The override applies, audited.
 *
 * The decision is made before PostgreSQL changes anything, from what the
 * statement names: a DROP ... CASCADE or DROP OWNED is refused when the
 * object it names (or an object the role owns) lies in the dependency
 * closure of the extension, the set of objects whose cascaded drop reaches
 * it: what the extension and its members depend on, followed through
 * pg_depend, and the objects bound to those by an internal or extension
 * dependency (PostgreSQL drops the owner of such an object with it).  The
 * closure over-approximates on purpose: refusing a statement that would
 * in fact have spared the extension is the safe mistake.  When preloaded,
 * the object_access_hook is the backstop: the drop of any member of the
 * extension, which happens before the extension's own and before its
 * catalog tables are gone, is refused while a plan is active.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "guard.h"
#include "sync.h"

static const char *const guard_event_triggers[] = {"phased_change_guard", "phased_change_guard_drop"};

/*
 * The extension's drop has been allowed for the rest of this statement (no
 * plan is active): the catalog is going, and nothing is guarded.
 */
bool		guard_self_dropping = false;

static bool
is_guard_event_trigger(const char *name)
{
	return strcmp(name, guard_event_triggers[0]) == 0 ||
		strcmp(name, guard_event_triggers[1]) == 0;
}

/*
 * self_override_errdetail
 *		The detail of an override's WARNING.
 */
static int
self_override_errdetail(const char *reason)
{
	return errdetail("The setting phased_change.override is \"%s\". The override is recorded in phased_change.history.",
					 reason);
}

/*
 * SELF_REFUSE
 *		Refuse (or, with the override, let through with a WARNING) a
 *		statement against the guard itself; both are audited.  The caller
 *		writes each message whole: error_msg and override_msg are errmsg()
 *		calls, detail and hint errdetail() and errhint() calls.
 */
#define SELF_REFUSE(identity, action, error_msg, override_msg, detail, hint) \
	do { \
		const char *reason_ = guard_override_reason(); \
		if (reason_ == NULL) \
		{ \
			guard_audit("ddl_blocked", 0, PHASE_NONE, (identity), (action), false, NULL); \
			ereport(ERROR, \
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), \
					 error_msg, detail, hint)); \
		} \
		ereport(WARNING, \
				(errcode(ERRCODE_WARNING), override_msg, \
				 self_override_errdetail(reason_))); \
		guard_audit("override", 0, PHASE_NONE, (identity), (action), false, reason_); \
	} while (0)

#define SELF_HINT_END_PLANS errhint("Complete or abandon the active plans first.")
#define SELF_HINT_EVENT_TRIGGER errhint("Drop the extension instead, once no change plan is active.")
#define SELF_DETAIL_EVENT_TRIGGER errdetail("The event trigger is part of the phased_change guard.")

/*
 * active_plans
 *		NULL when no plan is active, else the active plans and their phases,
 *		for messages.
 */
static char *
active_plans(void)
{
	CatalogSession session;
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *plans = NULL;

	guard_catalog_require();
	catalog_begin(&session);
	if (SPI_execute("SELECT pg_catalog.string_agg(pg_catalog.format('\"%s\" (phase \"%s\")', p.name, ph.name),"
					"  ', ' ORDER BY p.plan_id)"
					" FROM phased_change.plan p JOIN phased_change.phase ph ON ph.phase = p.phase"
					" WHERE p.status = 'active'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the active change plans");
	if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) != NULL)
		plans = MemoryContextStrdup(caller_context,
									SPI_getvalue(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1));
	catalog_end(&session);
	return plans;
}

/*
 * extension_oid
 *		The extension's OID in this database (InvalidOid: not installed).
 */
static Oid
extension_oid(void)
{
	return extension_oid_current();
}

/*
 * The dependency closure of the extension (see the file header), as a
 * recursive query over pg_depend with the extension's OID as $1.
 */
#define CLOSURE_CTE \
	"WITH RECURSIVE closure(classid, objid) AS (" \
	"  SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid, $1" \
	"  UNION" \
	"  SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) c.classid" \
	"               AND d.objid OPERATOR(pg_catalog.=) c.objid" \
	"              THEN d.refclassid ELSE d.classid END," \
	"         CASE WHEN d.classid OPERATOR(pg_catalog.=) c.classid" \
	"               AND d.objid OPERATOR(pg_catalog.=) c.objid" \
	"              THEN d.refobjid ELSE d.objid END" \
	"  FROM closure c JOIN pg_catalog.pg_depend d" \
	"    ON (d.classid OPERATOR(pg_catalog.=) c.classid" \
	"        AND d.objid OPERATOR(pg_catalog.=) c.objid)" \
	"    OR (d.refclassid OPERATOR(pg_catalog.=) c.classid" \
	"        AND d.refobjid OPERATOR(pg_catalog.=) c.objid" \
	"        AND d.deptype OPERATOR(pg_catalog.=) ANY ('{i,e}'::\"char\"[])))"

/*
 * closure_query
 *		Run a boolean query over the closure with the extension's OID as $1
 *		and two more OID parameters.
 */
static bool
closure_query(const char *query, Oid extoid, Oid param2, Oid param3)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, OIDOID};
	Datum		values[3] = {ObjectIdGetDatum(extoid), ObjectIdGetDatum(param2),
	ObjectIdGetDatum(param3)};
	bool		isnull;
	bool		result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, 3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the dependencies of extension \"phased_change\"");
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										&isnull));
	SPI_finish();
	return result;
}

/*
 * in_closure
 *		Whether dropping the object with CASCADE would drop the extension.
 */
static bool
in_closure(Oid extoid, Oid classid, Oid objid)
{
	return closure_query(CLOSURE_CTE
						 " SELECT EXISTS (SELECT FROM closure"
						 "  WHERE classid OPERATOR(pg_catalog.=) $2"
						 "    AND objid OPERATOR(pg_catalog.=) $3)",
						 extoid, classid, objid);
}

/*
 * owns_in_closure
 *		Whether the role owns an object in the closure (DROP OWNED would drop
 *		it, and the extension with it).  The role in $2; $3 is unused.
 */
static bool
owns_in_closure(Oid extoid, Oid roleid)
{
	return closure_query(CLOSURE_CTE
						 " SELECT EXISTS (SELECT FROM closure c JOIN pg_catalog.pg_shdepend s"
						 "   ON s.classid OPERATOR(pg_catalog.=) c.classid"
						 "  AND s.objid OPERATOR(pg_catalog.=) c.objid"
						 "  WHERE s.dbid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database"
						 "        WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
						 "    AND s.refobjid OPERATOR(pg_catalog.=) $2"
						 "    AND s.deptype OPERATOR(pg_catalog.=) 'o'"
						 "    AND $3 IS NOT NULL)",
						 extoid, roleid, InvalidOid);
}

/*
 * drop_named_address
 *		The object one name of a DROP statement names (InvalidOid objectId
 *		when it does not exist), resolved as RemoveObjects resolves it, with
 *		the lock it takes; relations with the lock-free lookup (the guard of
 *		relations locks them itself).
 */
static ObjectAddress
drop_named_address(DropStmt *stmt, Node *name)
{
	ObjectAddress address;
	Relation	relation = NULL;

	switch (stmt->removeType)
	{
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_INDEX:
		case OBJECT_SEQUENCE:
			ObjectAddressSet(address, RelationRelationId,
							 RangeVarGetRelid(makeRangeVarFromNameList((List *) name),
											  NoLock, true));
			return address;
		default:
			address = get_object_address(stmt->removeType, name, &relation,
										 AccessExclusiveLock, true);
			if (relation != NULL)
				table_close(relation, NoLock);
			return address;
	}
}

/*
 * protect_drop_cascade
 *		DROP ... CASCADE of anything the extension depends on.
 */
static void
protect_drop_cascade(DropStmt *stmt, Oid extoid)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		ObjectAddress address = drop_named_address(stmt, lfirst(lc));
		char	   *type;
		char	   *name;
		char	   *plans;

		if (!OidIsValid(address.objectId) ||
			!in_closure(extoid, address.classId, address.objectId))
			continue;
		plans = active_plans();
		if (plans == NULL)
			return;
		type = getObjectTypeDescription(&address, false);
		name = getObjectIdentity(&address, false);
		SELF_REFUSE(psprintf("%s %s", type, name), "drop",
					errmsg("cannot drop %s \"%s\" while change plans are active", type, name),
					errmsg("overriding the guard to drop %s \"%s\" while change plans are active",
						   type, name),
					errdetail("Dropping it with CASCADE drops extension \"phased_change\", every plan and the history. Active change plans: %s.",
							  plans),
					SELF_HINT_END_PLANS);
	}
}

/*
 * protect_drop
 *		DROP EXTENSION phased_change, DROP EVENT TRIGGER of the guard's, and
 *		any DROP ... CASCADE that reaches the extension.  Returns true for a
 *		DROP EXTENSION phased_change that may go ahead.
 */
static bool
protect_drop(DropStmt *stmt)
{
	Oid			extoid = extension_oid();
	char	   *plans;
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		if (stmt->removeType == OBJECT_EXTENSION &&
			strcmp(strVal(lfirst(lc)), PHASED_CHANGE_EXTENSION) == 0)
		{
			if (!OidIsValid(extoid) || !pc_extension_ownercheck(extoid, GetUserId()))
				return false;	/* PostgreSQL refuses it, telling nothing */
			if ((plans = active_plans()) != NULL)
				SELF_REFUSE("extension phased_change", "drop",
							errmsg("cannot drop extension \"phased_change\" while change plans are active"),
							errmsg("overriding the guard to drop extension \"phased_change\" while change plans are active"),
							errdetail("Active change plans: %s.", plans),
							SELF_HINT_END_PLANS);
			return true;
		}
		if (stmt->removeType == OBJECT_EVENT_TRIGGER && is_guard_event_trigger(strVal(lfirst(lc))) &&
			pc_event_trigger_ownercheck(get_event_trigger_oid(strVal(lfirst(lc)), false),
										GetUserId()))
			SELF_REFUSE(psprintf("event trigger %s", strVal(lfirst(lc))), "drop",
						errmsg("cannot drop event trigger \"%s\"", strVal(lfirst(lc))),
						errmsg("overriding the guard to drop event trigger \"%s\"", strVal(lfirst(lc))),
						SELF_DETAIL_EVENT_TRIGGER, SELF_HINT_EVENT_TRIGGER);
	}
	if (stmt->behavior == DROP_CASCADE && OidIsValid(extoid))
		protect_drop_cascade(stmt, extoid);
	return false;
}

/*
 * protect_drop_owned
 *		DROP OWNED BY the extension's owner, or by the owner of anything the
 *		extension depends on, would drop the extension.
 */
static void
protect_drop_owned(DropOwnedStmt *stmt)
{
	Oid			extoid = extension_oid();
	char	   *plans;
	ListCell   *lc;

	if (!OidIsValid(extoid))
		return;
	foreach(lc, stmt->roles)
	{
		RoleSpec   *role = lfirst(lc);
		Oid			roleid = get_rolespec_oid(role, true);

		if (!OidIsValid(roleid) || !has_privs_of_role(GetUserId(), roleid))
			continue;			/* PostgreSQL's own error */
		if ((roleid == extension_owner() || owns_in_closure(extoid, roleid)) &&
			(plans = active_plans()) != NULL)
			SELF_REFUSE(psprintf("role %s", get_rolespec_name(role)), "drop",
						errmsg("cannot drop the objects owned by role \"%s\" while change plans are active",
							   get_rolespec_name(role)),
						errmsg("overriding the guard to drop the objects owned by role \"%s\"",
							   get_rolespec_name(role)),
						errdetail("Its objects include extension \"phased_change\" or an object the extension depends on. Active change plans: %s.",
								  plans),
						SELF_HINT_END_PLANS);
	}
}

/*
 * protect_event_trigger
 *		ALTER or RENAME of the guard's event triggers (seen only by the
 *		ProcessUtility hook: event triggers do not fire for them).
 */
static void
protect_event_trigger(const char *name, bool rename)
{
	if (!is_guard_event_trigger(name) ||
		!pc_event_trigger_ownercheck(get_event_trigger_oid(name, false), GetUserId()))
		return;
	if (rename)
		SELF_REFUSE(psprintf("event trigger %s", name), "rename",
					errmsg("cannot rename event trigger \"%s\"", name),
					errmsg("overriding the guard to rename event trigger \"%s\"", name),
					SELF_DETAIL_EVENT_TRIGGER, SELF_HINT_EVENT_TRIGGER);
	else
		SELF_REFUSE(psprintf("event trigger %s", name), "alter",
					errmsg("cannot alter event trigger \"%s\"", name),
					errmsg("overriding the guard to alter event trigger \"%s\"", name),
					SELF_DETAIL_EVENT_TRIGGER, SELF_HINT_EVENT_TRIGGER);
}

/*
 * protect_catalog_relation / protect_catalog_schema
 *		Renaming, moving or altering a relation or the schema of the
 *		extension's own (a member, found by pg_depend, whatever its name),
 *		while a plan is active: the guard finds its catalog by name.
 */
typedef enum CatalogChange
{
	CATALOG_RENAME,
	CATALOG_MOVE,
	CATALOG_ALTER
} CatalogChange;

static const char *const catalog_change_actions[] = {"rename", "set schema", "alter"};

#define SELF_DETAIL_CATALOG(plans) \
	errdetail("The guard reads its catalog by name; without it, the active plans would guard nothing. Active change plans: %s.", \
			  (plans))

static void
protect_catalog_relation(RangeVar *relation, CatalogChange change)
{
	Oid			extoid = extension_oid();
	Oid			relid;
	char	   *name;
	char	   *identity;
	char	   *plans;

	if (relation == NULL || !OidIsValid(extoid))
		return;
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (!OidIsValid(relid) || !extension_owns_relation(relid) ||
		!pc_relation_ownercheck(relid, GetUserId()))
		return;
	/* unreadable already: giving the names back must stay possible */
	if (guard_catalog_unreadable())
		return;
	if ((plans = active_plans()) == NULL)
		return;
	name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
	identity = psprintf("relation %s", name);
	switch (change)
	{
		case CATALOG_RENAME:
			SELF_REFUSE(identity, catalog_change_actions[change],
						errmsg("cannot rename relation \"%s\" of extension \"phased_change\" while change plans are active",
							   name),
						errmsg("overriding the guard to rename relation \"%s\" of extension \"phased_change\"",
							   name),
						SELF_DETAIL_CATALOG(plans), SELF_HINT_END_PLANS);
			break;
		case CATALOG_MOVE:
			SELF_REFUSE(identity, catalog_change_actions[change],
						errmsg("cannot move relation \"%s\" of extension \"phased_change\" to another schema while change plans are active",
							   name),
						errmsg("overriding the guard to move relation \"%s\" of extension \"phased_change\" to another schema",
							   name),
						SELF_DETAIL_CATALOG(plans), SELF_HINT_END_PLANS);
			break;
		case CATALOG_ALTER:
			SELF_REFUSE(identity, catalog_change_actions[change],
						errmsg("cannot alter relation \"%s\" of extension \"phased_change\" while change plans are active",
							   name),
						errmsg("overriding the guard to alter relation \"%s\" of extension \"phased_change\"",
							   name),
						SELF_DETAIL_CATALOG(plans), SELF_HINT_END_PLANS);
			break;
	}
}

static void
protect_catalog_schema(const char *schema, CatalogChange change)
{
	Oid			extoid = extension_oid();
	Oid			nspid = get_namespace_oid(schema, true);
	char	   *identity;
	char	   *plans;

	if (!OidIsValid(extoid) || !OidIsValid(nspid) ||
		getExtensionOfObject(NamespaceRelationId, nspid) != extoid ||
		!pc_namespace_ownercheck(nspid, GetUserId()) || guard_catalog_unreadable())
		return;
	if ((plans = active_plans()) == NULL)
		return;
	identity = psprintf("schema %s", schema);
	if (change == CATALOG_RENAME)
		SELF_REFUSE(identity, catalog_change_actions[change],
					errmsg("cannot rename schema \"%s\" of extension \"phased_change\" while change plans are active",
						   schema),
					errmsg("overriding the guard to rename schema \"%s\" of extension \"phased_change\"",
						   schema),
					SELF_DETAIL_CATALOG(plans), SELF_HINT_END_PLANS);
	else
		SELF_REFUSE(identity, catalog_change_actions[change],
					errmsg("cannot alter schema \"%s\" of extension \"phased_change\" while change plans are active",
						   schema),
					errmsg("overriding the guard to alter schema \"%s\" of extension \"phased_change\"",
						   schema),
					SELF_DETAIL_CATALOG(plans), SELF_HINT_END_PLANS);
}

/*
 * protect_rename
 *		ALTER EVENT TRIGGER ... RENAME, and renames of the catalog.
 */
static void
protect_rename(RenameStmt *stmt)
{
	switch (stmt->renameType)
	{
		case OBJECT_EVENT_TRIGGER:
			protect_event_trigger(strVal(stmt->object), true);
			break;
		case OBJECT_SCHEMA:
			protect_catalog_schema(stmt->subname, CATALOG_RENAME);
			break;
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_INDEX:
		case OBJECT_SEQUENCE:
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
		case OBJECT_TRIGGER:
		case OBJECT_RULE:
			protect_catalog_relation(stmt->relation, CATALOG_RENAME);
			break;
		default:
			break;
	}
}

/*
 * protect_extension_contents
 *		ALTER EXTENSION phased_change DROP ...: an object taken out of the
 *		extension is no longer protected as one of its members.
 */
static void
protect_extension_contents(AlterExtensionContentsStmt *stmt)
{
	Oid			extoid = extension_oid();
	char	   *plans;

	if (stmt->action > 0 || strcmp(stmt->extname, PHASED_CHANGE_EXTENSION) != 0 ||
		!OidIsValid(extoid) || !pc_extension_ownercheck(extoid, GetUserId()) ||
		(plans = active_plans()) == NULL)
		return;
	SELF_REFUSE("extension phased_change", "alter",
				errmsg("cannot remove a member from extension \"phased_change\" while change plans are active"),
				errmsg("overriding the guard to remove a member from extension \"phased_change\""),
				errdetail("A member taken out of the extension is no longer protected as one. Active change plans: %s.",
						  plans),
				SELF_HINT_END_PLANS);
}

/*
 * guard_self_protect
 *		Statements that would take the guard apart, sent by a role that may
 *		run them (others get PostgreSQL's own error).  Returns true for a
 *		DROP EXTENSION phased_change that may go ahead.  Called by the
 *		ProcessUtility hook and, without preloading, by the
 *		ddl_command_start event trigger.
 */
bool
guard_self_protect(Node *parsetree)
{
	if (creating_extension)
		return false;			/* the extension's own scripts */
	sync_guard_protect(parsetree);	/* dual-write syncs (1.4) */
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			return protect_drop((DropStmt *) parsetree);
		case T_DropOwnedStmt:
			protect_drop_owned((DropOwnedStmt *) parsetree);
			return false;
		case T_AlterEventTrigStmt:
			protect_event_trigger(((AlterEventTrigStmt *) parsetree)->trigname, false);
			return false;
		case T_RenameStmt:
			protect_rename((RenameStmt *) parsetree);
			return false;
		case T_AlterObjectSchemaStmt:
			if (((AlterObjectSchemaStmt *) parsetree)->relation != NULL)
				protect_catalog_relation(((AlterObjectSchemaStmt *) parsetree)->relation,
										 CATALOG_MOVE);
			return false;
		case T_AlterTableStmt:
			protect_catalog_relation(((AlterTableStmt *) parsetree)->relation, CATALOG_ALTER);
			return false;
		case T_AlterOwnerStmt:
			if (((AlterOwnerStmt *) parsetree)->objectType == OBJECT_SCHEMA)
				protect_catalog_schema(strVal(((AlterOwnerStmt *) parsetree)->object),
									   CATALOG_ALTER);
			return false;
		case T_AlterExtensionContentsStmt:
			protect_extension_contents((AlterExtensionContentsStmt *) parsetree);
			return false;
		default:
			return false;
	}
}

/*
 * guard_self_dropped
 *		object_access_hook, OAT_DROP: the extension or one of its members is
 *		about to be dropped by a statement that did not name the extension
 *		(a cascade).  Members go before the extension and while its catalog
 *		is still there; the first one decides.  Once allowed (no plan is
 *		active), the rest of the statement drops the extension unguarded.
 */
void
guard_self_dropped(Oid classId, Oid objectId)
{
	Oid			extoid;
	char	   *plans;

	if (guard_self_dropping || creating_extension)
		return;
	extoid = extension_oid();
	if (!OidIsValid(extoid))
		return;
	/* cheap answers first: its relations live in its schema; no type is one */
	if (classId == TypeRelationId ||
		(classId == RelationRelationId &&
		 !extension_schema_holds(get_rel_namespace(objectId))))
		return;
	if (!(classId == ExtensionRelationId ? objectId == extoid :
		  getExtensionOfObject(classId, objectId) == extoid))
		return;
	if ((plans = active_plans()) != NULL)
		SELF_REFUSE("extension phased_change", "drop",
					errmsg("cannot drop extension \"phased_change\" through a dependency while change plans are active"),
					errmsg("overriding the guard to drop extension \"phased_change\" through a dependency"),
					errdetail("Active change plans: %s.", plans),
					SELF_HINT_END_PLANS);
	guard_self_dropping = true;
}
