/*-------------------------------------------------------------------------
 *
 * sync_trigger.c
 *		The row trigger of a dual-write sync (phased_change.sync_row) and
 *		its per-backend cache of compiled syncs.
 *
 * The trigger is BEFORE INSERT OR UPDATE FOR EACH ROW, with the sync's id
 * as its argument.  Which columns the writer gave:
 *	- INSERT: a column is given when it is not NULL in the row to insert.
 *	- UPDATE: a column is given when the statement changed it: its new value
 *	  is NULL where the old was not (or the other way), or its bytes differ.
 * When from_col is given and to_col is not, to_col := forward; when to_col
 * is given and from_col is not, and the sync has a backward expression,
 * from_col := backward; otherwise the row is left as written.
 *
 * The expressions are evaluated as the writer, like a column default: the
 * writer needs EXECUTE on the functions they call (checked when the state is
 * built, for each role that writes), and nothing runs with more rights than
 * the writer has.  Names in the expressions were resolved when the sync was
 * registered: the trigger parses their resolved text (every name outside
 * pg_catalog schema-qualified, sync.c) under search_path = pg_catalog,
 * pg_temp, never the writer's path nor the one of the registration.  The
 * expressions are parsed against the table once per backend and evaluated
 * by the executor's expression machinery over the trigger's slot, without a
 * query: the columns they read are never counted as a use of the retired
 * column by the usage tracker (usage.c).  A query that a function they call
 * runs is a query like any other, and is counted.
 *
 * A sync_row call while an expression is being evaluated (a function of the
 * expression wrote to a synced table) is refused: the executor state and
 * memory of the outer evaluation are in use.
 *
 * The cache is keyed by the trigger's OID.  It is dropped when the guard
 * cache is (any change to the plan catalog, phased_change.sync included,
 * in any backend), an entry when its table's relcache entry is invalidated
 * (ALTER TABLE, CREATE TRIGGER, ...), and everything when a function
 * changes.  A trigger whose sync is missing, belongs to another table or to
 * a plan that is not in migrate or contract passes rows through unchanged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "guard.h"
#include "sync.h"

PG_FUNCTION_INFO_V1(sync_row);

/* One sync trigger, as this backend knows it. */
typedef struct SyncEntry
{
	Oid			tgoid;			/* hash key */
	bool		valid;			/* false: load again before use */
	bool		active;			/* the plan is active, in migrate or contract */
	Oid			relid;
	AttrNumber	from_attnum;
	AttrNumber	to_attnum;
	Expr	   *forward;		/* compiled, not planned */
	Expr	   *backward;		/* NULL: none */
	Oid			state_userid;	/* the role the states below were built for */
	ExprState  *forward_state;
	ExprState  *backward_state;
	ExprContext *econtext;
	MemoryContext context;		/* the entry's compiled expressions */
	MemoryContext state_context;	/* its executor states */
} SyncEntry;

static HTAB *sync_cache = NULL;
static MemoryContext sync_cache_context = NULL;
static uint64 sync_cache_generation = 0;
static bool sync_cache_stale = false;
static int	sync_depth = 0;		/* expressions being evaluated in this backend */

/*
 * sync_cache_relation_changed
 *		Relcache callback: the table's columns or triggers may have changed;
 *		with InvalidOid, every relation may have.  Only marks: the entries
 *		are rebuilt at the next call.
 */
static void
sync_cache_relation_changed(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SyncEntry  *entry;

	if (sync_cache == NULL)
		return;
	if (!OidIsValid(relid))
	{
		sync_cache_stale = true;
		return;
	}
	hash_seq_init(&status, sync_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->relid == relid)
			entry->valid = false;
	}
}

/*
 * sync_cache_function_changed
 *		Syscache callback on pg_proc: a function an expression calls (or
 *		inlined) may have been replaced.
 */
static void
sync_cache_function_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	sync_cache_stale = true;
}

/*
 * sync_register_callbacks
 *		Called once from _PG_init.
 */
void
sync_register_callbacks(void)
{
	CacheRegisterRelcacheCallback(sync_cache_relation_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, sync_cache_function_changed, (Datum) 0);
}

/*
 * sync_scan_next
 *		The next row of a scan begun with SnapshotAny that "snapshot" sees.
 *		As in guard_cache.c: no predicate lock is taken, so a SERIALIZABLE
 *		writer carries no SIReadLock on the extension's tables.
 */
static HeapTuple
sync_scan_next(SysScanDesc scan, Snapshot snapshot)
{
	HeapTuple	tuple;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		if (table_tuple_satisfies_snapshot(scan->heap_rel, scan->slot, snapshot))
			return tuple;
	}
	return NULL;
}

static Datum
sync_attr(Relation rel, HeapTuple tuple, const char *attname, bool *isnull)
{
	return heap_getattr(tuple, get_attnum(RelationGetRelid(rel), attname),
						RelationGetDescr(rel), isnull);
}

static char *
sync_attr_text(Relation rel, HeapTuple tuple, const char *attname)
{
	bool		isnull;
	Datum		value = sync_attr(rel, tuple, attname, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

static char *
sync_attr_name(Relation rel, HeapTuple tuple, const char *attname)
{
	bool		isnull;

	return pstrdup(NameStr(*DatumGetName(sync_attr(rel, tuple, attname, &isnull))));
}

/*
 * sync_lookup_by_key
 *		Fetch the row of a catalog table with the given int8 key through its
 *		primary key; NULL when there is none.  The relation stays open.
 */
static HeapTuple
sync_lookup_by_key(Relation rel, const char *index_name, const char *key_name,
				   int64 key_value, Snapshot snapshot, SysScanDesc *scan)
{
	ScanKeyData key;
	Oid			index = get_relname_relid(index_name, RelationGetNamespace(rel));

	if (!OidIsValid(index))
		return NULL;
	ScanKeyInit(&key, get_attnum(RelationGetRelid(rel), key_name),
				BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(key_value));
	*scan = systable_beginscan(rel, index, true, SnapshotAny, 1, &key);
	return sync_scan_next(*scan, snapshot);
}

/*
 * sync_catalog_read
 *		Read a sync and whether its plan wants it in place, as the latest
 *		snapshot sees them.  False when the sync does not exist.
 */
bool
sync_catalog_read(int64 sync_id, SyncRow *row)
{
	Oid			nsp = get_namespace_oid(PHASED_CHANGE_EXTENSION, true);
	Oid			syncrelid = OidIsValid(nsp) ? get_relname_relid("sync", nsp) : InvalidOid;
	Oid			planrelid = OidIsValid(nsp) ? get_relname_relid("plan", nsp) : InvalidOid;
	Relation	syncrel;
	Relation	planrel;
	Snapshot	snapshot;
	SysScanDesc scan = NULL;
	HeapTuple	tuple;
	int64		plan_id = 0;
	bool		found = false;
	bool		isnull;

	if (!OidIsValid(syncrelid) || !OidIsValid(planrelid))
		return false;
	syncrel = table_open(syncrelid, AccessShareLock);
	planrel = table_open(planrelid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	tuple = sync_lookup_by_key(syncrel, "sync_pkey", "sync_id", sync_id, snapshot, &scan);
	if (HeapTupleIsValid(tuple))
	{
		Datum		rel = sync_attr(syncrel, tuple, "rel", &isnull);

		found = true;
		row->relid = isnull ? InvalidOid : DatumGetObjectId(rel);
		row->from_col = sync_attr_name(syncrel, tuple, "from_col");
		row->to_col = sync_attr_name(syncrel, tuple, "to_col");
		row->forward = sync_attr_text(syncrel, tuple, "forward");
		row->backward = sync_attr_text(syncrel, tuple, "backward");
		row->search_path = sync_attr_text(syncrel, tuple, "search_path");
		row->forward_resolved = sync_attr_text(syncrel, tuple, "forward_resolved");
		row->backward_resolved = sync_attr_text(syncrel, tuple, "backward_resolved");
		plan_id = DatumGetInt64(sync_attr(syncrel, tuple, "plan_id", &isnull));
	}
	if (scan)
		systable_endscan(scan);

	row->active = false;
	if (found)
	{
		scan = NULL;
		tuple = sync_lookup_by_key(planrel, "plan_pkey", "plan_id", plan_id, snapshot, &scan);
		if (HeapTupleIsValid(tuple))
		{
			char	   *status = sync_attr_text(planrel, tuple, "status");
			int16		phase = DatumGetInt16(sync_attr(planrel, tuple, "phase", &isnull));

			row->plan_id = plan_id;
			row->plan_name = sync_attr_text(planrel, tuple, "name");
			row->phase = (Phase) phase;
			row->active = strcmp(status, "active") == 0 &&
				(phase == PHASE_MIGRATE || phase == PHASE_CONTRACT);
		}
		if (scan)
			systable_endscan(scan);
	}

	UnregisterSnapshot(snapshot);
	table_close(planrel, AccessShareLock);
	table_close(syncrel, AccessShareLock);
	return found;
}

/*
 * sync_entry_attnum
 *		A column of the sync, which must still be on the trigger's table.
 */
static AttrNumber
sync_entry_attnum(Relation rel, const char *col)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), col);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of a sync of table \"%s\" does not exist",
						col, RelationGetRelationName(rel))));
	return attnum;
}

/*
 * sync_entry_load
 *		Fill in an entry from the catalog: which columns, and the compiled
 *		expressions when the sync is active.
 */
static void
sync_entry_load(SyncEntry *entry, TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	Trigger    *trigger = trigdata->tg_trigger;
	SyncRow		row = {0};
	MemoryContext oldcontext;

	if (trigger->tgnargs != 1)
		elog(ERROR, "trigger \"%s\" must have one argument, the sync's id", trigger->tgname);

	entry->context = AllocSetContextCreate(sync_cache_context, "phased_change sync",
										   ALLOCSET_SMALL_SIZES);
	entry->state_context = AllocSetContextCreate(entry->context, "phased_change sync state",
												 ALLOCSET_SMALL_SIZES);
	entry->relid = RelationGetRelid(rel);
	entry->active = false;
	entry->forward = entry->backward = NULL;
	entry->state_userid = InvalidOid;

	oldcontext = MemoryContextSwitchTo(entry->context);
	if (sync_catalog_read(strtoi64(trigger->tgargs[0], NULL, 10), &row) &&
		row.relid == entry->relid && row.active)
	{
		SyncSource	source = {"forward", row.from_col, row.to_col};

		entry->from_attnum = sync_entry_attnum(rel, row.from_col);
		entry->to_attnum = sync_entry_attnum(rel, row.to_col);
		entry->forward = sync_expression_compile(rel, &source, row.forward_resolved,
												 entry->to_attnum, SYNC_RESOLVED_SEARCH_PATH,
												 NULL);
		if (row.backward_resolved)
		{
			source.which = "backward";
			entry->backward = sync_expression_compile(rel, &source, row.backward_resolved,
													  entry->from_attnum,
													  SYNC_RESOLVED_SEARCH_PATH, NULL);
		}
		entry->active = true;
	}
	MemoryContextSwitchTo(oldcontext);
	entry->valid = true;
}

/*
 * sync_entry_prepare_states
 *		Plan the expressions and build their executor states for the current
 *		role (ExecInitExpr checks EXECUTE on the functions they call, and the
 *		planner inlines only functions the role may execute).
 */
static void
sync_entry_prepare_states(SyncEntry *entry)
{
	MemoryContext oldcontext;

	MemoryContextReset(entry->state_context);
	entry->state_userid = InvalidOid;
	oldcontext = MemoryContextSwitchTo(entry->state_context);
	entry->forward_state = ExecInitExpr(expression_planner(copyObject(entry->forward)), NULL);
	entry->backward_state = entry->backward ?
		ExecInitExpr(expression_planner(copyObject(entry->backward)), NULL) : NULL;
	entry->econtext = CreateStandaloneExprContext();
	MemoryContextSwitchTo(oldcontext);
	entry->state_userid = GetUserId();
}

/*
 * sync_entry_get
 *		The entry of the firing trigger, loaded and ready for this role.
 *		Called only when no expression is being evaluated (sync_row refuses
 *		to run then), so that no executor state is freed while it runs.
 */
static SyncEntry *
sync_entry_get(TriggerData *trigdata)
{
	uint64		generation = guard_cache_generation();
	Oid			tgoid = trigdata->tg_trigger->tgoid;
	SyncEntry  *entry;
	bool		found;

	if (sync_cache == NULL || sync_cache_stale || sync_cache_generation != generation)
	{
		sync_cache = relid_cache_create(&sync_cache_context, "phased_change sync cache",
										sizeof(SyncEntry));
		sync_cache_generation = generation;
		sync_cache_stale = false;
	}
	entry = hash_search(sync_cache, &tgoid, HASH_ENTER, &found);
	if (!found)
	{
		entry->valid = false;
		entry->context = NULL;
	}
	if (!entry->valid)
	{
		if (entry->context != NULL)
			MemoryContextDelete(entry->context);
		entry->context = NULL;
		sync_entry_load(entry, trigdata);
	}
	if (entry->active && entry->state_userid != GetUserId())
		sync_entry_prepare_states(entry);
	return entry;
}

/*
 * sync_column_changed
 *		Whether an UPDATE changed a column: NULL against not NULL, or other
 *		bytes.  Read from the trigger's slots, which deform each row once.
 *		An unchanged toasted value keeps its toast pointer, which is compared
 *		as it is, without fetching the value.
 */
static bool
sync_column_changed(TupleTableSlot *oldslot, TupleTableSlot *newslot, AttrNumber attnum)
{
	Form_pg_attribute att = TupleDescAttr(newslot->tts_tupleDescriptor, attnum - 1);
	bool		oldnull;
	bool		newnull;
	Datum		oldvalue = slot_getattr(oldslot, attnum, &oldnull);
	Datum		newvalue = slot_getattr(newslot, attnum, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	if (att->attlen == -1)
	{
		struct varlena *oldp = (struct varlena *) DatumGetPointer(oldvalue);
		struct varlena *newp = (struct varlena *) DatumGetPointer(newvalue);

		if (VARATT_IS_EXTERNAL_ONDISK(oldp) && VARATT_IS_EXTERNAL_ONDISK(newp) &&
			VARSIZE_EXTERNAL(oldp) == VARSIZE_EXTERNAL(newp) &&
			memcmp(oldp, newp, VARSIZE_EXTERNAL(oldp)) == 0)
			return false;
		/* the common case: both inline and uncompressed */
		if (!VARATT_IS_EXTENDED(oldp) && !VARATT_IS_EXTENDED(newp))
			return VARSIZE(oldp) != VARSIZE(newp) ||
				memcmp(VARDATA(oldp), VARDATA(newp), VARSIZE(oldp) - VARHDRSZ) != 0;
		if (VARATT_IS_SHORT(oldp) && VARATT_IS_SHORT(newp))
			return VARSIZE_SHORT(oldp) != VARSIZE_SHORT(newp) ||
				memcmp(oldp, newp, VARSIZE_SHORT(oldp)) != 0;
	}
	return !datum_image_eq(oldvalue, newvalue, att->attbyval, att->attlen);
}

/*
 * sync_evaluate
 *		One expression over the new row, counted in sync_depth while it
 *		runs (sync_require_not_nested).
 */
static Datum
sync_evaluate(SyncEntry *entry, ExprState *state, TupleTableSlot *slot, bool *isnull)
{
	Datum		value;

	ResetExprContext(entry->econtext);
	entry->econtext->ecxt_scantuple = slot;
	sync_depth++;
	PG_TRY();
	{
		value = ExecEvalExprSwitchContext(state, entry->econtext, isnull);
	}
	PG_FINALLY();
	{
		sync_depth--;
	}
	PG_END_TRY();
	return value;
}

/*
 * sync_require_not_nested
 *		Refuse a sync_row call made while an expression is being evaluated:
 *		a function of the expression wrote to a table with a sync, and
 *		going on would reset the executor state and memory of the
 *		evaluation under way (and rebuild the cache under it).
 */
static void
sync_require_not_nested(TriggerData *trigdata)
{
	if (sync_depth > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sync trigger \"%s\" of table \"%s\" cannot run inside the evaluation of a sync expression",
						trigdata->tg_trigger->tgname,
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("A function called by the expression of a sync wrote to a table with a sync; a sync expression computes a value and writes nothing.")));
}

/*
 * sync_new_tuple
 *		The row to write: the new row with one column replaced, formed from
 *		the slot's deformed values.
 */
static HeapTuple
sync_new_tuple(TupleTableSlot *slot, AttrNumber target, Datum value, bool isnull)
{
	TupleDesc	tupdesc = slot->tts_tupleDescriptor;
	Datum	   *values = palloc(tupdesc->natts * sizeof(Datum));
	bool	   *nulls = palloc(tupdesc->natts * sizeof(bool));

	slot_getallattrs(slot);
	memcpy(values, slot->tts_values, tupdesc->natts * sizeof(Datum));
	memcpy(nulls, slot->tts_isnull, tupdesc->natts * sizeof(bool));
	values[target - 1] = value;
	nulls[target - 1] = isnull;
	return heap_form_tuple(tupdesc, values, nulls);
}

/*
 * sync_row()
 *		The trigger: fill in the column the writer did not give, from the
 *		one it did.
 */
Datum
sync_row(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleTableSlot *slot;
	SyncEntry  *entry;
	bool		from_given;
	bool		to_given;
	ExprState  *state;
	AttrNumber	target;
	Datum		value;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"sync_row\" was not called by trigger manager")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"sync_row\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));

	sync_require_not_nested(trigdata);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		tuple = trigdata->tg_newtuple;
		slot = trigdata->tg_newslot;
	}
	else
	{
		tuple = trigdata->tg_trigtuple;
		slot = trigdata->tg_trigslot;
	}

	entry = sync_entry_get(trigdata);
	if (!entry->active)
		return PointerGetDatum(tuple);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		from_given = sync_column_changed(trigdata->tg_trigslot, slot, entry->from_attnum);
		to_given = sync_column_changed(trigdata->tg_trigslot, slot, entry->to_attnum);
	}
	else
	{
		from_given = !slot_attisnull(slot, entry->from_attnum);
		to_given = !slot_attisnull(slot, entry->to_attnum);
	}

	if (from_given == to_given)
		return PointerGetDatum(tuple);
	if (from_given)
	{
		state = entry->forward_state;
		target = entry->to_attnum;
	}
	else
	{
		if (entry->backward_state == NULL)
			return PointerGetDatum(tuple);
		state = entry->backward_state;
		target = entry->from_attnum;
	}

	value = sync_evaluate(entry, state, slot, &isnull);
	return PointerGetDatum(sync_new_tuple(slot, target, value, isnull));
}
