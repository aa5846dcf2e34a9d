/*-------------------------------------------------------------------------
 *
 * backfill.c
 *		Backfills registered with a plan: phase_backfill() and
 *		phase_backfill_cancel(), what a phase change does to them, and
 *		starting the worker that runs them (backfill_worker.c).
 *
 * A backfill is an UPDATE of one table, "UPDATE rel SET <set_clause> WHERE
 * <pending>", done in batches by a background worker so that the caller
 * never holds a long lock nor waits: one transaction per batch, keyset over
 * the table's primary key (or a unique key on NOT NULL columns without
 * expressions or predicate).  set_clause and pending are validated when
 * registered: each must parse on its own as what it says it is (a SET list;
 * one expression), neither may name pg_temp, and the batch statement built
 * from them must pass parse analysis as the plan's owner, under the
 * search_path of the registration (which the batches and the check run
 * with, pg_temp searched last), so that an unknown column or function is
 * reported then rather than by the worker.
 *
 * Registering a backfill also adds the migrate check "backfill of <table>"
 * = NOT EXISTS (SELECT 1 FROM <table> WHERE <pending>): the plan cannot
 * leave migrate while a row is pending, whatever became of the backfill.
 * A backfill registered in expand waits for migrate; in migrate it starts
 * when the registering transaction commits.  Leaving migrate backwards
 * (rollback to expand) or abandoning the plan cancels its backfills;
 * advancing out of migrate (possible only once the check holds) marks the
 * unfinished ones done.
 *
 * One worker per database runs every runnable backfill of the database
 * (db_worker.c).  It is started at the commit of the transaction that made
 * a backfill runnable and, when it could not be (no free worker slot) or
 * did not survive (a crash, a restart), by the next phase_* call on any
 * plan of the database, by backfill_wait(), or by whoever calls
 * backfill_resume_database().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "backfill.h"
#include "db_worker.h"
#include "phased_change.h"

PG_FUNCTION_INFO_V1(phase_backfill);
PG_FUNCTION_INFO_V1(phase_backfill_cancel);
PG_FUNCTION_INFO_V1(backfill_wait);

/* Largest batch: a batch is one transaction, and must stay short. */
#define BACKFILL_MAX_BATCH 1000000

/* Set when this transaction made a backfill runnable: start the worker at commit. */
static bool backfill_start_at_commit = false;

/*
 * backfill_start_worker_after_commit
 *		Start the worker from the commit callback.  The transaction has
 *		committed: an error here (LockAcquire out of shared memory, say)
 *		would become a PANIC, so it is turned into a WARNING; the next
 *		phase_* call, backfill_wait() or the scheduler starts the worker.
 */
static void
backfill_start_worker_after_commit(void)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		backfill_start_worker();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not start the phased_change backfill worker: %s", edata->message),
				 errdetail("The backfills stay waiting until a later phase_* call, backfill_wait() or the scheduler starts the worker.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * backfill_xact_callback
 *		Start the worker once the transaction that made a backfill runnable
 *		has committed, so that it sees the committed rows.
 */
static void
backfill_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (backfill_start_at_commit)
			{
				backfill_start_at_commit = false;
				backfill_start_worker_after_commit();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			backfill_start_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * backfill_register_callbacks
 *		Called once from _PG_init.
 */
void
backfill_register_callbacks(void)
{
	RegisterXactCallback(backfill_xact_callback, NULL);
}

/*
 * backfill_start_worker
 *		Start this database's backfill worker unless one runs; without a
 *		free slot, say so: the backfills stay waiting until the next try.
 */
void
backfill_start_worker(void)
{
	LOCKTAG		tag;

	db_worker_lock_tag(&tag, MyDatabaseId, DB_WORKER_BACKFILL);
	if (db_worker_start_if_idle(&tag, "phased_change_backfill_main",
								"phased_change backfill") == DB_WORKER_NO_SLOT)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the phased_change backfill worker"),
				 errdetail("No background worker slot was free; the backfills stay waiting until a later phase_* call starts the worker."),
				 errhint("Raise max_worker_processes.")));
}

/*
 * backfill_catalog_present
 *		Whether the catalog has the backfill table: the library also serves
 *		catalogs that ALTER EXTENSION UPDATE has not brought to 1.4 yet.
 */
bool
backfill_catalog_present(void)
{
	Oid			namespace = get_namespace_oid(PHASED_CHANGE_EXTENSION, true);

	return OidIsValid(namespace) && OidIsValid(get_relname_relid("backfill", namespace));
}

/*
 * backfill_runnable_exists
 *		Whether a backfill of this database has work left for the worker:
 *		waiting, running or throttled, of an active plan in migrate.  Must
 *		run inside a catalog session.
 */
static bool
backfill_runnable_exists(void)
{
	bool		isnull;

	if (SPI_execute("SELECT EXISTS (SELECT FROM phased_change.backfill b"
					" JOIN phased_change.plan p ON p.plan_id = b.plan_id"
					" WHERE b.status = ANY (" BACKFILL_RUNNABLE ")"
					" AND p.status = 'active' AND p.phase = 2)",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the backfills");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * backfill_kick
 *		Start the worker now when a backfill has work left and none runs (a
 *		crash, a restart, no free slot at the time).  Called by every
 *		phase_* call on a plan, inside its catalog session.
 */
void
backfill_kick(void)
{
	if (RecoveryInProgress() || !backfill_catalog_present())
		return;
	if (backfill_runnable_exists())
		backfill_start_worker();
}

/*
 * backfill_resume_database
 *		Start this database's backfill worker if any backfill has work left.
 *		For the preloaded scheduler; must run in a transaction connected to
 *		the database.
 */
void
backfill_resume_database(void)
{
	CatalogSession session;

	if (RecoveryInProgress() || !OidIsValid(extension_oid_current()) ||
		!backfill_catalog_present())
		return;
	catalog_begin(&session);
	if (backfill_runnable_exists())
		backfill_start_worker();
	catalog_end(&session);
}

/*
 * backfill_relation_name
 *		A relation's schema-qualified, quoted name.
 */
char *
backfill_relation_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * backfill_index_usable
 *		Whether a backfill can walk the table in the order of this index:
 *		unique, immediate, valid, without expressions or predicate, on
 *		NOT NULL columns.
 */
static bool
backfill_index_usable(Relation index, TupleDesc desc)
{
	Form_pg_index form = index->rd_index;
	bool		usable = form->indisunique && form->indimmediate && form->indisvalid &&
		RelationGetIndexExpressions(index) == NIL &&
		RelationGetIndexPredicate(index) == NIL;

	for (int i = 0; usable && i < form->indnkeyatts; i++)
	{
		AttrNumber	attnum = form->indkey.values[i];

		usable = attnum > 0 && TupleDescAttr(desc, attnum - 1)->attnotnull;
	}
	return usable;
}

/*
 * backfill_key_from_index
 *		The key made of an index's columns, in the index's order.
 */
static void
backfill_key_from_index(Relation index, TupleDesc desc, BackfillKey *key)
{
	Form_pg_index form = index->rd_index;

	key->ncolumns = form->indnkeyatts;
	for (int i = 0; i < form->indnkeyatts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, form->indkey.values[i] - 1);

		key->attnums[i] = form->indkey.values[i];
		key->names[i] = pstrdup(quote_identifier(NameStr(att->attname)));
		key->types[i] = att->atttypid;
	}
}

/*
 * backfill_key_find
 *		The key a backfill of the table walks: its primary key, else the
 *		unique, immediate, valid index with the fewest columns (the oldest
 *		of those) whose columns are plain NOT NULL columns, without
 *		expressions or predicate.  False when the table has none.
 */
bool
backfill_key_find(Relation rel, BackfillKey *key)
{
	List	   *indexes = RelationGetIndexList(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			best = InvalidOid;
	int			best_columns = INT_MAX;
	bool		best_primary = false;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (backfill_index_usable(index, desc) && !best_primary &&
			(form->indisprimary || form->indnkeyatts < best_columns))
		{
			best = RelationGetRelid(index);
			best_columns = form->indnkeyatts;
			best_primary = form->indisprimary;
			backfill_key_from_index(index, desc, key);
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return OidIsValid(best);
}

/*
 * backfill_key_find_same
 *		The key a backfill registered with the key stored (its columns'
 *		attnums and types) walks now: a usable index (as backfill_key_find
 *		takes) on the same columns, in the same order, still of the same
 *		types.  False when the table no longer has one: walking another key
 *		from a last key of this one could skip rows.
 */
bool
backfill_key_find_same(Relation rel, const BackfillKey *stored, BackfillKey *key)
{
	List	   *indexes = RelationGetIndexList(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		found = false;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool		same = !found && form->indnkeyatts == stored->ncolumns &&
			backfill_index_usable(index, desc);

		for (int i = 0; same && i < stored->ncolumns; i++)
			same = form->indkey.values[i] == stored->attnums[i] &&
				TupleDescAttr(desc, stored->attnums[i] - 1)->atttypid == stored->types[i];
		if (same)
		{
			backfill_key_from_index(index, desc, key);
			found = true;
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return found;
}

/*
 * backfill_key_list
 *		"prefix k1 suffix, prefix k2 suffix, ..." of the key columns, or of
 *		parameters $first.. when params is true.
 */
static char *
backfill_key_list(const BackfillKey *key, const char *prefix, bool params, int first,
				  const char *suffix)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < key->ncolumns; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		if (params)
			appendStringInfo(&buf, "$%d", first + i);
		else
			appendStringInfo(&buf, "%s%s%s", prefix, key->names[i], suffix);
	}
	return buf.data;
}

/*
 * backfill_lock_sql
 *		The statement that takes a batch: the next $1 keys (after the key in
 *		$2.., unless first), locked FOR NO KEY UPDATE; it returns how many
 *		and the last of them.
 */
char *
backfill_lock_sql(const char *relname, const BackfillKey *key, bool first)
{
	char	   *columns = backfill_key_list(key, "", false, 0, "");

	return psprintf("WITH keys AS MATERIALIZED (SELECT %s FROM ONLY %s%s%s%s%s"
					" ORDER BY %s LIMIT $1 FOR NO KEY UPDATE)"
					" SELECT pg_catalog.count(*) OVER (), %s FROM keys ORDER BY %s LIMIT 1",
					columns, relname,
					first ? "" : " WHERE ROW(",
					first ? "" : columns,
					first ? "" : ") OPERATOR(pg_catalog.>) ROW(",
					first ? "" : psprintf("%s)", backfill_key_list(key, "", true, 2, "")),
					columns, columns,
					backfill_key_list(key, "", false, 0, " DESC"));
}

/*
 * backfill_update_sql
 *		The statement that updates a batch: the rows with keys after $1..
 *		(unless first) up to the batch's last key (the following
 *		parameters) where pending holds.  Each user text ends a line, so
 *		that a trailing comment ends with it.
 */
char *
backfill_update_sql(const char *relname, const BackfillKey *key, bool first,
					const char *set_clause, const char *pending)
{
	char	   *columns = backfill_key_list(key, "", false, 0, "");
	int			upper = first ? 1 : key->ncolumns + 1;

	return psprintf("UPDATE ONLY %s SET %s\n WHERE %s%s%sROW(%s) OPERATOR(pg_catalog.<=) ROW(%s)"
					" AND (%s\n)",
					relname, set_clause,
					first ? "" : psprintf("ROW(%s) OPERATOR(pg_catalog.>) ROW(", columns),
					first ? "" : backfill_key_list(key, "", true, 1, ""),
					first ? "" : ") AND ",
					columns, backfill_key_list(key, "", true, upper, ""),
					pending);
}

/*
 * backfill_parse_set_clause
 *		Parse "UPDATE rel SET <set_clause>" and refuse anything but a SET
 *		list: a second statement, WHERE, FROM or RETURNING, or a key column
 *		among the targets (the keyset would lose its place).
 */
static void
backfill_parse_set_clause(const char *relname, const char *set_clause, const BackfillKey *key)
{
	List	   *stmts;
	UpdateStmt *update;
	ListCell   *lc;

	stmts = fragment_parse(psprintf("UPDATE %s SET %s\n", relname, set_clause),
						   psprintf("set_clause of the backfill of table \"%s\"", relname));

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause of the backfill of table \"%s\" holds more than one statement",
						relname),
				 errdetail("A set_clause is what follows SET in an UPDATE: column = expression, ...")));
	update = (UpdateStmt *) ((RawStmt *) linitial(stmts))->stmt;
	Assert(IsA(update, UpdateStmt));
	if (update->whereClause || update->fromClause || pc_update_has_returning(update) || update->withClause)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("set_clause of the backfill of table \"%s\" is not a SET list only", relname),
				 errdetail("A set_clause is what follows SET in an UPDATE: column = expression, ...; it cannot have WHERE, FROM or RETURNING."),
				 errhint("Put the condition in pending.")));
	foreach(lc, update->targetList)
	{
		ResTarget  *target = lfirst(lc);

		for (int i = 0; i < key->ncolumns; i++)
			if (strcmp(quote_identifier(target->name), key->names[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a backfill cannot set key column \"%s\" of table \"%s\"",
								key->names[i], relname),
						 errdetail("The backfill walks the table in the order of that key.")));
	}
}

/*
 * backfill_analyze
 *		Prepare the batch statement as the plan's owner under the search_path
 *		it will run with, in a subtransaction that is rolled back: unknown
 *		columns and functions, a pending that is not boolean, a writing WITH
 *		inside a subquery are reported now, by PostgreSQL's own analysis.
 */
static void
backfill_analyze(const char *relname, Oid owner, const char *search_path, const char *sql,
				 const BackfillKey *key)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec_context;
	Oid			argtypes[2 * INDEX_MAX_KEYS];

	for (int i = 0; i < key->ncolumns; i++)
		argtypes[i] = argtypes[key->ncolumns + i] = key->types[i];

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
		if (SPI_prepare(sql, 2 * key->ncolumns, argtypes) == NULL)
			elog(ERROR, "could not prepare the backfill: %s",
				 SPI_result_code_string(SPI_result));
		SetUserIdAndSecContext(save_userid, save_sec_context);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("backfill of table \"%s\" is not valid: %s", relname, edata->message),
				 errdetail("set_clause and pending are checked as \"UPDATE %s SET <set_clause> WHERE <pending>\", as the plan's owner.",
						   relname)));
	}
	PG_END_TRY();
}

/*
 * arg_interval
 *		A required, non-negative interval argument; with bounded, at most
 *		BACKFILL_MAX_INTERVAL (which refuses an infinite one too), so that
 *		its milliseconds cannot overflow.
 */
static Interval *
arg_interval(FunctionCallInfo fcinfo, int argno, const char *argname, bool bounded)
{
	Interval   *value;
	Interval	zero = {0};

	arg_require(fcinfo, argno, argname);
	value = PG_GETARG_INTERVAL_P(argno);
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(value),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	if (bounded)
	{
		Datum		max = DirectFunctionCall3(interval_in,
											  CStringGetDatum(BACKFILL_MAX_INTERVAL),
											  ObjectIdGetDatum(InvalidOid),
											  Int32GetDatum(-1));

		if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(value), max)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be at most %s", argname, BACKFILL_MAX_INTERVAL)));
	}
	return value;
}

/*
 * backfill_open_relation
 *		The table of a backfill, checked: an ordinary table, owned by the
 *		caller (or the caller is a superuser), with a usable key.  Returns
 *		its qualified name; *key gets the key.
 */
static char *
backfill_open_relation(Oid relid, const Caller *caller, BackfillKey *key)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	char	   *relname = backfill_relation_name(relid);

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot backfill \"%s\"", relname),
				 errdetail("A backfill updates an ordinary table; partitioned tables, views and other relations are not supported.")));
	if (!pc_relation_ownercheck(relid, caller->roleid) && !superuser_arg(caller->roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to backfill table \"%s\"", relname),
				 errdetail("Only the owner of the table and superusers may register a backfill of it.")));
	if (!backfill_key_find(rel, key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no key a backfill can walk", relname),
				 errdetail("A backfill walks the table in the order of its primary key, or of a unique index on NOT NULL columns without expressions or predicate."),
				 errhint("Add a primary key, or such a unique index, to the table.")));
	relation_close(rel, AccessShareLock);
	return relname;
}

/*
 * backfill_row_status
 *		The status of the plan's backfill of the table, locked until the end
 *		of the transaction, or NULL when there is none.
 */
static char *
backfill_row_status(int64 plan_id, Oid relid)
{
	Oid			argtypes[2] = {INT8OID, OIDOID};
	Datum		values[2] = {Int64GetDatum(plan_id), ObjectIdGetDatum(relid)};

	if (SPI_execute_with_args("SELECT status FROM phased_change.backfill"
							  " WHERE plan_id = $1 AND rel = $2::pg_catalog.regclass FOR UPDATE",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the backfills");
	return SPI_processed == 0 ? NULL :
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * phase_backfill(plan text, rel regclass, set_clause text, pending text,
 *				  batch_size int DEFAULT 1000, pause interval DEFAULT '0',
 *				  max_lag interval DEFAULT '10 seconds')
 *		Register a backfill of rel with the plan, and its migrate check.  In
 *		migrate it starts when this transaction commits; in expand it waits
 *		for migrate.  A backfill of the same table that is not running is
 *		replaced, and starts over from the first key.
 */
Datum
phase_backfill(PG_FUNCTION_ARGS)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	Oid			relid;
	char	   *set_clause = arg_text(fcinfo, 2, "set_clause");
	char	   *pending = arg_text(fcinfo, 3, "pending");
	int32		batch_size;
	Interval   *pause = arg_interval(fcinfo, 5, "pause", true);
	Interval   *max_lag = arg_interval(fcinfo, 6, "max_lag", false);
	char	   *search_path = pstrdup(namespace_search_path);
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	BackfillKey key;
	char	   *relname;
	char	   *check_name;
	char	   *existing;
	Oid			argtypes[11] = {INT8OID, OIDOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	INTERVALOID, INTERVALOID, TIMESTAMPTZOID, INT2ARRAYOID, OIDARRAYOID};
	Datum		values[11];
	Datum		key_attnums[INDEX_MAX_KEYS];
	Datum		key_types[INDEX_MAX_KEYS];
	HistoryEvent added = {"backfill_added", PHASE_NONE, PHASE_NONE, false, -1, NULL};
	HistoryEvent started = {"backfill_started", PHASE_NONE, PHASE_NONE, false, -1, NULL};

	arg_require(fcinfo, 1, "rel");
	relid = PG_GETARG_OID(1);
	arg_require(fcinfo, 4, "batch_size");
	batch_size = PG_GETARG_INT32(4);
	if (batch_size < 1 || batch_size > BACKFILL_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and %d", BACKFILL_MAX_BATCH)));

	relname = backfill_open_relation(relid, &caller, &key);
	check_name = psprintf("backfill of %s", relname);
	if (predicate_names_pg_temp(set_clause) || predicate_names_pg_temp(pending))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backfill of table \"%s\" names the temporary schema", relname),
				 errdetail("A backfill runs with pg_temp searched last, like a check, and may not name pg_temp.")));
	backfill_parse_set_clause(relname, set_clause, &key);
	predicate_validate(check_name, pending);

	catalog_begin(&session);
	plan_lock(plan_name, &plan);
	plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);
	if (plan.phase != PHASE_EXPAND && plan.phase != PHASE_MIGRATE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot add a backfill to change plan \"%s\" in phase \"%s\"",
						plan.name, phase_name(plan.phase)),
				 errdetail("A backfill is registered in expand or migrate, and runs in migrate.")));
	if (!OidIsValid(plan.owner))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot add a backfill to change plan \"%s\"", plan.name),
				 errdetail("The plan's owner role \"%s\" does not exist; a backfill runs as the plan's owner.",
						   plan.owner_name)));
	/* both rights: pg_class_aclcheck with a mask passes on either of them */
	if (pg_class_aclcheck(relid, plan.owner, ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(relid, plan.owner, ACL_UPDATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of change plan \"%s\" may not read and update table \"%s\"",
						plan.name, relname),
				 errdetail("A backfill runs as the plan's owner, role \"%s\", which needs both SELECT and UPDATE on the table.",
						   plan.owner_name)));
	backfill_analyze(relname, plan.owner, search_path,
					 backfill_update_sql(relname, &key, false, set_clause, pending), &key);

	existing = backfill_row_status(plan.plan_id, relid);
	if (existing != NULL && (strcmp(existing, "running") == 0 || strcmp(existing, "throttled") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("backfill of table \"%s\" is running", relname),
				 errdetail("A backfill that is not running may be registered again; it then starts over."),
				 errhint("Cancel it first with SELECT phase_backfill_cancel(%s, %s).",
						 quote_literal_cstr(plan.name), quote_literal_cstr(relname))));

	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(set_clause);
	values[3] = CStringGetTextDatum(pending);
	values[4] = CStringGetTextDatum(search_path);
	values[5] = Int32GetDatum(batch_size);
	values[6] = IntervalPGetDatum(pause);
	values[7] = IntervalPGetDatum(max_lag);
	values[8] = TimestampTzGetDatum(plan.now);
	/* the key walked, kept: the worker fails the backfill if it changes */
	for (int i = 0; i < key.ncolumns; i++)
	{
		key_attnums[i] = Int16GetDatum(key.attnums[i]);
		key_types[i] = ObjectIdGetDatum(key.types[i]);
	}
	values[9] = PointerGetDatum(construct_array(key_attnums, key.ncolumns, INT2OID,
												sizeof(int16), true, TYPALIGN_SHORT));
	values[10] = PointerGetDatum(construct_array(key_types, key.ncolumns, OIDOID,
												 sizeof(Oid), true, TYPALIGN_INT));
	if (SPI_execute_with_args("INSERT INTO phased_change.backfill AS b"
							  " (plan_id, rel, set_clause, pending, search_path, batch_size,"
							  "  pause, max_lag, status, registered_at, key_attnums, key_types)"
							  " VALUES ($1, $2::pg_catalog.regclass, $3, $4, $5, $6, $7, $8, 'waiting', $9,"
							  "  $10, $11::pg_catalog.regtype[])"
							  " ON CONFLICT (plan_id, rel) DO UPDATE SET"
							  "  set_clause = excluded.set_clause, pending = excluded.pending,"
							  "  search_path = excluded.search_path, batch_size = excluded.batch_size,"
							  "  pause = excluded.pause, max_lag = excluded.max_lag,"
							  "  status = 'waiting', rows_done = 0, rows_updated = 0, batches = 0,"
							  "  last_key = NULL, registered_at = excluded.registered_at,"
							  "  key_attnums = excluded.key_attnums, key_types = excluded.key_types,"
							  "  started_at = NULL, finished_at = NULL, throttled_by = NULL,"
							  "  last_error = NULL",
							  11, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register the backfill of table \"%s\"", relname);

	/* The migrate check, run as the plan's owner like any other. */
	values[1] = CStringGetTextDatum(check_name);
	values[2] = CStringGetTextDatum(psprintf("NOT EXISTS (SELECT 1 FROM %s WHERE %s\n)",
											 relname, pending));
	values[3] = CStringGetTextDatum(search_path);
	values[4] = TimestampTzGetDatum(plan.now);
	argtypes[1] = TEXTOID;
	argtypes[4] = TIMESTAMPTZOID;
	if (SPI_execute_with_args("INSERT INTO phased_change.plan_check"
							  " (plan_id, phase, name, predicate, search_path, created_at)"
							  " VALUES ($1, 2, $2, $3, $4, $5)"
							  " ON CONFLICT (plan_id, phase, name) DO UPDATE SET"
							  "  predicate = excluded.predicate, search_path = excluded.search_path",
							  5, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not add the check of the backfill of table \"%s\"", relname);

	added.detail = history_detail("table", relname, "set_clause", set_clause,
								  "pending", pending, "batch_size", psprintf("%d", batch_size),
								  "search_path", search_path, "check", check_name, NULL);
	history_record(&plan, &caller, &added);
	if (plan.phase == PHASE_MIGRATE)
	{
		started.detail = history_detail("table", relname, NULL);
		history_record(&plan, &caller, &started);
		backfill_start_at_commit = true;
	}
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * phase_backfill_cancel(plan text, rel regclass)
 *		Stop a backfill that is not done: the worker leaves it after the
 *		batch in flight.  Its check stays: the plan still cannot leave
 *		migrate while a row is pending.
 */
Datum
phase_backfill_cancel(PG_FUNCTION_ARGS)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	Oid			relid;
	char	   *relname;
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	char	   *status;
	Oid			argtypes[3] = {INT8OID, OIDOID, TIMESTAMPTZOID};
	Datum		values[3];
	HistoryEvent event = {"backfill_cancelled", PHASE_NONE, PHASE_NONE, false, -1, NULL};

	arg_require(fcinfo, 1, "rel");
	relid = PG_GETARG_OID(1);

	catalog_begin(&session);
	plan_lock(plan_name, &plan);
	plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);
	relname = get_rel_name(relid) ? backfill_relation_name(relid) : psprintf("%u", relid);
	status = backfill_catalog_present() ? backfill_row_status(plan.plan_id, relid) : NULL;
	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("change plan \"%s\" has no backfill of table \"%s\"", plan.name, relname)));
	if (strcmp(status, "done") == 0 || strcmp(status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backfill of table \"%s\" is already %s", relname, status)));

	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = TimestampTzGetDatum(plan.now);
	if (SPI_execute_with_args("UPDATE phased_change.backfill"
							  " SET status = 'cancelled', finished_at = $3, throttled_by = NULL"
							  " WHERE plan_id = $1 AND rel = $2::pg_catalog.regclass",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not cancel the backfill of table \"%s\"", relname);
	event.detail = history_detail("table", relname, "status", status, NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * backfill_phase_changed
 *		What a plan's phase change does to its backfills (plan_set_phase,
 *		after the plan row was updated): entering migrate starts the waiting
 *		ones; leaving it backwards, or abandoning the plan, cancels those
 *		not finished; advancing out of it (the checks held: no row pending)
 *		marks them done.  Each change is recorded in the history, with the
 *		plan's owner as role (the caller is not known here).
 */
void
backfill_phase_changed(const PlanRow *plan, Phase phase, const char *status)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	const char *event;
	const char *new_status;
	SPITupleTable *tables;
	Caller		caller;

	if (!backfill_catalog_present())
		return;
	if (strcmp(status, "active") == 0 && phase == PHASE_MIGRATE && plan->phase != PHASE_MIGRATE)
	{
		event = "backfill_started";
		new_status = "waiting"; /* until the worker takes it */
	}
	else if (strcmp(status, "abandoned") == 0 ||
			 (plan->phase == PHASE_MIGRATE && phase == PHASE_EXPAND))
	{
		event = "backfill_cancelled";
		new_status = "cancelled";
	}
	else if (plan->phase == PHASE_MIGRATE && phase == PHASE_CONTRACT)
	{
		event = "backfill_done";
		new_status = "done";
	}
	else
		return;

	values[0] = Int64GetDatum(plan->plan_id);
	values[1] = CStringGetTextDatum(new_status);
	values[2] = TimestampTzGetDatum(plan->now);
	if (SPI_execute_with_args("UPDATE phased_change.backfill"
							  " SET status = $2, throttled_by = NULL,"
							  "  finished_at = CASE WHEN $2 = 'waiting' THEN NULL ELSE $3 END"
							  " WHERE plan_id = $1 AND status = ANY (" BACKFILL_RUNNABLE ")"
							  " RETURNING pg_catalog.format('%s', rel)",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not update the backfills of change plan \"%s\"", plan->name);

	/* recorded with the plan's owner as role, as the worker's events are */
	tables = SPI_tuptable;
	caller.roleid = plan->owner;
	caller.role_name = plan->owner_name;
	for (uint64 i = 0; i < tables->numvals; i++)
	{
		HistoryEvent change = {event, PHASE_NONE, PHASE_NONE, false, -1, NULL};

		change.detail = history_detail("table", SPI_getvalue(tables->vals[i], tables->tupdesc, 1),
									   NULL);
		history_record(plan, &caller, &change);
	}
	if (strcmp(new_status, "waiting") == 0 && tables->numvals > 0)
		backfill_start_at_commit = true;
}

/*
 * backfill_history
 *		Record an event of a backfill from the worker: the role is the
 *		plan's owner, as whom the backfill runs.  Inside a catalog session.
 */
void
backfill_history(int64 plan_id, const char *event_name, const char *detail)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(plan_id)};
	PlanRow		plan = {0};
	Caller		caller;
	HistoryEvent event = {event_name, PHASE_NONE, PHASE_NONE, false, -1, detail};

	if (SPI_execute_with_args("SELECT name, owner::pg_catalog.text FROM phased_change.plan"
							  " WHERE plan_id = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read change plan %lld", (long long) plan_id);
	plan.plan_id = plan_id;
	plan.name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	plan.now = GetCurrentTimestamp();
	plan.entered_at = plan.now;
	caller.roleid = InvalidOid;
	caller.role_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	history_record(&plan, &caller, &event);
}

/*
 * backfill_plan_exists
 *		Whether a plan of that name exists (inside a catalog session).
 */
static bool
backfill_plan_exists(const char *plan_name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(plan_name)};

	if (SPI_execute_with_args("SELECT FROM phased_change.plan WHERE name = $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the change plans");
	return SPI_processed > 0;
}

/*
 * backfill_wait(plan text, rel regclass, timeout interval DEFAULT '30 seconds')
 *		Wait until the plan's backfill of the table is no longer waiting,
 *		running or throttled, or the timeout passes, and return its status
 *		(as the backfills view shows it).  Starts the worker if it should
 *		run and does not.  For tests and deploy tools.
 */
Datum
backfill_wait(PG_FUNCTION_ARGS)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	Oid			relid;
	Interval   *timeout = arg_interval(fcinfo, 2, "timeout", true);
	int64		timeout_ms = timeout->time / 1000 +
		((int64) timeout->month * DAYS_PER_MONTH + timeout->day) * SECS_PER_DAY * 1000;
	TimestampTz start = GetCurrentTimestamp();
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	char	   *status = NULL;

	arg_require(fcinfo, 1, "rel");
	relid = PG_GETARG_OID(1);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("backfill_wait cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("It would read the backfill's status with the transaction's snapshot, which never sees the worker's progress."),
				 errhint("Call it outside a transaction block, or in a READ COMMITTED one.")));
	values[0] = CStringGetTextDatum(plan_name);
	values[1] = ObjectIdGetDatum(relid);
	for (int round = 0;; round++)
	{
		CatalogSession session;

		catalog_begin(&session);
		if (SPI_execute_with_args("SELECT b.status FROM phased_change.backfills b"
								  " WHERE b.plan = $1 AND b.rel = $2::pg_catalog.regclass",
								  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the backfills");
		if (SPI_processed == 0)
		{
			if (!backfill_plan_exists(plan_name))
				plan_not_found(plan_name);
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("change plan \"%s\" has no backfill of table \"%s\"", plan_name,
							backfill_relation_name(relid))));
		}
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		status = MemoryContextStrdup(CurTransactionContext, status);
		if (round % 100 == 0 && strcmp(status, "waiting") == 0 && !RecoveryInProgress())
			backfill_kick();
		catalog_end(&session);
		if (strcmp(status, "waiting") != 0 && strcmp(status, "running") != 0 &&
			strcmp(status, "throttled") != 0)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), (int) Min(timeout_ms, INT_MAX)))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text(status));
}
