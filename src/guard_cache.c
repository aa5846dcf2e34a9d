/*-------------------------------------------------------------------------
 *
 * guard_cache.c
 *		Backend-local cache answering "which active plans guard this
 *		relation or its columns, and in which phase".
 *
 * Entries are loaded per relation on first use, with one index scan of
 * phased_change.object on (rel, col) and a primary-key probe of
 * phased_change.plan per row found, so the cost of a lookup does not grow
 * with the number of plans; relations found unguarded are cached too.  The
 * rows are those visible to the latest snapshot, so that a plan committed
 * after the transaction's snapshot still guards; but the scans themselves
 * run with SnapshotAny and test each row against that snapshot afterwards
 * (guard_scan_next), because PostgreSQL takes predicate locks for every
 * scan with an MVCC snapshot of a table that is not a system catalog: a
 * SERIALIZABLE application would otherwise carry SIReadLocks on the
 * extension's tables for reading its own, and could be failed for a plan's
 * change.  Row triggers on the plan catalog (enabled ALWAYS, so that a
 * logical-replication apply worker fires them too; TRUNCATE by a statement
 * trigger) invalidate the relcache entry of phased_change.plan on every
 * change; the relcache callback registered here then drops the whole
 * cache, in every backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "guard.h"

PG_FUNCTION_INFO_V1(guard_catalog_changed);

/* The catalog relations the cache reads, looked up once per generation. */
typedef struct GuardCatalog
{
	Oid			plan_relid;
	Oid			plan_pkey;
	Oid			object_relid;
	Oid			object_rel_col_idx;
} GuardCatalog;

/* Hash entry: the guarded objects on one relation. */
typedef struct GuardRelation
{
	Oid			relid;			/* hash key */
	List	   *entries;		/* of GuardEntry; NIL when unguarded */
} GuardRelation;

static MemoryContext guard_cache_context = NULL;
static HTAB *guard_cache = NULL;
static bool guard_cache_valid = false;
static uint64 guard_cache_generation_count = 0;
static GuardCatalog guard_catalog;

/*
 * guard_cache_invalidate
 *		Relcache callback: a change to phased_change.plan (or a reset of all
 *		relcache entries) drops the whole cache.
 */
static void
guard_cache_invalidate(Datum arg, Oid relid)
{
	/* Without the catalog, any relcache change may be CREATE EXTENSION. */
	if (relid == InvalidOid || !OidIsValid(guard_catalog.plan_relid) ||
		relid == guard_catalog.plan_relid)
		guard_cache_valid = false;
}

/*
 * guard_cache_register
 *		Called once from _PG_init.
 */
void
guard_cache_register(void)
{
	CacheRegisterRelcacheCallback(guard_cache_invalidate, (Datum) 0);
}

/*
 * guard_catalog_lookup
 *		Find the catalog relations; false when the extension is not
 *		installed in this database.
 */
static bool
guard_catalog_lookup(GuardCatalog *catalog)
{
	Oid			nsp = get_namespace_oid(PHASED_CHANGE_EXTENSION, true);

	memset(catalog, 0, sizeof(GuardCatalog));
	if (!OidIsValid(nsp))
		return false;
	catalog->plan_relid = get_relname_relid("plan", nsp);
	catalog->plan_pkey = get_relname_relid("plan_pkey", nsp);
	catalog->object_relid = get_relname_relid("object", nsp);
	catalog->object_rel_col_idx = get_relname_relid("object_rel_col_idx", nsp);
	return OidIsValid(catalog->plan_relid) && OidIsValid(catalog->plan_pkey) &&
		OidIsValid(catalog->object_relid) && OidIsValid(catalog->object_rel_col_idx);
}

/*
 * relid_cache_create
 *		A backend-local hash keyed by relation OID, in a memory context of its
 *		own that is emptied each time the cache starts over.
 */
HTAB *
relid_cache_create(MemoryContext *context, const char *name, Size entrysize)
{
	HASHCTL		ctl;

	/* name is a string literal of the caller's, so it outlives the context */
	if (*context == NULL)
		*context = AllocSetContextCreateInternal(TopMemoryContext, name, ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(*context);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = entrysize;
	ctl.hcxt = *context;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * guard_cache_reset
 *		Start a new cache generation.
 */
static void
guard_cache_reset(void)
{
	guard_cache = relid_cache_create(&guard_cache_context, "phased_change guard cache",
									 sizeof(GuardRelation));
	guard_cache_valid = true;
	guard_cache_generation_count++;
	if (!guard_catalog_lookup(&guard_catalog))
		guard_catalog.plan_relid = InvalidOid;
}

/*
 * guard_attr
 *		A column of a catalog tuple, by name.
 */
static Datum
guard_attr(Relation rel, HeapTuple tuple, const char *attname, bool *isnull)
{
	return heap_getattr(tuple, get_attnum(RelationGetRelid(rel), attname),
						RelationGetDescr(rel), isnull);
}

/*
 * guard_scan_next
 *		The next row of a scan begun with SnapshotAny that "snapshot" sees,
 *		or NULL.  SnapshotAny returns every version of a row, and takes no
 *		predicate lock (SerializationNeededForRead is false for any snapshot
 *		that is not MVCC); the test against the MVCC snapshot takes none
 *		either, so the caller sees exactly what a scan with that snapshot
 *		would have, without leaving SIReadLocks in the transaction.
 */
static HeapTuple
guard_scan_next(SysScanDesc scan, Snapshot snapshot)
{
	HeapTuple	tuple;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		if (table_tuple_satisfies_snapshot(scan->heap_rel, scan->slot, snapshot))
			return tuple;
	}
	return NULL;
}

/*
 * guard_plan_fetch
 *		Fill in the plan of an entry; false when the plan is not active.
 */
static bool
guard_plan_fetch(Relation planrel, Snapshot snapshot, GuardEntry *entry)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		active = false;
	bool		isnull;

	/* systable_beginscan takes heap attribute numbers */
	ScanKeyInit(&key, get_attnum(guard_catalog.plan_relid, "plan_id"),
				BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(entry->plan_id));
	scan = systable_beginscan(planrel, guard_catalog.plan_pkey, true, SnapshotAny, 1, &key);
	tuple = guard_scan_next(scan, snapshot);
	if (HeapTupleIsValid(tuple))
	{
		char	   *status = TextDatumGetCString(guard_attr(planrel, tuple, "status", &isnull));

		active = strcmp(status, "active") == 0;
		entry->plan_name = TextDatumGetCString(guard_attr(planrel, tuple, "name", &isnull));
		entry->phase = (Phase) DatumGetInt16(guard_attr(planrel, tuple, "phase", &isnull));
	}
	systable_endscan(scan);
	return active;
}

/*
 * guard_cache_load
 *		Read the objects of active plans on one relation.
 */
static List *
guard_cache_load(Oid relid)
{
	Relation	objrel;
	Relation	planrel;
	Snapshot	snapshot;
	MemoryContext oldcontext;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *entries = NIL;

	/*
	 * The catalog may be going away under us: DROP EXTENSION, or a DROP
	 * SCHEMA ... CASCADE that takes the extension along, drops it before
	 * the other objects of the statement.  Then nothing is guarded.
	 */
	objrel = try_table_open(guard_catalog.object_relid, AccessShareLock);
	planrel = try_table_open(guard_catalog.plan_relid, AccessShareLock);
	if (objrel == NULL || planrel == NULL ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(guard_catalog.object_rel_col_idx)) ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(guard_catalog.plan_pkey)))
	{
		if (objrel)
			table_close(objrel, AccessShareLock);
		if (planrel)
			table_close(planrel, AccessShareLock);
		guard_catalog.plan_relid = InvalidOid;
		return NIL;
	}
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	oldcontext = MemoryContextSwitchTo(guard_cache_context);

	ScanKeyInit(&key, get_attnum(guard_catalog.object_relid, "rel"),
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(objrel, guard_catalog.object_rel_col_idx, true,
							  SnapshotAny, 1, &key);
	while ((tuple = guard_scan_next(scan, snapshot)) != NULL)
	{
		GuardEntry *entry = palloc0(sizeof(GuardEntry));
		bool		isnull;
		Datum		col = guard_attr(objrel, tuple, "col", &isnull);

		entry->column = isnull ? NULL : pstrdup(NameStr(*DatumGetName(col)));
		entry->object_id = DatumGetInt64(guard_attr(objrel, tuple, "object_id", &isnull));
		entry->retired = strcmp(TextDatumGetCString(guard_attr(objrel, tuple, "role", &isnull)),
								"retired") == 0;
		entry->plan_id = DatumGetInt64(guard_attr(objrel, tuple, "plan_id", &isnull));
		if (guard_plan_fetch(planrel, snapshot, entry))
			entries = lappend(entries, entry);
	}
	systable_endscan(scan);

	MemoryContextSwitchTo(oldcontext);
	UnregisterSnapshot(snapshot);
	table_close(planrel, AccessShareLock);
	table_close(objrel, AccessShareLock);
	return entries;
}

/*
 * guard_catalog_present
 *		Whether the extension is installed in this database.
 */
bool
guard_catalog_present(void)
{
	if (!guard_cache_valid || guard_cache == NULL)
		guard_cache_reset();
	return OidIsValid(guard_catalog.plan_relid);
}

/*
 * guard_catalog_unreadable
 *		The extension is installed in this database, but its catalog cannot
 *		be found where the guard reads it (a superuser renamed the schema, a
 *		table or an index).  The DDL guard then refuses what it would have
 *		to check (fail closed); queries are not affected.  Asked only on the
 *		DDL paths, so that databases without the extension pay nothing.
 */
bool
guard_catalog_unreadable(void)
{
	return !guard_catalog_present() &&
		OidIsValid(get_extension_oid(PHASED_CHANGE_EXTENSION, true));
}

/*
 * guard_catalog_require
 *		Raise an error when the catalog is unreadable though installed.
 */
void
guard_catalog_require(void)
{
	if (guard_catalog_unreadable())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the catalog of extension \"phased_change\" cannot be read"),
				 errdetail("The guard looks for tables \"plan\" and \"object\" and their indexes in schema \"phased_change\"; one of them has been renamed or moved, so the guard refuses statements that could destroy a guarded object."),
				 errhint("Give the schema, tables and indexes of extension \"phased_change\" their names back.")));
}

/*
 * guard_cache_generation
 *		Changes whenever the cache is dropped, so that caches derived from it
 *		(usage.c) know to drop theirs.
 */
uint64
guard_cache_generation(void)
{
	if (!guard_cache_valid || guard_cache == NULL)
		guard_cache_reset();
	return guard_cache_generation_count;
}

/*
 * guard_entries_copy
 *		Copy entries into the caller's memory: the cache may be dropped at
 *		any catalog access, and callers go on to run queries.
 */
static List *
guard_entries_copy(List *entries)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, entries)
	{
		GuardEntry *entry = lfirst(lc);
		GuardEntry *dup = palloc(sizeof(GuardEntry));

		*dup = *entry;
		dup->column = entry->column ? pstrdup(entry->column) : NULL;
		dup->plan_name = pstrdup(entry->plan_name);
		copy = lappend(copy, dup);
	}
	return copy;
}

/*
 * guard_cache_lookup
 *		The objects of active plans on a relation (NIL when none), as a copy
 *		in the caller's memory: one hash probe once the relation has been
 *		seen, and no allocation for an unguarded one.
 */
List *
guard_cache_lookup(Oid relid)
{
	GuardRelation *relation;
	List	   *entries;
	bool		found;

	if (!guard_cache_valid || guard_cache == NULL)
		guard_cache_reset();
	if (!OidIsValid(guard_catalog.plan_relid))
		return NIL;				/* extension not installed here */

	relation = hash_search(guard_cache, &relid, HASH_FIND, NULL);
	if (relation != NULL)
		return guard_entries_copy(relation->entries);

	/*
	 * Loading may process invalidations; then the entries are answered but
	 * not stored, and the (reset) cache is left alone.
	 */
	entries = guard_cache_load(relid);
	if (guard_cache_valid)
	{
		relation = hash_search(guard_cache, &relid, HASH_ENTER, &found);
		relation->entries = entries;
	}
	return guard_entries_copy(entries);
}

/*
 * guard_catalog_changed()
 *		Trigger on the plan catalog (per row, and per statement for
 *		TRUNCATE): invalidate every backend's guard cache when the
 *		transaction commits.  Repeated invalidations of one relation in a
 *		transaction are merged, so a row trigger costs little.
 */
Datum
guard_catalog_changed(PG_FUNCTION_ARGS)
{
	Oid			nsp;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "guard_catalog_changed: not called by trigger manager");
	nsp = get_namespace_oid(PHASED_CHANGE_EXTENSION, false);
	CacheInvalidateRelcacheByRelid(get_relname_relid("plan", nsp));
	PG_RETURN_POINTER(NULL);
}
