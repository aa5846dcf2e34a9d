/*-------------------------------------------------------------------------
 *
 * checks.c
 *		Verification checks: validating a predicate, adding it to a phase,
 *		and running a phase's checks as the plan's owner, read-only.
 *
 * A predicate is one SQL boolean expression (subqueries allowed).  It is
 * stored as text and run as "SELECT <predicate>", so it must parse, on its
 * own, as exactly one SELECT with a single target and no clause of its own;
 * anything else (a second statement, a FROM smuggled past a closing
 * parenthesis) is refused when the check is added and again before it runs.
 *
 * Each check runs in an internal subtransaction that is always rolled back,
 * as the plan's owner with SECURITY_RESTRICTED_OPERATION, under the
 * search_path in force when the check was added and with
 * transaction_read_only on, so that a check can neither write nor gain
 * rights.  An error inside a check is recorded as its failure.
 *
 * A check reads only the tables it was written for, never a temporary
 * object of whoever runs it: pg_temp is searched explicitly last (as
 * PostgreSQL advises for SECURITY DEFINER functions), a predicate may not
 * name pg_temp, and a check whose query reads a temporary relation fails.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/varlena.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "phased_change.h"
#include "usage.h"

PG_FUNCTION_INFO_V1(phase_check_add);
PG_FUNCTION_INFO_V1(phase_check_drop);

/*
 * fragment_parse
 *		Run the raw parser over SQL built around a user's fragment (a
 *		predicate, a SET list, an expression), turning a syntax error into
 *		one about the fragment ("<what> does not parse") rather than about
 *		an internal query.
 */
List *
fragment_parse(const char *sql, const char *what)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	List	   *volatile stmts = NIL;

	PG_TRY();
	{
		stmts = pc_raw_parser(sql);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s does not parse", what),
				 errdetail("The parser said: %s.", edata->message)));
	}
	PG_END_TRY();
	return stmts;
}

/*
 * fragment_is_single_expression
 *		Whether a parsed "SELECT <fragment>" is exactly one expression: no
 *		clause of its own, no set operation, one target.
 */
bool
fragment_is_single_expression(const Node *stmt)
{
	const SelectStmt *select = (const SelectStmt *) stmt;

	return IsA(select, SelectStmt) &&
		select->op == SETOP_NONE &&
		list_length(select->targetList) == 1 &&
		!(select->fromClause || select->whereClause || select->groupClause ||
		  select->havingClause || select->windowClause || select->distinctClause ||
		  select->sortClause || select->limitOffset || select->limitCount ||
		  select->lockingClause || select->withClause || select->intoClause ||
		  select->valuesLists);
}

/*
 * predicate_names_pg_temp
 *		Whether the predicate mentions pg_temp (or a pg_temp_N) anywhere.
 *		Refusing the word itself, even inside a literal, keeps the rule
 *		simple and closed: a check has no reason to name it.
 */
bool
predicate_names_pg_temp(const char *predicate)
{
	char	   *lower = asc_tolower(predicate, strlen(predicate));

	return strstr(lower, "pg_temp") != NULL;
}

/*
 * predicate_validate
 *		Refuse a predicate that is not exactly one boolean expression, or
 *		that names the temporary schema.
 */
void
predicate_validate(const char *check_name, const char *predicate)
{
	List	   *stmts = fragment_parse(psprintf("SELECT %s", predicate),
									   psprintf("predicate of check \"%s\"", check_name));

	if (predicate_names_pg_temp(predicate))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("predicate of check \"%s\" names the temporary schema", check_name),
				 errdetail("A check never reads temporary objects: it runs with pg_temp searched last, and may not name pg_temp."),
				 errhint("Name the permanent table, function or operator the check is about.")));

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("predicate of check \"%s\" holds more than one statement",
						check_name),
				 errdetail("A predicate is a single boolean expression.")));

	if (!fragment_is_single_expression(((RawStmt *) linitial(stmts))->stmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("predicate of check \"%s\" is not a single expression",
						check_name),
				 errdetail("A predicate is one boolean expression, such as NOT EXISTS (SELECT ...); it cannot have clauses of its own."),
				 errhint("Put FROM and WHERE inside a subquery.")));
}

/*
 * check_run_search_path
 *		The search_path a check runs with: the one stored with it, without
 *		any pg_temp entry, and then pg_temp explicitly last.
 */
char *
check_run_search_path(const char *stored)
{
	char	   *copy = pstrdup(stored);
	List	   *names;
	ListCell   *lc;
	StringInfoData path;

	initStringInfo(&path);
	if (!SplitIdentifierString(copy, ',', &names))
		names = NIL;			/* unparsable: only pg_catalog and pg_temp */
	foreach(lc, names)
	{
		char	   *name = lfirst(lc);

		if (strncmp(name, "pg_temp", strlen("pg_temp")) == 0)
			continue;
		appendStringInfo(&path, "%s, ", quote_identifier(name));
	}
	appendStringInfoString(&path, "pg_temp");
	return path.data;
}

/*
 * check_temporary_relation
 *		The name of a temporary relation the prepared check reads directly,
 *		or NULL.  pg_temp last still finds a temporary table whose name
 *		nothing permanent on the path has; that must not count either.
 */
static char *
check_temporary_relation(SPIPlanPtr plan)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = (CachedPlanSource *) lfirst(lc);
		ListCell   *rc;

		foreach(rc, source->relationOids)
		{
			Oid			relid = lfirst_oid(rc);

			if (isAnyTempNamespace(get_rel_namespace(relid)))
				return get_rel_name(relid);
		}
	}
	return NULL;
}

/*
 * check_evaluate
 *		Run "SELECT <predicate>" (already inside the check's subtransaction)
 *		and say why it did not hold, or return NULL when it did.
 */
static char *
check_evaluate(const char *predicate)
{
	Oid			typid;
	bool		isnull;
	Datum		value;
	SPIPlanPtr	plan = SPI_prepare(psprintf("SELECT %s", predicate), 0, NULL);
	char	   *temporary;
	int			result;

	if (plan == NULL)
		elog(ERROR, "could not prepare check: %s", SPI_result_code_string(SPI_result));
	temporary = check_temporary_relation(plan);
	if (temporary != NULL)
	{
		SPI_freeplan(plan);
		return psprintf("it reads the temporary relation \"%s\", which a check may not", temporary);
	}
	result = SPI_execute_plan(plan, NULL, NULL, false, 2);
	SPI_freeplan(plan);
	if (result != SPI_OK_SELECT ||
		SPI_processed != 1)
		return pstrdup("it did not return one row");
	typid = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	if (typid != BOOLOID)
		return psprintf("it returned type %s, not boolean", format_type_be(typid));
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return pstrdup("it returned NULL");
	if (!DatumGetBool(value))
		return pstrdup("it returned false");
	return NULL;
}

/*
 * check_run_one
 *		Run one check as the owner, read-only, in a subtransaction that is
 *		always rolled back.  Returns NULL when it held, else why not.
 *		A query cancel is not swallowed: it still cancels the caller.
 */
static char *
check_run_one(Oid owner, const char *search_path, const char *predicate)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *volatile failure = NULL;
	Oid			save_userid;
	int			save_sec_context;

	bool		was_suspended = usage_suspend(true);	/* not evidence of use */

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);

	PG_TRY();
	{
		SetUserIdAndSecContext(owner, save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		(void) set_config_option("search_path", check_run_search_path(search_path),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
		(void) set_config_option("transaction_read_only", "on",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
		failure = check_evaluate(predicate);
		usage_suspend(was_suspended);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		usage_suspend(was_suspended);
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		failure = psprintf("it raised an error: %s", edata->message);
	}
	PG_END_TRY();
	return failure;
}

/*
 * checks_result_append
 *		Add {"name": ..., "ok": ..., "error": ...} to a JSON array under
 *		construction.
 */
static void
checks_result_append(StringInfo results, const char *name, const char *failure)
{
	if (results->len > 1)
		appendStringInfoString(results, ", ");
	appendStringInfoString(results, "{\"name\": ");
	escape_json(results, name);
	appendStringInfo(results, ", \"ok\": %s, \"error\": ", failure ? "false" : "true");
	if (failure)
		escape_json(results, failure);
	else
		appendStringInfoString(results, "null");
	appendStringInfoChar(results, '}');
}

/*
 * checks_run
 *		Run every check of the plan's current phase now.  Appends a JSON array
 *		of results to "results" and returns whether all of them held.
 */
bool
checks_run(const PlanRow *plan, StringInfo results)
{
	Oid			argtypes[2] = {INT8OID, INT2OID};
	Datum		values[2] = {Int64GetDatum(plan->plan_id), Int16GetDatum((int16) plan->phase)};
	bool		owner_exists = GetUserNameFromId(plan->owner, true) != NULL;
	bool		all_ok = true;
	SPITupleTable *checks;

	if (SPI_execute_with_args("SELECT name, predicate, search_path"
							  " FROM phased_change.plan_check"
							  " WHERE plan_id = $1 AND phase = $2 ORDER BY name",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read checks of change plan \"%s\"", plan->name);
	checks = SPI_tuptable;

	appendStringInfoChar(results, '[');
	for (uint64 i = 0; i < checks->numvals; i++)
	{
		char	   *name = SPI_getvalue(checks->vals[i], checks->tupdesc, 1);
		char	   *predicate = SPI_getvalue(checks->vals[i], checks->tupdesc, 2);
		char	   *search_path = SPI_getvalue(checks->vals[i], checks->tupdesc, 3);
		char	   *failure;

		if (!owner_exists)
			failure = pstrdup("the plan's owner role no longer exists");
		else
		{
			predicate_validate(name, predicate);
			failure = check_run_one(plan->owner, search_path, predicate);
		}
		all_ok = all_ok && failure == NULL;
		checks_result_append(results, name, failure);
	}
	appendStringInfoChar(results, ']');
	SPI_freetuptable(checks);
	return all_ok;
}

/*
 * phase_check_add(plan text, phase text, check_name text, predicate text)
 *		Add a check that must hold to leave the given phase.  It will run
 *		with the search_path in force now.
 */
Datum
phase_check_add(PG_FUNCTION_ARGS)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	Phase		phase = phase_from_name(arg_text(fcinfo, 1, "phase"));
	char	   *check_name = arg_name(fcinfo, 2, "check_name");
	char	   *predicate = arg_text(fcinfo, 3, "predicate");
	char	   *search_path = pstrdup(namespace_search_path);
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	Oid			argtypes[6] = {INT8OID, INT2OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[6];
	HistoryEvent event = {"check_added", PHASE_NONE, PHASE_NONE, false, -1, NULL};

	predicate_validate(check_name, predicate);

	catalog_begin(&session);
	plan_lock(plan_name, &plan);
	plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);

	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = Int16GetDatum((int16) phase);
	values[2] = CStringGetTextDatum(check_name);
	values[3] = CStringGetTextDatum(predicate);
	values[4] = CStringGetTextDatum(search_path);
	values[5] = TimestampTzGetDatum(plan.now);
	if (SPI_execute_with_args("INSERT INTO phased_change.plan_check"
							  " (plan_id, phase, name, predicate, search_path, created_at)"
							  " VALUES ($1, $2, $3, $4, $5, $6)"
							  " ON CONFLICT (plan_id, phase, name) DO NOTHING",
							  6, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not add check \"%s\"", check_name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("check \"%s\" already exists for phase \"%s\" of change plan \"%s\"",
						check_name, phase_name(phase), plan_name)));

	event.detail = history_detail("check", check_name, "phase", phase_name(phase),
								  "predicate", predicate, "search_path", search_path,
								  NULL);
	history_record(&plan, &caller, &event);

	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * check_names_of_phase
 *		The names of a phase's checks, quoted and joined, for a hint; NULL
 *		when the phase has none.
 */
static char *
check_names_of_phase(int64 plan_id, Phase phase)
{
	Oid			argtypes[2] = {INT8OID, INT2OID};
	Datum		values[2] = {Int64GetDatum(plan_id), Int16GetDatum((int16) phase)};

	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(pg_catalog.format('\"%s\"', name), ', '"
							  "  ORDER BY name COLLATE \"C\")"
							  " FROM phased_change.plan_check WHERE plan_id = $1 AND phase = $2",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the checks of a change plan");
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * phase_check_drop(plan text, phase text, check_name text)
 *		Remove a check, so that a wrong one cannot block a plan for ever.
 *		The history keeps the check as it was (event check_dropped).  Ended
 *		plans are refused, like every change.
 */
Datum
phase_check_drop(PG_FUNCTION_ARGS)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	Phase		phase = phase_from_name(arg_text(fcinfo, 1, "phase"));
	char	   *check_name = arg_name(fcinfo, 2, "check_name");
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	Oid			argtypes[3] = {INT8OID, INT2OID, TEXTOID};
	Datum		values[3];
	HistoryEvent event = {"check_dropped", PHASE_NONE, PHASE_NONE, false, -1, NULL};
	char	   *predicate;
	char	   *search_path;
	char	   *existing;

	catalog_begin(&session);
	plan_lock(plan_name, &plan);
	plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);

	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = Int16GetDatum((int16) phase);
	values[2] = CStringGetTextDatum(check_name);
	if (SPI_execute_with_args("DELETE FROM phased_change.plan_check"
							  " WHERE plan_id = $1 AND phase = $2 AND name = $3"
							  " RETURNING predicate, search_path",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not drop check \"%s\"", check_name);
	if (SPI_processed == 0)
	{
		existing = check_names_of_phase(plan.plan_id, phase);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("check \"%s\" does not exist for phase \"%s\" of change plan \"%s\"",
						check_name, phase_name(phase), plan_name),
				 existing ?
				 errhint("The checks of phase \"%s\" are %s.", phase_name(phase), existing) :
				 errhint("Phase \"%s\" of change plan \"%s\" has no checks.",
						 phase_name(phase), plan_name)));
	}
	predicate = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	search_path = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

	event.detail = history_detail("check", check_name, "phase", phase_name(phase),
								  "predicate", predicate, "search_path", search_path,
								  NULL);
	history_record(&plan, &caller, &event);

	catalog_end(&session);
	PG_RETURN_VOID();
}
