/*-------------------------------------------------------------------------
 *
 * guard.c
 *		The DDL guard's decision: refuse to drop, rename, retype or move an
 *		object that an active plan still needs, whoever sends the statement;
 *		the refusal's message and its audit record; unplanned DDL.
 *
 * A retired object may be destroyed only once its plan is in cleanup; an
 * introduced one only while its plan is in expand (that drop is the
 * rollback of phase 1).  A relation with a guarded column is guarded as a
 * whole against DROP, RENAME and SET SCHEMA, and the columns of a guarded
 * relation are guarded with it.  Completed and abandoned plans guard
 * nothing.
 *
 * Called by the entry points (guard_events.c, guard_hooks.c) with the
 * targets of a statement (guard_statement.c) or of a cascade; reads which
 * plans guard a relation from guard_cache.c.  When the phase allows a
 * statement, the plan row is locked FOR SHARE, so that a concurrent
 * phase_rollback or phase_advance waits for the statement and then sees its
 * effect (one consistent winner).  A registration lock on the relation, the
 * one phase_retire takes, orders the guard against a concurrent
 * phase_retire of the same relation.  Drops let through for the statement
 * are remembered, so that the cascade backstop does not decide (and audit)
 * them twice.
 *
 * A refusal is recorded as a ddl_blocked event that survives the rollback
 * of the refused statement.  phased_change.unplanned_ddl decides what
 * happens to destructive DDL on tables no active plan retires, and a
 * superuser's phased_change.override lets guarded statements through,
 * audited (guard_settings.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "guard.h"
#include "refusal_recorder.h"

/*
 * Drops let through at ddl_command_start, so that the sql_drop backstop of
 * the same statement does not check (and audit) them twice.  They count
 * only in the same transaction and while the plan catalog is unchanged:
 * a phase change in between makes every drop checked again.  The list
 * lives in TopTransactionContext; transaction callbacks forget it when the
 * transaction ends and when a subtransaction aborts (forgetting only makes
 * the backstop decide again).
 */
static List *guard_approved = NIL;
static uint64 guard_approved_generation = 0;

static const char *const action_participles[] = {"dropped", "renamed", "retyped", "moved", "turned into a view"};
static const char *const action_names[] = {"drop", "rename", "retype", "set schema", "convert to view"};

/*
 * guard_forget_approvals_at_xact_end / guard_forget_approvals_at_subabort
 *		Transaction callbacks: the approved drops end with the transaction
 *		that approved them, and with an aborted subtransaction.
 */
static void
guard_forget_approvals_at_xact_end(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			guard_approved = NIL;
			break;
		default:
			break;
	}
}

static void
guard_forget_approvals_at_subabort(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		guard_approved = NIL;
}

/*
 * guard_register_xact_callbacks
 *		Called once from _PG_init.
 */
void
guard_register_xact_callbacks(void)
{
	RegisterXactCallback(guard_forget_approvals_at_xact_end, NULL);
	RegisterSubXactCallback(guard_forget_approvals_at_subabort, NULL);
}

/*
 * relkind_word
 *		"table", "view", ... for messages.
 */
static const char *
relkind_word(char relkind)
{
	switch (relkind)
	{
		case RELKIND_VIEW:
			return "view";
		case RELKIND_MATVIEW:
			return "materialized view";
		case RELKIND_FOREIGN_TABLE:
			return "foreign table";
		default:
			return "table";
	}
}

/*
 * target_resolve
 *		Fill in the names of a target found in a parse tree.
 */
static void
target_resolve(GuardTarget *target)
{
	ObjectAddress address;

	if (target->relname != NULL)
		return;
	target->relname = get_rel_name(target->relid);
	target->relkind = get_rel_relkind(target->relid);
	ObjectAddressSubSet(address, RelationRelationId, target->relid,
						target->column ? get_attnum(target->relid, target->column) : 0);
	target->identity = getObjectIdentity(&address, true);
	if (target->identity == NULL)
		target->identity = pstrdup(target->relname ? target->relname : "?");
}

static bool
entry_protects(bool retired, Phase phase)
{
	return retired ? phase < PHASE_CLEANUP : phase > PHASE_EXPAND;
}

static bool
entry_applies(const GuardEntry *entry, const GuardTarget *target)
{
	return target->column == NULL || entry->column == NULL ||
		strcmp(entry->column, target->column) == 0;
}

/*
 * guard_recheck
 *		The phase allows the statement: lock the plan row FOR SHARE, so that
 *		transitions of the plan wait for this transaction, and return the
 *		phase as it stands under the lock (PHASE_NONE when the plan ended).
 *		A hot standby can take no such lock, and runs no DDL anyway: the
 *		cached phase stands, and PostgreSQL refuses the statement itself.
 */
static Phase
guard_recheck(const GuardEntry *entry)
{
	CatalogSession session;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(entry->plan_id)};
	Phase		phase = PHASE_NONE;
	bool		isnull;

	if (RecoveryInProgress())
		return entry->phase;
	catalog_begin(&session);
	if (SPI_execute_with_args("SELECT phase FROM phased_change.plan"
							  " WHERE plan_id = $1 AND status = 'active' FOR SHARE",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock change plan \"%s\"", entry->plan_name);
	if (SPI_processed == 1)
		phase = (Phase) DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
	catalog_end(&session);
	return phase;
}

/* A guard event on its way to the refusal recorder (guard_audit_spool). */
typedef struct GuardAuditRecord
{
	const char *event;
	int64		plan_id;
	Phase		phase;
	const char *identity;
	const char *action;
	bool		cascaded;
	const char *reason;
} GuardAuditRecord;

/*
 * guard_audit_spool
 *		Build the ddl_blocked or override event and spool it for the refusal
 *		recorder (a recorder_protect step).
 */
static void
guard_audit_spool(void *arg)
{
	const GuardAuditRecord *audit = arg;
	CatalogSession session;
	Caller		caller = caller_identify();
	PlanRow		plan = {0};
	HistoryEvent record = {audit->event, audit->phase, PHASE_NONE, false, -1, NULL};

	catalog_begin(&session);
	history_log_refusal(audit->event, history_plan_name(audit->plan_id), audit->phase,
						audit->action, audit->identity, caller.role_name);
	plan.plan_id = audit->plan_id;
	plan.now = GetCurrentTimestamp();
	record.detail = history_detail("object", audit->identity,
								   "action", audit->action,
								   "statement", debug_query_string,
								   "reason", audit->reason,
								   "cascaded", audit->cascaded ? "true" : "false",
								   NULL);
	history_spool(&plan, &caller, &record);
	catalog_end(&session);
}

/*
 * guard_audit
 *		Record a ddl_blocked or override event (plan_id 0: no plan), in the
 *		phase the plan is in, through the refusal recorder: nothing is
 *		written in the statement's transaction, so the record survives its
 *		rollback, a refusal in a read-only transaction or on a hot standby
 *		stays the refusal, and a recording problem is at most a WARNING.
 */
void
guard_audit(const char *event, int64 plan_id, Phase phase, const char *identity,
			const char *action, bool cascaded, const char *reason)
{
	GuardAuditRecord audit = {event, plan_id, phase, identity, action, cascaded, reason};

	recorder_protect(guard_audit_spool, &audit);
}

static void
guard_record(const char *event, int64 plan_id, Phase phase, const GuardTarget *target,
			 const char *reason)
{
	guard_audit(event, plan_id, phase, target->identity, action_names[target->action],
				target->cascaded, reason);
}

/*
 * guard_plan_facts
 *		Since when the plan has been in its phase, and what keeps it there
 *		(progress.blockers, joined) with the next step, as text for messages.
 */
static void
guard_plan_facts(const GuardEntry *entry, char **since, char **blockers, char **next_step)
{
	CatalogSession session;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(entry->plan_name)};
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *value;

	catalog_begin(&session);
	if (SPI_execute_with_args("SELECT pg_catalog.date_trunc('second', entered_at)::pg_catalog.text,"
							  "  pg_catalog.array_to_string(blockers, ' '),"
							  "  next_step"
							  " FROM phased_change.progress WHERE plan = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read change plan \"%s\"", entry->plan_name);
	MemoryContextSwitchTo(caller_context);
	*since = pstrdup(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*blockers = (value && value[0]) ? pstrdup(value) : NULL;
	value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	*next_step = pstrdup(value ? value : "See phased_change.progress.");
	catalog_end(&session);
}

/*
 * guard_errmsg
 *		The refusal's message, written whole for each action (inside
 *		ereport, like errmsg).
 */
static int
guard_errmsg(const GuardTarget *target)
{
	const char *kind = relkind_word(target->relkind);

	switch (target->action)
	{
		case GUARD_DROP:
			if (target->column)
				return errmsg("cannot drop column \"%s\" of %s \"%s\"",
							  target->column, kind, target->relname);
			return errmsg("cannot drop %s \"%s\"", kind, target->relname);
		case GUARD_RENAME:
			if (target->column)
				return errmsg("cannot rename column \"%s\" of %s \"%s\"",
							  target->column, kind, target->relname);
			return errmsg("cannot rename %s \"%s\"", kind, target->relname);
		case GUARD_RETYPE:
			return errmsg("cannot change the type of column \"%s\" of %s \"%s\"",
						  target->column ? target->column : "?", kind, target->relname);
		case GUARD_SET_SCHEMA:
			return errmsg("cannot move %s \"%s\" to another schema", kind, target->relname);
		case GUARD_TO_VIEW:
			return errmsg("cannot turn %s \"%s\" into a view", kind, target->relname);
	}
	return 0;					/* keep compiler quiet */
}

/*
 * guard_override_errmsg
 *		The override's WARNING, written whole for each action.
 */
static int
guard_override_errmsg(const GuardEntry *entry, const GuardTarget *target)
{
	const char *kind = relkind_word(target->relkind);

	switch (target->action)
	{
		case GUARD_DROP:
			if (target->column)
				return errmsg("overriding the guard of change plan \"%s\" to drop column \"%s\" of %s \"%s\"",
							  entry->plan_name, target->column, kind, target->relname);
			return errmsg("overriding the guard of change plan \"%s\" to drop %s \"%s\"",
						  entry->plan_name, kind, target->relname);
		case GUARD_RENAME:
			if (target->column)
				return errmsg("overriding the guard of change plan \"%s\" to rename column \"%s\" of %s \"%s\"",
							  entry->plan_name, target->column, kind, target->relname);
			return errmsg("overriding the guard of change plan \"%s\" to rename %s \"%s\"",
						  entry->plan_name, kind, target->relname);
		case GUARD_RETYPE:
			return errmsg("overriding the guard of change plan \"%s\" to change the type of column \"%s\" of %s \"%s\"",
						  entry->plan_name, target->column ? target->column : "?", kind,
						  target->relname);
		case GUARD_SET_SCHEMA:
			return errmsg("overriding the guard of change plan \"%s\" to move %s \"%s\" to another schema",
						  entry->plan_name, kind, target->relname);
		case GUARD_TO_VIEW:
			return errmsg("overriding the guard of change plan \"%s\" to turn %s \"%s\" into a view",
						  entry->plan_name, kind, target->relname);
	}
	return 0;					/* keep compiler quiet */
}

/*
 * guard_refusal_errdetail
 *		Which plan holds the object, since when, and when it may go: whole
 *		sentences for each case.
 */
static int
guard_refusal_errdetail(const GuardTarget *target, const GuardEntry *entry, Phase phase,
						const char *since)
{
	const char *kind = relkind_word(target->relkind);
	const char *what = entry->column ? "column" : kind;

	if (target->column == NULL && entry->column != NULL)
	{
		if (entry->retired)
			return target->cascaded ?
				errdetail("The %s holds column \"%s\", retired by change plan \"%s\", which has been in phase \"%s\" since %s; old code still names the %s. The statement reaches it through a dependency.",
						  kind, entry->column, entry->plan_name, phase_name(phase), since, kind) :
				errdetail("The %s holds column \"%s\", retired by change plan \"%s\", which has been in phase \"%s\" since %s; old code still names the %s.",
						  kind, entry->column, entry->plan_name, phase_name(phase), since, kind);
		return target->cascaded ?
			errdetail("The %s holds column \"%s\", introduced by change plan \"%s\", which has been in phase \"%s\" since %s; old code still names the %s. The statement reaches it through a dependency.",
					  kind, entry->column, entry->plan_name, phase_name(phase), since, kind) :
			errdetail("The %s holds column \"%s\", introduced by change plan \"%s\", which has been in phase \"%s\" since %s; old code still names the %s.",
					  kind, entry->column, entry->plan_name, phase_name(phase), since, kind);
	}
	if (entry->retired)
		return target->cascaded ?
			errdetail("The %s is retired by change plan \"%s\", which has been in phase \"%s\" since %s; it may be %s in phase \"cleanup\". The statement reaches it through a dependency.",
					  what, entry->plan_name, phase_name(phase), since,
					  action_participles[target->action]) :
			errdetail("The %s is retired by change plan \"%s\", which has been in phase \"%s\" since %s; it may be %s in phase \"cleanup\".",
					  what, entry->plan_name, phase_name(phase), since,
					  action_participles[target->action]);
	return target->cascaded ?
		errdetail("The %s is introduced by change plan \"%s\", which has been in phase \"%s\" since %s; it holds data now and may be destroyed only after the plan is rolled back to phase \"expand\". The statement reaches it through a dependency.",
				  what, entry->plan_name, phase_name(phase), since) :
		errdetail("The %s is introduced by change plan \"%s\", which has been in phase \"%s\" since %s; it holds data now and may be destroyed only after the plan is rolled back to phase \"expand\".",
				  what, entry->plan_name, phase_name(phase), since);
}

/*
 * guard_phases_to_pass
 *		The phases between the current one and cleanup, quoted, for a hint:
 *		"contract", or "migrate" and "contract"; NULL from contract on.
 */
static const char *
guard_phases_to_pass(Phase phase)
{
	if (phase == PHASE_EXPAND)
		return "phases \"migrate\" and \"contract\" are";
	if (phase == PHASE_MIGRATE)
		return "phase \"contract\" is";
	return NULL;
}

/*
 * guard_refusal_errhint
 *		What to do: roll back to expand, or get the plan to cleanup.  For the
 *		latter, what actually remains: the phases still to pass and what
 *		keeps the plan in its phase now (failing checks, soak, a recent use
 *		of a retired object, ...), then the next step, both as the progress
 *		view says them; never a time to wait while something else blocks.
 */
static int
guard_refusal_errhint(const GuardEntry *entry, Phase phase, const char *blockers,
					  const char *next_step)
{
	const char *to_pass = guard_phases_to_pass(phase);

	if (!entry->retired)
		return errhint("To undo the change, roll the plan back to phase \"expand\" with SELECT phase_rollback(%s).",
					   quote_literal_cstr(entry->plan_name));
	if (to_pass && blockers)
		return errhint("The plan must reach phase \"cleanup\" first: %s still to pass after \"%s\". In phase \"%s\" now: %s Next: %s",
					   to_pass, phase_name(phase), phase_name(phase), blockers, next_step);
	if (to_pass)
		return errhint("The plan must reach phase \"cleanup\" first: %s still to pass after \"%s\". Nothing keeps it in phase \"%s\" now. Next: %s",
					   to_pass, phase_name(phase), phase_name(phase), next_step);
	if (blockers)
		return errhint("The plan must reach phase \"cleanup\" first. In phase \"%s\" now: %s Next: %s",
					   phase_name(phase), blockers, next_step);
	return errhint("The plan must reach phase \"cleanup\" first; nothing keeps it in phase \"%s\" now. Next: %s",
				   phase_name(phase), next_step);
}

/*
 * guard_refuse
 *		Record the refusal, then raise it: what is refused, which plan holds
 *		the object and since when, and what to do.
 */
static void
guard_refuse(const GuardTarget *target, const GuardEntry *entry, Phase phase)
{
	char	   *since;
	char	   *blockers;
	char	   *next_step;

	guard_plan_facts(entry, &since, &blockers, &next_step);
	guard_record("ddl_blocked", entry->plan_id, phase, target, NULL);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 guard_errmsg(target),
			 guard_refusal_errdetail(target, entry, phase, since),
			 guard_refusal_errhint(entry, phase, blockers, next_step)));
}

/*
 * guard_unplanned
 *		Destructive DDL on a permanent table that no active plan retires:
 *		allow, warn or block, as phased_change.unplanned_ddl says.  Tables
 *		created in this transaction are exempt.
 */
static void
guard_unplanned(GuardTarget *target)
{
	Relation	rel;
	bool		exempt;
	char	   *qualified;
	char		relkind;

	/* the cheap tests first: this runs for every unguarded target */
	if (guard_unplanned_ddl == UNPLANNED_ALLOW || creating_extension ||
		target->action == GUARD_SET_SCHEMA)
		return;
	/* reached through a dependency: refused under block, not warned about */
	if (target->cascaded && guard_unplanned_ddl != UNPLANNED_BLOCK)
		return;
	if (target->gone)
	{
		/* sql_drop: the table is gone, only what the event trigger reports */
		if (target->relkind != RELKIND_RELATION || target->temporary)
			return;
	}
	else
	{
		relkind = get_rel_relkind(target->relid);
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			return;
		rel = RelationIdGetRelation(target->relid);
		if (!RelationIsValid(rel))
			return;
		exempt = rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ||
			rel->rd_createSubid != InvalidSubTransactionId;
		RelationClose(rel);
		if (exempt)
			return;
	}

	target_resolve(target);
	qualified = target->gone ? target->identity :
		quote_qualified_identifier(get_namespace_name(get_rel_namespace(target->relid)),
								   target->relname);
	if (guard_unplanned_ddl == UNPLANNED_WARN)
	{
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 target->column ?
				 errmsg("column \"%s\" of %s \"%s\" is not retired by an active change plan",
						target->column, relkind_word(target->relkind), target->relname) :
				 errmsg("%s \"%s\" is not retired by an active change plan",
						relkind_word(target->relkind), target->relname),
				 errdetail("The setting phased_change.unplanned_ddl is \"warn\"; with \"block\" this statement is refused."),
				 target->column ?
				 errhint("Plan the change: SELECT phase_plan_create('plan'); SELECT phase_retire('plan', %s, %s); then advance the plan to phase \"cleanup\".",
						 quote_literal_cstr(qualified), quote_literal_cstr(target->column)) :
				 errhint("Plan the change: SELECT phase_plan_create('plan'); SELECT phase_retire('plan', %s); then advance the plan to phase \"cleanup\".",
						 quote_literal_cstr(qualified))));
		return;
	}
	guard_record("ddl_blocked", 0, PHASE_NONE, target, "unplanned");
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 guard_errmsg(target),
			 target->column ?
			 errdetail("The column is not retired by an active change plan, and phased_change.unplanned_ddl is \"block\".") :
			 errdetail("The table is not retired by an active change plan, and phased_change.unplanned_ddl is \"block\"."),
			 errhint("Plan the change with phase_plan_create and phase_retire, and advance the plan to phase \"cleanup\".")));
}

/*
 * guard_is_approved / guard_approve
 *		Drops let through earlier in this statement.
 */
static bool
guard_is_approved(const GuardTarget *target)
{
	ListCell   *lc;

	if (target->action != GUARD_DROP ||
		guard_approved_generation != guard_cache_generation())
		return false;
	foreach(lc, guard_approved)
	{
		GuardTarget *approved = lfirst(lc);

		if (approved->relid == target->relid &&
			(approved->column == NULL ||
			 (target->column != NULL && strcmp(approved->column, target->column) == 0)))
			return true;
	}
	return false;
}

static void
guard_approve(const GuardTarget *target)
{
	MemoryContext oldcontext;
	GuardTarget *copy;

	if (target->action != GUARD_DROP)
		return;
	oldcontext = MemoryContextSwitchTo(TopTransactionContext);
	copy = palloc0(sizeof(GuardTarget));
	if (guard_approved_generation != guard_cache_generation())
	{
		guard_approved = NIL;
		guard_approved_generation = guard_cache_generation();
	}
	copy->relid = target->relid;
	copy->column = target->column ? pstrdup(target->column) : NULL;
	guard_approved = lappend(guard_approved, copy);
	MemoryContextSwitchTo(oldcontext);
}

/*
 * guard_enforce_one
 *		Decide one target: refuse (or override), or let it through with the
 *		plans that allow it locked.
 */
static void
guard_enforce_one(GuardTarget *target)
{
	List	   *entries;
	bool		planned = false;
	ListCell   *lc;

	if (target->cascaded && guard_is_approved(target))
		return;
	if (!target->cascaded)
	{
		/*
		 * Whoever may not alter the relation gets PostgreSQL's own
		 * permission error, and learns nothing about plans from us.  The
		 * owner of the schema may drop any table in it.
		 */
		if (!pc_relation_ownercheck(target->relid, GetUserId()) &&
			!(target->action == GUARD_DROP && target->column == NULL &&
			  pc_namespace_ownercheck(get_rel_namespace(target->relid), GetUserId())))
			return;
		/* orders us against phase_retire, which a hot standby cannot run */
		if (!RecoveryInProgress())
			LockDatabaseObject(RelationRelationId, target->relid, 0, ShareLock);
	}

	entries = guard_cache_lookup(target->relid);
	foreach(lc, entries)
	{
		GuardEntry *entry = lfirst(lc);
		Phase		phase = entry->phase;
		const char *reason;

		if (!entry_applies(entry, target))
			continue;
		planned = true;
		if (!entry_protects(entry->retired, phase))
		{
			phase = guard_recheck(entry);
			if (phase == PHASE_NONE || !entry_protects(entry->retired, phase))
				continue;
		}
		target_resolve(target);
		reason = guard_override_reason();
		if (reason == NULL)
			guard_refuse(target, entry, phase);
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 guard_override_errmsg(entry, target),
				 errdetail("The setting phased_change.override is \"%s\". The override is recorded in phased_change.history.",
						   reason)));
		guard_record("override", entry->plan_id, phase, target, reason);
	}

	if (!planned)
		guard_unplanned(target);
	if (!target->cascaded)
		guard_approve(target);
}

/*
 * guard_enforce
 *		Apply the guard to every target of a statement.
 */
void
guard_enforce(List *targets)
{
	ListCell   *lc;

	if (targets != NIL && guard_catalog_unreadable())
	{
		/* only the extension's own relations, to give them their names back */
		foreach(lc, targets)
			if (!extension_owns_relation(((GuardTarget *) lfirst(lc))->relid))
				guard_catalog_require();
		return;
	}
	foreach(lc, targets)
		guard_enforce_one((GuardTarget *) lfirst(lc));
}

/*
 * guard_dropped_needs_check
 *		Whether a relation (or column) about to be dropped through a
 *		dependency needs a decision: a plan guards it, or unplanned drops of
 *		tables are blocked.  The object_access_hook asks this first, for
 *		every relation dropped.
 */
bool
guard_dropped_needs_check(Oid relid, int subId)
{
	char		relkind;

	if (guard_cache_lookup(relid) != NIL)
		return true;
	if (guard_unplanned_ddl != UNPLANNED_BLOCK)
		return false;
	relkind = get_rel_relkind(relid);
	return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE;
}
