/*-------------------------------------------------------------------------
 *
 * refusal_recorder.c
 *		Keeping the record of every refusal through the rollback of the
 *		refused transaction: a spool of files in the data directory, drained
 *		into phased_change.event_log by at most one recorder worker per
 *		database.
 *
 * A refusing backend writes nothing in its own (doomed) transaction.  It
 * writes the refusal's event_log rows, as jsonb array text, to a file of its
 * own under pg_phased_change/<database oid>/ (temporary name, fsync, durable
 * rename), and makes sure a recorder runs for its database: the recorder
 * holds a session-level lock on a tag no SQL function can take, so a
 * conditional try shows whether one runs; only when none does is a dynamic
 * background worker started, and a spare duplicate exits at once.  The
 * refusal never waits for the recorder, so it never waits on replication, a
 * lock on the history or a free worker slot, and works in a read-only
 * transaction and on a hot standby (where the record stays spooled until a
 * call after promotion drains it).
 *
 * The recorder inserts the spooled records in batches, one transaction per
 * batch with synchronous_commit = local and a lock_timeout, deletes the
 * files after the commit and exits once the spool has stayed empty for a
 * second.  A record that cannot be inserted (its plan does not exist,
 * because the refusal was in the transaction that created it) is moved to
 * pg_phased_change/<database oid>/unrecorded/ with the reason; a batch that
 * fails for a passing reason (a lock timeout) is retried.  The spool
 * survives a crash: the next refusal, phase_* call on a plan,
 * phased_change.recorder_wait() or, when preloaded, the server start drains
 * it.  The phased_change.recorder view says what is pending and what could
 * not be recorded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "db_worker.h"
#include "phased_change.h"
#include "refusal_recorder.h"

#define RECORDER_ROOT "pg_phased_change"
#define RECORDER_UNRECORDED "unrecorded"
#define RECORDER_LAST_ERROR "last_error"
#define RECORDER_SUFFIX ".json"

/* Records per transaction of the recorder. */
#define RECORDER_BATCH 200
/* How long the spool must stay empty before the recorder exits (ms). */
#define RECORDER_IDLE_MS 1000
/* Failed batches in a row after which the recorder gives up until kicked. */
#define RECORDER_MAX_FAILURES 3

/*
 * The recorder's lock: an advisory tag whose fourth field no SQL function
 * uses (they use 1 and 2), so no session can hold it and starve recording.
 */
#define RECORDER_LOCK_KEY1 0x70686173	/* "phas" */
#define RECORDER_LOCK_KEY2 0x65645f72	/* "ed_r" */
#define RECORDER_LOCK_FIELD4 0x5043

PG_FUNCTION_INFO_V1(recorder_status);
PG_FUNCTION_INFO_V1(recorder_wait);

static uint32 recorder_file_counter = 0;

/*
 * recorder_spool_dir
 *		The spool directory of a database, relative to the data directory.
 */
static char *
recorder_spool_dir(Oid database)
{
	return psprintf(RECORDER_ROOT "/%u", database);
}

/*
 * recorder_make_dir
 *		Create a directory if it is missing, durably; false (with a WARNING)
 *		when it cannot be created.
 */
static bool
recorder_make_dir(const char *path, const char *parent)
{
	if (MakePGDirectory(path) == 0)
	{
		fsync_fname(path, true);
		fsync_fname(parent, true);
		return true;
	}
	if (errno == EEXIST)
		return true;
	ereport(WARNING,
			(errcode_for_file_access(),
			 errmsg("could not create directory \"%s\": %m", path)));
	return false;
}

/*
 * recorder_write_file
 *		Write text to a file, durably when asked; false (with a WARNING at
 *		elevel) on failure.
 */
static bool
recorder_write_file(const char *path, const char *text, bool durable, int elevel)
{
	int			fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	size_t		len = strlen(text);

	if (fd < 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
		return false;
	}
	errno = 0;
	if (write(fd, text, len) != len || (durable && pg_fsync(fd) != 0))
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
		CloseTransientFile(fd);
		unlink(path);
		return false;
	}
	CloseTransientFile(fd);
	return true;
}

/*
 * recorder_read_file
 *		A file's text, or NULL when it is gone.
 */
static char *
recorder_read_file(const char *path)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	struct stat st;
	char	   *text;
	ssize_t		got;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
	{
		CloseTransientFile(fd);
		return NULL;
	}
	text = palloc(st.st_size + 1);
	got = read(fd, text, st.st_size);
	CloseTransientFile(fd);
	if (got != st.st_size)
		return NULL;
	text[got] = '\0';
	return text;
}

/*
 * recorder_name_cmp
 *		Order spool file names, which sort in the order records were made.
 */
static int
recorder_name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * recorder_list_spool
 *		The spooled records of a directory (file names, oldest first), at
 *		most max of them (0: all); *count gets how many there are in all.
 */
static List *
recorder_list_spool(const char *dir, int max, int64 *count)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	List	   *names = NIL;
	int64		n = 0;
	size_t		suffix_len = strlen(RECORDER_SUFFIX);

	if (d == NULL)
	{
		*count = 0;
		return NIL;
	}
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len <= suffix_len ||
			strcmp(de->d_name + len - suffix_len, RECORDER_SUFFIX) != 0)
			continue;
		n++;
		names = lappend(names, pstrdup(de->d_name));
	}
	FreeDir(d);
	list_sort(names, recorder_name_cmp);
	if (max > 0 && list_length(names) > max)
		names = list_truncate(names, max);
	*count = n;
	return names;
}

/*
 * recorder_count_files
 *		How many files a directory holds (0 when it is missing).
 */
static int64
recorder_count_files(const char *dir)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	int64		n = 0;

	if (d == NULL)
		return 0;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	FreeDir(d);
	return n;
}

/*
 * recorder_pending
 *		How many records wait in a database's spool.
 */
static int64
recorder_pending(Oid database)
{
	int64		count;

	list_free_deep(recorder_list_spool(recorder_spool_dir(database), 1, &count));
	return count;
}

/*
 * recorder_lock_tag
 *		The tag of the lock a database's recorder holds while it runs.
 */
static void
recorder_lock_tag(LOCKTAG *tag, Oid database)
{
	SET_LOCKTAG_ADVISORY(*tag, database, RECORDER_LOCK_KEY1, RECORDER_LOCK_KEY2,
						 RECORDER_LOCK_FIELD4);
}

/*
 * recorder_start_if_idle
 *		Start a recorder for this database unless one holds the recorder's
 *		lock.  Never waits.  Whoever takes the lock to test it starts a
 *		worker, so a recorder that finds the lock taken and exits leaves the
 *		work to the one that is starting.
 */
static void
recorder_start_if_idle(void)
{
	LOCKTAG		tag;

	recorder_lock_tag(&tag, MyDatabaseId);
	if (db_worker_start_if_idle(&tag, "phased_change_recorder_main",
								"phased_change recorder") == DB_WORKER_NO_SLOT)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the phased_change recorder"),
				 errdetail("No background worker slot was free; the refusal stays in the spool until a later refusal or phase_* call starts the recorder."),
				 errhint("Raise max_worker_processes.")));
}

/*
 * recorder_keep
 *		Spool the event_log rows of a refusal (jsonb array text) durably for
 *		the recorder, and make sure one runs.  Never raises an error: a
 *		recording problem is a WARNING, and the refusal follows it.
 */
void
recorder_keep(const char *rows_json)
{
	char	   *dir = recorder_spool_dir(MyDatabaseId);
	char	   *name;
	char	   *tmp;

	if (!recorder_make_dir(RECORDER_ROOT, ".") || !recorder_make_dir(dir, RECORDER_ROOT))
		return;

	/* The name sorts in the order records were made, and is unique. */
	name = psprintf("%s/%016llX-%08X-%08X" RECORDER_SUFFIX, dir,
					(unsigned long long) GetCurrentTimestamp(), (uint32) MyProcPid,
					recorder_file_counter++);
	tmp = psprintf("%s.tmp", name);
	if (!recorder_write_file(tmp, rows_json, true, WARNING))
		return;
	if (durable_rename(tmp, name, WARNING) != 0)
	{
		unlink(tmp);
		return;
	}
	if (!RecoveryInProgress())
		recorder_start_if_idle();
}

/*
 * recorder_protect
 *		Run a recording step in a subtransaction and turn any error it
 *		raises into a WARNING, so that the refusal that follows is never
 *		replaced by a recording problem.
 */
void
recorder_protect(void (*step) (void *), void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		step(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not record the refusal in the phased_change history"),
				 errdetail_internal("%s", edata->message)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
}

/*
 * recorder_kick
 *		Start a recorder when this database's spool holds records and none
 *		runs (records left by a crash, or by a refusal that found no free
 *		worker slot).  Called by the phase_* functions.
 */
void
recorder_kick(void)
{
	if (!RecoveryInProgress() && recorder_pending(MyDatabaseId) > 0)
		recorder_start_if_idle();
}

/*
 * recorder_error_passes
 *		Whether an error is one a later attempt may not meet: a lock or
 *		statement timeout, a serialization failure or deadlock, a shortage
 *		of memory or disk, or the history's table not found under its name
 *		(a superuser renaming the catalog under the override, until it is
 *		renamed back).
 */
static bool
recorder_error_passes(const ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_TRANSACTION_ROLLBACK ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES;
}

/*
 * recorder_note_error
 *		Keep the latest recording problem for the phased_change.recorder
 *		view.
 */
static void
recorder_note_error(const char *dir, const char *message)
{
	char	   *path = psprintf("%s/" RECORDER_LAST_ERROR, dir);
	char	   *text = psprintf("%s: %s",
								timestamptz_to_str(GetCurrentTimestamp()), message);

	(void) recorder_write_file(path, text, false, LOG);
}

/*
 * Insert spooled rows (RECORDER_INSERT); a verification among them (that
 * of a refused phase_advance) is also brought to its plan's row, as
 * phase_verify would have done had it not rolled back: a failure restarts
 * the soak (RECORDER_APPLY, verification.c).  Returns what NOTIFY
 * announces of each row (RECORDER_ANNOUNCE).
 */
#define RECORDER_LATEST \
	"(p.last_verified_at IS NULL OR p.last_verified_at OPERATOR(pg_catalog.<) p.entered_at" \
	" OR v.at OPERATOR(pg_catalog.>=) p.last_verified_at)"
#define RECORDER_INSERT \
	"WITH ins AS (" \
	" INSERT INTO phased_change.event_log" \
	" (at, plan_id, event, from_phase, to_phase, time_in_phase," \
	"  checks_ok, actor, role, application_name, client_addr, detail)" \
	" SELECT r.at, r.plan_id, r.event, r.from_phase, r.to_phase," \
	"  r.time_in_phase, r.checks_ok, r.actor, r.role," \
	"  r.application_name, r.client_addr, r.detail" \
	" FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb)" \
	"  WITH ORDINALITY AS f(rows, n)" \
	" CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(f.rows)" \
	"  WITH ORDINALITY AS g(e, m)" \
	" CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(" \
	"  NULL::phased_change.event_log, g.e) AS r" \
	" ORDER BY f.n, g.m" \
	" RETURNING *)"
#define RECORDER_APPLY \
	", verification AS (" \
	" SELECT DISTINCT ON (v.plan_id) v.plan_id, v.from_phase, v.at, v.checks_ok, v.detail," \
	"  (SELECT pg_catalog.max(x.at) FROM ins x" \
	"   WHERE x.plan_id OPERATOR(pg_catalog.=) v.plan_id" \
	"     AND x.from_phase OPERATOR(pg_catalog.=) v.from_phase" \
	"     AND x.event OPERATOR(pg_catalog.=) 'verify_failed') AS failed_at" \
	" FROM ins v WHERE v.event OPERATOR(pg_catalog.=) ANY ('{verified,verify_failed}')" \
	" ORDER BY v.plan_id, v.at DESC, v.event_id DESC)," \
	" applied AS (" \
	" UPDATE phased_change.plan p" \
	" SET last_failed_at = CASE WHEN p.last_failed_at OPERATOR(pg_catalog.>=) p.entered_at" \
	"   THEN GREATEST(p.last_failed_at, v.failed_at) ELSE v.failed_at END," \
	"  last_verified_at = CASE WHEN " RECORDER_LATEST " THEN v.at ELSE p.last_verified_at END," \
	"  last_verification_ok = CASE WHEN " RECORDER_LATEST " THEN v.checks_ok" \
	"   ELSE p.last_verification_ok END," \
	"  last_verification = CASE WHEN " RECORDER_LATEST " THEN v.detail" \
	"   ELSE p.last_verification END," \
	"  verification_since = CASE WHEN " RECORDER_LATEST " AND (p.last_verified_at IS NULL" \
	"   OR p.last_verified_at OPERATOR(pg_catalog.<) p.entered_at" \
	"   OR p.last_verification_ok IS DISTINCT FROM v.checks_ok" \
	"   OR phased_change.verification_outcome(p.last_verification)" \
	"      IS DISTINCT FROM phased_change.verification_outcome(v.detail))" \
	"   THEN v.at ELSE p.verification_since END" \
	" FROM verification v" \
	" WHERE p.plan_id OPERATOR(pg_catalog.=) v.plan_id" \
	"   AND p.status OPERATOR(pg_catalog.=) 'active'" \
	"   AND p.phase OPERATOR(pg_catalog.=) v.from_phase" \
	"   AND v.at OPERATOR(pg_catalog.>=) p.entered_at" \
	/* an unchanged passing verification only makes last_verified_at fresher */ \
	"   AND (v.failed_at IS NOT NULL OR p.last_verified_at IS NULL" \
	"    OR p.last_verified_at OPERATOR(pg_catalog.<) p.entered_at" \
	"    OR p.last_verification_ok IS DISTINCT FROM v.checks_ok" \
	"    OR phased_change.verification_outcome(p.last_verification)" \
	"       IS DISTINCT FROM phased_change.verification_outcome(v.detail))" \
	" RETURNING p.plan_id)"
#define RECORDER_ANNOUNCE \
	" SELECT i.event_id, i.event, p.name, i.from_phase, i.to_phase, i.at, i.actor, i.role," \
	"  i.detail OPERATOR(pg_catalog.->>) 'object'" \
	" FROM ins i LEFT JOIN phased_change.plan p ON p.plan_id OPERATOR(pg_catalog.=) i.plan_id" \
	" ORDER BY i.event_id"

/*
 * recorder_insert
 *		Insert spooled records (a jsonb array of jsonb arrays of event_log
 *		rows) in a subtransaction, in the order they were made; the rows get
 *		new event_ids.  On failure, *edata gets the error (allocated in keep)
 *		and nothing of it stays.
 */
static bool
recorder_insert(const char *records, ErrorData **edata, MemoryContext keep)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(records)};
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		/* a catalog not yet updated to 1.4 keeps no verification on the plan row */
		if (SPI_execute_with_args(verification_on_plan_row() ?
								  RECORDER_INSERT RECORDER_APPLY RECORDER_ANNOUNCE :
								  RECORDER_INSERT RECORDER_ANNOUNCE,
								  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not insert spooled refusals");
		history_notify_recorded(SPI_tuptable, SPI_processed);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(keep);
		*edata = CopyErrorData();
		MemoryContextSwitchTo(context);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * recorder_set_aside
 *		Move a record that cannot be inserted out of the spool, with the
 *		reason, so that it is counted and kept but not retried.
 */
static void
recorder_set_aside(const char *dir, const char *name, const char *rows, const char *reason)
{
	char	   *aside = psprintf("%s/" RECORDER_UNRECORDED, dir);
	StringInfoData text;

	initStringInfo(&text);
	appendStringInfoString(&text, "{\"reason\": ");
	escape_json(&text, reason);
	appendStringInfo(&text, ", \"rows\": %s}", rows);
	if (recorder_make_dir(aside, dir) &&
		recorder_write_file(psprintf("%s/%s", aside, name), text.data, true, LOG))
		unlink(psprintf("%s/%s", dir, name));
	recorder_note_error(dir, psprintf("%s could not be recorded: %s", name, reason));
}

/*
 * recorder_record_batch
 *		Insert the named spooled records in one transaction and delete their
 *		files after the commit; records that cannot be inserted are set
 *		aside.  False when the batch failed for a passing reason (it stays
 *		spooled).
 */
static bool
recorder_record_batch(const char *dir, List *names)
{
	MemoryContext batch_context = CurrentMemoryContext;
	StringInfoData batch;
	List	   *rows = NIL;
	List	   *recorded = NIL;
	List	   *rejected = NIL;
	List	   *reasons = NIL;
	ErrorData  *edata = NULL;
	bool		passing_failure = false;
	ListCell   *lc;
	ListCell   *lr;

	initStringInfo(&batch);
	appendStringInfoChar(&batch, '[');
	foreach(lc, names)
	{
		char	   *text = recorder_read_file(psprintf("%s/%s", dir, (char *) lfirst(lc)));

		rows = lappend(rows, text);
		if (text == NULL)
			continue;
		if (batch.len > 1)
			appendStringInfoChar(&batch, ',');
		appendStringInfoString(&batch, text);
	}
	appendStringInfoChar(&batch, ']');

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* the lists and errors below outlive the transaction: the batch's context */
	MemoryContextSwitchTo(batch_context);
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "phased_change: recording refusals");

	if (!OidIsValid(get_extension_oid(PHASED_CHANGE_EXTENSION, true)))
	{
		forboth(lc, names, lr, rows)
			if (lfirst(lr) != NULL)
		{
			rejected = lappend(rejected, lfirst(lc));
			reasons = lappend(reasons, "extension \"phased_change\" is not installed");
		}
	}
	else
	{
		CatalogSession session;
		MemoryContext spi_context;

		/* SPI's memory goes with catalog_end: the lists are kept in the batch's */
		catalog_begin(&session);
		spi_context = CurrentMemoryContext;
		if (recorder_insert(batch.data, &edata, batch_context))
		{
			MemoryContextSwitchTo(batch_context);
			recorded = list_copy(names);
			MemoryContextSwitchTo(spi_context);
		}
		else if (recorder_error_passes(edata))
			passing_failure = true;
		else
		{
			/* Find the records at fault, one subtransaction each. */
			forboth(lc, names, lr, rows)
			{
				if (lfirst(lr) == NULL)
					continue;
				if (recorder_insert(psprintf("[%s]", (char *) lfirst(lr)), &edata, batch_context))
				{
					MemoryContextSwitchTo(batch_context);
					recorded = lappend(recorded, lfirst(lc));
					MemoryContextSwitchTo(spi_context);
				}
				else if (recorder_error_passes(edata))
				{
					passing_failure = true;
					break;
				}
				else
				{
					MemoryContextSwitchTo(batch_context);
					rejected = lappend(rejected, lfirst(lc));
					reasons = lappend(reasons, edata->message);
					MemoryContextSwitchTo(spi_context);
				}
			}
		}
		catalog_end(&session);
	}

	if (passing_failure)
	{
		PopActiveSnapshot();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(batch_context);
		pgstat_report_activity(STATE_IDLE, NULL);
		recorder_note_error(dir, edata->message);
		return false;
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(batch_context);
	pgstat_report_activity(STATE_IDLE, NULL);

	foreach(lc, recorded)
		unlink(psprintf("%s/%s", dir, (char *) lfirst(lc)));
	/* Files that vanished under us were recorded by another recorder. */
	forboth(lc, names, lr, rows)
		if (lfirst(lr) == NULL)
			unlink(psprintf("%s/%s", dir, (char *) lfirst(lc)));
	forboth(lc, rejected, lr, reasons)
	{
		char	   *text = recorder_read_file(psprintf("%s/%s", dir, (char *) lfirst(lc)));

		if (text != NULL)
			recorder_set_aside(dir, lfirst(lc), text, lfirst(lr));
	}
	fsync_fname(dir, true);
	return true;
}

/*
 * recorder_drain
 *		Record the spool until it has stayed empty for RECORDER_IDLE_MS, or
 *		until batches failed RECORDER_MAX_FAILURES times in a row.
 */
static void
recorder_drain(const char *dir)
{
	MemoryContext batch_context = AllocSetContextCreate(TopMemoryContext,
														"phased_change recorder batch",
														ALLOCSET_DEFAULT_SIZES);
	TimestampTz idle_since = GetCurrentTimestamp();
	int			failures = 0;

	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(batch_context);
		int64		count;
		List	   *names;
		long		wait_ms = 100;

		CHECK_FOR_INTERRUPTS();
		names = recorder_list_spool(dir, RECORDER_BATCH, &count);
		if (names != NIL)
		{
			if (recorder_record_batch(dir, names))
			{
				failures = 0;
				wait_ms = 0;
			}
			else if (++failures >= RECORDER_MAX_FAILURES)
				break;
			else
				wait_ms = 1000;
			idle_since = GetCurrentTimestamp();
		}
		else if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(),
											RECORDER_IDLE_MS))
			break;
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_context);
		if (wait_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextDelete(batch_context);
}

/*
 * phased_change_recorder_main
 *		The recorder of one database: take the recorder's lock (or exit, one
 *		runs already), drain the spool, release the lock, and carry on only
 *		when a record arrived between the last look and the release.
 */
void
phased_change_recorder_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	char	   *dir;
	LOCKTAG		tag;

	/* the inserts run as the extension owner */
	db_worker_connect(database, "phased_change recorder");
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);

	dir = recorder_spool_dir(database);
	recorder_lock_tag(&tag, database);
	while (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
	{
		recorder_drain(dir);
		LockRelease(&tag, ExclusiveLock, true);
		if (recorder_pending(database) == 0)
			break;
	}
	proc_exit(0);
}

/*
 * recorder_start_spooled
 *		Preloaded, once the server is up (called by the scheduler,
 *		scheduler.c): start a recorder for every database whose spool holds
 *		records (left by a crash).
 */
void
recorder_start_spooled(void)
{
	DIR		   *d;
	struct dirent *de;

	d = AllocateDir(RECORDER_ROOT);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, RECORDER_ROOT, LOG)) != NULL)
	{
		char	   *end;
		unsigned long database = strtoul(de->d_name, &end, 10);
		BackgroundWorker worker;

		if (de->d_name[0] == '\0' || *end != '\0' || database == 0 ||
			recorder_pending((Oid) database) == 0)
			continue;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "phased_change");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "phased_change_recorder_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "phased_change recorder");
		snprintf(worker.bgw_type, BGW_MAXLEN, "phased_change recorder");
		worker.bgw_main_arg = ObjectIdGetDatum((Oid) database);
		if (!RegisterDynamicBackgroundWorker(&worker, NULL))
			ereport(LOG,
					(errmsg("could not start the phased_change recorder of database %lu",
							database)));
	}
	FreeDir(d);
}

/*
 * recorder_status
 *		SQL: what waits in this database's spool, what could not be
 *		recorded, and the latest recording problem (the recorder view).
 */
Datum
recorder_status(PG_FUNCTION_ARGS)
{
	char	   *dir = recorder_spool_dir(MyDatabaseId);
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	char	   *last_error;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(recorder_pending(MyDatabaseId));
	values[1] = Int64GetDatum(recorder_count_files(psprintf("%s/" RECORDER_UNRECORDED, dir)));
	last_error = recorder_read_file(psprintf("%s/" RECORDER_LAST_ERROR, dir));
	if (last_error)
		values[2] = CStringGetTextDatum(last_error);
	else
		nulls[2] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * recorder_wait
 *		SQL: start the recorder if records wait, and wait until this
 *		database's spool is empty or the timeout passes; true when empty.
 *		For tests and deploy tools that read the history right after a
 *		refusal.  On a standby nothing can be recorded: it does not wait.
 */
Datum
recorder_wait(PG_FUNCTION_ARGS)
{
	Interval   *timeout = PG_GETARG_INTERVAL_P(0);
	int64		timeout_ms = timeout->time / 1000 +
		((int64) timeout->month * DAYS_PER_MONTH + timeout->day) * SECS_PER_DAY * 1000;
	TimestampTz start = GetCurrentTimestamp();

	for (int round = 0;; round++)
	{
		if (recorder_pending(MyDatabaseId) == 0)
			PG_RETURN_BOOL(true);
		if (RecoveryInProgress() ||
			TimestampDifferenceExceeds(start, GetCurrentTimestamp(), (int) Min(timeout_ms, INT_MAX)))
			PG_RETURN_BOOL(false);
		/* Testing the recorder's lock takes it for a moment: not too often. */
		if (round % 100 == 0)
			recorder_start_if_idle();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
