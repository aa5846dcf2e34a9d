/*-------------------------------------------------------------------------
 *
 * verification.c
 *		Verifying plans: one verification (run the current phase's checks,
 *		keep the outcome on the plan row, record it in the history only when
 *		it differs from the previous one), and phase_verify_all, which
 *		verifies every active plan the caller may change, each in a
 *		subtransaction of its own.  The scheduler (scheduler.c) verifies
 *		through the same path, as each plan's owner.
 *
 * The plan row keeps the latest verification of the current stay in the
 * phase (last_verified_at, last_verification_ok, last_verification), the
 * latest failure (last_failed_at: the soak counts from it) and when the
 * latest outcome was first seen (verification_since).  A verification is
 * written to the history when it is the first in the phase, when it passes
 * after failing or fails after passing, or when the checks that ran or
 * those that failed differ (phased_change.verification_outcome); so a plan
 * verified every minute adds history rows only when something changes,
 * and nothing reads the history to decide.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "phased_change.h"

PG_FUNCTION_INFO_V1(phase_verify_all);

/*
 * verification_on_plan_row
 *		Whether the catalog keeps verifications on the plan row (1.4 on):
 *		the library must also work with a catalog that ALTER EXTENSION
 *		UPDATE has not reached yet, where every verification is recorded
 *		as before.
 */
bool
verification_on_plan_row(void)
{
	Oid			namespace = get_namespace_oid(PHASED_CHANGE_EXTENSION, true);
	Oid			planrel = OidIsValid(namespace) ? get_relname_relid("plan", namespace) : InvalidOid;

	return OidIsValid(planrel) && get_attnum(planrel, "last_verified_at") != InvalidAttrNumber;
}

/*
 * verification_remember
 *		Keep the verification on the plan row; true when its outcome differs
 *		from the previous verification in this stay in the phase.
 */
static bool
verification_remember(const PlanRow *plan, const Verification *verification)
{
	Oid			argtypes[4] = {INT8OID, TIMESTAMPTZOID, BOOLOID, TEXTOID};
	Datum		values[4];
	bool		isnull;

	values[0] = Int64GetDatum(plan->plan_id);
	values[1] = TimestampTzGetDatum(plan->now);
	values[2] = BoolGetDatum(verification->ok);
	values[3] = CStringGetTextDatum(verification->detail);
	if (SPI_execute_with_args("UPDATE phased_change.plan p"
							  " SET last_verified_at = $2,"
							  "     last_verification_ok = $3,"
							  "     last_verification = $4::pg_catalog.jsonb,"
							  "     last_failed_at = CASE WHEN $3 THEN p.last_failed_at ELSE $2 END,"
							  "     verification_since = CASE WHEN o.changed THEN $2"
							  "                          ELSE p.verification_since END"
							  " FROM (SELECT q.plan_id,"
							  "        (q.last_verified_at IS NULL"
							  "         OR q.last_verified_at OPERATOR(pg_catalog.<) q.entered_at"
							  "         OR q.last_verification_ok IS DISTINCT FROM $3"
							  "         OR phased_change.verification_outcome(q.last_verification)"
							  "            IS DISTINCT FROM"
							  "            phased_change.verification_outcome($4::pg_catalog.jsonb)) AS changed"
							  "       FROM phased_change.plan q WHERE q.plan_id = $1) o"
							  " WHERE p.plan_id = o.plan_id"
							  " RETURNING o.changed",
							  4, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not keep the verification of change plan \"%s\"", plan->name);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * verification_keep
 *		Record the verification in the history if it is not there yet;
 *		returns its event id.  A refused phase_advance keeps its
 *		verification next to the refusal.
 */
int64
verification_keep(const PlanRow *plan, const Caller *caller, Verification *verification)
{
	HistoryEvent event = {NULL, plan->phase, PHASE_NONE, false, -1, NULL};

	if (verification->event_id != 0)
		return verification->event_id;
	event.event = verification->ok ? "verified" : "verify_failed";
	event.checks_ok = verification->ok ? 1 : 0;
	event.detail = verification->detail;
	verification->event_id = history_record(plan, caller, &event);
	return verification->event_id;
}

/*
 * verification_run
 *		Run the current phase's checks now, keep the outcome on the plan row
 *		and, when it differs from the previous one, record it as a verified
 *		or verify_failed event.  The plan row must be locked.
 */
Verification
verification_run(const PlanRow *plan, const Caller *caller, const char *source,
				 StringInfo checks)
{
	Verification verification = {false, NULL, 0};
	StringInfoData detail;

	verification.ok = checks_run(plan, checks);
	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"source\": ");
	escape_json(&detail, source);
	appendStringInfo(&detail, ", \"checks\": %s}", checks->data);
	verification.detail = detail.data;

	if (!verification_on_plan_row() || verification_remember(plan, &verification))
		(void) verification_keep(plan, caller, &verification);
	return verification;
}

/*
 * verification_ready
 *		Whether the plan may advance now, as the progress view says.
 */
static bool
verification_ready(const PlanRow *plan)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(plan->name)};
	bool		isnull;
	Datum		ready;

	if (SPI_execute_with_args("SELECT ready FROM phased_change.progress WHERE plan = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not assess change plan \"%s\"", plan->name);
	ready = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(ready);
}

/*
 * verification_verify_plan
 *		Verify one plan in a subtransaction of its own, so that its failure
 *		stops no other: false when the plan is no longer active or the
 *		caller may not change it (skipped); otherwise true, with its phase,
 *		whether every check held and whether it may advance.  An error is a
 *		WARNING and ok = false; a cancel is raised.  With as_owner, the
 *		verification is made and recorded as the plan's owner (when the
 *		owner role exists).
 */
bool
verification_verify_plan(const char *name, const Caller *caller, const char *source,
						 bool as_owner, char **phase, bool *ok, bool *ready)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool verified = true;
	char	   *volatile phase_seen = NULL;

	*ok = false;
	*ready = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		CatalogSession session;
		PlanRow		plan;
		Caller		as = *caller;
		StringInfoData checks;
		Verification verification;

		catalog_begin(&session);
		plan_lock(name, &plan);
		if (as_owner && OidIsValid(plan.owner))
		{
			as.roleid = plan.owner;
			as.role_name = plan.owner_name;
		}
		if (strcmp(plan.status, "active") != 0 || !plan_privileged(&plan, &as))
			verified = false;
		else
		{
			MemoryContext old = MemoryContextSwitchTo(context);

			phase_seen = pstrdup(phase_name(plan.phase));
			MemoryContextSwitchTo(old);
			initStringInfo(&checks);
			verification = verification_run(&plan, &as, source, &checks);
			*ok = verification.ok;
			*ready = verification_ready(&plan);
		}
		catalog_end(&session);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not verify change plan \"%s\": %s", name, edata->message)));
		*ok = false;
		*ready = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	*phase = phase_seen;
	return verified;
}

/*
 * verification_plans
 *		The names of the active plans the caller may change, in name order
 *		(read without locking: the others are never locked).
 */
List *
verification_plans(const Caller *caller)
{
	CatalogSession session;
	MemoryContext context = CurrentMemoryContext;
	List	   *names = NIL;

	catalog_begin(&session);
	if (SPI_execute("SELECT name, owner::pg_catalog.text FROM phased_change.plan"
					" WHERE status OPERATOR(pg_catalog.=) 'active' ORDER BY name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the active change plans");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		PlanRow		plan = {0};
		MemoryContext old;

		plan.owner_name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		plan.owner = plan.owner_name ? get_role_oid(plan.owner_name, true) : InvalidOid;
		if (!plan_privileged(&plan, caller))
			continue;
		old = MemoryContextSwitchTo(context);
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	catalog_end(&session);
	return names;
}

/*
 * phase_verify_all() RETURNS SETOF (plan, phase, ok, ready)
 *		Verify every active plan the caller may change (owner, members,
 *		superusers), each in its own subtransaction: one row per plan, in
 *		name order.  A plan whose verification raised an error gets ok =
 *		false and a WARNING; completed and abandoned plans are skipped.
 *		The one call a scheduler (pg_cron) needs.
 */
Datum
phase_verify_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Caller		caller = caller_identify();
	List	   *names;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	names = verification_plans(&caller);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		char	   *phase;
		bool		ok;
		bool		ready;

		if (!verification_verify_plan(name, &caller, "phase_verify_all", false,
									  &phase, &ok, &ready))
			continue;
		values[0] = CStringGetTextDatum(name);
		if (phase)
			values[1] = CStringGetTextDatum(phase);
		else
			nulls[1] = true;
		values[2] = BoolGetDatum(ok);
		values[3] = BoolGetDatum(ready);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
