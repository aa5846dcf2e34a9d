/*-------------------------------------------------------------------------
 *
 * usage_sources.h
 *		Usage sources: hot standbys whose usage counts are evidence too
 *		(usage_sources.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_USAGE_SOURCES_H
#define PHASED_CHANGE_USAGE_SOURCES_H

extern void usage_sources_define_settings(void);
extern void usage_sources_collect_all(void);

#endif							/* PHASED_CHANGE_USAGE_SOURCES_H */
