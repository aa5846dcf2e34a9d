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

#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "guard.h"

/*
 * targets_descendants
 *		A column renamed, retyped or dropped on a parent (without ONLY) is
 *		renamed, retyped or dropped in its inheritance children and
 *		partitions too: the same column of each, reached through the parent.
 */
static List *
targets_descendants(List *targets, Oid relid, const char *column, GuardAction action,
					LOCKMODE lockmode)
{
	ListCell   *lc;

	if (!has_subclass(relid))
		return targets;
	foreach(lc, find_all_inheritors(relid, lockmode, NULL))
	{
		GuardTarget *target;

		if (lfirst_oid(lc) == relid)
			continue;
		target = palloc0(sizeof(GuardTarget));
		target->relid = lfirst_oid(lc);
		target->column = pstrdup(column);
		target->action = action;
		target->cascaded = true;
		targets = lappend(targets, target);
	}
	return targets;
}

/*
 * may_act
 *		Whether the current user may do what the statement asks of the
 *		relation, as PostgreSQL decides it: its owner, and for a drop the
 *		owner of its schema too.  Others get PostgreSQL's own error.
 */
static bool
may_act(Oid relid, const char *column, GuardAction action)
{
	if (pc_relation_ownercheck(relid, GetUserId()))
		return true;
	return action == GUARD_DROP && column == NULL &&
		pc_namespace_ownercheck(get_rel_namespace(relid), GetUserId());
}

/*
 * target_add
 *		Resolve a relation named by the statement and add a target for it;
 *		a relation that does not exist (IF EXISTS) is skipped.  A table the
 *		user may act on is resolved again with the lock the command takes
 *		(the lookup retries when the name moves while it waits), so that a
 *		concurrent rename cannot swap the relation decided on for another.
 *		Indexes and sequences are left to PostgreSQL's own lock order.  A hot
 *		standby can take no such lock and runs no DDL: there the names are
 *		resolved under AccessShareLock, and PostgreSQL refuses what we allow.
 */
static List *
target_add(List *targets, RangeVar *relation, const char *column, GuardAction action,
		   LOCKMODE lockmode)
{
	GuardTarget *target;
	Oid			relid = RangeVarGetRelid(relation, NoLock, true);
	char		relkind;

	if (!OidIsValid(relid))
		return targets;
	if (lockmode != NoLock && RecoveryInProgress())
		lockmode = AccessShareLock;
	relkind = get_rel_relkind(relid);
	if (lockmode != NoLock && relkind != RELKIND_INDEX && relkind != RELKIND_PARTITIONED_INDEX &&
		relkind != RELKIND_SEQUENCE && may_act(relid, column, action))
	{
		relid = RangeVarGetRelidExtended(relation, lockmode, RVR_MISSING_OK, NULL, NULL);
		if (!OidIsValid(relid))
			return targets;
	}
	else
		lockmode = NoLock;
	target = palloc0(sizeof(GuardTarget));
	target->relid = relid;
	target->column = column ? pstrdup(column) : NULL;
	target->action = action;
	/* the children first: a refusal there is the one that matters */
	if (column != NULL && relation->inh)
		targets = targets_descendants(targets, relid, column, action, lockmode);
	return lappend(targets, target);
}

/*
 * is_relation_object
 *		Statement object types that may name a table or view.  ALTER INDEX
 *		and ALTER SEQUENCE accept a table too; what the name resolves to is
 *		what counts (the guard looks up the relation itself).
 */
static bool
is_relation_object(ObjectType type)
{
	return type == OBJECT_TABLE || type == OBJECT_VIEW ||
		type == OBJECT_MATVIEW || type == OBJECT_FOREIGN_TABLE ||
		type == OBJECT_INDEX || type == OBJECT_SEQUENCE;
}

/*
 * relations_query
 *		Relations found by a query with one OID parameter, as targets of an
 *		action on one column (or the relation when column is NULL) reached
 *		through something else (a schema, a composite type).
 */
static List *
relations_query(const char *query, Oid param, const char *column, GuardAction action)
{
	MemoryContext caller_context = CurrentMemoryContext;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(param)};
	List	   *targets = NIL;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(query, 1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up relations");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi_context = MemoryContextSwitchTo(caller_context);
		GuardTarget *target = palloc0(sizeof(GuardTarget));

		target->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, 1, &isnull));
		target->column = column ? pstrdup(column) : NULL;
		target->action = action;
		target->cascaded = true;
		targets = lappend(targets, target);
		MemoryContextSwitchTo(spi_context);
	}
	SPI_finish();
	return targets;
}

/*
 * targets_schema_rename
 *		ALTER SCHEMA ... RENAME changes the qualified name of every table in
 *		it: the tables and views of the schema, as renamed.  Only the
 *		schema's owner gets that far; others get PostgreSQL's error.
 */
static List *
targets_schema_rename(const char *schema)
{
	Oid			nspid = get_namespace_oid(schema, true);

	if (!OidIsValid(nspid) || !pc_namespace_ownercheck(nspid, GetUserId()))
		return NIL;
	return relations_query("SELECT c.oid FROM pg_catalog.pg_class c"
						   " WHERE c.relnamespace OPERATOR(pg_catalog.=) $1"
						   "   AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f}')",
						   nspid, NULL, GUARD_RENAME);
}

/*
 * targets_typed_tables
 *		ALTER TYPE ... RENAME / ALTER / DROP ATTRIBUTE ... CASCADE reaches
 *		the same column of every table of that composite type.
 */
static List *
targets_typed_tables(RangeVar *type_name, const char *attribute, GuardAction action)
{
	Oid			relid = RangeVarGetRelid(type_name, NoLock, true);
	Oid			typid = OidIsValid(relid) ? get_rel_type_id(relid) : InvalidOid;

	if (!OidIsValid(typid))
		return NIL;
	return relations_query("SELECT c.oid FROM pg_catalog.pg_class c"
						   " WHERE c.reloftype OPERATOR(pg_catalog.=) $1",
						   typid, attribute, action);
}

/*
 * targets_alter_table
 *		ALTER TABLE ... DROP COLUMN / ALTER COLUMN ... TYPE, among any other
 *		subcommands; and ALTER TYPE ... DROP / ALTER ATTRIBUTE, which reach
 *		the tables of a composite type.
 */
static List *
targets_alter_table(AlterTableStmt *stmt)
{
	List	   *targets = NIL;
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		GuardAction action;

		if (cmd->subtype == AT_DropColumn)
			action = GUARD_DROP;
		else if (cmd->subtype == AT_AlterColumnType)
			action = GUARD_RETYPE;
		else
			continue;
		if (stmt->objtype == OBJECT_TYPE)
			targets = list_concat(targets,
								  targets_typed_tables(stmt->relation, cmd->name, action));
		else if (is_relation_object(stmt->objtype))
			targets = target_add(targets, stmt->relation, cmd->name, action,
								 AlterTableGetLockLevel(stmt->cmds));
	}
	return targets;
}

/*
 * targets_rename
 *		ALTER TABLE ... RENAME [COLUMN] ... (also spelled ALTER INDEX or
 *		ALTER SEQUENCE), ALTER TYPE ... RENAME ATTRIBUTE, ALTER SCHEMA ...
 *		RENAME.
 */
static List *
targets_rename(RenameStmt *stmt)
{
	if (stmt->renameType == OBJECT_COLUMN && is_relation_object(stmt->relationType))
		return target_add(NIL, stmt->relation, stmt->subname, GUARD_RENAME,
						  AccessExclusiveLock);
	if (stmt->renameType == OBJECT_ATTRIBUTE)
		return targets_typed_tables(stmt->relation, stmt->subname, GUARD_RENAME);
	if (stmt->renameType == OBJECT_SCHEMA)
		return targets_schema_rename(stmt->subname);
	if (is_relation_object(stmt->renameType))
		return target_add(NIL, stmt->relation, NULL, GUARD_RENAME, AccessExclusiveLock);
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
							 NULL, GUARD_DROP,
							 stmt->concurrent ? ShareUpdateExclusiveLock : AccessExclusiveLock);
	return targets;
}

/*
 * guard_statement_may_matter
 *		The statement kinds the guard looks at; everything else passes with
 *		one switch.
 */
bool
guard_statement_may_matter(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
		case T_RenameStmt:
		case T_AlterObjectSchemaStmt:
		case T_DropStmt:
		case T_DropOwnedStmt:
		case T_AlterEventTrigStmt:
		case T_AlterExtensionContentsStmt:
		case T_AlterOwnerStmt:
		case T_RuleStmt:
			return true;
		case T_CreateTrigStmt:
			/* CREATE OR REPLACE TRIGGER may replace a sync's (sync_guard.c) */
			return ((CreateTrigStmt *) parsetree)->replace;
		default:
			return false;
	}
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
				return target_add(NIL, stmt->relation, NULL, GUARD_SET_SCHEMA,
								  AccessExclusiveLock);
			}
		case T_RuleStmt:
			{
				RuleStmt   *stmt = (RuleStmt *) parsetree;

				/* ON SELECT DO INSTEAD: a table turned into a view (15) */
				if (stmt->event != CMD_SELECT || strcmp(stmt->rulename, "_RETURN") != 0)
					return NIL;
				return target_add(NIL, stmt->relation, NULL, GUARD_TO_VIEW,
								  AccessExclusiveLock);
			}
		case T_DropStmt:
			return targets_drop((DropStmt *) parsetree);
		default:
			return NIL;
	}
}
