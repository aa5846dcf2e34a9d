/*-------------------------------------------------------------------------
 *
 * backfill.h
 *		Backfills: batched, throttled, resumable UPDATEs registered with a
 *		plan and run by one background worker per database (backfill.c,
 *		backfill_worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_BACKFILL_H
#define PHASED_CHANGE_BACKFILL_H

#include "postgres.h"

#include "access/attnum.h"
#include "utils/rel.h"

#include "phased_change.h"

/* The statuses a worker still has work in. */
#define BACKFILL_RUNNABLE "ARRAY['waiting', 'running', 'throttled']"

/* The key a backfill walks: the primary key, or a unique not-null key. */
typedef struct BackfillKey
{
	int			ncolumns;
	AttrNumber	attnums[INDEX_MAX_KEYS];
	char	   *names[INDEX_MAX_KEYS];	/* quoted */
	Oid			types[INDEX_MAX_KEYS];
} BackfillKey;

/* The longest pause between batches, and wait of backfill_wait(). */
#define BACKFILL_MAX_INTERVAL "1 day"

/* backfill.c */
extern void backfill_register_callbacks(void);
extern void backfill_phase_changed(const PlanRow *plan, Phase phase, const char *status);
extern void backfill_kick(void);
extern void backfill_resume_database(void);
extern bool backfill_catalog_present(void);
extern bool backfill_key_find(Relation rel, BackfillKey *key);
extern bool backfill_key_find_same(Relation rel, const BackfillKey *stored, BackfillKey *key);
extern char *backfill_relation_name(Oid relid);
extern char *backfill_lock_sql(const char *relname, const BackfillKey *key, bool first);
extern char *backfill_update_sql(const char *relname, const BackfillKey *key, bool first,
								 const char *set_clause, const char *pending);
extern void backfill_history(int64 plan_id, const char *event, const char *detail);
extern void backfill_start_worker(void);

/* backfill_worker.c */
extern PGDLLEXPORT void phased_change_backfill_main(Datum main_arg);

#endif							/* PHASED_CHANGE_BACKFILL_H */
