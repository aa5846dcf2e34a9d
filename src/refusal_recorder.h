/*-------------------------------------------------------------------------
 *
 * refusal_recorder.h
 *		Keeping the record of a refusal through its rollback: a spool of
 *		files in the data directory, drained by one recorder worker per
 *		database (refusal_recorder.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_REFUSAL_RECORDER_H
#define PHASED_CHANGE_REFUSAL_RECORDER_H

#include "postgres.h"

#include "fmgr.h"

extern void recorder_keep(const char *rows_json);
extern void recorder_protect(void (*step) (void *), void *arg);
extern void recorder_kick(void);
extern void recorder_start_spooled(void);

extern PGDLLEXPORT void phased_change_recorder_main(Datum main_arg);

#endif							/* PHASED_CHANGE_REFUSAL_RECORDER_H */
