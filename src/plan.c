/*-------------------------------------------------------------------------
 *
 * plan.c
 *		The plan state machine: create, soak, verify, advance, roll back and
 *		abandon a change plan.
 *
 * A plan is active in one of the phases expand, migrate, contract and
 * cleanup, then completed or abandoned.  Transitions lock the plan row, so
 * concurrent calls on one plan serialize and each successful call is
 * exactly one transition.  What stands in the way of advancing is read from
 * the phased_change.progress view after a fresh verification has been kept
 * (verification.c), so the view and phase_advance always agree; a refusal is
 * handed to the refusal recorder, so it reaches the history although its
 * transaction rolls back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"

#include "backfill.h"
#include "phased_change.h"
#include "refusal_recorder.h"
#include "sync.h"
#include "usage.h"
#include "usage_sources.h"

PG_FUNCTION_INFO_V1(phase_plan_create);
PG_FUNCTION_INFO_V1(phase_soak_set);
PG_FUNCTION_INFO_V1(phase_verify);
PG_FUNCTION_INFO_V1(phase_advance);
PG_FUNCTION_INFO_V1(phase_advance_to);
PG_FUNCTION_INFO_V1(phase_rollback);
PG_FUNCTION_INFO_V1(phase_abandon);
PG_FUNCTION_INFO_V1(phase_owner_set);

/*
 * arg_soak
 *		A required, non-negative interval argument.
 */
static Interval *
arg_soak(FunctionCallInfo fcinfo, int argno)
{
	Interval   *soak;
	Interval	zero = {0};

	arg_require(fcinfo, argno, "soak");
	soak = PG_GETARG_INTERVAL_P(argno);
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(soak),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("soak must not be negative")));
	return soak;
}

static char *
interval_text(Interval *value)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(value)));
}

/*
 * plan_open
 *		Start the catalog work of a state-changing function: catalog session,
 *		plan row locked, plan active, caller entitled to change it.
 */
static void
plan_open(const char *name, const Caller *caller, CatalogSession *session, PlanRow *plan)
{
	catalog_begin(session);
	plan_lock(name, plan);
	plan_require_active(plan);
	plan_require_privilege(plan, caller);
}

/*
 * plan_forget_usage
 *		An ended plan guards nothing: drop the usage counts of its objects,
 *		and of any other counted object of the database whose plan has ended
 *		(a plan ended by a prepared transaction is not forgotten when it
 *		commits: usage.c).  Only objects seen to belong to an ended plan are
 *		dropped, never one this transaction cannot see; usage.c drops them
 *		when the transaction commits.
 */
static void
plan_forget_usage(void)
{
	List	   *counted = usage_counted_objects();
	Datum	   *ids;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	bool		isnull;
	int			i = 0;
	ListCell   *lc;

	if (counted == NIL)
		return;
	ids = palloc(sizeof(Datum) * list_length(counted));
	foreach(lc, counted)
		ids[i++] = Int64GetDatum(*(int64 *) lfirst(lc));
	values[0] = PointerGetDatum(construct_array_builtin(ids, i, INT8OID));
	if (SPI_execute_with_args("SELECT o.object_id FROM phased_change.object o"
							  " JOIN phased_change.plan p ON p.plan_id OPERATOR(pg_catalog.=) o.plan_id"
							  " WHERE o.object_id OPERATOR(pg_catalog.=) ANY ($1)"
							  " AND p.status OPERATOR(pg_catalog.<>) 'active'",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the objects of ended change plans");
	for (uint64 row = 0; row < SPI_processed; row++)
		usage_forget(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
												 SPI_tuptable->tupdesc, 1, &isnull)));
}

/*
 * plan_reset_usage_users
 *		The plan changes phase: who used its retired objects is kept per
 *		phase (usage.c resets it when the transaction commits).
 */
static void
plan_reset_usage_users(const PlanRow *plan)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(plan->plan_id)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT object_id FROM phased_change.object"
							  " WHERE plan_id OPERATOR(pg_catalog.=) $1"
							  " AND role OPERATOR(pg_catalog.=) 'retired'",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the objects of change plan \"%s\"", plan->name);
	for (uint64 row = 0; row < SPI_processed; row++)
		usage_users_reset(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row],
													  SPI_tuptable->tupdesc, 1, &isnull)));
}

/*
 * plan_set_phase
 *		Move the plan to another phase (or, with PHASE_NONE, end it with the
 *		given status), starting the new phase's soak clock now.
 */
static void
plan_set_phase(const PlanRow *plan, Phase phase, const char *status)
{
	Oid			argtypes[4] = {INT8OID, INT2OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[4];

	values[0] = Int64GetDatum(plan->plan_id);
	values[1] = Int16GetDatum((int16) (phase == PHASE_NONE ? plan->phase : phase));
	values[2] = CStringGetTextDatum(status);
	values[3] = TimestampTzGetDatum(plan->now);
	/* operations (1.4): a new stay in a phase starts without verification */
	if (SPI_execute_with_args(verification_on_plan_row() ?
							  "UPDATE phased_change.plan"
							  " SET phase = $2, status = $3,"
							  "     entered_at = CASE WHEN phase = $2 THEN entered_at ELSE $4 END,"
							  "     ended_at = CASE WHEN $3 = 'active' THEN NULL ELSE $4 END,"
							  "     last_verified_at = CASE WHEN phase = $2 THEN last_verified_at END,"
							  "     last_verification_ok = CASE WHEN phase = $2 THEN last_verification_ok END,"
							  "     last_verification = CASE WHEN phase = $2 THEN last_verification END,"
							  "     last_failed_at = CASE WHEN phase = $2 THEN last_failed_at END,"
							  "     verification_since = CASE WHEN phase = $2 THEN verification_since END"
							  " WHERE plan_id = $1" :
							  "UPDATE phased_change.plan"
							  " SET phase = $2, status = $3,"
							  "     entered_at = CASE WHEN phase = $2 THEN entered_at ELSE $4 END,"
							  "     ended_at = CASE WHEN $3 = 'active' THEN NULL ELSE $4 END"
							  " WHERE plan_id = $1",
							  4, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update change plan \"%s\"", plan->name);
	backfill_phase_changed(plan, phase, status);	/* start or cancel its backfills */
	sync_apply_phase(plan, phase, status);			/* install or remove its syncs' triggers */
	if (strcmp(status, "active") != 0)
		plan_forget_usage();
	else if (phase != plan->phase)
		plan_reset_usage_users(plan);
}

/*
 * phase_plan_create(plan text, description text DEFAULT NULL,
 *					 soak interval DEFAULT '48 hours')
 *		A new plan, in phase expand with status active, owned by the caller.
 */
Datum
phase_plan_create(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	char	   *description = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Interval   *soak = arg_soak(fcinfo, 2);
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan = {0};
	Oid			argtypes[5] = {TEXTOID, TEXTOID, NAMEOID, INTERVALOID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5] = {' ', description ? ' ' : 'n', ' ', ' ', ' '};
	bool		isnull;
	HistoryEvent event = {"created", PHASE_NONE, PHASE_EXPAND, false, -1, NULL};

	catalog_begin(&session);
	plan.name = name;
	plan.now = GetCurrentTimestamp();
	plan.entered_at = plan.now;
	values[0] = CStringGetTextDatum(name);
	values[1] = description ? CStringGetTextDatum(description) : (Datum) 0;
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(caller.role_name));
	if (!plan_owner_by_name())
	{
		/* a catalog not yet updated to 1.3 keeps the owner as a regrole */
		argtypes[2] = OIDOID;
		values[2] = ObjectIdGetDatum(caller.roleid);
	}
	values[3] = IntervalPGetDatum(soak);
	values[4] = TimestampTzGetDatum(plan.now);
	if (SPI_execute_with_args(argtypes[2] == NAMEOID ?
							  "INSERT INTO phased_change.plan"
							  " (name, description, owner, soak, created_at, entered_at)"
							  " VALUES ($1, $2, $3, $4, $5, $5)"
							  " ON CONFLICT (name) DO NOTHING RETURNING plan_id" :
							  "INSERT INTO phased_change.plan"
							  " (name, description, owner, soak, created_at, entered_at)"
							  " VALUES ($1, $2, $3::pg_catalog.regrole, $4, $5, $5)"
							  " ON CONFLICT (name) DO NOTHING RETURNING plan_id",
							  5, argtypes, values, nulls, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not create change plan \"%s\"", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("change plan \"%s\" already exists", name)));
	plan.plan_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));

	event.detail = history_detail("description", description,
								  "soak", interval_text(soak), NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * phase_soak_set(plan text, phase text, soak interval)
 *		A per-phase soak that overrides the plan's.
 */
Datum
phase_soak_set(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	Phase		phase = phase_from_name(arg_text(fcinfo, 1, "phase"));
	Interval   *soak = arg_soak(fcinfo, 2);
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	Oid			argtypes[3] = {INT8OID, INT2OID, INTERVALOID};
	Datum		values[3];
	HistoryEvent event = {"soak_set", PHASE_NONE, PHASE_NONE, false, -1, NULL};

	if (phase == PHASE_CLEANUP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("phase \"cleanup\" has no soak"),
				 errdetail("A plan completes as soon as every retired object is gone.")));

	plan_open(name, &caller, &session, &plan);
	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = Int16GetDatum((int16) phase);
	values[2] = IntervalPGetDatum(soak);
	if (SPI_execute_with_args("INSERT INTO phased_change.phase_soak (plan_id, phase, soak)"
							  " VALUES ($1, $2, $3)"
							  " ON CONFLICT (plan_id, phase) DO UPDATE SET soak = excluded.soak",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not set the soak of change plan \"%s\"", name);

	event.detail = history_detail("phase", phase_name(phase),
								  "soak", interval_text(soak), NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * phase_verify(plan text) RETURNS boolean
 *		Run the current phase's checks and keep the outcome (in the history
 *		when it differs from the previous one: verification.c).  A failing or
 *		erroring check makes it return false, never raise: it is made to be
 *		scheduled.
 */
Datum
phase_verify(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	StringInfoData checks;
	Verification verification;

	plan_open(name, &caller, &session, &plan);
	/* usage sources (issue 13): contract decides on fresh evidence from every node */
	if (plan.phase == PHASE_CONTRACT)
		usage_sources_collect_all();
	initStringInfo(&checks);
	verification = verification_run(&plan, &caller, "phase_verify", &checks);
	catalog_end(&session);
	PG_RETURN_BOOL(verification.ok);
}

/*
 * plan_blockers
 *		What stands in the way of leaving the current phase, as sentences,
 *		and the next step, both from the progress view.
 */
static List *
plan_blockers(const PlanRow *plan, char **next_step)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(plan->name)};
	Datum	   *elems;
	bool		isnull;
	int			nelems;
	List	   *blockers = NIL;

	if (SPI_execute_with_args("SELECT blockers, next_step FROM phased_change.progress"
							  " WHERE plan = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not assess change plan \"%s\"", plan->name);

	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull)),
					  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
	for (int i = 0; i < nelems; i++)
		blockers = lappend(blockers, TextDatumGetCString(elems[i]));
	*next_step = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return blockers;
}

/* A refused advance on its way to the refusal recorder. */
typedef struct AdvanceRefusal
{
	const PlanRow *plan;
	const Caller *caller;
	Verification *verification;
	const HistoryEvent *event;
} AdvanceRefusal;

/*
 * advance_refusal_spool
 *		Record the refusal in this transaction, next to its verification
 *		(recorded even when unchanged, so that the recorder brings it to the
 *		plan row: a failure restarts the soak), and hand both rows to the
 *		refusal recorder (a recorder_protect step).
 */
static void
advance_refusal_spool(void *arg)
{
	const AdvanceRefusal *refusal = arg;
	int64		ids[2];

	ids[0] = verification_keep(refusal->plan, refusal->caller, refusal->verification);
	ids[1] = history_record(refusal->plan, refusal->caller, refusal->event);
	history_preserve(ids, 2);
}

/*
 * advance_refuse
 *		Record the refused attempt so that it survives the rollback, then
 *		raise one error whose detail lists every unmet condition.
 */
static void
advance_refuse(const PlanRow *plan, const Caller *caller, Verification *verification,
			   List *blockers, const char *next_step)
{
	StringInfoData detail;
	StringInfoData json;
	HistoryEvent event = {"advance_refused", plan->phase, PHASE_NONE, false, -1, NULL};
	AdvanceRefusal refusal;
	ListCell   *lc;

	initStringInfo(&detail);
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"blockers\": [");
	foreach(lc, blockers)
	{
		if (lc != list_head(blockers))
		{
			appendStringInfoChar(&detail, '\n');
			appendStringInfoString(&json, ", ");
		}
		appendStringInfoString(&detail, (char *) lfirst(lc));
		escape_json(&json, (char *) lfirst(lc));
	}
	appendStringInfoString(&json, "]}");
	event.detail = json.data;

	refusal.plan = plan;
	refusal.caller = caller;
	refusal.verification = verification;
	refusal.event = &event;
	recorder_protect(advance_refusal_spool, &refusal);
	history_log_refusal(event.event, plan->name, plan->phase, NULL, NULL, caller->role_name);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("change plan \"%s\" cannot leave phase \"%s\" yet",
					plan->name, phase_name(plan->phase)),
			 errdetail_internal("%s", detail.data),
			 errhint("%s", next_step)));
}

/*
 * plan_forget_dropped
 *		On completion, clear the regclass of relations that are gone, so that
 *		a reused OID can never make a completed plan name another relation.
 */
static void
plan_forget_dropped(const PlanRow *plan)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(plan->plan_id)};

	if (SPI_execute_with_args("UPDATE phased_change.object o SET rel = NULL"
							  " WHERE o.plan_id = $1 AND NOT EXISTS"
							  " (SELECT FROM pg_catalog.pg_class c WHERE c.oid = o.rel::pg_catalog.oid)",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update objects of change plan \"%s\"", plan->name);
}

/*
 * advance_step
 *		One step forward from the plan's current phase: verify now, read what
 *		blocks it, then move to the next phase (or, from cleanup, complete
 *		the plan) and update *plan to match.  When something blocks, either
 *		refuse (as phase_advance does) or, with refuse false, return false,
 *		keeping the verification, so that a multi-step phase_advance can stop
 *		after the steps it has taken.
 */
static bool
advance_step(PlanRow *plan, const Caller *caller, bool refuse)
{
	StringInfoData checks;
	Verification verification;
	List	   *blockers;
	char	   *next_step;
	HistoryEvent event = {"advanced", PHASE_NONE, PHASE_NONE, true, -1, NULL};

	/* usage sources (issue 13): contract decides on fresh evidence from every node */
	if (plan->phase == PHASE_CONTRACT)
		usage_sources_collect_all();
	initStringInfo(&checks);
	verification = verification_run(plan, caller, "phase_advance", &checks);

	blockers = plan_blockers(plan, &next_step);
	if (blockers != NIL)
	{
		if (refuse)
			advance_refuse(plan, caller, &verification, blockers, next_step);
		ereport(NOTICE,
				(errmsg("change plan \"%s\" stops in phase \"%s\"",
						plan->name, phase_name(plan->phase)),
				 errdetail_internal("%s", (char *) linitial(blockers)),
				 errhint("%s", next_step)));
		return false;
	}

	event.from_phase = plan->phase;
	event.detail = psprintf("{\"checks\": %s}", checks.data);
	if (plan->phase == PHASE_CLEANUP)
	{
		plan_set_phase(plan, PHASE_NONE, "completed");
		plan_forget_dropped(plan);
		event.event = "completed";
	}
	else
	{
		event.to_phase = plan->phase + 1;
		plan_set_phase(plan, event.to_phase, "active");
		/* usage sources (issue 13): the primary's evidence is kept from the start of contract */
		if (event.to_phase == PHASE_CONTRACT)
			usage_sources_collect_all();
	}
	history_record(plan, caller, &event);

	/* the row as it now is, for a further step in the same call */
	if (plan->phase == PHASE_CLEANUP)
		plan->status = "completed";
	else
	{
		plan->phase = event.to_phase;
		plan->entered_at = plan->now;
	}
	return true;
}

/* The name of where the plan is: its phase, or its status once ended. */
static const char *
plan_position(const PlanRow *plan)
{
	return strcmp(plan->status, "active") == 0 ? phase_name(plan->phase) : plan->status;
}

/*
 * phase_advance(plan text) RETURNS text
 *		Move to the next phase once every check of the current phase holds
 *		now and the phase has been verified for its soak; from cleanup,
 *		complete the plan once every retired object is gone.  Returns the
 *		phase entered, or 'completed'.
 */
Datum
phase_advance(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;

	plan_open(name, &caller, &session, &plan);
	(void) advance_step(&plan, &caller, true);
	catalog_end(&session);
	PG_RETURN_TEXT_P(cstring_to_text(plan_position(&plan)));
}

/*
 * target_from_name
 *		The phase a migration asks the plan to be in: a phase, or PHASE_NONE
 *		for 'completed'.
 */
static Phase
target_from_name(const char *name)
{
	if (strcmp(name, "completed") == 0)
		return PHASE_NONE;
	if (strcmp(name, "expand") != 0 && strcmp(name, "migrate") != 0 &&
		strcmp(name, "contract") != 0 && strcmp(name, "cleanup") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown phase \"%s\"", name),
				 errhint("The phases are expand, migrate, contract and cleanup; a plan can also be advanced to \"completed\".")));
	return phase_from_name(name);
}

/*
 * phase_advance(plan text, to_phase text) RETURNS text
 *		Advance until the plan is in to_phase (or, with 'completed', has
 *		completed), for migration tools that may run again: nothing happens
 *		when the plan is already there or beyond, and the current position
 *		is returned.  The first step is refused exactly as phase_advance(plan)
 *		refuses it.  Later steps are taken only while nothing blocks them
 *		(normally the new phase's soak does): the call then stops, keeps the
 *		steps taken, says why in a NOTICE and returns the phase reached.
 *		An abandoned plan is refused.
 */
Datum
phase_advance_to(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	Phase		target = target_from_name(arg_text(fcinfo, 1, "to_phase"));
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	bool		first = true;

	catalog_begin(&session);
	plan_lock(name, &plan);
	if (strcmp(plan.status, "completed") != 0)
		plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);

	while (strcmp(plan.status, "active") == 0 &&
		   (target == PHASE_NONE || plan.phase < target))
	{
		if (!advance_step(&plan, &caller, first))
			break;
		first = false;
	}
	catalog_end(&session);
	PG_RETURN_TEXT_P(cstring_to_text(plan_position(&plan)));
}

/*
 * rollback_require_undropped
 *		Leaving cleanup is refused once any retired object has been dropped:
 *		that step cannot be undone.
 */
static void
rollback_require_undropped(const PlanRow *plan)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(plan->name)};

	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(pg_catalog.format('%s \"%s\"', object_type, object),"
							  "  ', ' ORDER BY object)"
							  " FROM phased_change.guarded_objects"
							  " WHERE plan = $1 AND role = 'retired' AND NOT exists",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read objects of change plan \"%s\"", plan->name);
	if (SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot roll back change plan \"%s\" out of phase \"cleanup\"", plan->name),
			 errdetail("Retired %s has already been dropped, which cannot be undone.",
					   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
			 errhint("Finish the cleanup and run SELECT phase_advance(%s).",
					 quote_literal_cstr(plan->name))));
}

/*
 * phase_rollback(plan text, reason text DEFAULT NULL) RETURNS text
 *		One phase back; the re-entered phase's soak starts again.
 */
Datum
phase_rollback(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	char	   *reason = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	HistoryEvent event = {"rolled_back", PHASE_NONE, PHASE_NONE, true, -1, NULL};

	plan_open(name, &caller, &session, &plan);
	if (plan.phase == PHASE_EXPAND)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot roll back change plan \"%s\" from phase \"expand\"", name),
				 errdetail("Phase \"expand\" is the first phase."),
				 errhint("To give the plan up, run SELECT phase_abandon(%s, 'reason').",
						 quote_literal_cstr(name))));
	if (plan.phase == PHASE_CLEANUP)
		rollback_require_undropped(&plan);

	event.from_phase = plan.phase;
	event.to_phase = plan.phase - 1;
	plan_set_phase(&plan, event.to_phase, "active");
	event.detail = history_detail("reason", reason, NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_TEXT_P(cstring_to_text(phase_name(event.to_phase)));
}

/*
 * phase_abandon(plan text, reason text)
 *		End the plan; its objects are no longer guarded.
 */
Datum
phase_abandon(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	char	   *reason = arg_text(fcinfo, 1, "reason");
	Caller		caller = caller_identify();
	CatalogSession session;
	PlanRow		plan;
	HistoryEvent event = {"abandoned", PHASE_NONE, PHASE_NONE, true, -1, NULL};

	plan_open(name, &caller, &session, &plan);
	event.from_phase = plan.phase;
	plan_set_phase(&plan, PHASE_NONE, "abandoned");
	event.detail = history_detail("reason", reason, NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * phase_owner_set(plan text, owner regrole)
 *		Give a plan another owner: the way out for a plan whose owner role
 *		is missing (restored without it, or renamed), which only superusers
 *		may then change.  The caller must also have the rights of the new
 *		owner, whose rights the checks will run with.
 */
Datum
phase_owner_set(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "plan");
	Oid			new_owner;
	char	   *new_owner_name;
	Caller		caller;
	CatalogSession session;
	PlanRow		plan;
	Oid			argtypes[2] = {INT8OID, NAMEOID};
	Datum		values[2];
	HistoryEvent event = {"owner_set", PHASE_NONE, PHASE_NONE, false, -1, NULL};

	arg_require(fcinfo, 1, "owner");
	new_owner = PG_GETARG_OID(1);
	new_owner_name = GetUserNameFromId(new_owner, false);
	caller = caller_identify();
	if (!has_privs_of_role(caller.roleid, new_owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to give change plan \"%s\" to role \"%s\"",
						name, new_owner_name),
				 errdetail("Only members of role \"%s\" and superusers may make it the owner of a plan.",
						   new_owner_name)));

	plan_open(name, &caller, &session, &plan);
	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(new_owner_name));
	if (SPI_execute_with_args("UPDATE phased_change.plan SET owner = $2 WHERE plan_id = $1",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not set the owner of change plan \"%s\"", name);
	event.detail = history_detail("from_owner", plan.owner_name,
								  "to_owner", new_owner_name, NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
	PG_RETURN_VOID();
}
