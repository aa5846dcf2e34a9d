/*-------------------------------------------------------------------------
 *
 * db_worker.h
 *		At most one background worker of a kind per database: a session
 *		lock on a private tag shows whether one runs (db_worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_DB_WORKER_H
#define PHASED_CHANGE_DB_WORKER_H

#include "postgres.h"

#include "storage/lock.h"

/*
 * The fourth field of each kind's lock tag.  No SQL function takes an
 * advisory lock with a fourth field other than 1 or 2, so no session can
 * hold one and starve the worker.
 */
#define DB_WORKER_RECORDER 0x5043
#define DB_WORKER_BACKFILL 0x5042

/* What db_worker_start_if_idle found or did. */
typedef enum DbWorkerStart
{
	DB_WORKER_RUNNING,			/* one holds the lock already */
	DB_WORKER_STARTED,			/* a worker was registered */
	DB_WORKER_NO_SLOT			/* none runs, and no slot was free */
} DbWorkerStart;

extern void db_worker_lock_tag(LOCKTAG *tag, Oid database, uint16 kind);
extern DbWorkerStart db_worker_start_if_idle(const LOCKTAG *tag,
											 const char *function_name,
											 const char *type_name);
extern void db_worker_connect(Oid database, const char *name);

#endif							/* PHASED_CHANGE_DB_WORKER_H */
