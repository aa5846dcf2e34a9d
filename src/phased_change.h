/*-------------------------------------------------------------------------
 *
 * phased_change.h
 *		Declarations shared by the phased_change source files: phases, the
 *		calling role, the catalog session and the locked plan row.
 *
 * Every SQL-callable function follows the same shape: identify the caller,
 * open a catalog session (extension owner, pinned search_path, SPI), lock
 * the plan row, check status and privilege, do its work, record an event
 * in the history, close the session.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_H
#define PHASED_CHANGE_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "compat.h"

#define PHASED_CHANGE_EXTENSION "phased_change"

/* Longest plan or check name, in bytes (they are indexed). */
#define PHASED_CHANGE_NAME_MAX 1000

/* The four phases, numbered as in the phased_change.phase table. */
typedef enum Phase
{
	PHASE_NONE = 0,
	PHASE_EXPAND = 1,
	PHASE_MIGRATE = 2,
	PHASE_CONTRACT = 3,
	PHASE_CLEANUP = 4
} Phase;

/* The role that called a phase_* function, captured before any switch. */
typedef struct Caller
{
	Oid			roleid;			/* current_user at entry */
	char	   *role_name;
} Caller;

/* Saved state of a catalog session, restored by catalog_end. */
typedef struct CatalogSession
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} CatalogSession;

/* A plan row, read under FOR NO KEY UPDATE. */
typedef struct PlanRow
{
	int64		plan_id;
	char	   *name;
	char	   *status;
	Phase		phase;
	Oid			owner;			/* InvalidOid when the owner role is missing */
	char	   *owner_name;		/* as stored in the plan */
	TimestampTz entered_at;
	TimestampTz now;			/* the clock, read once the row was locked */
} PlanRow;

/* An event for the history (phased_change.event_log). */
typedef struct HistoryEvent
{
	const char *event;
	Phase		from_phase;
	Phase		to_phase;
	bool		with_time_in_phase; /* record now - entered_at */
	int			checks_ok;		/* -1: not a verification; 0/1 */
	const char *detail;			/* jsonb text, NULL for '{}' */
} HistoryEvent;

/* An event as announced by NOTIFY phased_change (history_notify). */
typedef struct HistoryNotice
{
	int64		event_id;
	const char *event;
	const char *plan;			/* NULL: no plan */
	Phase		from_phase;
	Phase		to_phase;
	TimestampTz at;
	const char *actor;
	const char *role;
	const char *object;			/* guard events only, else NULL */
} HistoryNotice;

/* The outcome of one verification of a plan (verification.c). */
typedef struct Verification
{
	bool		ok;				/* every check held */
	char	   *detail;			/* {"source": ..., "checks": [...]} */
	int64		event_id;		/* its history row, 0 when not recorded */
} Verification;

/* catalog.c */
extern Caller caller_identify(void);
extern void catalog_begin(CatalogSession *session);
extern void catalog_end(CatalogSession *session);
extern Oid	extension_owner(void);
extern bool plan_owner_by_name(void);
extern Oid	extension_namespace(void);
extern bool extension_owns_relation(Oid relid);
extern void catalog_register_callbacks(void);
extern Oid	extension_oid_current(void);
extern bool extension_schema_holds(Oid namespace);
extern void plan_not_found(const char *name);
extern void plan_lock(const char *name, PlanRow *plan);
extern void plan_require_active(const PlanRow *plan);
extern void plan_require_privilege(const PlanRow *plan, const Caller *caller);
extern bool plan_privileged(const PlanRow *plan, const Caller *caller);
extern Phase phase_from_name(const char *name);
extern const char *phase_name(Phase phase);
extern char *arg_text(FunctionCallInfo fcinfo, int argno, const char *argname);
extern char *arg_name(FunctionCallInfo fcinfo, int argno, const char *argname);
extern void arg_require(FunctionCallInfo fcinfo, int argno, const char *argname);

/* history.c */
extern int64 history_record(const PlanRow *plan, const Caller *caller,
							const HistoryEvent *event);
extern void history_spool(const PlanRow *plan, const Caller *caller,
						  const HistoryEvent *event);
extern void history_preserve(const int64 *event_ids, int count);
extern char *history_detail(const char *key,...);
extern void history_notify(const HistoryNotice *notice);
extern void history_notify_recorded(SPITupleTable *rows, uint64 count);
extern void history_log_transition(const char *plan, const HistoryEvent *event,
								   const char *role);
extern void history_log_refusal(const char *event, const char *plan, Phase phase,
								const char *action, const char *object, const char *role);
extern char *history_plan_name(int64 plan_id);
extern void history_register_xact_callbacks(void);

/* verification.c */
extern bool verification_on_plan_row(void);
extern Verification verification_run(const PlanRow *plan, const Caller *caller,
									  const char *source, StringInfo checks);
extern int64 verification_keep(const PlanRow *plan, const Caller *caller,
							   Verification *verification);
extern List *verification_plans(const Caller *caller);
extern bool verification_verify_plan(const char *name, const Caller *caller,
									 const char *source, bool as_owner,
									 char **phase, bool *ok, bool *ready);

/* checks.c */
extern List *fragment_parse(const char *sql, const char *what);
extern bool fragment_is_single_expression(const Node *stmt);
extern void predicate_validate(const char *check_name, const char *predicate);
extern bool predicate_names_pg_temp(const char *predicate);
extern char *check_run_search_path(const char *stored);
extern bool checks_run(const PlanRow *plan, StringInfo results);

#endif							/* PHASED_CHANGE_H */
