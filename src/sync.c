/*-------------------------------------------------------------------------
 *
 * sync.c
 *		Dual-write syncs: phase_sync, the installation and removal of their
 *		triggers as the plan moves, and the compilation of their
 *		expressions.
 *
 * A sync keeps one column of a table (to_col, the new one) in step with
 * another (from_col, the old one) while two versions of an application
 * write the table: a BEFORE INSERT OR UPDATE row trigger computes to_col
 * from the row when the writer gave only from_col ("forward"), and from_col
 * when it gave only to_col ("backward", optional).  The trigger is the C
 * function phased_change.sync_row (sync_trigger.c); this file decides when
 * it is in place.  The plan installs it on entering migrate (or at once,
 * when the sync is registered in migrate or contract), keeps it through
 * contract, and removes it on entering cleanup, on going back to expand, on
 * abandon and on completion; a rollback into contract or migrate installs
 * it again.  The trigger is created in the catalog session, as the
 * extension owner, and enabled ALWAYS: a session with
 * session_replication_role = replica writes through it like any other.
 *
 * A sync expression is one expression over the row being written, like a
 * generated column's: no subquery, aggregate, window or set-returning
 * function, no system column or whole-row reference, and no volatile
 * function called directly (which does not keep it from writing: a stable
 * function may call a volatile one; a write that reaches a synced table
 * from there is refused by the trigger).  Its value is coerced to the
 * target column's type as an assignment would.  The text the caller gave
 * is parsed under the caller's search_path (pg_temp last) and kept for
 * display; what the trigger runs is that expression printed back with
 * every function, operator and type outside pg_catalog named with its
 * schema (and implicit casts made explicit), parsed against the table, by
 * name, once per backend under search_path = pg_catalog, pg_temp
 * (sync_trigger.c).  So a name means in every writer's session what it
 * meant at registration: a role with CREATE on a schema of the registering
 * search_path cannot later slip in a function or operator that matches
 * better.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rewriteManip.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "phased_change.h"
#include "sync.h"

PG_FUNCTION_INFO_V1(phase_sync);

#define SYNC_TRIGGER_PREFIX "phased_change_sync_"

/*
 * sync_error_context
 *		Name the sync expression an error of the parser or the planner is
 *		about.
 */
static void
sync_error_context(void *arg)
{
	const SyncSource *source = arg;

	errcontext("%s expression of sync \"%s -> %s\"",
			   source->which, source->from_col, source->to_col);
}

/*
 * sync_expression_parse
 *		The one expression of "SELECT <expression>", or an error saying why
 *		the text is not exactly one expression.
 */
static Node *
sync_expression_parse(const SyncSource *source, const char *expression)
{
	List	   *stmts;
	SelectStmt *select;

	stmts = fragment_parse(psprintf("SELECT %s", expression),
						   psprintf("%s expression of sync \"%s -> %s\"",
									source->which, source->from_col, source->to_col));

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s expression of sync \"%s -> %s\" holds more than one statement",
						source->which, source->from_col, source->to_col),
				 errdetail("A sync expression is a single expression over the row being written.")));
	select = (SelectStmt *) ((RawStmt *) linitial(stmts))->stmt;
	if (!fragment_is_single_expression((Node *) select))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s expression of sync \"%s -> %s\" is not a single expression",
						source->which, source->from_col, source->to_col),
				 errdetail("A sync expression is one expression over the row being written, such as array_cat(primary_categories, legacy_categories); it cannot have clauses of its own.")));
	return ((ResTarget *) linitial(select->targetList))->val;
}

/*
 * sync_expression_require_row_level
 *		Refuse what would make the value depend on more than the row, or the
 *		expression do more than compute it.
 */
static void
sync_expression_require_row_level(const SyncSource *source, Node *expr)
{
	const char *found = NULL;
	Bitmapset  *attnos = NULL;
	int			member = -1;

	if (checkExprHasSubLink(expr))
		found = "a subquery";
	else if (contain_agg_clause(expr))
		found = "an aggregate";
	else if (contain_windowfuncs(expr))
		found = "a window function";
	else if (expression_returns_set(expr))
		found = "a set-returning function";
	if (found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s expression of sync \"%s -> %s\" reads more than the row",
						source->which, source->from_col, source->to_col),
				 errdetail("It contains %s; a sync expression is computed from the row being written alone.",
						   found)));

	pull_varattnos(expr, 1, &attnos);
	while ((member = bms_next_member(attnos, member)) >= 0)
	{
		if (member + FirstLowInvalidHeapAttributeNumber <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s expression of sync \"%s -> %s\" names a system column or the whole row",
							source->which, source->from_col, source->to_col),
					 errdetail("A sync expression may name only the table's own columns.")));
	}

	if (contain_volatile_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s expression of sync \"%s -> %s\" calls a volatile function",
						source->which, source->from_col, source->to_col),
				 errdetail("A sync expression gives the same value for the same row, and writes nothing: it may call immutable and stable functions only.")));
}

/*
 * sync_expression_deparse
 *		The analysed expression as text that means the same under
 *		SYNC_RESOLVED_SEARCH_PATH: printed while that is the search_path,
 *		so that ruleutils names every function, operator and type it would
 *		not find there the same way with its schema, and with implicit
 *		casts shown, so that the argument types select the same function
 *		when the text is parsed again.
 */
static char *
sync_expression_deparse(Relation rel, Node *expr)
{
	int			nestlevel = NewGUCNestLevel();
	char	   *text;

	(void) set_config_option("search_path", SYNC_RESOLVED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	text = deparse_expression(expr,
							  deparse_context_for(RelationGetRelationName(rel),
												  RelationGetRelid(rel)),
							  false, true);
	AtEOXact_GUC(true, nestlevel);
	return text;
}

/*
 * sync_expression_compile
 *		Parse a sync expression against the table, by column name, under
 *		the given search_path, check that it is a row-level expression and
 *		coerce it to the target column's type as an assignment would.
 *		Returns the expression, not yet planned; with resolved not NULL,
 *		also the expression as the trigger is to parse it
 *		(sync_expression_deparse).
 */
Expr *
sync_expression_compile(Relation rel, const SyncSource *source, const char *expression,
						AttrNumber target, const char *search_path, char **resolved)
{
	Form_pg_attribute column = TupleDescAttr(RelationGetDescr(rel), target - 1);
	ErrorContextCallback callback;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *raw;
	Node	   *expr;
	Node	   *coerced;
	Oid			type;
	int			nestlevel;

	raw = sync_expression_parse(source, expression);

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", search_path,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	callback.callback = sync_error_context;
	callback.arg = (void *) source;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	pstate = make_parsestate(NULL);
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, NULL, false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	expr = transformExpr(pstate, raw, EXPR_KIND_OTHER);
	sync_expression_require_row_level(source, expr);
	if (resolved != NULL)
		*resolved = sync_expression_deparse(rel, expr);

	type = exprType(expr);
	coerced = coerce_to_target_type(pstate, expr, type, column->atttypid, column->atttypmod,
									COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	if (coerced == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s expression of sync \"%s -> %s\" is of type %s, but column \"%s\" is of type %s",
						source->which, source->from_col, source->to_col,
						format_type_be(type), NameStr(column->attname),
						format_type_be(column->atttypid)),
				 errhint("Cast the expression to %s.",
						 format_type_with_typemod(column->atttypid, column->atttypmod))));
	assign_expr_collations(pstate, coerced);
	free_parsestate(pstate);

	error_context_stack = callback.previous;
	AtEOXact_GUC(true, nestlevel);
	return (Expr *) coerced;
}

/*
 * sync_arg_name
 *		A required argument of type name.
 */
static char *
sync_arg_name(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	arg_require(fcinfo, argno, argname);
	return pstrdup(NameStr(*PG_GETARG_NAME(argno)));
}

/*
 * sync_require_table
 *		The caller must own an ordinary, permanent table outside the system
 *		catalogs and the extension's own schema.
 */
static void
sync_require_table(Oid relid, const Caller *caller)
{
	char		relkind;

	LockRelationOid(relid, AccessShareLock);
	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relid < FirstNormalObjectId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot sync columns of system table \"%s\"", get_rel_name(relid))));
	if (extension_schema_holds(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot sync columns of table \"%s\" of extension \"%s\"",
						get_rel_name(relid), PHASED_CHANGE_EXTENSION)));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot sync columns of \"%s\"", get_rel_name(relid)),
				 errdetail("Only ordinary tables can have a sync; partitioned tables, views and foreign tables cannot.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot sync columns of temporary table \"%s\"", get_rel_name(relid)),
				 errdetail("Temporary tables vanish with their session.")));
	if (!pc_relation_ownercheck(relid, caller->roleid))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind), get_rel_name(relid));
}

/*
 * sync_require_column
 *		A user column of the table that PostgreSQL does not compute itself;
 *		returns its number.
 */
static AttrNumber
sync_require_column(Relation rel, const char *col)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), col);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						col, RelationGetRelationName(rel))));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot sync system column \"%s\"", col)));
	if (TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attgenerated != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot sync generated column \"%s\"", col),
				 errdetail("PostgreSQL computes its value itself.")));
	return attnum;
}

/*
 * sync_require_no_pg_temp
 *		As for checks: an expression has no reason to name pg_temp, and
 *		refusing the word keeps the rule closed.
 */
static void
sync_require_no_pg_temp(const SyncSource *source, const char *expression)
{
	if (strstr(asc_tolower(expression, strlen(expression)), "pg_temp") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s expression of sync \"%s -> %s\" names the temporary schema",
						source->which, source->from_col, source->to_col),
				 errdetail("A sync expression is resolved with pg_temp searched last, and may not name pg_temp.")));
}

/*
 * sync_resolve
 *		Compile an expression under the caller's search_path, and return
 *		its resolved text (sync_expression_deparse) once that compiles as
 *		the trigger will compile it; initialise it for execution as the
 *		caller, so that a missing EXECUTE privilege shows now rather than
 *		at the first write.
 */
static char *
sync_resolve(Relation rel, const SyncSource *source, const char *expression,
			 AttrNumber target, const char *search_path)
{
	char	   *resolved;
	Expr	   *expr;

	sync_require_no_pg_temp(source, expression);
	(void) sync_expression_compile(rel, source, expression, target, search_path, &resolved);
	/* a temporary type would mean another type, or none, in another session */
	sync_require_no_pg_temp(source, resolved);
	expr = sync_expression_compile(rel, source, resolved, target, SYNC_RESOLVED_SEARCH_PATH, NULL);
	(void) ExecInitExpr(expression_planner(expr), NULL);
	return resolved;
}

/*
 * sync_validate
 *		Check the columns and resolve both expressions (sync_resolve);
 *		*backward_resolved is NULL without a backward expression.
 */
static void
sync_validate(Relation rel, const char *from_col, const char *to_col,
			  const char *forward, const char *backward, const char *search_path,
			  char **forward_resolved, char **backward_resolved)
{
	AttrNumber	from_attnum = sync_require_column(rel, from_col);
	AttrNumber	to_attnum = sync_require_column(rel, to_col);
	SyncSource	source = {"forward", from_col, to_col};

	if (from_attnum == to_attnum)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot sync column \"%s\" with itself", from_col),
				 errdetail("A sync keeps one column in step with another.")));
	*forward_resolved = sync_resolve(rel, &source, forward, to_attnum, search_path);
	*backward_resolved = NULL;
	if (backward != NULL)
	{
		source.which = "backward";
		*backward_resolved = sync_resolve(rel, &source, backward, from_attnum, search_path);
	}
}

/*
 * sync_search_path
 *		The schemas the caller's search_path searches now, by name ("$user"
 *		resolved, missing schemas left out), then pg_temp, explicitly last:
 *		the path a sync's expressions are resolved with at registration
 *		(kept in the catalog and the history, for the record).
 */
static char *
sync_search_path(void)
{
	StringInfoData path;
	ListCell   *lc;

	initStringInfo(&path);
	foreach(lc, fetch_search_path(false))
	{
		Oid			namespace = lfirst_oid(lc);

		if (isAnyTempNamespace(namespace))
			continue;
		appendStringInfo(&path, "%s, ", quote_identifier(get_namespace_name(namespace)));
	}
	appendStringInfoString(&path, "pg_temp");
	return path.data;
}

/*
 * sync_trigger_name
 *		phased_change_sync_<to_col>, cut to a name's length at a character
 *		boundary.
 */
static char *
sync_trigger_name(const char *to_col)
{
	char	   *name = psprintf(SYNC_TRIGGER_PREFIX "%s", to_col);
	int			len = pg_mbcliplen(name, strlen(name), NAMEDATALEN - 1);

	name[len] = '\0';
	return name;
}

/*
 * sync_require_no_conflict
 *		A column takes part in one sync of an active plan at a time (the
 *		sync being replaced excepted), and the trigger's name must be free.
 */
static void
sync_require_no_conflict(const PlanRow *plan, Oid relid, const char *from_col,
						 const char *to_col, const char *trigger_name)
{
	Oid			argtypes[5] = {INT8OID, OIDOID, NAMEOID, NAMEOID, NAMEOID};
	Datum		values[5];

	values[0] = Int64GetDatum(plan->plan_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(from_col));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(to_col));
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(trigger_name));
	if (SPI_execute_with_args("SELECT p.name, s.from_col, s.to_col"
							  " FROM phased_change.sync s"
							  " JOIN phased_change.plan p ON p.plan_id = s.plan_id"
							  " WHERE s.rel = $2::pg_catalog.regclass AND p.status = 'active'"
							  "   AND NOT (s.plan_id = $1 AND s.to_col = $4)"
							  "   AND (s.from_col = ANY (ARRAY[$3, $4]) OR s.to_col = ANY (ARRAY[$3, $4])"
							  "        OR s.trigger_name = $5)"
							  " ORDER BY s.sync_id LIMIT 1",
							  5, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up syncs");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" already has sync \"%s -> %s\" of change plan \"%s\"",
						get_rel_name(relid),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("A column takes part in one sync at a time.")));

	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_trigger t"
							  " WHERE t.tgrelid = $2 AND t.tgname = $5"
							  "   AND t.tgfoid <> 'phased_change.sync_row()'::pg_catalog.regprocedure",
							  5, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up triggers");
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" already has a trigger named \"%s\"",
						get_rel_name(relid), trigger_name),
				 errdetail("The sync's trigger takes that name."),
				 errhint("Rename or drop that trigger first.")));
}

/*
 * sync_relation_name
 *		The table's schema-qualified, quoted name, for DDL.
 */
static char *
sync_relation_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * sync_trigger_state
 *		Whether the table has a trigger of that name (*exists), whether it
 *		runs phased_change.sync_row (*ours), and whether it is exactly the
 *		sync's trigger: this sync's id as its one argument, enabled ALWAYS.
 */
static bool
sync_trigger_state(int64 sync_id, Oid relid, const char *trigger_name, bool *exists, bool *ours)
{
	Oid			argtypes[3] = {OIDOID, NAMEOID, TEXTOID};
	Datum		values[3];
	bool		isnull;
	bool		exact;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(trigger_name));
	values[2] = CStringGetTextDatum(psprintf(INT64_FORMAT, sync_id));
	if (SPI_execute_with_args("SELECT t.tgfoid = 'phased_change.sync_row()'::pg_catalog.regprocedure,"
							  "  t.tgenabled = 'A' AND t.tgnargs = 1"
							  "  AND t.tgargs = (pg_catalog.convert_to($3, 'UTF8') || '\\x00'::pg_catalog.bytea)"
							  " FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1 AND t.tgname = $2",
							  3, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up triggers");
	*exists = SPI_processed > 0;
	if (!*exists)
	{
		*ours = false;
		return false;
	}
	*ours = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	exact = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return *ours && exact;
}

/* Whether the plan's own DDL on a sync trigger is running (sync_guard.c). */
static bool sync_own_ddl = false;

bool
sync_running_own_ddl(void)
{
	return sync_own_ddl;
}

/*
 * sync_run_ddl
 *		Run one DDL statement of the plan's own (in the catalog session),
 *		which the guard of sync triggers lets through.
 */
static void
sync_run_ddl(const char *sql)
{
	int			result;

	sync_own_ddl = true;
	PG_TRY();
	{
		result = SPI_execute(sql, false, 0);
	}
	PG_FINALLY();
	{
		sync_own_ddl = false;
	}
	PG_END_TRY();
	if (result != SPI_OK_UTILITY)
		elog(ERROR, "could not run \"%s\"", sql);
}

/*
 * sync_remove
 *		Drop the sync's trigger if the table has it.  A trigger of that name
 *		that does not run phased_change.sync_row is someone else's and is
 *		left alone.
 */
static void
sync_remove(int64 sync_id, Oid relid, const char *trigger_name)
{
	bool		exists;
	bool		ours;

	(void) sync_trigger_state(sync_id, relid, trigger_name, &exists, &ours);
	if (ours)
		sync_run_ddl(psprintf("DROP TRIGGER %s ON %s", quote_identifier(trigger_name),
							  sync_relation_name(relid)));
}

/*
 * sync_install
 *		Put the sync's trigger in place, enabled ALWAYS; one that runs
 *		phased_change.sync_row but differs (disabled, another sync's) is
 *		made anew.
 */
static void
sync_install(int64 sync_id, Oid relid, const char *trigger_name)
{
	bool		exists;
	bool		ours;
	char	   *relname = sync_relation_name(relid);

	if (sync_trigger_state(sync_id, relid, trigger_name, &exists, &ours))
		return;
	if (exists && !ours)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("cannot install sync trigger \"%s\": table \"%s\" already has a trigger of that name",
						trigger_name, get_rel_name(relid)),
				 errhint("Rename or drop that trigger.")));
	if (exists)
		sync_run_ddl(psprintf("DROP TRIGGER %s ON %s", quote_identifier(trigger_name), relname));
	sync_run_ddl(psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW"
						  " EXECUTE FUNCTION phased_change.sync_row('" INT64_FORMAT "')",
						  quote_identifier(trigger_name), relname, sync_id));
	sync_run_ddl(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
						  relname, quote_identifier(trigger_name)));
}

/*
 * sync_apply_phase
 *		Called by plan_set_phase, in the catalog session, once the plan row
 *		says the new phase (PHASE_NONE with a status other than active: the
 *		plan ended).  Installs the plan's syncs in migrate and contract and
 *		removes them anywhere else.  Syncs of tables that are gone are
 *		skipped, and so is a catalog older than 1.4.
 */
void
sync_apply_phase(const PlanRow *plan, Phase phase, const char *status)
{
	bool		wanted = strcmp(status, "active") == 0 &&
		(phase == PHASE_MIGRATE || phase == PHASE_CONTRACT);
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(plan->plan_id)};
	SPITupleTable *syncs;

	/* a catalog that ALTER EXTENSION UPDATE has not brought to 1.4 has none */
	if (!OidIsValid(get_relname_relid("sync", get_namespace_oid(PHASED_CHANGE_EXTENSION, false))))
		return;
	if (SPI_execute_with_args("SELECT s.sync_id, s.rel::pg_catalog.oid, s.trigger_name"
							  " FROM phased_change.sync s"
							  " WHERE s.plan_id = $1"
							  "   AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.rel)"
							  " ORDER BY s.sync_id",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the syncs of change plan \"%s\"", plan->name);
	syncs = SPI_tuptable;
	for (uint64 i = 0; i < syncs->numvals; i++)
	{
		bool		isnull;
		int64		sync_id = DatumGetInt64(SPI_getbinval(syncs->vals[i], syncs->tupdesc, 1, &isnull));
		Oid			relid = DatumGetObjectId(SPI_getbinval(syncs->vals[i], syncs->tupdesc, 2, &isnull));
		char	   *trigger_name = SPI_getvalue(syncs->vals[i], syncs->tupdesc, 3);

		if (wanted)
			sync_install(sync_id, relid, trigger_name);
		else
			sync_remove(sync_id, relid, trigger_name);
	}
	SPI_freetuptable(syncs);
}

/*
 * sync_store
 *		Insert the sync, or replace the plan's sync of the same column; the
 *		sync's id, and whether it replaced one.
 */
static int64
sync_store(const PlanRow *plan, Oid relid, const char *from_col, const char *to_col,
		   const char *forward, const char *backward, const char *search_path,
		   const char *forward_resolved, const char *backward_resolved,
		   const char *trigger_name, bool *replaced)
{
	Oid			argtypes[11] = {INT8OID, OIDOID, NAMEOID, NAMEOID, TEXTOID, TEXTOID,
	TEXTOID, NAMEOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		values[11];
	char		nulls[11] = {' ', ' ', ' ', ' ', ' ', backward ? ' ' : 'n', ' ', ' ', ' ',
	' ', backward_resolved ? ' ' : 'n'};
	bool		isnull;

	values[0] = Int64GetDatum(plan->plan_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(from_col));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(to_col));
	values[4] = CStringGetTextDatum(forward);
	values[5] = backward ? CStringGetTextDatum(backward) : (Datum) 0;
	values[6] = CStringGetTextDatum(search_path);
	values[7] = DirectFunctionCall1(namein, CStringGetDatum(trigger_name));
	values[8] = TimestampTzGetDatum(plan->now);
	values[9] = CStringGetTextDatum(forward_resolved);
	values[10] = backward_resolved ? CStringGetTextDatum(backward_resolved) : (Datum) 0;
	if (SPI_execute_with_args("INSERT INTO phased_change.sync AS s"
							  " (plan_id, rel, from_col, to_col, forward, backward, search_path,"
							  "  trigger_name, registered_at, forward_resolved, backward_resolved)"
							  " VALUES ($1, $2::pg_catalog.regclass, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
							  " ON CONFLICT (plan_id, rel, to_col) DO UPDATE"
							  " SET from_col = excluded.from_col, forward = excluded.forward,"
							  "     backward = excluded.backward, search_path = excluded.search_path,"
							  "     forward_resolved = excluded.forward_resolved,"
							  "     backward_resolved = excluded.backward_resolved"
							  " RETURNING s.sync_id, s.registered_at <> $9",
							  11, argtypes, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not store sync \"%s -> %s\"", from_col, to_col);
	*replaced = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * phase_sync(plan text, rel regclass, from_col name, to_col name,
 *			  forward text, backward text DEFAULT NULL)
 *		Register a dual-write sync with the plan (or replace the plan's sync
 *		of the same column, which also installs its trigger again).  Allowed
 *		in expand, migrate and contract; installed at once in the latter two.
 */
Datum
phase_sync(PG_FUNCTION_ARGS)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	Oid			relid;
	char	   *from_col = sync_arg_name(fcinfo, 2, "from_col");
	char	   *to_col = sync_arg_name(fcinfo, 3, "to_col");
	char	   *forward = arg_text(fcinfo, 4, "forward");
	char	   *backward = PG_ARGISNULL(5) ? NULL : arg_text(fcinfo, 5, "backward");
	char	   *search_path = sync_search_path();
	char	   *trigger_name = sync_trigger_name(to_col);
	char	   *forward_resolved;
	char	   *backward_resolved;
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	Relation	rel;
	int64		sync_id;
	bool		replaced;
	HistoryEvent event = {"sync_added", PHASE_NONE, PHASE_NONE, false, -1, NULL};

	arg_require(fcinfo, 1, "rel");
	relid = PG_GETARG_OID(1);
	sync_require_table(relid, &caller);
	rel = table_open(relid, AccessShareLock);
	sync_validate(rel, from_col, to_col, forward, backward, search_path,
				  &forward_resolved, &backward_resolved);
	table_close(rel, NoLock);

	catalog_begin(&session);
	plan_lock(plan_name, &plan);
	plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);
	if (plan.phase == PHASE_CLEANUP)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot add a sync to change plan \"%s\" in phase \"cleanup\"", plan_name),
				 errdetail("A sync runs from migrate through contract; it is removed on entering cleanup.")));
	sync_require_no_conflict(&plan, relid, from_col, to_col, trigger_name);

	sync_id = sync_store(&plan, relid, from_col, to_col, forward, backward, search_path,
						 forward_resolved, backward_resolved, trigger_name, &replaced);
	if (plan.phase == PHASE_MIGRATE || plan.phase == PHASE_CONTRACT)
		sync_install(sync_id, relid, trigger_name);

	event.event = replaced ? "sync_changed" : "sync_added";
	event.detail = history_detail("table", sync_relation_name(relid),
								  "from_column", from_col, "to_column", to_col,
								  "forward", forward, "backward", backward,
								  "search_path", search_path, NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_VOID();
}
