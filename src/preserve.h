/*-------------------------------------------------------------------------
 *
 * preserve.h
 *		Writing history rows in a transaction of their own (preserve.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_PRESERVE_H
#define PHASED_CHANGE_PRESERVE_H

extern void preserve_rows(const char *rows_json);

extern PGDLLEXPORT void phased_change_preserve_main(Datum main_arg);

#endif							/* PHASED_CHANGE_PRESERVE_H */
