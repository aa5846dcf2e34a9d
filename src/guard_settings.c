/*-------------------------------------------------------------------------
 *
 * guard_settings.c
 *		The guard's settings: phased_change.unplanned_ddl (what happens to
 *		destructive DDL on objects no active plan retires) and
 *		phased_change.override (a superuser's audited emergency exit).
 *
 * Both are superuser-only; a DBA sets unplanned_ddl per database or role
 * with ALTER ... SET.  What happens when a non-superuser set one before the
 * library loaded is module.c's business.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "guard.h"

/* phased_change.unplanned_ddl */
static const struct config_enum_entry unplanned_ddl_options[] = {
	{"allow", UNPLANNED_ALLOW, false},
	{"warn", UNPLANNED_WARN, false},
	{"block", UNPLANNED_BLOCK, false},
	{NULL, 0, false}
};

int			guard_unplanned_ddl = UNPLANNED_WARN;

static char *guard_override = NULL;

/*
 * guard_define_settings
 *		Called once from _PG_init.  Both settings are superuser-only: a DBA
 *		sets unplanned_ddl per database or role with ALTER ... SET.
 */
void
guard_define_settings(void)
{
	DefineCustomEnumVariable("phased_change.unplanned_ddl",
							 "What happens to destructive DDL on tables that no active change plan retires.",
							 "allow lets it through, warn emits a WARNING, block refuses it.",
							 &guard_unplanned_ddl, UNPLANNED_WARN, unplanned_ddl_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("phased_change.override",
							   "Emergency override: a reason that lets guarded DDL through, audited.",
							   "Honoured only when the session user is a superuser.",
							   &guard_override, "", PGC_SUSET, 0, NULL, NULL, NULL);
}

/*
 * guard_override_reason
 *		The override reason when one is in force for this session.
 */
const char *
guard_override_reason(void)
{
	if (guard_override == NULL || guard_override[0] == '\0' ||
		!superuser_arg(GetSessionUserId()))
		return NULL;
	return guard_override;
}
