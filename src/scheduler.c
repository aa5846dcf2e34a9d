/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		Preloaded: one static background worker, "phased_change scheduler",
 *		that verifies every active plan of every database with the extension
 *		every phased_change.verify_interval, with no pg_cron job needed.
 *
 * The scheduler connects to no database (it reads only the shared catalog
 * pg_database).  Once the server is up it starts the refusal recorders of
 * databases whose spool holds records (refusal_recorder.c); then, every
 * interval, it starts one dynamic worker per database that allows
 * connections (templates excepted: a connection to a template would make
 * CREATE DATABASE fail), one at a time, and waits for it.  So the extension
 * takes at most two worker slots for scheduling.  The database worker exits
 * quietly where the extension is absent; otherwise it verifies each active
 * plan in a transaction (and subtransaction) of its own, as the plan's
 * owner (verification.c), logging an error rather than stopping on it;
 * then it runs the database's other periodic tasks
 * (scheduler_database_tasks: resuming backfills, collecting usage sources).
 *
 * The scheduler re-reads its setting on SIGHUP, stops on SIGTERM and with
 * the postmaster, and sleeps on its latch between rounds (0 = off: it only
 * sleeps).  A database dropped while a round runs makes its worker fail to
 * connect, which is logged; the round goes on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "backfill.h"
#include "db_worker.h"
#include "phased_change.h"
#include "refusal_recorder.h"
#include "scheduler.h"
#include "usage_sources.h"

/* phased_change.verify_interval, in seconds; 0: no verification. */
static int	scheduler_verify_interval = 60;

/* How long a database worker may run before the scheduler stops it. */
#define SCHEDULER_VISIT_MIN_MS (10 * 60 * 1000)

/* Whether the latest attempt to start a database worker failed (logged once). */
static bool scheduler_start_failed = false;

/*
 * scheduler_define_settings
 *		phased_change.verify_interval, reloadable (the scheduler re-reads it
 *		on SIGHUP) and so superuser-only.  Called once from _PG_init.
 */
void
scheduler_define_settings(void)
{
	DefineCustomIntVariable("phased_change.verify_interval",
							"How often the scheduler verifies every active change plan.",
							"0 turns the scheduler's verification off.  Takes effect only "
							"with phased_change in shared_preload_libraries.",
							&scheduler_verify_interval,
							60, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * scheduler_register
 *		Preloaded: have the server start the scheduler once it is up (and
 *		again after a crash).
 */
void
scheduler_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "phased_change");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "phased_change_scheduler_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "phased_change scheduler");
	snprintf(worker.bgw_type, BGW_MAXLEN, "phased_change scheduler");
	RegisterBackgroundWorker(&worker);
}

/*
 * scheduler_databases
 *		The databases to visit: those that allow connections, templates
 *		excepted.  The list is allocated in the caller's memory context.
 */
static List *
scheduler_databases(void)
{
	MemoryContext context = CurrentMemoryContext;
	List	   *databases = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate)
			continue;
		old = MemoryContextSwitchTo(context);
		databases = lappend_oid(databases, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
	return databases;
}

/*
 * scheduler_wait_for
 *		Wait until the database worker has exited; past the bound, ask it to
 *		stop (SIGTERM) and keep waiting for it.
 */
static void
scheduler_wait_for(BackgroundWorkerHandle *handle, Oid database)
{
	TimestampTz start = GetCurrentTimestamp();
	long		bound = Max((long) SCHEDULER_VISIT_MIN_MS,
							(long) scheduler_verify_interval * 1000L);
	bool		stopping = false;
	pid_t		pid;

	while (GetBackgroundWorkerPid(handle, &pid) != BGWH_STOPPED)
	{
		if (!stopping && TimestampDifferenceExceeds(start, GetCurrentTimestamp(), (int) Min(bound, INT_MAX)))
		{
			ereport(LOG,
					(errmsg("phased_change scheduler: stopping the verification of database %u, which ran for more than %ld s",
							database, bound / 1000)));
			TerminateBackgroundWorker(handle);
			stopping = true;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * scheduler_visit
 *		Start the worker of one database and wait for it to finish.  When no
 *		worker slot is free, say so once and try again next round.
 */
static void
scheduler_visit(Oid database)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "phased_change");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "phased_change_scheduler_database_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "phased_change scheduler of database %u", database);
	snprintf(worker.bgw_type, BGW_MAXLEN, "phased_change scheduler database");
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		if (!scheduler_start_failed)
			ereport(LOG,
					(errmsg("phased_change scheduler: could not start a worker to verify database %u", database),
					 errhint("Raise max_worker_processes.")));
		scheduler_start_failed = true;
		return;
	}
	scheduler_start_failed = false;
	scheduler_wait_for(handle, database);
	pfree(handle);
}

/*
 * scheduler_round
 *		Visit every database once.
 */
static void
scheduler_round(MemoryContext round_context)
{
	MemoryContext old = MemoryContextSwitchTo(round_context);
	List	   *databases = scheduler_databases();
	ListCell   *lc;

	foreach(lc, databases)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			break;				/* the interval may be 0 now */
		scheduler_visit(lfirst_oid(lc));
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(round_context);
}

/*
 * phased_change_scheduler_main
 *		The static worker: start the spooled recorders, then a round every
 *		verify_interval, sleeping on the latch in between.  A round that
 *		overruns the interval is followed by a full interval's sleep, never
 *		by another round at once.
 */
void
phased_change_scheduler_main(Datum main_arg)
{
	MemoryContext round_context;
	TimestampTz next_round;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("phased_change scheduler");

	recorder_start_spooled();

	round_context = AllocSetContextCreate(TopMemoryContext, "phased_change scheduler round",
										  ALLOCSET_DEFAULT_SIZES);
	/* the first round one interval after start, as a pg_cron job would run */
	next_round = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											 (int64) scheduler_verify_interval * 1000);
	for (;;)
	{
		TimestampTz now;
		long		wait_ms = -1;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		if (scheduler_verify_interval > 0)
		{
			TimestampTz last_due = next_round;
			TimestampTz latest = TimestampTzPlusMilliseconds(now, (int64) scheduler_verify_interval * 1000);

			/* a shorter interval than before takes effect at once */
			if (next_round > latest)
				next_round = latest;
			if (now >= next_round)
			{
				scheduler_round(round_context);
				now = GetCurrentTimestamp();
				next_round = TimestampTzPlusMilliseconds(last_due, (int64) scheduler_verify_interval * 1000);
				if (next_round <= now)
					next_round = TimestampTzPlusMilliseconds(now, (int64) scheduler_verify_interval * 1000);
				continue;
			}
			wait_ms = (long) ((next_round - now + 999) / 1000);
			events |= WL_TIMEOUT;
		}
		(void) WaitLatch(MyLatch, events, wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * scheduler_catalog_ready
 *		Whether the extension is installed here with a catalog that keeps
 *		verifications on the plan row (version 1.4 or later: an older one
 *		waits for ALTER EXTENSION UPDATE).
 */
static bool
scheduler_catalog_ready(void)
{
	return OidIsValid(get_extension_oid(PHASED_CHANGE_EXTENSION, true)) &&
		verification_on_plan_row();
}

/*
 * scheduler_verify_database
 *		Verify every active plan of this database, each in a transaction of
 *		its own, as its owner.  False when the extension is not here.
 */
static bool
scheduler_verify_database(MemoryContext context)
{
	List	   *names = NIL;
	Caller		caller = {InvalidOid, NULL};
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (scheduler_catalog_ready())
	{
		MemoryContext old = MemoryContextSwitchTo(context);

		caller = caller_identify();
		names = verification_plans(&caller);
		MemoryContextSwitchTo(old);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
	if (caller.role_name == NULL)
		return false;

	foreach(lc, names)
	{
		char	   *phase;
		bool		ok;
		bool		ready;

		CHECK_FOR_INTERRUPTS();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "phased_change: verifying a change plan");
		(void) verification_verify_plan(lfirst(lc), &caller, "scheduler", true,
										&phase, &ok, &ready);
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(context);
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	return true;
}

/*
 * scheduler_run_task
 *		Run one periodic task in a transaction of its own; an error is
 *		logged, and the worker goes on with the next task.
 */
static void
scheduler_run_task(const char *what, void (*task) (void))
{
	MemoryContext context = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	PG_TRY();
	{
		task();
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
				(errmsg("%s failed: %s", what, edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * scheduler_database_tasks
 *		The database's other periodic tasks, run by its scheduler worker
 *		after the verifications, only where the extension is installed:
 *		start the backfill worker if a backfill waits (after a restart, or
 *		when no worker slot was free), and collect the usage sources.
 */
static void
scheduler_database_tasks(void)
{
	scheduler_run_task("phased_change: resuming backfills", backfill_resume_database);
	scheduler_run_task("phased_change: collecting usage sources", usage_sources_collect_all);
}

/*
 * phased_change_scheduler_database_main
 *		The worker of one database (main_arg): verify its plans, run its
 *		other tasks, exit.  It connects as the bootstrap superuser and
 *		verifies each plan as the plan's owner.
 */
void
phased_change_scheduler_database_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	MemoryContext context;

	/* with a 5 s lock_timeout: a plan locked by a long transaction is verified next round */
	db_worker_connect(database, "phased_change scheduler");

	context = AllocSetContextCreate(TopMemoryContext, "phased_change scheduler database",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(context);
	if (scheduler_verify_database(context))
		scheduler_database_tasks();
	proc_exit(0);
}
