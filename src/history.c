/*-------------------------------------------------------------------------
 *
 * history.c
 *		Recording events in the append-only history (phased_change.event_log),
 *		inside the caller's transaction or, for refusals that are about to
 *		roll that transaction back, through the refusal recorder's spool
 *		(refusal_recorder.c).
 *
 * Each event carries who did it (session_user as actor, the caller's
 * current_user as role), from where (application_name, client address),
 * and a jsonb detail: check results, blockers, reasons.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "phased_change.h"
#include "refusal_recorder.h"

#define HISTORY_INSERT \
	"INSERT INTO phased_change.event_log" \
	" (at, plan_id, event, from_phase, to_phase, time_in_phase, checks_ok," \
	"  detail, role, actor, application_name, client_addr)" \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8::pg_catalog.jsonb, $9," \
	"  SESSION_USER," \
	"  NULLIF(pg_catalog.current_setting('application_name'), '')," \
	"  pg_catalog.inet_client_addr())" \
	" RETURNING event_id"

/* The parameters of an event row, shared by history_record and history_spool. */
#define HISTORY_NPARAMS 9
static const Oid history_argtypes[HISTORY_NPARAMS] = {TIMESTAMPTZOID, INT8OID, TEXTOID,
	INT2OID, INT2OID, INTERVALOID, BOOLOID, TEXTOID, NAMEOID};

/*
 * history_params
 *		Fill in $1..$9 of an event row: when, plan, event, phases, time in
 *		phase, checks, detail, role.
 */
static void
history_params(const PlanRow *plan, const Caller *caller, const HistoryEvent *event,
			   Datum *values, char *nulls)
{
	memset(nulls, ' ', HISTORY_NPARAMS);
	values[0] = TimestampTzGetDatum(plan->now);
	values[1] = Int64GetDatum(plan->plan_id);
	nulls[1] = plan->plan_id == 0 ? 'n' : ' ';	/* no plan: unplanned DDL */
	values[2] = CStringGetTextDatum(event->event);
	values[3] = Int16GetDatum((int16) event->from_phase);
	nulls[3] = event->from_phase == PHASE_NONE ? 'n' : ' ';
	values[4] = Int16GetDatum((int16) event->to_phase);
	nulls[4] = event->to_phase == PHASE_NONE ? 'n' : ' ';
	if (event->with_time_in_phase)
		values[5] = DirectFunctionCall2(timestamp_mi,
										TimestampTzGetDatum(plan->now),
										TimestampTzGetDatum(plan->entered_at));
	else
		nulls[5] = 'n';
	values[6] = BoolGetDatum(event->checks_ok == 1);
	nulls[6] = event->checks_ok < 0 ? 'n' : ' ';
	values[7] = CStringGetTextDatum(event->detail ? event->detail : "{}");
	values[8] = DirectFunctionCall1(namein, CStringGetDatum(caller->role_name));
}

/*
 * history_record
 *		Append one event for the plan, stamped with the plan's clock; returns
 *		its event_id.  Must run inside a catalog session.
 */
int64
history_record(const PlanRow *plan, const Caller *caller, const HistoryEvent *event)
{
	Datum		values[HISTORY_NPARAMS];
	char		nulls[HISTORY_NPARAMS];
	bool		isnull;

	history_params(plan, caller, event, values, nulls);

	if (SPI_execute_with_args(HISTORY_INSERT, HISTORY_NPARAMS,
							  (Oid *) history_argtypes, values, nulls,
							  false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record event \"%s\"", event->event);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

#define HISTORY_ROW \
	"SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(" \
	"  'at', $1, 'plan_id', $2, 'event', $3, 'from_phase', $4, 'to_phase', $5," \
	"  'time_in_phase', $6, 'checks_ok', $7, 'detail', $8::pg_catalog.jsonb," \
	"  'role', $9, 'actor', SESSION_USER," \
	"  'application_name', NULLIF(pg_catalog.current_setting('application_name'), '')," \
	"  'client_addr', pg_catalog.inet_client_addr()))::pg_catalog.text"

/*
 * history_spool
 *		Hand one event to the refusal recorder instead of inserting it: the
 *		row is built by a query that writes nothing, so it works in a
 *		read-only transaction and on a hot standby, and survives the
 *		rollback that follows.  Must run inside a catalog session.
 */
void
history_spool(const PlanRow *plan, const Caller *caller, const HistoryEvent *event)
{
	Datum		values[HISTORY_NPARAMS];
	char		nulls[HISTORY_NPARAMS];

	history_params(plan, caller, event, values, nulls);

	if (SPI_execute_with_args(HISTORY_ROW, HISTORY_NPARAMS,
							  (Oid *) history_argtypes, values, nulls,
							  true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not build event \"%s\"", event->event);
	recorder_keep(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/*
 * history_preserve
 *		Make the given events of this (failing) transaction survive its
 *		rollback: read them back as jsonb and hand them to the refusal
 *		recorder, which inserts them in a transaction of its own (where they
 *		get new event_ids).
 */
void
history_preserve(const int64 *event_ids, int count)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	Datum	   *ids = palloc(sizeof(Datum) * count);
	char	   *rows;

	for (int i = 0; i < count; i++)
		ids[i] = Int64GetDatum(event_ids[i]);
	values[0] = PointerGetDatum(construct_array(ids, count, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_agg(e ORDER BY e.event_id)::pg_catalog.text"
							  " FROM phased_change.event_log e"
							  " WHERE e.event_id = ANY ($1)",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read events to preserve");
	rows = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (rows == NULL)
		elog(ERROR, "events to preserve not found");
	recorder_keep(rows);
}

/*
 * history_detail
 *		Build a jsonb detail object from key/value string pairs ending with a
 *		NULL key; a NULL value becomes a JSON null.
 */
char *
history_detail(const char *key,...)
{
	StringInfoData buf;
	va_list		args;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	va_start(args, key);
	for (; key != NULL; key = va_arg(args, const char *))
	{
		const char *value = va_arg(args, const char *);

		if (buf.len > 1)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, key);
		appendStringInfoString(&buf, ": ");
		if (value)
			escape_json(&buf, value);
		else
			appendStringInfoString(&buf, "null");
	}
	va_end(args);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}
