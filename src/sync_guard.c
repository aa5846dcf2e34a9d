/*-------------------------------------------------------------------------
 *
 * sync_guard.c
 *		The guard of sync triggers: while a plan is in migrate or contract,
 *		the trigger of its sync cannot be dropped, replaced, disabled,
 *		switched to another firing mode or renamed, except by the plan
 *		itself.
 *
 * Called from guard_self_protect, so from the ProcessUtility hook when the
 * library is preloaded and from the ddl_command_start event trigger
 * otherwise, for DROP TRIGGER, CREATE OR REPLACE TRIGGER, ALTER TABLE ...
 * ENABLE / DISABLE TRIGGER (one, ALL or USER) and ALTER TRIGGER ... RENAME.  The plan's own DDL
 * (sync.c) is let through.  The guard decides only for roles PostgreSQL
 * would let run the statement (the table's owners); others get
 * PostgreSQL's own error.  phased_change.override applies, audited, as for
 * every refusal of the guard.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "guard.h"
#include "sync.h"

/*
 * sync_relation_has_triggers
 *		pg_class.relhastriggers, from the syscache.
 */
static bool
sync_relation_has_triggers(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		result;

	if (!HeapTupleIsValid(tuple))
		return false;
	result = ((Form_pg_class) GETSTRUCT(tuple))->relhastriggers;
	ReleaseSysCache(tuple);
	return result;
}

/*
 * sync_trigger_function
 *		Whether a trigger runs phased_change.sync_row.  Looked up by OID,
 *		never by name: the statement's role may have no USAGE on the schema.
 */
static bool
sync_trigger_function(Oid funcid, Oid catalog_schema)
{
	char	   *name;

	if (get_func_namespace(funcid) != catalog_schema)
		return false;
	name = get_func_name(funcid);
	return name != NULL && strcmp(name, "sync_row") == 0;
}

/*
 * sync_guard_check
 *		Refuse (or, overridden, audit) a change of the table's sync triggers
 *		of active syncs: the one named, or all of them with tgname NULL.
 */
static void
sync_guard_check(RangeVar *relation, const char *tgname, const char *action,
				 LOCKMODE lockmode)
{
	Oid			relid = relation ? RangeVarGetRelid(relation, NoLock, true) : InvalidOid;
	Oid			catalog_schema = get_namespace_oid(PHASED_CHANGE_EXTENSION, true);
	Relation	rel;
	TriggerDesc *trigdesc;

	if (!OidIsValid(relid) || !OidIsValid(catalog_schema) ||
		get_rel_relkind(relid) != RELKIND_RELATION ||
		!sync_relation_has_triggers(relid) ||
		!pc_relation_ownercheck(relid, GetUserId()))
		return;

	/* the lock the command itself takes, so that the answer holds for it */
	LockRelationOid(relid, lockmode);
	rel = table_open(relid, NoLock);
	trigdesc = rel->trigdesc;
	for (int i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];
		SyncRow		row = {0};
		char	   *identity;
		const char *reason;

		if (trigger->tgnargs != 1 ||
			(tgname != NULL && strcmp(trigger->tgname, tgname) != 0) ||
			!sync_trigger_function(trigger->tgfoid, catalog_schema))
			continue;
		if (!sync_catalog_read(strtoi64(trigger->tgargs[0], NULL, 10), &row) ||
			!row.active || row.relid != relid)
			continue;

		identity = psprintf("trigger %s on %s", quote_identifier(trigger->tgname),
							quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													   RelationGetRelationName(rel)));
		reason = guard_override_reason();
		if (reason == NULL)
		{
			guard_audit("ddl_blocked", row.plan_id, row.phase, identity, action, false, NULL);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s trigger \"%s\" of table \"%s\"",
							action, trigger->tgname, RelationGetRelationName(rel)),
					 errdetail("The trigger keeps sync \"%s -> %s\" of change plan \"%s\", which is in phase \"%s\"; the plan removes it on entering cleanup.",
							   row.from_col, row.to_col, row.plan_name, phase_name(row.phase)),
					 errhint("To stop the sync, roll the plan back to phase \"expand\" or abandon it.")));
		}
		ereport(WARNING,
				(errmsg("overriding the guard to %s trigger \"%s\" of table \"%s\"",
						action, trigger->tgname, RelationGetRelationName(rel)),
				 errcode(ERRCODE_WARNING),
				 errdetail("The setting phased_change.override is \"%s\". The override is recorded in phased_change.history.",
						   reason)));
		guard_audit("override", row.plan_id, row.phase, identity, action, false, reason);
	}
	table_close(rel, NoLock);
}

/*
 * sync_guard_protect
 *		The statements that would take a sync trigger out of service.
 */
void
sync_guard_protect(Node *parsetree)
{
	ListCell   *lc;

	if (sync_running_own_ddl())
		return;
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				if (stmt->removeType != OBJECT_TRIGGER)
					return;
				foreach(lc, stmt->objects)
				{
					List	   *names = (List *) lfirst(lc);

					if (list_length(names) < 2)
						continue;
					sync_guard_check(makeRangeVarFromNameList(list_truncate(list_copy(names),
																			list_length(names) - 1)),
									 strVal(llast(names)), "drop", AccessExclusiveLock);
				}
				return;
			}
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

					switch (cmd->subtype)
					{
						case AT_DisableTrig:
						case AT_EnableTrig:
						case AT_EnableReplicaTrig:
							sync_guard_check(stmt->relation, cmd->name, "change the firing of",
											 ShareRowExclusiveLock);
							break;
						case AT_DisableTrigAll:
						case AT_DisableTrigUser:
						case AT_EnableTrigAll:
						case AT_EnableTrigUser:
							sync_guard_check(stmt->relation, NULL, "change the firing of",
											 ShareRowExclusiveLock);
							break;
						default:
							break;
					}
				}
				return;
			}
		case T_CreateTrigStmt:
			{
				CreateTrigStmt *stmt = (CreateTrigStmt *) parsetree;

				/* without OR REPLACE, the name taken is PostgreSQL's error */
				if (stmt->replace)
					sync_guard_check(stmt->relation, stmt->trigname, "replace",
									 ShareRowExclusiveLock);
				return;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				if (stmt->renameType == OBJECT_TRIGGER)
					sync_guard_check(stmt->relation, stmt->subname, "rename", AccessExclusiveLock);
				return;
			}
		default:
			return;
	}
}
