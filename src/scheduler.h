/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *		The preloaded scheduler: a static background worker that verifies
 *		every active plan of every database periodically (scheduler.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_SCHEDULER_H
#define PHASED_CHANGE_SCHEDULER_H

#include "postgres.h"

#include "fmgr.h"

extern void scheduler_define_settings(void);
extern void scheduler_register(void);

extern PGDLLEXPORT void phased_change_scheduler_main(Datum main_arg);
extern PGDLLEXPORT void phased_change_scheduler_database_main(Datum main_arg);

#endif							/* PHASED_CHANGE_SCHEDULER_H */
