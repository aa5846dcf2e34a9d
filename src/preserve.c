/*-------------------------------------------------------------------------
 *
 * preserve.c
 *		A dynamic background worker that writes history rows in its own
 *		transaction, so that the record of a refusal survives the rollback
 *		of the transaction that was refused.
 *
 * The calling backend puts the rows (jsonb text, in the shape of
 * phased_change.event_log) into a dynamic shared memory segment, starts
 * the worker in its own database as the extension owner, and waits for it
 * to exit.  Dynamic workers need no shared_preload_libraries, only a free
 * max_worker_processes slot; when none is free, or the worker fails, the
 * caller is told with a WARNING and the refusal goes ahead unrecorded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/dsm.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "phased_change.h"
#include "preserve.h"

/* What the caller hands the worker. */
typedef struct PreservePayload
{
	Oid			database;
	Oid			role;
	bool		done;			/* set by the worker after its commit */
	char		rows[FLEXIBLE_ARRAY_MEMBER];	/* jsonb array text */
} PreservePayload;

/*
 * preserve_rows
 *		Have a background worker insert the given event_log rows and wait
 *		until it has committed (or failed).
 */
void
preserve_rows(const char *rows_json)
{
	Size		len = strlen(rows_json) + 1;
	dsm_segment *seg = dsm_create(offsetof(PreservePayload, rows) + len, 0);
	PreservePayload *payload = dsm_segment_address(seg);
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;

	payload->database = MyDatabaseId;
	payload->role = extension_owner();
	payload->done = false;
	memcpy(payload->rows, rows_json, len);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "phased_change");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "phased_change_preserve_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "phased_change history writer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "phased_change history writer");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not record the refusal in the phased_change history"),
				 errdetail("No background worker slot was free."),
				 errhint("Raise max_worker_processes.")));
		dsm_detach(seg);
		return;
	}

	status = WaitForBackgroundWorkerShutdown(handle);
	pg_read_barrier();
	if (status != BGWH_STOPPED || !payload->done)
		ereport(WARNING,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not record the refusal in the phased_change history"),
				 errdetail("The history writer did not finish; the server log has its error.")));
	dsm_detach(seg);
}

/*
 * phased_change_preserve_main
 *		Worker entry point: insert the rows in one transaction, then exit.
 */
void
phased_change_preserve_main(Datum main_arg)
{
	dsm_segment *seg;
	PreservePayload *payload;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	CurrentResourceOwner = ResourceOwnerCreate(NULL, "phased_change history writer");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the phased_change history writer's shared memory")));
	payload = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(payload->database, payload->role, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("lock_timeout", "10s", PGC_USERSET, PGC_S_SESSION);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "phased_change: preserving history");

	values[0] = CStringGetTextDatum(payload->rows);
	/*
	 * The rows get new event_ids: the caller's uncommitted rows hold the old
	 * ones, and a unique check against them would wait for the caller, who
	 * waits for us.
	 */
	if (SPI_execute_with_args("INSERT INTO phased_change.event_log"
							  " (at, plan_id, event, from_phase, to_phase, time_in_phase,"
							  "  checks_ok, actor, role, application_name, client_addr, detail)"
							  " SELECT at, plan_id, event, from_phase, to_phase, time_in_phase,"
							  "  checks_ok, actor, role, application_name, client_addr, detail"
							  " FROM pg_catalog.jsonb_populate_recordset("
							  "  NULL::phased_change.event_log, $1::pg_catalog.jsonb)"
							  " ORDER BY event_id",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not preserve history rows");

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	payload->done = true;
	pg_write_barrier();
	dsm_detach(seg);
	proc_exit(0);
}
