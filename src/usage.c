/*-------------------------------------------------------------------------
 *
 * usage.c
 *		Column usage tracking: the evidence that a retired column is no
 *		longer read or written.
 *
 * When preloaded, an ExecutorCheckPerms_hook sees every execution (cached
 * plans and COPY included) and counts, per guarded object, the reads
 * (selected columns, whole-row references expanded) and writes (inserted
 * and updated columns) in a shared hash table, with first and last seen and
 * the last role and application_name, and, per object, every distinct role
 * and application_name that used it during the plan's current phase (at
 * most USAGE_USERS_MAX of them, then an "others" count; reset when the
 * plan changes phase).  A query on a table with no guarded
 * object pays one probe of a backend-local hash; a table that inherits a
 * guarded column from a parent maps its column to the parent's by name.
 * Parallel workers, EXPLAIN without ANALYZE, the extension's own checks and
 * the applications in phased_change.untracked_applications (pg_dump by
 * default: a backup reads every column) are not counted.
 *
 * The table is sized by phased_change.max_tracked_columns, created with a
 * fixed size and never filled past it; when it is full, further objects go
 * uncounted, which usage_tracking() reports and the log says once.  The
 * counts of a plan's objects are dropped when its end commits (see
 * usage_forget).  As pg_stat_statements does, the counts are saved at a
 * clean shutdown and loaded at start; tracking_since says since when the
 * evidence is continuous, and a crash, an immediate shutdown or a run
 * without the library (detected through the last checkpoint's time)
 * restarts it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_control.h"
#include "catalog/pg_inherits.h"
#include "common/controldata_utils.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "guard.h"
#include "usage.h"

PG_FUNCTION_INFO_V1(usage_tracking);
PG_FUNCTION_INFO_V1(usage_counts);
PG_FUNCTION_INFO_V1(usage_of);
PG_FUNCTION_INFO_V1(usage_users);

#define USAGE_FILE PGSTAT_STAT_PERMANENT_DIRECTORY "/phased_change.stat"
#define USAGE_FILE_MAGIC 0x50435533	/* "PCU3": with the users of each object */
#define USAGE_FILE_MAGIC_V2 0x50435532	/* "PCU2": 1.3, without them */

/* How many distinct (role, application) pairs each object keeps. */
#define USAGE_USERS_MAX 16

/* A guarded object, per database. */
typedef struct UsageKey
{
	Oid			dbid;
	int64		object_id;
} UsageKey;

/* One role and application_name that used an object in the current phase. */
typedef struct UsageUser
{
	Oid			role;			/* named when read; InvalidOid for "others" */
	char		application[NAMEDATALEN];
	int64		uses;			/* statements */
	int64		reads;
	int64		writes;
	TimestampTz first_seen;
	TimestampTz last_seen;
} UsageUser;

/* Its counts, in shared memory. */
typedef struct UsageEntry
{
	UsageKey	key;
	slock_t		mutex;
	int64		reads;
	int64		writes;
	TimestampTz first_seen;
	TimestampTz last_seen;
	Oid			last_role;		/* named when read, not on every use */
	char		last_application[NAMEDATALEN];
	int			nusers;			/* used entries of users[] */
	UsageUser	users[USAGE_USERS_MAX];
	UsageUser	others;			/* the pairs beyond the bound, summed */
} UsageEntry;

/* An entry as 1.3 saved it (file format PCU2), loaded without users. */
typedef struct UsageEntryV2
{
	UsageKey	key;
	slock_t		mutex;
	int64		reads;
	int64		writes;
	TimestampTz first_seen;
	TimestampTz last_seen;
	Oid			last_role;
	char		last_application[NAMEDATALEN];
} UsageEntryV2;

/* Global state, in shared memory. */
typedef struct UsageShared
{
	LWLock	   *lock;
	TimestampTz tracking_since;
	pg_atomic_uint64 uncounted;	/* uses lost because the table was full */
	bool		full_reported;
} UsageShared;

/* Header of the file saved at shutdown. */
typedef struct UsageFileHeader
{
	uint32		magic;
	int32		count;
	TimestampTz tracking_since;
	TimestampTz saved_at;
} UsageFileHeader;

/* A column (attnum > 0) or the whole relation (attnum 0) that is tracked. */
typedef struct TrackedColumn
{
	AttrNumber	attnum;
	int64		object_id;
} TrackedColumn;

/* Backend-local: what is tracked on one relation. */
typedef struct TrackedRelation
{
	Oid			relid;			/* hash key */
	int			ncolumns;		/* 0: nothing tracked */
	TrackedColumn *columns;
} TrackedRelation;

static int	usage_max_tracked = 4096;
static bool usage_require_evidence = true;
static char *usage_untracked_applications = NULL;
static bool usage_explain_only = false;	/* EXPLAIN without ANALYZE runs nothing */

static UsageShared *usage_shared = NULL;
static HTAB *usage_hash = NULL;

static HTAB *tracked_cache = NULL;
static MemoryContext tracked_context = NULL;
static uint64 tracked_generation = 0;
static bool usage_suspended = false;

/*
 * An object whose counts are dropped if the transaction commits, or, with
 * users_only, whose users are reset (its plan changed phase).
 */
typedef struct UsageForget
{
	int64		object_id;
	int			nest_level;		/* of the subtransaction that asked */
	bool		users_only;
} UsageForget;

static List *usage_forget_pending = NIL;	/* of UsageForget */

static void usage_forget_at_commit(XactEvent event, void *arg);
static void usage_forget_at_subcommit(SubXactEvent event, SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart_hook = NULL;

/*
 * usage_define_settings
 *		Called from _PG_init.  The size of the table can only be set at
 *		server start, so it exists only when the library is preloaded.
 */
void
usage_define_settings(void)
{
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("phased_change.max_tracked_columns",
								"How many guarded objects usage tracking can count, across databases.",
								NULL, &usage_max_tracked, 4096, 64, 1024 * 1024,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("phased_change.require_usage_evidence",
							 "Whether a gap in usage tracking blocks leaving phase contract.",
							 "When off, a gap is only reported in phased_change.progress.warnings.",
							 &usage_require_evidence, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("phased_change.untracked_applications",
							   "Comma-separated application_name values whose reads and writes are not counted as use.",
							   "Backups read every column; their reads prove nothing about the application.",
							   &usage_untracked_applications, "pg_dump", PGC_SUSET, 0,
							   NULL, NULL, NULL);
}

static Size
usage_memsize(void)
{
	return add_size(MAXALIGN(sizeof(UsageShared)),
					hash_estimate_size(usage_max_tracked, sizeof(UsageEntry)));
}

static void
usage_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(usage_memsize());
	RequestNamedLWLockTranche("phased_change", 1);
}

/*
 * usage_save
 *		on_shmem_exit in the postmaster: write the counts at a clean
 *		shutdown (never after a crash).
 */
static void
usage_save(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS status;
	UsageEntry *entry;
	UsageFileHeader header;

	if (code != 0 || usage_shared == NULL || usage_hash == NULL)
		return;
	file = AllocateFile(USAGE_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	header.magic = USAGE_FILE_MAGIC;
	header.count = hash_get_num_entries(usage_hash);
	header.tracking_since = usage_shared->tracking_since;
	header.saved_at = GetCurrentTimestamp();
	if (fwrite(&header, sizeof(header), 1, file) != 1)
		goto error;
	hash_seq_init(&status, usage_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (fwrite(entry, sizeof(UsageEntry), 1, file) != 1)
		{
			hash_seq_term(&status);
			goto error;
		}
	}
	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(USAGE_FILE ".tmp", USAGE_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", USAGE_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(USAGE_FILE ".tmp");
}

/*
 * usage_file_is_current
 *		The saved counts are continuous evidence only if the server shut
 *		down cleanly (an immediate shutdown also exits the postmaster
 *		normally, but leaves pg_control "in production") and no server run
 *		without the library came between: the last checkpoint, the shutdown
 *		checkpoint of the run that saved them, must not be newer.
 */
static bool
usage_file_is_current(const UsageFileHeader *header)
{
	bool		crc_ok;
	ControlFileData *control = get_controlfile(DataDir, &crc_ok);
	TimestampTz checkpoint = time_t_to_timestamptz(control->checkPointCopy.time);

	return crc_ok &&
		(control->state == DB_SHUTDOWNED || control->state == DB_SHUTDOWNED_IN_RECOVERY) &&
		header->saved_at >= checkpoint;
}

/*
 * usage_read_entry
 *		Read one saved entry, in the current format or in that of 1.3
 *		(which kept no users: the entry starts with none).
 */
static bool
usage_read_entry(FILE *file, uint32 magic, UsageEntry *entry)
{
	UsageEntryV2 old;

	if (magic == USAGE_FILE_MAGIC)
		return fread(entry, sizeof(UsageEntry), 1, file) == 1 &&
			entry->nusers >= 0 && entry->nusers <= USAGE_USERS_MAX;
	if (fread(&old, sizeof(old), 1, file) != 1)
		return false;
	memset(entry, 0, sizeof(UsageEntry));
	entry->key = old.key;
	entry->reads = old.reads;
	entry->writes = old.writes;
	entry->first_seen = old.first_seen;
	entry->last_seen = old.last_seen;
	entry->last_role = old.last_role;
	memcpy(entry->last_application, old.last_application, NAMEDATALEN);
	entry->last_application[NAMEDATALEN - 1] = '\0';
	return true;
}

/*
 * usage_load
 *		At start: load the counts saved at the last clean shutdown, then
 *		remove the file, so that a crash can never bring them back.
 */
static void
usage_load(void)
{
	FILE	   *file = AllocateFile(USAGE_FILE, PG_BINARY_R);
	UsageFileHeader header;

	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", USAGE_FILE)));
		return;
	}
	if (fread(&header, sizeof(header), 1, file) != 1 ||
		(header.magic != USAGE_FILE_MAGIC && header.magic != USAGE_FILE_MAGIC_V2))
		ereport(LOG,
				(errmsg("ignoring file \"%s\" with an unexpected format", USAGE_FILE)));
	else if (!usage_file_is_current(&header))
		ereport(LOG,
				(errmsg("ignoring phased_change usage statistics not saved by the last clean shutdown")));
	else
	{
		UsageEntry	saved;

		for (int i = 0; i < header.count && usage_read_entry(file, header.magic, &saved); i++)
		{
			UsageEntry *entry;

			/* saved with a larger max_tracked_columns: keep what fits */
			if (hash_get_num_entries(usage_hash) >= usage_max_tracked)
				break;
			entry = hash_search(usage_hash, &saved.key, HASH_ENTER_NULL, NULL);
			if (entry == NULL)
				break;
			memcpy(entry, &saved, sizeof(UsageEntry));
			SpinLockInit(&entry->mutex);
		}
		usage_shared->tracking_since = header.tracking_since;
	}
	FreeFile(file);
	unlink(USAGE_FILE);
}

static void
usage_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	usage_shared = ShmemInitStruct("phased_change usage", sizeof(UsageShared), &found);
	if (!found)
	{
		usage_shared->lock = &(GetNamedLWLockTranche("phased_change"))->lock;
		usage_shared->tracking_since = GetCurrentTimestamp();
		pg_atomic_init_u64(&usage_shared->uncounted, 0);
		usage_shared->full_reported = false;
	}
	ctl.keysize = sizeof(UsageKey);
	ctl.entrysize = sizeof(UsageEntry);
	usage_hash = ShmemInitHash("phased_change usage hash", usage_max_tracked,
							   usage_max_tracked, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);

	if (!IsUnderPostmaster)
		on_shmem_exit(usage_save, (Datum) 0);
	if (!found)
		usage_load();
}

/*
 * inheritance_parents
 *		The direct parents of a relation (partitioned or inheritance).
 */
static List *
inheritance_parents(Oid relid)
{
	Relation	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *parents = NIL;

	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return parents;
}

/*
 * tracked_collect
 *		Add the guarded objects of "source" (the relation or an ancestor) to
 *		the tracked columns of relid, mapping columns by name.
 */
static List *
tracked_collect(List *columns, Oid relid, Oid source, int depth)
{
	ListCell   *lc;

	foreach(lc, guard_cache_lookup(source))
	{
		GuardEntry *entry = lfirst(lc);
		TrackedColumn *column;
		AttrNumber	attnum = entry->column ? get_attnum(relid, entry->column) : 0;

		if (entry->column && attnum <= 0)
			continue;
		if (!entry->column && relid != source)
			continue;			/* a guarded parent table is not its children */
		column = palloc(sizeof(TrackedColumn));
		column->attnum = attnum;
		column->object_id = entry->object_id;
		columns = lappend(columns, column);
	}
	if (depth < 32)
	{
		foreach(lc, inheritance_parents(source))
			columns = tracked_collect(columns, relid, lfirst_oid(lc), depth + 1);
	}
	return columns;
}

/*
 * tracked_lookup
 *		What is tracked on a relation: one probe of a backend-local hash
 *		once the relation has been seen in this cache generation.
 */
static TrackedRelation *
tracked_lookup(Oid relid)
{
	TrackedRelation *tracked;
	bool		found;
	List	   *columns;
	MemoryContext oldcontext;
	MemoryContext scratch;
	int			i = 0;
	ListCell   *lc;

	if (tracked_cache == NULL || tracked_generation != guard_cache_generation())
	{
		tracked_cache = relid_cache_create(&tracked_context, "phased_change usage cache",
										   sizeof(TrackedRelation));
		tracked_generation = guard_cache_generation();
	}

	tracked = hash_search(tracked_cache, &relid, HASH_FIND, NULL);
	if (tracked != NULL)
		return tracked;

	/* Collect in scratch memory; only the final array is kept. */
	scratch = AllocSetContextCreate(CurrentMemoryContext, "phased_change usage scratch",
									ALLOCSET_SMALL_SIZES);
	oldcontext = MemoryContextSwitchTo(scratch);
	columns = tracked_collect(NIL, relid, relid, 0);
	MemoryContextSwitchTo(tracked_context);
	if (tracked_generation != guard_cache_generation())
	{
		/* invalidated while loading: answer this once, without caching */
		tracked = palloc0(sizeof(TrackedRelation));
		tracked->relid = relid;
	}
	else
		tracked = hash_search(tracked_cache, &relid, HASH_ENTER, &found);
	tracked->ncolumns = list_length(columns);
	tracked->columns = palloc(sizeof(TrackedColumn) * Max(tracked->ncolumns, 1));
	foreach(lc, columns)
		tracked->columns[i++] = *(TrackedColumn *) lfirst(lc);
	MemoryContextSwitchTo(oldcontext);
	MemoryContextDelete(scratch);
	return tracked;
}

/*
 * usage_user_count
 *		Count one use for the current role and application_name of the
 *		entry (called with its spinlock held): a few comparisons, no
 *		allocation.  Pairs beyond USAGE_USERS_MAX are summed as "others".
 */
static void
usage_user_count(UsageEntry *entry, bool read, bool write, TimestampTz now)
{
	Oid			role = GetUserId();
	const char *application = application_name ? application_name : "";
	UsageUser  *user = NULL;

	for (int i = 0; i < entry->nusers; i++)
	{
		if (entry->users[i].role == role &&
			strncmp(entry->users[i].application, application, NAMEDATALEN - 1) == 0)
		{
			user = &entry->users[i];
			break;
		}
	}
	if (user == NULL && entry->nusers < USAGE_USERS_MAX)
	{
		user = &entry->users[entry->nusers++];
		memset(user, 0, sizeof(UsageUser));
		user->role = role;
		strlcpy(user->application, application, NAMEDATALEN);
	}
	if (user == NULL)
		user = &entry->others;
	if (user->uses == 0)
		user->first_seen = now;
	user->uses++;
	user->reads += read ? 1 : 0;
	user->writes += write ? 1 : 0;
	user->last_seen = now;
}

/*
 * usage_count
 *		Count one use of a guarded object.
 */
static void
usage_count(int64 object_id, bool read, bool write)
{
	UsageKey	key;
	UsageEntry *entry;
	TimestampTz now = GetCurrentStatementStartTimestamp();

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.object_id = object_id;

	LWLockAcquire(usage_shared->lock, LW_SHARED);
	entry = hash_search(usage_hash, &key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		bool		found;

		LWLockRelease(usage_shared->lock);
		LWLockAcquire(usage_shared->lock, LW_EXCLUSIVE);
		entry = hash_search(usage_hash, &key, HASH_FIND, &found);
		if (entry == NULL && hash_get_num_entries(usage_hash) < usage_max_tracked)
			entry = hash_search(usage_hash, &key, HASH_ENTER_NULL, &found);
		if (entry == NULL)
		{
			bool		report = !usage_shared->full_reported;

			pg_atomic_fetch_add_u64(&usage_shared->uncounted, 1);
			usage_shared->full_reported = true;
			LWLockRelease(usage_shared->lock);
			if (report)
				ereport(LOG,
						(errmsg("phased_change usage tracking is full; uses of further guarded columns are not counted"),
						 errhint("Raise phased_change.max_tracked_columns and restart the server.")));
			return;
		}
		if (!found)
		{
			SpinLockInit(&entry->mutex);
			entry->reads = entry->writes = 0;
			entry->first_seen = now;
			entry->nusers = 0;
			memset(&entry->others, 0, sizeof(UsageUser));
		}
	}
	SpinLockAcquire(&entry->mutex);
	entry->reads += read ? 1 : 0;
	entry->writes += write ? 1 : 0;
	entry->last_seen = now;
	entry->last_role = GetUserId();
	strlcpy(entry->last_application, application_name ? application_name : "", NAMEDATALEN);
	usage_user_count(entry, read, write, now);
	SpinLockRelease(&entry->mutex);
	LWLockRelease(usage_shared->lock);
}

/*
 * usage_count_relation
 *		Count the uses of the tracked objects of one relation a statement
 *		touches, from its permission facts (pc_perminfo: compat.h).
 */
static void
usage_count_relation(const pc_perminfo *rte, TrackedRelation *tracked)
{
	int			whole_row = InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber;

	for (int i = 0; i < tracked->ncolumns; i++)
	{
		TrackedColumn *column = &tracked->columns[i];
		int			bit = column->attnum - FirstLowInvalidHeapAttributeNumber;
		bool		read;
		bool		write;

		if (column->attnum == 0)
		{
			read = (rte->requiredPerms & ACL_SELECT) != 0;
			write = (rte->requiredPerms & (ACL_INSERT | ACL_UPDATE | ACL_DELETE)) != 0;
		}
		else
		{
			read = bms_is_member(bit, rte->selectedCols) ||
				bms_is_member(whole_row, rte->selectedCols);
			write = bms_is_member(bit, rte->insertedCols) ||
				bms_is_member(bit, rte->updatedCols);
		}
		if (read || write)
			usage_count(column->object_id, read, write);
	}
}

/*
 * usage_application_untracked
 *		Whether this session's application_name is one whose uses do not
 *		count (phased_change.untracked_applications).
 */
static bool
usage_application_untracked(void)
{
	static char *cached_setting = NULL;
	static char *cached_application = NULL;
	static bool cached_answer = false;
	char	   *names;
	List	   *list;
	ListCell   *lc;

	if (usage_untracked_applications == NULL || usage_untracked_applications[0] == '\0' ||
		application_name == NULL || application_name[0] == '\0')
		return false;

	/* Both strings change rarely: answer from the last time when they have not. */
	if (cached_setting && strcmp(cached_setting, usage_untracked_applications) == 0 &&
		strcmp(cached_application, application_name) == 0)
		return cached_answer;

	cached_answer = false;
	names = pstrdup(usage_untracked_applications);
	if (SplitGUCList(names, ',', &list))
	{
		foreach(lc, list)
			cached_answer = cached_answer || strcmp((char *) lfirst(lc), application_name) == 0;
		list_free(list);
	}
	pfree(names);
	if (cached_setting)
		pfree(cached_setting);
	if (cached_application)
		pfree(cached_application);
	cached_setting = MemoryContextStrdup(TopMemoryContext, usage_untracked_applications);
	cached_application = MemoryContextStrdup(TopMemoryContext, application_name);
	return cached_answer;
}

/*
 * usage_executor_start
 *		ExecutorStart_hook: note EXPLAIN without ANALYZE, which checks
 *		permissions but reads nothing.
 */
static void
usage_executor_start(QueryDesc *queryDesc, int eflags)
{
	bool		save_explain_only = usage_explain_only;

	usage_explain_only = (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0;
	PG_TRY();
	{
		if (prev_ExecutorStart_hook)
			prev_ExecutorStart_hook(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_FINALLY();
	{
		usage_explain_only = save_explain_only;
	}
	PG_END_TRY();
}

/*
 * usage_check_perms
 *		ExecutorCheckPerms_hook: count, then defer to the previous hook.
 */
static bool
usage_check_perms(PC_CHECK_PERMS_PARAMS)
{
	ListCell   *lc;

	if (prev_ExecutorCheckPerms_hook &&
		!prev_ExecutorCheckPerms_hook(PC_CHECK_PERMS_ARGS))
		return false;
	if (usage_suspended || usage_explain_only || IsParallelWorker() || usage_hash == NULL ||
		!IsTransactionState() || !guard_catalog_present())
		return true;

	foreach(lc, PC_CHECK_PERMS_LIST)
	{
		pc_perminfo *perminfo = (pc_perminfo *) lfirst(lc);
		TrackedRelation *tracked;

		if (!pc_perminfo_is_relation(perminfo) || perminfo->requiredPerms == 0)
			continue;
		tracked = tracked_lookup(perminfo->relid);
		if (tracked != NULL && tracked->ncolumns > 0 && !usage_application_untracked())
			usage_count_relation(perminfo, tracked);
	}
	return true;
}

/*
 * usage_install_hooks
 *		Called from _PG_init when preloading.
 */
void
usage_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = usage_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = usage_shmem_startup;
	prev_ExecutorCheckPerms_hook = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = usage_check_perms;
	prev_ExecutorStart_hook = ExecutorStart_hook;
	ExecutorStart_hook = usage_executor_start;
	RegisterXactCallback(usage_forget_at_commit, NULL);
	RegisterSubXactCallback(usage_forget_at_subcommit, NULL);
}

/*
 * usage_suspend
 *		Stop (or resume) counting in this backend, for the extension's own
 *		check queries; returns the previous state.
 */
bool
usage_suspend(bool suspend)
{
	bool		previous = usage_suspended;

	usage_suspended = suspend;
	return previous;
}

/*
 * usage_tracking()
 *		One row: whether tracking runs, since when the evidence is
 *		continuous, how full the table is, how many uses went uncounted, and
 *		whether a gap blocks leaving contract.
 */
Datum
usage_tracking(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values[0] = BoolGetDatum(usage_shared != NULL);
	values[5] = BoolGetDatum(usage_require_evidence);
	if (usage_shared == NULL)
	{
		nulls[1] = nulls[2] = nulls[3] = nulls[4] = true;
	}
	else
	{
		LWLockAcquire(usage_shared->lock, LW_SHARED);
		values[1] = TimestampTzGetDatum(usage_shared->tracking_since);
		values[2] = Int64GetDatum(hash_get_num_entries(usage_hash));
		LWLockRelease(usage_shared->lock);
		values[3] = Int32GetDatum(usage_max_tracked);
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&usage_shared->uncounted));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * usage_values
 *		One entry as the columns of usage_counts() and usage_of(): object_id,
 *		reads, writes, first_seen, last_seen, last_role, last_application_name.
 */
static void
usage_values(const UsageEntry *entry, Datum *values, bool *nulls)
{
	char	   *role = GetUserNameFromId(entry->last_role, true);

	values[0] = Int64GetDatum(entry->key.object_id);
	values[1] = Int64GetDatum(entry->reads);
	values[2] = Int64GetDatum(entry->writes);
	values[3] = TimestampTzGetDatum(entry->first_seen);
	values[4] = TimestampTzGetDatum(entry->last_seen);
	values[5] = role ? DirectFunctionCall1(namein, CStringGetDatum(role)) : (Datum) 0;
	nulls[5] = role == NULL;
	values[6] = CStringGetTextDatum(entry->last_application);
}

/*
 * usage_copy
 *		A consistent copy of one entry (called with the table lock held).
 */
static void
usage_copy(UsageEntry *entry, UsageEntry *copy)
{
	SpinLockAcquire(&entry->mutex);
	memcpy(copy, entry, sizeof(UsageEntry));
	SpinLockRelease(&entry->mutex);
}

/*
 * usage_counts()
 *		The counts of this database's guarded objects.  The entries are
 *		copied under the lock, and named after it is released.
 */
Datum
usage_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	UsageEntry *entry;
	UsageEntry *copies;
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (usage_shared == NULL)
		return (Datum) 0;

	LWLockAcquire(usage_shared->lock, LW_SHARED);
	copies = palloc(sizeof(UsageEntry) * Max(hash_get_num_entries(usage_hash), 1));
	hash_seq_init(&status, usage_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dbid == MyDatabaseId)
			usage_copy(entry, &copies[n++]);
	}
	LWLockRelease(usage_shared->lock);

	for (int i = 0; i < n; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {false};

		usage_values(&copies[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * usage_of(object_id bigint)
 *		The counts of one guarded object of this database: one probe of the
 *		shared table, for views that look up a plan's objects one by one.
 *		NULL when it has not been used (or tracking is off).
 */
Datum
usage_of(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	UsageKey	key;
	UsageEntry *entry;
	UsageEntry	copy;
	Datum		values[7];
	bool		nulls[7] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (usage_shared == NULL)
		PG_RETURN_NULL();

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.object_id = PG_GETARG_INT64(0);
	LWLockAcquire(usage_shared->lock, LW_SHARED);
	entry = hash_search(usage_hash, &key, HASH_FIND, NULL);
	if (entry != NULL)
		usage_copy(entry, &copy);
	LWLockRelease(usage_shared->lock);
	if (entry == NULL)
		PG_RETURN_NULL();

	usage_values(&copy, values, nulls);
	/* the object_id is the argument: the row starts at reads */
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values + 1, nulls + 1)));
}

/*
 * usage_counted_objects
 *		The object_ids of this database that have counts, for the caller to
 *		find those whose plan has ended (plan.c): a plan ended by a prepared
 *		transaction is forgotten only by the next plan end that sees it.
 *		Empty when not preloaded.
 */
List *
usage_counted_objects(void)
{
	HASH_SEQ_STATUS status;
	UsageEntry *entry;
	List	   *objects = NIL;

	if (usage_shared == NULL)
		return NIL;
	LWLockAcquire(usage_shared->lock, LW_SHARED);
	hash_seq_init(&status, usage_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dbid == MyDatabaseId)
		{
			int64	   *object_id = palloc(sizeof(int64));

			*object_id = entry->key.object_id;
			objects = lappend(objects, object_id);
		}
	}
	LWLockRelease(usage_shared->lock);
	return objects;
}

/*
 * usage_forget
 *		Drop the counts of an object whose plan has ended, so that finished
 *		plans do not fill the table; only once the transaction that ended the
 *		plan commits, so that a rolled-back end loses no evidence.  Each
 *		request is kept with its subtransaction: rolling that back (ROLLBACK
 *		TO SAVEPOINT, an exception block) withdraws it, committing it hands it
 *		to the parent.  PREPARE TRANSACTION withdraws every request, since
 *		the outcome is decided later and possibly by another session; the
 *		next plan end of the database that sees the plan ended drops them
 *		(plan.c asks for every counted object whose plan has ended).
 */
static void
usage_forget_request(int64 object_id, bool users_only)
{
	MemoryContext oldcontext;
	UsageForget *forget;

	if (usage_shared == NULL)
		return;
	oldcontext = MemoryContextSwitchTo(TopMemoryContext);
	forget = palloc(sizeof(UsageForget));
	forget->object_id = object_id;
	forget->nest_level = GetCurrentTransactionNestLevel();
	forget->users_only = users_only;
	usage_forget_pending = lappend(usage_forget_pending, forget);
	MemoryContextSwitchTo(oldcontext);
}

void
usage_forget(int64 object_id)
{
	usage_forget_request(object_id, false);
}

/*
 * usage_users_reset
 *		The plan of the object changes phase: forget who used it, once the
 *		transaction commits (like usage_forget), so that the users shown are
 *		those of the current phase.  The counts and last use are kept.
 */
void
usage_users_reset(int64 object_id)
{
	usage_forget_request(object_id, true);
}

/*
 * usage_forget_at_subcommit
 *		SubXactCallback: an aborted subtransaction withdraws its requests
 *		(and those of its committed children, already handed to it); a
 *		committed one hands them to its parent.
 */
static void
usage_forget_at_subcommit(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (usage_forget_pending == NIL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, usage_forget_pending)
		{
			UsageForget *forget = lfirst(lc);

			if (forget->nest_level >= level)
			{
				usage_forget_pending = foreach_delete_current(usage_forget_pending, lc);
				pfree(forget);
			}
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, usage_forget_pending)
		{
			UsageForget *forget = lfirst(lc);

			if (forget->nest_level >= level)
				forget->nest_level = level - 1;
		}
	}
}

/*
 * usage_forget_at_commit
 *		XactCallback: drop the counts when the transaction commits; withdraw
 *		the requests when it aborts or is prepared.
 */
static void
usage_forget_at_commit(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (usage_forget_pending == NIL)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		LWLockAcquire(usage_shared->lock, LW_EXCLUSIVE);
		foreach(lc, usage_forget_pending)
		{
			UsageForget *forget = lfirst(lc);
			UsageKey	key;
			UsageEntry *entry;

			memset(&key, 0, sizeof(key));
			key.dbid = MyDatabaseId;
			key.object_id = forget->object_id;
			if (!forget->users_only)
			{
				hash_search(usage_hash, &key, HASH_REMOVE, NULL);
				continue;
			}
			entry = hash_search(usage_hash, &key, HASH_FIND, NULL);
			if (entry == NULL)
				continue;
			SpinLockAcquire(&entry->mutex);
			entry->nusers = 0;
			memset(&entry->others, 0, sizeof(UsageUser));
			SpinLockRelease(&entry->mutex);
		}
		LWLockRelease(usage_shared->lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		list_free_deep(usage_forget_pending);
		usage_forget_pending = NIL;
	}
}

/*
 * usage_users_put
 *		One row of usage_users() for one user of an entry.
 */
static void
usage_users_put(ReturnSetInfo *rsinfo, int64 object_id, const UsageUser *user, bool others)
{
	Datum		values[9];
	bool		nulls[9] = {false};
	char	   *role = others ? NULL : GetUserNameFromId(user->role, true);

	values[0] = Int64GetDatum(object_id);
	values[1] = role ? DirectFunctionCall1(namein, CStringGetDatum(role)) : (Datum) 0;
	nulls[1] = role == NULL;
	values[2] = others ? (Datum) 0 : CStringGetTextDatum(user->application);
	nulls[2] = others;
	values[3] = Int64GetDatum(user->uses);
	values[4] = Int64GetDatum(user->reads);
	values[5] = Int64GetDatum(user->writes);
	values[6] = TimestampTzGetDatum(user->first_seen);
	values[7] = TimestampTzGetDatum(user->last_seen);
	values[8] = BoolGetDatum(others);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * usage_users(object_id bigint DEFAULT NULL)
 *		Every role and application_name that used this database's guarded
 *		objects (or one of them) during their plan's current phase: object_id,
 *		role, application, uses, reads, writes, first_seen, last_seen, and
 *		others (true on the one row that sums the pairs beyond the bound,
 *		with role and application NULL).  Entries are copied under the lock
 *		and named after it is released.
 */
Datum
usage_users(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	UsageEntry *entry;
	List	   *copies = NIL;
	ListCell   *lc;
	bool		one = !PG_ARGISNULL(0);
	int64		object_id = one ? PG_GETARG_INT64(0) : 0;

	InitMaterializedSRF(fcinfo, 0);
	if (usage_shared == NULL)
		return (Datum) 0;

	LWLockAcquire(usage_shared->lock, LW_SHARED);
	if (one)
	{
		UsageKey	key;

		memset(&key, 0, sizeof(key));
		key.dbid = MyDatabaseId;
		key.object_id = object_id;
		entry = hash_search(usage_hash, &key, HASH_FIND, NULL);
		if (entry != NULL)
		{
			UsageEntry *copy = palloc(sizeof(UsageEntry));

			usage_copy(entry, copy);
			copies = lappend(copies, copy);
		}
	}
	else
	{
		hash_seq_init(&status, usage_hash);
		while ((entry = hash_seq_search(&status)) != NULL)
		{
			if (entry->key.dbid == MyDatabaseId && entry->nusers > 0)
			{
				UsageEntry *copy = palloc(sizeof(UsageEntry));

				usage_copy(entry, copy);
				copies = lappend(copies, copy);
			}
		}
	}
	LWLockRelease(usage_shared->lock);

	foreach(lc, copies)
	{
		UsageEntry *copy = lfirst(lc);

		for (int i = 0; i < copy->nusers; i++)
			usage_users_put(rsinfo, copy->key.object_id, &copy->users[i], false);
		if (copy->others.uses > 0)
			usage_users_put(rsinfo, copy->key.object_id, &copy->others, true);
	}
	return (Datum) 0;
}
