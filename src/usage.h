/*-------------------------------------------------------------------------
 *
 * usage.h
 *		Column usage tracking in shared memory (usage.c), available when
 *		phased_change is in shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_USAGE_H
#define PHASED_CHANGE_USAGE_H

#include "nodes/pg_list.h"

extern void usage_define_settings(void);
extern void usage_install_hooks(void);
extern bool usage_suspend(bool suspend);
extern void usage_forget(int64 object_id);
extern void usage_users_reset(int64 object_id);
extern List *usage_counted_objects(void);

#endif							/* PHASED_CHANGE_USAGE_H */
