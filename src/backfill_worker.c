/*-------------------------------------------------------------------------
 *
 * backfill_worker.c
 *		The backfill worker: one dynamic background worker per database that
 *		runs every runnable backfill of the database, a batch at a time,
 *		round-robin, and exits when none is left.
 *
 * A batch is one transaction.  It locks the backfill's catalog row (so
 * that a cancel or a phase change waits for the batch in flight, never
 * the other way round), checks the standbys' replay lag (above max_lag the
 * backfill is throttled, and says by which standby), then, as the plan's
 * owner under the backfill's search_path and a short lock_timeout, locks
 * the next batch_size keys after the last one (FOR NO KEY UPDATE), updates
 * those of them where pending holds, and records the last key and the
 * counts in the catalog row; all of it commits together, so a crash or a
 * restart resumes from the last committed key and never skips a row.  A
 * lock timeout, deadlock or serialization failure rolls the batch back and
 * retries the same keys with back-off.  Any other error fails the backfill:
 * the batch's rows are tried one by one (in subtransactions, rolled back)
 * to name the key at fault, and status, error and history say so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "backfill.h"
#include "db_worker.h"
#include "phased_change.h"
#include "usage.h"

/* How long a batch waits for a row lock before it backs off (a short wait). */
#define BACKFILL_LOCK_TIMEOUT "500ms"
/* How long a throttled backfill sleeps before it looks at the lag again (ms). */
#define BACKFILL_THROTTLE_MS 1000
/* Back-off after a lock timeout: doubled each time, from and up to (ms). */
#define BACKFILL_BACKOFF_MIN_MS 100
#define BACKFILL_BACKOFF_MAX_MS 5000
/* The longest sleep of the worker between looks at the catalog (ms). */
#define BACKFILL_MAX_SLEEP_MS 1000

/* What a step of a backfill came to. */
typedef enum BackfillOutcome
{
	BACKFILL_BATCH,				/* a batch committed; more to do */
	BACKFILL_FINISHED,			/* no key left: done */
	BACKFILL_THROTTLED,			/* a standby lags */
	BACKFILL_RETRY,				/* a passing error: the same keys again */
	BACKFILL_FAILED,			/* failed for good */
	BACKFILL_SKIPPED			/* no longer runnable */
} BackfillOutcome;

/* A backfill as read at the start of a step, with its catalog row locked. */
typedef struct BackfillJob
{
	int64		backfill_id;
	int64		plan_id;
	Oid			relid;
	char	   *set_clause;
	char	   *pending;
	char	   *search_path;
	int32		batch_size;
	int64		pause_ms;
	Datum		max_lag;
	Oid			owner;
	char	   *owner_name;
	int			nkey;			/* 0: no key passed yet */
	char	  **last_key;
	char	   *relname;
	BackfillKey stored_key;		/* attnums and types at registration */
	BackfillKey key;
} BackfillJob;

/* When each backfill is due again, and how often it has backed off. */
typedef struct BackfillSlot
{
	int64		backfill_id;
	TimestampTz due;
	int			retries;
} BackfillSlot;

/*
 * backfill_read_stored_key
 *		The key stored at registration: its columns' attnums and types.
 */
static void
backfill_read_stored_key(Datum attnums, Datum types, BackfillKey *key)
{
	Datum	   *elems;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(attnums), INT2OID, sizeof(int16), true,
					  TYPALIGN_SHORT, &elems, NULL, &key->ncolumns);
	for (int i = 0; i < key->ncolumns && i < INDEX_MAX_KEYS; i++)
	{
		key->attnums[i] = DatumGetInt16(elems[i]);
		key->names[i] = NULL;
	}
	deconstruct_array(DatumGetArrayTypeP(types), OIDOID, sizeof(Oid), true,
					  TYPALIGN_INT, &elems, NULL, &n);
	if (n != key->ncolumns || n > INDEX_MAX_KEYS)
		elog(ERROR, "the stored key of a backfill is malformed");
	for (int i = 0; i < n; i++)
		key->types[i] = DatumGetObjectId(elems[i]);
}

/*
 * backfill_stored_key_text
 *		"a integer, b text": the stored key's columns (by their names now,
 *		or their numbers when dropped) and types, for a message.
 */
static char *
backfill_stored_key_text(Oid relid, const BackfillKey *stored)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < stored->ncolumns; i++)
	{
		char	   *name = get_attname(relid, stored->attnums[i], true);

		appendStringInfo(&buf, "%s%s %s", i > 0 ? ", " : "",
						 name ? quote_identifier(name) : psprintf("#%d", stored->attnums[i]),
						 format_type_be(stored->types[i]));
	}
	return buf.data;
}

/*
 * backfill_read_job
 *		Read and lock a runnable backfill's row (inside a catalog session).
 *		False when it is no longer runnable.
 */
static bool
backfill_read_job(int64 backfill_id, BackfillJob *job)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(backfill_id)};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		last_key;
	Datum		plan_id;

	if (SPI_execute_with_args("SELECT b.plan_id, b.rel::pg_catalog.oid, b.set_clause, b.pending,"
							  "  b.search_path, b.batch_size,"
							  "  (pg_catalog.date_part('epoch', b.pause) * 1000)::pg_catalog.int8,"
							  "  b.max_lag, b.last_key, p.owner::pg_catalog.text,"
							  "  COALESCE((SELECT r.oid FROM pg_catalog.pg_roles r"
							  "            WHERE r.rolname = p.owner), 0),"
							  "  b.key_attnums, b.key_types::pg_catalog.oid[]"
							  " FROM phased_change.backfill b"
							  " JOIN phased_change.plan p ON p.plan_id = b.plan_id"
							  " WHERE b.backfill_id = $1 AND b.status = ANY (" BACKFILL_RUNNABLE ")"
							  "  AND p.status = 'active' AND p.phase = 2"
							  " FOR NO KEY UPDATE OF b",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read backfill %lld", (long long) backfill_id);
	if (SPI_processed == 0)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	plan_id = SPI_getbinval(tuple, desc, 1, &isnull);
	job->backfill_id = backfill_id;
	job->plan_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	job->relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
	job->set_clause = SPI_getvalue(tuple, desc, 3);
	job->pending = SPI_getvalue(tuple, desc, 4);
	job->search_path = SPI_getvalue(tuple, desc, 5);
	job->batch_size = DatumGetInt32(SPI_getbinval(tuple, desc, 6, &isnull));
	job->pause_ms = DatumGetInt64(SPI_getbinval(tuple, desc, 7, &isnull));
	job->max_lag = SPI_getbinval(tuple, desc, 8, &isnull);
	last_key = SPI_getbinval(tuple, desc, 9, &isnull);
	job->nkey = 0;
	job->last_key = NULL;
	job->relname = NULL;
	job->key.ncolumns = 0;
	if (!isnull)
	{
		Datum	   *elems;

		deconstruct_array(DatumGetArrayTypeP(last_key), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &job->nkey);
		job->last_key = palloc(sizeof(char *) * job->nkey);
		for (int i = 0; i < job->nkey; i++)
			job->last_key[i] = TextDatumGetCString(elems[i]);
	}
	job->owner_name = SPI_getvalue(tuple, desc, 10);
	job->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 11, &isnull));
	backfill_read_stored_key(SPI_getbinval(tuple, desc, 12, &isnull),
							 SPI_getbinval(tuple, desc, 13, &isnull), &job->stored_key);

	/*
	 * The plan as of now, with a fresh snapshot.  When the row lock above
	 * waited (a registration of the backfill again), the recheck saw the
	 * new backfill row but the plan row of the query's snapshot: a
	 * rollback to expand committed meanwhile would go unseen.  Holding the
	 * backfill row, no phase change can commit before this batch does.
	 */
	if (SPI_execute_with_args("SELECT FROM phased_change.plan p"
							  " WHERE p.plan_id = $1 AND p.status = 'active' AND p.phase = 2",
							  1, argtypes, &plan_id, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read change plan %lld", (long long) job->plan_id);
	return SPI_processed > 0;
}

/*
 * backfill_open_job
 *		Check what a batch needs beyond the catalog row: the plan's owner,
 *		the table, and its key, found again each time (the table may have
 *		changed since the registration).  The key must be the one stored at
 *		registration, same columns, order and types: a last key of one key
 *		says nothing of where another key's walk stands, and walking on
 *		could skip rows, so a changed key fails the backfill.
 */
static void
backfill_open_job(BackfillJob *job)
{
	Relation	rel;

	if (!OidIsValid(job->owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the plan's owner role \"%s\" does not exist", job->owner_name)));
	if (get_rel_name(job->relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of the backfill (OID %u) no longer exists", job->relid)));
	rel = relation_open(job->relid, AccessShareLock);
	job->relname = backfill_relation_name(job->relid);
	if (!backfill_key_find_same(rel, &job->stored_key, &job->key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the key of table \"%s\" changed since the backfill was registered",
						job->relname),
				 errdetail("The backfill walks key (%s), which is no longer a primary key or unique key on NOT NULL columns of those types.",
						   backfill_stored_key_text(job->relid, &job->stored_key)),
				 errhint("Register the backfill again; it starts over from the first key.")));
	relation_close(rel, AccessShareLock);
	if (job->nkey != 0 && job->nkey != job->key.ncolumns)
		elog(ERROR, "the last key of backfill %lld does not match its key",
			 (long long) job->backfill_id);
}

/*
 * backfill_key_datums
 *		The key values (text) as Datums of the key columns' types.
 */
static void
backfill_key_datums(const BackfillKey *key, char **text, Datum *values, Oid *types)
{
	for (int i = 0; i < key->ncolumns; i++)
	{
		Oid			typinput;
		Oid			typioparam;

		getTypeInputInfo(key->types[i], &typinput, &typioparam);
		values[i] = OidInputFunctionCall(typinput, text[i], typioparam, -1);
		types[i] = key->types[i];
	}
}

/*
 * backfill_key_text
 *		"(k1, k2)=(v1, v2)", the way PostgreSQL names a key in its messages.
 */
static char *
backfill_key_text(const BackfillKey *key, char **values)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "key (");
	for (int i = 0; i < key->ncolumns; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", key->names[i]);
	appendStringInfoString(&buf, ")=(");
	for (int i = 0; i < key->ncolumns; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", values[i]);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * backfill_standby_lag
 *		Which streaming standby replays more than max_lag behind, and by
 *		how much ("standby "name": replay lag ..."), or NULL.  Read as the
 *		worker's own role (a superuser): pg_stat_replication shows the lag
 *		only to privileged roles.
 */
static char *
backfill_standby_lag(const CatalogSession *session, Datum max_lag)
{
	Oid			argtypes[1] = {INTERVALOID};
	Datum		values[1] = {max_lag};
	Oid			userid;
	int			sec_context;
	char	   *lag = NULL;

	GetUserIdAndSecContext(&userid, &sec_context);
	SetUserIdAndSecContext(session->save_userid, session->save_sec_context);
	if (SPI_execute_with_args("SELECT pg_catalog.format('standby \"%s\": replay lag %s',"
							  "  application_name, replay_lag)"
							  " FROM pg_catalog.pg_stat_replication"
							  " WHERE replay_lag > $1 ORDER BY replay_lag DESC LIMIT 1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_stat_replication");
	if (SPI_processed > 0)
		lag = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SetUserIdAndSecContext(userid, sec_context);
	return lag;
}

/*
 * The rights under which a backfill's statements run, entered by
 * backfill_rights_enter and left by backfill_rights_leave: the plan's
 * owner, security-restricted, the backfill's search_path with pg_temp last,
 * a short lock_timeout, and usage tracking suspended (a backfill is not the
 * application's use of the columns it reads).
 */
typedef struct BackfillRights
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		was_suspended;
} BackfillRights;

/*
 * backfill_rights_enter
 *		Enter the rights; usage tracking is suspended too, and the caller
 *		must restore it with usage_suspend(rights->was_suspended) in a
 *		PG_FINALLY, as an error does not undo it.
 */
static void
backfill_rights_enter(const BackfillJob *job, BackfillRights *rights)
{
	GetUserIdAndSecContext(&rights->save_userid, &rights->save_sec_context);
	rights->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", check_run_search_path(job->search_path),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("lock_timeout", BACKFILL_LOCK_TIMEOUT,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(job->owner, rights->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	rights->was_suspended = usage_suspend(true);
}

/*
 * backfill_rights_leave
 *		Leave the rights (after the usage suspension was restored).  On an
 *		error, the (sub)transaction's abort restores the user and GUCs.
 */
static void
backfill_rights_leave(BackfillRights *rights)
{
	SetUserIdAndSecContext(rights->save_userid, rights->save_sec_context);
	AtEOXact_GUC(true, rights->save_nestlevel);
}

/*
 * backfill_run_batch
 *		Lock the next keys and update those rows where pending holds.
 *		Returns the number of keys passed (0: none left); *updated, and
 *		last_key (the new last key, as text) are set.
 */
static int64
backfill_run_batch(const BackfillJob *job, int64 *updated, char ***last_key)
{
	const BackfillKey *key = &job->key;
	int			n = key->ncolumns;
	bool		first = job->nkey == 0;
	Oid			types[1 + 2 * INDEX_MAX_KEYS];
	Datum		values[1 + 2 * INDEX_MAX_KEYS];
	int64		passed;
	bool		isnull;
	HeapTuple	tuple;
	TupleDesc	desc;

	types[0] = INT4OID;
	values[0] = Int32GetDatum(job->batch_size);
	if (!first)
		backfill_key_datums(key, job->last_key, values + 1, types + 1);
	if (SPI_execute_with_args(backfill_lock_sql(job->relname, key, first),
							  first ? 1 : 1 + n, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock a batch of table \"%s\"", job->relname);
	if (SPI_processed == 0)
	{
		*updated = 0;
		return 0;
	}
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	passed = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	*last_key = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
	{
		int			slot = first ? i : n + i;

		(*last_key)[i] = SPI_getvalue(tuple, desc, i + 2);
		values[slot] = SPI_getbinval(tuple, desc, i + 2, &isnull);
		types[slot] = key->types[i];
	}
	if (!first)
		backfill_key_datums(key, job->last_key, values, types);
	if (SPI_execute_with_args(backfill_update_sql(job->relname, key, first,
												  job->set_clause, job->pending),
							  first ? n : 2 * n, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update a batch of table \"%s\"", job->relname);
	*updated = (int64) SPI_processed;
	return passed;
}

/*
 * backfill_text_array
 *		A text[] Datum of C strings.
 */
static Datum
backfill_text_array(char **texts, int count)
{
	Datum	   *elems = palloc(sizeof(Datum) * count);

	for (int i = 0; i < count; i++)
		elems[i] = CStringGetTextDatum(texts[i]);
	return PointerGetDatum(construct_array(elems, count, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * backfill_record_batch
 *		Record a batch's progress in the catalog row, in the batch's
 *		transaction; with done, the backfill is done.
 */
static void
backfill_record_batch(const BackfillJob *job, int64 passed, int64 updated, char **last_key,
					  bool done)
{
	Oid			argtypes[5] = {INT8OID, INT8OID, INT8OID, TEXTARRAYOID, BOOLOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(job->backfill_id);
	values[1] = Int64GetDatum(passed);
	values[2] = Int64GetDatum(updated);
	if (last_key != NULL)
		values[3] = backfill_text_array(last_key, job->key.ncolumns);
	else
		nulls[3] = 'n';
	values[4] = BoolGetDatum(done);
	if (SPI_execute_with_args("UPDATE phased_change.backfill SET"
							  " status = CASE WHEN $5 THEN 'done' ELSE 'running' END,"
							  " rows_done = rows_done + $2, rows_updated = rows_updated + $3,"
							  " batches = batches + CASE WHEN $2 > 0 THEN 1 ELSE 0 END,"
							  " last_key = COALESCE($4, last_key),"
							  " started_at = COALESCE(started_at, pg_catalog.statement_timestamp()),"
							  " finished_at = CASE WHEN $5 THEN pg_catalog.clock_timestamp() END,"
							  " throttled_by = NULL, last_error = NULL"
							  " WHERE backfill_id = $1",
							  5, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the progress of backfill %lld", (long long) job->backfill_id);
}

/*
 * backfill_set_throttled
 *		Say that (and by which standby) a backfill waits.
 */
static void
backfill_set_throttled(const BackfillJob *job, const char *lag)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(job->backfill_id), CStringGetTextDatum(lag)};

	if (SPI_execute_with_args("UPDATE phased_change.backfill"
							  " SET status = 'throttled', throttled_by = $2"
							  " WHERE backfill_id = $1",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the throttling of backfill %lld",
			 (long long) job->backfill_id);
}

/*
 * backfill_step_in_transaction
 *		One step of a backfill, inside a transaction: a throttle, or a
 *		batch and its progress.
 */
static BackfillOutcome
backfill_step_in_transaction(int64 backfill_id, int64 *pause_ms)
{
	CatalogSession session;
	BackfillJob job;
	BackfillRights rights;
	char	   *lag;
	char	  **last_key = NULL;
	int64		passed;
	int64		updated;
	bool		done;

	catalog_begin(&session);
	if (!backfill_read_job(backfill_id, &job))
	{
		catalog_end(&session);
		return BACKFILL_SKIPPED;
	}
	*pause_ms = job.pause_ms;
	lag = backfill_standby_lag(&session, job.max_lag);
	if (lag != NULL)
	{
		backfill_set_throttled(&job, lag);
		catalog_end(&session);
		return BACKFILL_THROTTLED;
	}
	backfill_open_job(&job);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("phased_change: backfill of %s, batch after %s",
									job.relname, job.nkey == 0 ? "the start" :
									backfill_key_text(&job.key, job.last_key)));

	backfill_rights_enter(&job, &rights);
	PG_TRY();
	{
		passed = backfill_run_batch(&job, &updated, &last_key);
	}
	PG_FINALLY();
	{
		usage_suspend(rights.was_suspended);
	}
	PG_END_TRY();
	backfill_rights_leave(&rights);

	done = passed < job.batch_size;
	backfill_record_batch(&job, passed, updated, last_key, done);
	if (done)
	{
		Oid			argtypes[2] = {INT8OID, TEXTOID};
		Datum		values[2] = {Int64GetDatum(backfill_id), CStringGetTextDatum(job.relname)};

		if (SPI_execute_with_args("SELECT pg_catalog.jsonb_build_object('table', $2,"
								  " 'rows_done', rows_done, 'rows_updated', rows_updated,"
								  " 'batches', batches)::pg_catalog.text"
								  " FROM phased_change.backfill WHERE backfill_id = $1",
								  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read backfill %lld", (long long) backfill_id);
		backfill_history(job.plan_id, "backfill_done",
						 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	}
	catalog_end(&session);
	return done ? BACKFILL_FINISHED : BACKFILL_BATCH;
}

/*
 * backfill_error_contention
 *		Whether an error is contention with other sessions, which the same
 *		batch retried a moment later is unlikely to meet again: a lock
 *		timeout, a deadlock or serialization failure.  Retried quietly.
 */
static bool
backfill_error_contention(const ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_TRANSACTION_ROLLBACK;
}

/*
 * backfill_error_passes
 *		Whether an error is one the same batch may not meet again: the
 *		contention above, a cancel (pg_cancel_backend, a statement
 *		timeout), a shortage of memory, disk or connections.  The last two
 *		may last: they are retried too, but said in the server log and in
 *		last_error while they do.
 */
static bool
backfill_error_passes(const ErrorData *edata)
{
	return backfill_error_contention(edata) ||
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES;
}

/*
 * backfill_record_retry
 *		Say in last_error why a backfill retries its batch (it stays
 *		running; the next batch that commits clears it), in a transaction
 *		of its own.  Recording may fail for the very reason (a full disk):
 *		the server log says it anyway, so a failure here is only logged.
 */
static void
backfill_record_retry(int64 backfill_id, const char *message)
{
	MemoryContext context = CurrentMemoryContext;

	PG_TRY();
	{
		CatalogSession session;
		Oid			argtypes[2] = {INT8OID, TEXTOID};
		Datum		values[2];

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		catalog_begin(&session);
		values[0] = Int64GetDatum(backfill_id);
		values[1] = CStringGetTextDatum(psprintf("retrying the batch: %s", message));
		if (SPI_execute_with_args("UPDATE phased_change.backfill SET last_error = $2"
								  " WHERE backfill_id = $1"
								  "  AND status = ANY (" BACKFILL_RUNNABLE ")",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the retry of backfill %lld", (long long) backfill_id);
		catalog_end(&session);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("phased_change backfill %lld could not record its retry: %s",
						(long long) backfill_id, edata->message)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
}

/*
 * backfill_param_list
 *		"$first, $first+1, ..." for count parameters.
 */
static char *
backfill_param_list(int first, int count)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < count; i++)
		appendStringInfo(&buf, "%s$%d", i > 0 ? ", " : "", first + i);
	return buf.data;
}

/*
 * backfill_find_failing_key
 *		Update the batch's rows one at a time, each in a subtransaction that
 *		is rolled back, until one raises; returns "key (...)=(...): message"
 *		for it, or NULL when none does (a lock timeout on a row is passed
 *		over: it is not the row's fault).
 */
static char *
backfill_find_failing_key(BackfillJob *job)
{
	const BackfillKey *key = &job->key;
	int			n = key->ncolumns;
	bool		first = job->nkey == 0;
	Oid			types[1 + INDEX_MAX_KEYS];
	Datum		values[1 + INDEX_MAX_KEYS];
	char	   *columns;
	SPITupleTable *keys;
	char	   *volatile found = NULL;
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	/* the batch's keys, without locking them */
	columns = pstrdup(key->names[0]);
	for (int i = 1; i < n; i++)
		columns = psprintf("%s, %s", columns, key->names[i]);
	types[0] = INT4OID;
	values[0] = Int32GetDatum(job->batch_size);
	if (!first)
		backfill_key_datums(key, job->last_key, values + 1, types + 1);
	if (SPI_execute_with_args(psprintf("SELECT %s FROM ONLY %s%s ORDER BY %s LIMIT $1",
									   columns, job->relname,
									   first ? "" :
									   psprintf(" WHERE ROW(%s) OPERATOR(pg_catalog.>) ROW(%s)",
												columns, backfill_param_list(2, n)),
									   columns),
							  first ? 1 : 1 + n, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read a batch of table \"%s\"", job->relname);
	keys = SPI_tuptable;

	for (uint64 row = 0; row < keys->numvals && found == NULL; row++)
	{
		char	  **upper = palloc(sizeof(char *) * n);
		Oid			utypes[2 * INDEX_MAX_KEYS];
		Datum		uvalues[2 * INDEX_MAX_KEYS];
		bool		at_start = job->nkey == 0;

		for (int i = 0; i < n; i++)
			upper[i] = SPI_getvalue(keys->vals[row], keys->tupdesc, i + 1);
		if (!at_start)
			backfill_key_datums(key, job->last_key, uvalues, utypes);
		backfill_key_datums(key, upper, uvalues + (at_start ? 0 : n), utypes + (at_start ? 0 : n));

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(context);
		PG_TRY();
		{
			(void) SPI_execute_with_args(backfill_update_sql(job->relname, key, at_start,
															 job->set_clause, job->pending),
										 at_start ? n : 2 * n, utypes, uvalues, NULL, false, 0);
			RollbackAndReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(context);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			/* a row locked by someone else says nothing about the row */
			if (!backfill_error_passes(edata))
				found = psprintf("%s: %s", backfill_key_text(key, upper), edata->message);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		/* the next row's range starts after this one */
		job->last_key = upper;
		job->nkey = n;
	}
	return found;
}

/*
 * backfill_probe_failing_key
 *		As the plan's owner, find the key of the row that makes the batch
 *		fail; usage tracking is resumed even when the probe raises.
 */
static char *
backfill_probe_failing_key(BackfillJob *probe)
{
	BackfillRights rights;
	char	   *reason;

	backfill_open_job(probe);
	backfill_rights_enter(probe, &rights);
	PG_TRY();
	{
		reason = backfill_find_failing_key(probe);
	}
	PG_FINALLY();
	{
		usage_suspend(rights.was_suspended);
	}
	PG_END_TRY();
	backfill_rights_leave(&rights);
	return reason;
}

/*
 * backfill_fail_in_transaction
 *		Mark a backfill failed, naming the key at fault when the batch's
 *		rows tried one by one show it, and record backfill_failed.
 */
static void
backfill_fail_in_transaction(int64 backfill_id, const char *message)
{
	CatalogSession session;
	BackfillJob job;
	BackfillJob *probe;
	char	   *volatile reason = NULL;
	char	   *start;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	catalog_begin(&session);
	if (!backfill_read_job(backfill_id, &job))
	{
		catalog_end(&session);
		return;
	}
	/*
	 * The probe runs in a subtransaction that is always rolled back, on a
	 * copy of the job (in memory that a longjmp does not clobber).
	 */
	probe = palloc(sizeof(BackfillJob));
	*probe = job;
	{
		MemoryContext context = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(context);
		PG_TRY();
		{
			/* what the probe found outlives its subtransaction */
			reason = backfill_probe_failing_key(probe);
			if (reason)
				reason = MemoryContextStrdup(context, reason);
			if (probe->relname)
				probe->relname = MemoryContextStrdup(context, probe->relname);
			RollbackAndReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			/* the table or its key are what failed: the message says it */
			MemoryContextSwitchTo(context);
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			reason = NULL;
			probe->relname = job.relname;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	job.relname = probe->relname;
	if (reason == NULL)
	{
		start = job.nkey == 0 ? pstrdup("the first batch") :
			job.key.ncolumns == 0 ? pstrdup("the next batch") :
			psprintf("the batch after %s", backfill_key_text(&job.key, job.last_key));
		reason = psprintf("in %s: %s", start, message);
	}

	values[0] = Int64GetDatum(backfill_id);
	values[1] = CStringGetTextDatum(reason);
	if (SPI_execute_with_args("UPDATE phased_change.backfill"
							  " SET status = 'failed', last_error = $2, throttled_by = NULL,"
							  "  finished_at = pg_catalog.clock_timestamp()"
							  " WHERE backfill_id = $1",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the failure of backfill %lld", (long long) backfill_id);
	ereport(LOG,
			(errmsg("phased_change backfill of table \"%s\" failed: %s",
					job.relname ? job.relname : psprintf("%u", job.relid), reason)));
	backfill_history(job.plan_id, "backfill_failed",
					 history_detail("table", job.relname ? job.relname :
									psprintf("%u", job.relid),
									"error", reason, NULL));
	catalog_end(&session);
}

/*
 * backfill_step
 *		One step of a backfill in a transaction of its own.  A passing error
 *		rolls it back for a retry; any other fails the backfill.
 */
static BackfillOutcome
backfill_step(int64 backfill_id, int64 *pause_ms)
{
	MemoryContext context = CurrentMemoryContext;
	volatile BackfillOutcome outcome;
	ErrorData  *volatile edata = NULL;

	*pause_ms = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		outcome = backfill_step_in_transaction(backfill_id, pause_ms);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		outcome = BACKFILL_RETRY;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (edata != NULL && !backfill_error_passes(edata))
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		backfill_fail_in_transaction(backfill_id, edata->message);
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(context);
		outcome = BACKFILL_FAILED;
	}
	else if (edata != NULL && backfill_error_contention(edata))
		ereport(DEBUG1,
				(errmsg("phased_change backfill %lld retries its batch: %s",
						(long long) backfill_id, edata->message)));
	else if (edata != NULL)
	{
		/* a cancel or a shortage may last: say so where a DBA looks */
		ereport(LOG,
				(errmsg("phased_change backfill %lld retries its batch: %s",
						(long long) backfill_id, edata->message)));
		backfill_record_retry(backfill_id, edata->message);
	}
	return outcome;
}

/*
 * backfill_list_runnable
 *		The ids of the backfills of this database with work left, in order.
 */
static List *
backfill_list_runnable(void)
{
	MemoryContext context = CurrentMemoryContext;
	List	   *ids = NIL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(extension_oid_current()) && backfill_catalog_present())
	{
		CatalogSession session;
		bool		isnull;

		catalog_begin(&session);
		if (SPI_execute("SELECT b.backfill_id FROM phased_change.backfill b"
						" JOIN phased_change.plan p ON p.plan_id = b.plan_id"
						" WHERE b.status = ANY (" BACKFILL_RUNNABLE ")"
						"  AND p.status = 'active' AND p.phase = 2"
						" ORDER BY b.backfill_id",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the backfills");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(context);
			int64	   *id = palloc(sizeof(int64));

			*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											  1, &isnull));
			ids = lappend(ids, id);
			MemoryContextSwitchTo(old);
		}
		catalog_end(&session);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
	return ids;
}

/*
 * backfill_slot
 *		The scheduling slot of a backfill, made on first sight; the slots
 *		live as long as the worker.
 */
static BackfillSlot *
backfill_slot(List **slots, int64 backfill_id)
{
	ListCell   *lc;
	BackfillSlot *slot;
	MemoryContext old;

	foreach(lc, *slots)
	{
		slot = lfirst(lc);
		if (slot->backfill_id == backfill_id)
			return slot;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	slot = palloc0(sizeof(BackfillSlot));
	slot->backfill_id = backfill_id;
	*slots = lappend(*slots, slot);
	MemoryContextSwitchTo(old);
	return slot;
}

/*
 * backfill_worker_run
 *		Run the runnable backfills, a step of one at a time, round-robin
 *		among those that are due (pause, throttle, back-off), until none is
 *		left.
 */
static void
backfill_worker_run(void)
{
	MemoryContext step_context = AllocSetContextCreate(TopMemoryContext,
													   "phased_change backfill step",
													   ALLOCSET_DEFAULT_SIZES);
	List	   *slots = NIL;
	int64		last_served = 0;

	for (;;)
	{
		MemoryContext old;
		List	   *ids;
		ListCell   *lc;
		BackfillSlot *next = NULL;
		BackfillSlot *wrapped = NULL;
		TimestampTz now;
		TimestampTz soonest = 0;
		BackfillOutcome outcome;
		int64		pause_ms;
		long		delay_ms = 0;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(step_context);
		old = MemoryContextSwitchTo(step_context);
		ids = backfill_list_runnable();
		if (ids == NIL)
		{
			MemoryContextSwitchTo(old);
			break;
		}
		now = GetCurrentTimestamp();
		foreach(lc, ids)
		{
			int64		id = *(int64 *) lfirst(lc);
			BackfillSlot *slot = backfill_slot(&slots, id);

			if (slot->due > now)
			{
				if (soonest == 0 || slot->due < soonest)
					soonest = slot->due;
				continue;
			}
			if (id > last_served && next == NULL)
				next = slot;
			if (wrapped == NULL)
				wrapped = slot;
		}
		if (next == NULL)
			next = wrapped;
		if (next == NULL)
		{
			long		secs;
			int			usecs;

			MemoryContextSwitchTo(old);
			TimestampDifference(now, soonest, &secs, &usecs);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(secs * 1000 + usecs / 1000 + 1, BACKFILL_MAX_SLEEP_MS),
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}

		outcome = backfill_step(next->backfill_id, &pause_ms);
		MemoryContextSwitchTo(old);
		last_served = next->backfill_id;
		switch (outcome)
		{
			case BACKFILL_BATCH:
				next->retries = 0;
				delay_ms = (long) pause_ms;
				break;
			case BACKFILL_THROTTLED:
				delay_ms = BACKFILL_THROTTLE_MS;
				break;
			case BACKFILL_RETRY:
				delay_ms = Min(BACKFILL_BACKOFF_MAX_MS,
							   BACKFILL_BACKOFF_MIN_MS << Min(next->retries, 10));
				next->retries++;
				break;
			default:
				next->retries = 0;
				break;
		}
		next->due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms);
	}
	MemoryContextDelete(step_context);
}

/*
 * phased_change_backfill_main
 *		The backfill worker of one database: take the worker's lock (or
 *		exit, one runs already), run the backfills, release the lock, and
 *		carry on only when one became runnable between the last look and
 *		the release.
 */
void
phased_change_backfill_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	LOCKTAG		tag;

	/* the batches run as each plan's owner */
	db_worker_connect(database, "phased_change backfill");
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);

	db_worker_lock_tag(&tag, database, DB_WORKER_BACKFILL);
	while (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
	{
		backfill_worker_run();
		LockRelease(&tag, ExclusiveLock, true);
		if (backfill_list_runnable() == NIL)
			break;
	}
	proc_exit(0);
}
