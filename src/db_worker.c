/*-------------------------------------------------------------------------
 *
 * db_worker.c
 *		At most one background worker of a kind per database, started on
 *		demand: the refusal recorder and the backfill worker; and the start
 *		shared by every per-database worker, the scheduler's included
 *		(db_worker_connect).
 *
 * A running worker holds a session-level advisory lock on a tag no SQL
 * function can take (database, two fixed keys, a fourth field per kind).
 * Whoever wants work done tries that lock without waiting: taken means a
 * worker runs and will see the work; free means none does, and a dynamic
 * background worker is registered.  A duplicate that finds the lock taken
 * exits at once, and a worker re-checks for work after releasing the lock,
 * so work that arrives while it is about to exit is never left behind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include "db_worker.h"

#define DB_WORKER_LOCK_KEY1 0x70686173	/* "phas" */
#define DB_WORKER_LOCK_KEY2 0x65645f72	/* "ed_r" */

/*
 * db_worker_lock_tag
 *		The tag of the lock a database's worker of one kind holds while it
 *		runs.
 */
void
db_worker_lock_tag(LOCKTAG *tag, Oid database, uint16 kind)
{
	SET_LOCKTAG_ADVISORY(*tag, database, DB_WORKER_LOCK_KEY1, DB_WORKER_LOCK_KEY2, kind);
}

/*
 * db_worker_start_if_idle
 *		Start a worker running function_name of this library for this
 *		database unless one holds the lock tag.  Never waits, never raises:
 *		the caller says what a missing slot means.  Whoever takes the lock
 *		to test it starts a worker, so a worker that finds the lock taken
 *		and exits leaves the work to the one that is starting.
 */
DbWorkerStart
db_worker_start_if_idle(const LOCKTAG *tag, const char *function_name,
						const char *type_name)
{
	BackgroundWorker worker;

	if (LockAcquire(tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return DB_WORKER_RUNNING;
	LockRelease(tag, ExclusiveLock, true);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "phased_change");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function_name);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", type_name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type_name);
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	worker.bgw_notify_pid = 0;

	return RegisterDynamicBackgroundWorker(&worker, NULL) ? DB_WORKER_STARTED : DB_WORKER_NO_SLOT;
}

/*
 * db_worker_connect
 *		The start of every per-database worker: signals, a connection to
 *		the database as the bootstrap superuser, its name, and settings
 *		that a database or role must not impose on it (a short lock_timeout
 *		so that it yields to DDL, no statement_timeout, writable
 *		transactions).  The work itself runs as each plan's owner.
 */
void
db_worker_connect(Oid database, const char *name)
{
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	SetConfigOption("application_name", name, PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "5s", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname(name);
}
