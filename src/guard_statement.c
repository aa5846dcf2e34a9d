/*-------------------------------------------------------------------------
 *
 * guard_statement.c
 *		Reading a DDL parse tree for what it would destroy: the relations
 *		and columns it drops, renames, retypes or moves to another schema.
 *
 * Statements that destroy nothing (CREATE, ADD COLUMN, ...) yield no target
 * and cost one switch.  Drops that reach a guarded object only through a
 * dependency (DROP TYPE ... CASCADE, DROP SCHEMA ... CASCADE, DROP OWNED)
 * are not visible here; the sql_drop backstop in guard.c sees them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "nodes/parsenodes.h"

#include "guard.h"

/*
 * target_add
 *		Resolve a relation named by the statement and add a target for it;
 *		a relation that does not exist (IF EXISTS) is skipped.
 */
static List *
target_add(List *targets, RangeVar *relation, const char *column, GuardAction action)
{
	GuardTarget *target;
	Oid			relid = RangeVarGetRelid(relation, NoLock, true);

	if (!OidIsValid(relid))
		return targets;
	target = palloc0(sizeof(GuardTarget));
	target->relid = relid;
	target->column = column ? pstrdup(column) : NULL;
	target->action = action;
	return lappend(targets, target);
}

static bool
is_relation_object(ObjectType type)
{
	return type == OBJECT_TABLE || type == OBJECT_VIEW ||
		type == OBJECT_MATVIEW || type == OBJECT_FOREIGN_TABLE;
}

/*
 * targets_alter_table
 *		ALTER TABLE ... DROP COLUMN / ALTER COLUMN ... TYPE, among any other
 *		subcommands.
 */
static List *
targets_alter_table(AlterTableStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;

	if (!is_relation_object(stmt->objtype))
		return NIL;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_DropColumn)
			targets = target_add(targets, stmt->relation, cmd->name, GUARD_DROP);
		else if (cmd->subtype == AT_AlterColumnType)
			targets = target_add(targets, stmt->relation, cmd->name, GUARD_RETYPE);
	}
	return targets;
}

/*
 * targets_rename
 *		ALTER TABLE ... RENAME [COLUMN] ..., for tables, views, materialized
 *		views and foreign tables.
 */
static List *
targets_rename(RenameStmt *stmt)
{
	if (stmt->renameType == OBJECT_COLUMN && is_relation_object(stmt->relationType))
		return target_add(NIL, stmt->relation, stmt->subname, GUARD_RENAME);
	if (is_relation_object(stmt->renameType))
		return target_add(NIL, stmt->relation, NULL, GUARD_RENAME);
	return NIL;
}

/*
 * targets_drop
 *		DROP TABLE / VIEW / MATERIALIZED VIEW / FOREIGN TABLE, each named
 *		relation.
 */
static List *
targets_drop(DropStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;

	if (!is_relation_object(stmt->removeType))
		return NIL;
	foreach(lc, stmt->objects)
		targets = target_add(targets, makeRangeVarFromNameList((List *) lfirst(lc)),
							 NULL, GUARD_DROP);
	return targets;
}

/*
 * guard_statement_targets
 *		What the statement would drop, rename, retype or move; NIL for any
 *		statement that destroys nothing directly.
 */
List *
guard_statement_targets(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			return targets_alter_table((AlterTableStmt *) parsetree);
		case T_RenameStmt:
			return targets_rename((RenameStmt *) parsetree);
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

				if (!is_relation_object(stmt->objectType))
					return NIL;
				return target_add(NIL, stmt->relation, NULL, GUARD_SET_SCHEMA);
			}
		case T_DropStmt:
			return targets_drop((DropStmt *) parsetree);
		default:
			return NIL;
	}
}
