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
 * self_refuse
 *		Refuse (or, with the override, let through with a WARNING) a
 *		statement against the guard itself; both are audited.  message is
 *		the whole errmsg, override_message the whole WARNING.
 */
static void
self_refuse(const char *identity, const char *action, const char *message,
			const char *override_message, const char *detail, const char *hint)
{
	const char *reason = guard_override_reason();

	if (reason == NULL)
	{
		guard_audit("ddl_blocked", 0, PHASE_NONE, identity, action, false, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_internal("%s", message),
				 errdetail("%s", detail),
				 errhint("%s", hint)));
	}
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg_internal("%s", override_message),
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

	guard_catalog_require();
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
 * refuse_while_active
 *		Refuse a statement against the extension while any plan is active
 *		(the override applies).  message and override_message are written
 *		whole by the caller; consequence (may be NULL) opens the detail.
 */
static void
refuse_while_active(const char *identity, const char *action, const char *message,
					const char *override_message, const char *consequence)
{
	char	   *summary = active_plans_summary();

	if (summary == NULL)
		return;
	self_refuse(identity, action, message, override_message,
				consequence ? psprintf("%s %s", consequence, summary) : summary,
				"Complete or abandon the active plans first.");
}

/*
 * extension_oid
 *		The extension's OID in this database (InvalidOid: not installed).
 */
static Oid
extension_oid(void)
{
	return get_extension_oid(PHASED_CHANGE_EXTENSION, true);
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

		if (!OidIsValid(address.objectId) ||
			!in_closure(extoid, address.classId, address.objectId))
			continue;
		type = getObjectTypeDescription(&address, false);
		name = getObjectIdentity(&address, false);
		refuse_while_active(psprintf("%s %s", type, name), "drop",
							psprintf("cannot drop %s \"%s\" while change plans are active",
									 type, name),
							psprintf("overriding the guard to drop %s \"%s\" while change plans are active",
									 type, name),
							"Dropping it with CASCADE drops extension \"phased_change\", every plan and the history.");
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
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		if (stmt->removeType == OBJECT_EXTENSION &&
			strcmp(strVal(lfirst(lc)), PHASED_CHANGE_EXTENSION) == 0)
		{
			if (!OidIsValid(extoid) || !pc_extension_ownercheck(extoid, GetUserId()))
				return false;	/* PostgreSQL refuses it, telling nothing */
			refuse_while_active("extension phased_change", "drop",
								"cannot drop extension \"phased_change\" while change plans are active",
								"overriding the guard to drop extension \"phased_change\" while change plans are active",
								NULL);
			return true;
		}
		if (stmt->removeType == OBJECT_EVENT_TRIGGER && is_guard_event_trigger(strVal(lfirst(lc))) &&
			pc_event_trigger_ownercheck(get_event_trigger_oid(strVal(lfirst(lc)), false),
										GetUserId()))
			self_refuse(psprintf("event trigger %s", strVal(lfirst(lc))), "drop",
						psprintf("cannot drop event trigger \"%s\"", strVal(lfirst(lc))),
						psprintf("overriding the guard to drop event trigger \"%s\"", strVal(lfirst(lc))),
						"The event trigger is part of the phased_change guard.",
						"Drop the extension instead, once no change plan is active.");
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
	ListCell   *lc;

	if (!OidIsValid(extoid))
		return;
	foreach(lc, stmt->roles)
	{
		RoleSpec   *role = lfirst(lc);
		Oid			roleid = get_rolespec_oid(role, true);

		if (!OidIsValid(roleid) || !has_privs_of_role(GetUserId(), roleid))
			continue;			/* PostgreSQL's own error */
		if (roleid == extension_owner() || owns_in_closure(extoid, roleid))
			refuse_while_active(psprintf("role %s", get_rolespec_name(role)), "drop",
								psprintf("cannot drop the objects owned by role \"%s\" while change plans are active",
										 get_rolespec_name(role)),
								psprintf("overriding the guard to drop the objects owned by role \"%s\"",
										 get_rolespec_name(role)),
								"Its objects include extension \"phased_change\" or an object the extension depends on.");
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
		self_refuse(psprintf("event trigger %s", name), "rename",
					psprintf("cannot rename event trigger \"%s\"", name),
					psprintf("overriding the guard to rename event trigger \"%s\"", name),
					"The event trigger is part of the phased_change guard.",
					"Drop the extension instead, once no change plan is active.");
	else
		self_refuse(psprintf("event trigger %s", name), "alter",
					psprintf("cannot alter event trigger \"%s\"", name),
					psprintf("overriding the guard to alter event trigger \"%s\"", name),
					"The event trigger is part of the phased_change guard.",
					"Drop the extension instead, once no change plan is active.");
}

/*
 * protect_catalog_relation / protect_catalog_schema
 *		Renaming, moving or altering a relation or the schema of the
 *		extension's own (a member, found by pg_depend, whatever its name),
 *		while a plan is active: the guard finds its catalog by name.
 */
static void
protect_catalog_relation(RangeVar *relation, const char *action)
{
	Oid			extoid = extension_oid();
	Oid			relid;
	char	   *name;

	if (relation == NULL || !OidIsValid(extoid))
		return;
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (!OidIsValid(relid) || !extension_owns_relation(relid) ||
		!pc_relation_ownercheck(relid, GetUserId()))
		return;
	/* unreadable already: giving the names back must stay possible */
	if (guard_catalog_unreadable())
		return;
	name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
	refuse_while_active(psprintf("relation %s", name), action,
						psprintf("cannot %s relation \"%s\" of extension \"phased_change\" while change plans are active",
								 action, name),
						psprintf("overriding the guard to %s relation \"%s\" of extension \"phased_change\"",
								 action, name),
						"The guard reads its catalog by name; without it, the active plans would guard nothing.");
}

static void
protect_catalog_schema(const char *schema, const char *action)
{
	Oid			extoid = extension_oid();
	Oid			nspid = get_namespace_oid(schema, true);

	if (!OidIsValid(extoid) || !OidIsValid(nspid) ||
		getExtensionOfObject(NamespaceRelationId, nspid) != extoid ||
		!pc_namespace_ownercheck(nspid, GetUserId()) || guard_catalog_unreadable())
		return;
	refuse_while_active(psprintf("schema %s", schema), action,
						psprintf("cannot %s schema \"%s\" of extension \"phased_change\" while change plans are active",
								 action, schema),
						psprintf("overriding the guard to %s schema \"%s\" of extension \"phased_change\"",
								 action, schema),
						"The guard reads its catalog by name; without it, the active plans would guard nothing.");
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
			protect_catalog_schema(stmt->subname, "rename");
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
			protect_catalog_relation(stmt->relation, "rename");
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

	if (stmt->action > 0 || strcmp(stmt->extname, PHASED_CHANGE_EXTENSION) != 0 ||
		!OidIsValid(extoid) || !pc_extension_ownercheck(extoid, GetUserId()))
		return;
	refuse_while_active("extension phased_change", "alter",
						"cannot remove a member from extension \"phased_change\" while change plans are active",
						"overriding the guard to remove a member from extension \"phased_change\"",
						NULL);
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
										 "move");
			return false;
		case T_AlterTableStmt:
			protect_catalog_relation(((AlterTableStmt *) parsetree)->relation, "alter");
			return false;
		case T_AlterOwnerStmt:
			if (((AlterOwnerStmt *) parsetree)->objectType == OBJECT_SCHEMA)
				protect_catalog_schema(strVal(((AlterOwnerStmt *) parsetree)->object), "alter");
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

	if (guard_self_dropping || creating_extension)
		return;
	extoid = extension_oid();
	if (!OidIsValid(extoid) ||
		!(classId == ExtensionRelationId ? objectId == extoid :
		  getExtensionOfObject(classId, objectId) == extoid))
		return;
	refuse_while_active("extension phased_change", "drop",
						"cannot drop extension \"phased_change\" through a dependency while change plans are active",
						"overriding the guard to drop extension \"phased_change\" through a dependency",
						NULL);
	guard_self_dropping = true;
}
