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
 * Every event written is also announced: NOTIFY phased_change with a JSON
 * payload, sent at commit like any notification (so a rolled-back event is
 * never announced; a refusal is announced when the recorder writes it).
 * Transitions also write one LOG line at commit, refusals one LOG line when
 * they are decided (history_log_refusal), both in a fixed form that starts
 * with "phased_change: plan" or "phased_change: refused".
 *
 * phase_history_prune is the one way to delete history: the append-only
 * trigger on event_log asks history_pruning() whether it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "phased_change.h"
#include "refusal_recorder.h"

PG_FUNCTION_INFO_V1(history_pruning);
PG_FUNCTION_INFO_V1(phase_history_prune);

/* The channel every history event is announced on. */
#define HISTORY_CHANNEL "phased_change"

/* PostgreSQL refuses a payload of this many bytes or more (async.c). */
#define HISTORY_NOTIFY_LIMIT 8000

/* Longest plan name or object kept whole in a notification, in bytes. */
#define HISTORY_NOTIFY_CLIP 200

/* True only while phase_history_prune deletes (history_pruning). */
static bool history_prune_running = false;

/*
 * A notification or a transition's LOG line, sent when its transaction
 * commits: notifications just before the commit (a NOTIFY in the
 * transaction itself would make PREPARE TRANSACTION fail), LOG lines once
 * it has committed.
 */
typedef struct HistoryPending
{
	int			nest_level;		/* the subtransaction that made it */
	bool		is_log;			/* a LOG line, else a payload */
	char	   *text;
} HistoryPending;

/* What the current transaction will send, in TopTransactionContext. */
static List *history_pending = NIL;

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
	int64		event_id;
	HistoryNotice notice;

	history_params(plan, caller, event, values, nulls);

	if (SPI_execute_with_args(HISTORY_INSERT, HISTORY_NPARAMS,
							  (Oid *) history_argtypes, values, nulls,
							  false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record event \"%s\"", event->event);
	event_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));

	notice.event_id = event_id;
	notice.event = event->event;
	notice.plan = plan->plan_id == 0 ? NULL : plan->name;
	notice.from_phase = event->from_phase;
	notice.to_phase = event->to_phase;
	notice.at = plan->now;
	notice.actor = GetUserNameFromId(GetSessionUserId(), false);
	notice.role = caller->role_name;
	notice.object = NULL;
	history_notify(&notice);
	if (plan->plan_id != 0)
		history_log_transition(plan->name, event, caller->role_name);
	return event_id;
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

/*
 * history_pend
 *		Keep a payload or LOG line until the transaction commits.
 */
static void
history_pend(bool is_log, const char *text)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	HistoryPending *pending = palloc(sizeof(HistoryPending));

	pending->nest_level = GetCurrentTransactionNestLevel();
	pending->is_log = is_log;
	pending->text = pstrdup(text);
	history_pending = lappend(history_pending, pending);
	MemoryContextSwitchTo(old);
}

/*
 * history_notify_append
 *		Add the payload's fields to buf; plan and object are clipped to
 *		`clip` bytes (on a character boundary) when clip > 0.
 */
static void
history_notify_append(StringInfo buf, const HistoryNotice *notice, int clip)
{
	const char *keys[2] = {"from_phase", "to_phase"};
	Phase		numbers[2] = {notice->from_phase, notice->to_phase};

	appendStringInfoString(buf, "{\"event\": ");
	escape_json(buf, notice->event);
	appendStringInfo(buf, ", \"event_id\": " INT64_FORMAT ", \"plan\": ", notice->event_id);
	if (notice->plan == NULL)
		appendStringInfoString(buf, "null");
	else if (clip > 0)
		escape_json(buf, pnstrdup(notice->plan,
								  pg_mbcliplen(notice->plan, strlen(notice->plan), clip)));
	else
		escape_json(buf, notice->plan);
	for (int i = 0; i < 2; i++)
	{
		appendStringInfo(buf, ", \"%s\": ", keys[i]);
		if (numbers[i] == PHASE_NONE)
			appendStringInfoString(buf, "null");
		else
			escape_json(buf, phase_name(numbers[i]));
	}
	appendStringInfoString(buf, ", \"at\": \"");
	appendStringInfoString(buf, JsonEncodeDateTime(NULL, TimestampTzGetDatum(notice->at),
												   TIMESTAMPTZOID, NULL));
	appendStringInfoString(buf, "\", \"actor\": ");
	escape_json(buf, notice->actor);
	appendStringInfoString(buf, ", \"role\": ");
	escape_json(buf, notice->role);
	if (notice->object != NULL)
	{
		appendStringInfoString(buf, ", \"object\": ");
		if (clip > 0)
			escape_json(buf, pnstrdup(notice->object,
									  pg_mbcliplen(notice->object, strlen(notice->object), clip)));
		else
			escape_json(buf, notice->object);
	}
	if (clip > 0)
		appendStringInfoString(buf, ", \"truncated\": true");
	appendStringInfoChar(buf, '}');
}

/*
 * history_notify
 *		NOTIFY phased_change with the event as JSON (event, event_id, plan,
 *		from_phase, to_phase, at, actor, role, and object for guard events),
 *		delivered at commit.  A payload that would reach PostgreSQL's limit
 *		is sent again with the plan name and object clipped and
 *		"truncated": true, so that it is always valid JSON.
 */
void
history_notify(const HistoryNotice *notice)
{
	StringInfoData buf;

	initStringInfo(&buf);
	history_notify_append(&buf, notice, 0);
	if (buf.len >= HISTORY_NOTIFY_LIMIT)
	{
		resetStringInfo(&buf);
		history_notify_append(&buf, notice, HISTORY_NOTIFY_CLIP);
	}
	history_pend(false, buf.data);
	pfree(buf.data);
}

/*
 * history_notify_recorded
 *		Announce the rows the refusal recorder has just inserted: an SPI
 *		result of (event_id, event, plan name, from_phase, to_phase, at,
 *		actor, role, object).
 */
void
history_notify_recorded(SPITupleTable *rows, uint64 count)
{
	for (uint64 i = 0; i < count; i++)
	{
		HeapTuple	tuple = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		HistoryNotice notice;
		bool		isnull;
		Datum		value;

		notice.event_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		notice.event = SPI_getvalue(tuple, desc, 2);
		notice.plan = SPI_getvalue(tuple, desc, 3);
		value = SPI_getbinval(tuple, desc, 4, &isnull);
		notice.from_phase = isnull ? PHASE_NONE : (Phase) DatumGetInt16(value);
		value = SPI_getbinval(tuple, desc, 5, &isnull);
		notice.to_phase = isnull ? PHASE_NONE : (Phase) DatumGetInt16(value);
		notice.at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 6, &isnull));
		notice.actor = SPI_getvalue(tuple, desc, 7);
		notice.role = SPI_getvalue(tuple, desc, 8);
		notice.object = SPI_getvalue(tuple, desc, 9);
		history_notify(&notice);
	}
}

/*
 * history_log_transition
 *		A transition (advanced, rolled_back, completed, abandoned) writes one
 *		LOG line when its transaction commits:
 *		phased_change: plan "p" advanced from phase "migrate" to phase "contract" by role "r"
 */
void
history_log_transition(const char *plan, const HistoryEvent *event, const char *role)
{
	const char *verb;
	StringInfoData line;

	if (strcmp(event->event, "advanced") == 0)
		verb = "advanced";
	else if (strcmp(event->event, "rolled_back") == 0)
		verb = "rolled back";
	else if (strcmp(event->event, "completed") == 0)
		verb = "completed";
	else if (strcmp(event->event, "abandoned") == 0)
		verb = "abandoned";
	else
		return;

	initStringInfo(&line);
	appendStringInfo(&line, "phased_change: plan \"%s\" %s from phase \"%s\"",
					 plan, verb, phase_name(event->from_phase));
	if (event->to_phase != PHASE_NONE)
		appendStringInfo(&line, " to phase \"%s\"", phase_name(event->to_phase));
	appendStringInfo(&line, " by role \"%s\"", role);
	history_pend(true, line.data);
	pfree(line.data);
}

/*
 * history_log_refusal
 *		A refusal writes one LOG line when it is decided (its transaction
 *		rolls back, so not at commit):
 *		phased_change: refused drop of "public.t.c" (plan "p", phase "contract") by role "r"
 *		phased_change: refused phase_advance of plan "p" in phase "migrate" by role "r"
 *		An override that lets guarded DDL through is logged the same way,
 *		starting with "phased_change: override let".
 */
void
history_log_refusal(const char *event, const char *plan, Phase phase,
					const char *action, const char *object, const char *role)
{
	StringInfoData line;

	initStringInfo(&line);
	if (strcmp(event, "advance_refused") == 0)
		appendStringInfo(&line, "phased_change: refused phase_advance of plan \"%s\" in phase \"%s\"",
						 plan, phase_name(phase));
	else
	{
		appendStringInfo(&line, "phased_change: %s %s of \"%s\"",
						 strcmp(event, "override") == 0 ? "override let" : "refused",
						 action, object);
		if (plan != NULL)
			appendStringInfo(&line, " (plan \"%s\", phase \"%s\")", plan, phase_name(phase));
	}
	appendStringInfo(&line, " by role \"%s\"", role);
	ereport(LOG, (errmsg_internal("%s", line.data), errhidestmt(true), errhidecontext(true)));
	pfree(line.data);
}

/*
 * history_plan_name
 *		The name of a plan by id (NULL for 0 or an unknown id).  Must run
 *		inside a catalog session.
 */
char *
history_plan_name(int64 plan_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(plan_id)};

	if (plan_id == 0)
		return NULL;
	if (SPI_execute_with_args("SELECT name FROM phased_change.plan WHERE plan_id = $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read change plan " INT64_FORMAT, plan_id);
	if (SPI_processed != 1)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * history_xact_callback / history_subxact_callback
 *		Send the pending notifications just before commit and write the
 *		pending LOG lines after it; forget them at abort, at prepare (a
 *		prepared transaction cannot notify, and may be committed elsewhere),
 *		and those of an aborted subtransaction; those of a committed one pass
 *		to its parent.
 */
static void
history_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			foreach(lc, history_pending)
			{
				HistoryPending *pending = lfirst(lc);

				if (!pending->is_log)
					Async_Notify(HISTORY_CHANNEL, pending->text);
			}
			break;
		case XACT_EVENT_COMMIT:
			foreach(lc, history_pending)
			{
				HistoryPending *pending = lfirst(lc);

				if (pending->is_log)
					ereport(LOG,
							(errmsg_internal("%s", pending->text),
							 errhidestmt(true), errhidecontext(true)));
			}
			history_pending = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			history_pending = NIL;
			break;
		default:
			break;
	}
}

static void
history_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* what a committed subtransaction made now belongs to its parent */
		foreach(lc, history_pending)
		{
			HistoryPending *pending = lfirst(lc);

			if (pending->nest_level >= level)
				pending->nest_level = level - 1;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, history_pending)
		{
			if (((HistoryPending *) lfirst(lc))->nest_level >= level)
				history_pending = foreach_delete_current(history_pending, lc);
		}
	}
}

void
history_register_xact_callbacks(void)
{
	RegisterXactCallback(history_xact_callback, NULL);
	RegisterSubXactCallback(history_subxact_callback, NULL);
}

/*
 * history_pruning() RETURNS boolean
 *		Whether phase_history_prune is deleting in this session: the
 *		append-only trigger of event_log lets a DELETE through only then.
 */
Datum
history_pruning(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(history_prune_running);
}

/*
 * history_prune_delete
 *		Delete the events of plans that ended before `before`; returns how
 *		many, and the names of the plans in *plans (JSON array text).
 */
static int64
history_prune_delete(TimestampTz before, char **plans)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(before)};
	bool		isnull;
	Datum		count;
	volatile int ret = 0;

	history_prune_running = true;
	PG_TRY();
	{
		ret = SPI_execute_with_args("WITH ended AS ("
									"  SELECT plan_id, name FROM phased_change.plan"
									"  WHERE status OPERATOR(pg_catalog.<>) 'active'"
									"    AND ended_at OPERATOR(pg_catalog.<) $1),"
									" gone AS ("
									"  DELETE FROM phased_change.event_log e USING ended"
									"  WHERE e.plan_id OPERATOR(pg_catalog.=) ended.plan_id"
									"  RETURNING e.plan_id)"
									" SELECT (SELECT pg_catalog.count(*) FROM gone),"
									"  (SELECT COALESCE(pg_catalog.jsonb_agg(ended.name ORDER BY ended.name), '[]')"
									"   FROM ended WHERE ended.plan_id OPERATOR(pg_catalog.=) ANY"
									"    (SELECT plan_id FROM gone))::pg_catalog.text",
									1, argtypes, values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		history_prune_running = false;
	}
	PG_END_TRY();
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not prune the history");
	count = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*plans = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return DatumGetInt64(count);
}

/*
 * phase_history_prune(before timestamptz) RETURNS bigint
 *		Remove the history of plans that ended (completed or abandoned)
 *		before the given time, and record the prune itself as a plan-less
 *		history_pruned event (it names the plans and counts the events;
 *		a plan-less event outlives any later prune).  Superusers only.
 *		Returns the number of events removed.
 */
Datum
phase_history_prune(PG_FUNCTION_ARGS)
{
	TimestampTz before;
	Caller		caller;
	CatalogSession session;
	PlanRow		plan = {0};
	HistoryEvent event = {"history_pruned", PHASE_NONE, PHASE_NONE, false, -1, NULL};
	char	   *plans;
	int64		removed;

	arg_require(fcinfo, 0, "before");
	before = PG_GETARG_TIMESTAMPTZ(0);
	caller = caller_identify();
	if (!superuser_arg(caller.roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to prune the change history"),
				 errdetail("Only superusers may remove history.")));
	if (TIMESTAMP_NOT_FINITE(before))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the time to prune before must be finite")));

	catalog_begin(&session);
	removed = history_prune_delete(before, &plans);
	plan.now = GetCurrentTimestamp();
	event.detail = psprintf("{\"before\": \"%s\", \"events\": " INT64_FORMAT ", \"plans\": %s}",
							JsonEncodeDateTime(NULL, TimestampTzGetDatum(before),
											   TIMESTAMPTZOID, NULL),
							removed, plans);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_INT64(removed);
}
