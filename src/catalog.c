/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Access to the plan catalog: the catalog session, the plan row lock,
 *		status and privilege checks, phase names and argument checks.
 *
 * The phase_* functions are not SECURITY DEFINER, because they need to know
 * who called them: the plan owner is current_user at creation, and the
 * history records current_user as role.  They read and write the catalog
 * inside a catalog session instead, which runs as the extension owner with
 * search_path pinned to pg_catalog, pg_temp and as a security-restricted
 * operation, exactly what a SECURITY DEFINER function with a pinned
 * search_path would do, but scoped to the catalog work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "backfill.h"
#include "phased_change.h"
#include "refusal_recorder.h"

static const char *const phase_names[] = {NULL, "expand", "migrate", "contract", "cleanup"};

static Oid	extension_lookup(Oid *namespace);

/*
 * caller_identify
 *		Capture the role calling a phase_* function, before any switch.
 */
Caller
caller_identify(void)
{
	Caller		caller;

	caller.roleid = GetUserId();
	caller.role_name = GetUserNameFromId(caller.roleid, false);
	return caller;
}

/*
 * extension_owner / extension_namespace
 *		The role that owns the extension, and with it the catalog tables;
 *		the schema that holds its functions.
 */
Oid
extension_owner(void)
{
	Oid			namespace;

	return extension_lookup(&namespace);
}

Oid
extension_namespace(void)
{
	Oid			namespace;

	(void) extension_lookup(&namespace);
	return namespace;
}

/*
 * The extension's OID and the OID of its catalog schema (phased_change), as
 * known to this backend.  Both are looked up once and kept until a schema
 * changes anywhere in the database (the schema is created and dropped with
 * the extension, so a syscache callback on pg_namespace sees both), so that
 * the guard's per-statement and per-dropped-object tests cost a variable
 * read instead of a catalog scan.
 */
static bool extension_known = false;
static Oid	extension_oid_known = InvalidOid;
static Oid	extension_schema_known = InvalidOid;

static void
extension_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	extension_known = false;
}

/*
 * catalog_register_callbacks
 *		Called once from _PG_init.
 */
void
catalog_register_callbacks(void)
{
	CacheRegisterSyscacheCallback(NAMESPACEOID, extension_forget, (Datum) 0);
}

static void
extension_remember(void)
{
	if (extension_known)
		return;
	extension_oid_known = get_extension_oid(PHASED_CHANGE_EXTENSION, true);
	extension_schema_known = get_namespace_oid("phased_change", true);
	extension_known = true;
}

/*
 * extension_oid_current
 *		The extension's OID in this database (InvalidOid: not installed).
 */
Oid
extension_oid_current(void)
{
	extension_remember();
	return extension_oid_known;
}

/*
 * extension_schema_holds
 *		Whether an object's schema is the extension's catalog schema: every
 *		relation the extension creates is made there, and moving one out is
 *		refused while plans are active.  A cheap test before pg_depend.
 */
bool
extension_schema_holds(Oid namespace)
{
	extension_remember();
	return OidIsValid(extension_oid_known) && namespace == extension_schema_known;
}

/*
 * extension_owns_relation
 *		Whether a relation belongs to the extension: a member (its tables and
 *		views), or in a schema that is one (their indexes and sequences).
 *		Found by pg_depend, whatever the names, for relations of the
 *		extension's catalog schema.
 */
bool
extension_owns_relation(Oid relid)
{
	Oid			namespace = get_rel_namespace(relid);
	Oid			extoid = extension_oid_current();

	if (!extension_schema_holds(namespace))
		return false;
	return getExtensionOfObject(RelationRelationId, relid) == extoid ||
		getExtensionOfObject(NamespaceRelationId, namespace) == extoid;
}

/*
 * extension_lookup
 *		Read the extension's pg_extension row: its owner, and its schema.
 */
static Oid
extension_lookup(Oid *namespace)
{
	Oid			extoid = get_extension_oid(PHASED_CHANGE_EXTENSION, false);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "could not find tuple for extension %u", extoid);
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	*namespace = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * catalog_begin
 *		Switch to the extension owner with a pinned search_path (and interval
 *		and date styles, so that messages and history details read the same
 *		whatever the caller's settings) and connect to SPI.  An error anywhere
 *		undoes all of it with the transaction.
 */
void
catalog_begin(CatalogSession *session)
{
	Oid			owner = extension_owner();

	GetUserIdAndSecContext(&session->save_userid, &session->save_sec_context);
	session->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) set_config_option("intervalstyle", "postgres",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) set_config_option("datestyle", "ISO, YMD",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	SetUserIdAndSecContext(owner, session->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * catalog_end
 *		Close the session opened by catalog_begin.
 */
void
catalog_end(CatalogSession *session)
{
	SPI_finish();
	AtEOXact_GUC(true, session->save_nestlevel);
	SetUserIdAndSecContext(session->save_userid, session->save_sec_context);
}

/*
 * plan_owner_by_name
 *		Whether the catalog keeps a plan's owner by name (1.3 on) rather than
 *		as a regrole (1.0 to 1.2): the library must also work with a catalog
 *		that ALTER EXTENSION UPDATE has not reached yet.
 */
bool
plan_owner_by_name(void)
{
	Oid			planrel = get_relname_relid("plan",
											get_namespace_oid(PHASED_CHANGE_EXTENSION, false));

	return get_atttype(planrel, get_attnum(planrel, "owner")) == NAMEOID;
}

/*
 * plan_closest_name
 *		The existing plan whose name is closest to a name that matched none
 *		(a typo), by Levenshtein distance as PostgreSQL's own "Perhaps you
 *		meant" hints measure it; NULL when none differs in at most a third of
 *		the characters.  Names longer than PostgreSQL's Levenshtein limit are
 *		not compared.
 */
#define PLAN_NAME_COMPARED_MAX 255	/* varlena.c's MAX_LEVENSHTEIN_STRLEN */

static char *
plan_closest_name(const char *name)
{
	int			len = strlen(name);
	int			max_d = Max(1, len / 3);
	char	   *best = NULL;
	int			best_d = max_d + 1;

	if (len > PLAN_NAME_COMPARED_MAX ||
		SPI_execute("SELECT name FROM phased_change.plan"
					" WHERE pg_catalog.octet_length(name) OPERATOR(pg_catalog.<=) 255"
					" ORDER BY name COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		return NULL;
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		char	   *candidate = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1);
		int			d = varstr_levenshtein_less_equal(name, len, candidate, strlen(candidate),
													  1, 1, 1, max_d, true);

		if (d < best_d)
		{
			best_d = d;
			best = candidate;
		}
	}
	return best;
}

/*
 * plan_not_found
 *		Refuse an unknown plan name, naming the closest existing plan when
 *		one is close: a typo is not an invitation to create the plan.
 */
void
plan_not_found(const char *name)
{
	char	   *closest = plan_closest_name(name);

	if (closest)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("change plan \"%s\" does not exist", name),
				 errhint("Perhaps you meant change plan \"%s\".", closest)));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("change plan \"%s\" does not exist", name),
			 errhint("SELECT plan, phase FROM phased_change.status lists the plans.")));
}

/*
 * plan_lock
 *		Read the named plan and lock its row until the end of the transaction,
 *		so that transitions of one plan serialize.  FOR NO KEY UPDATE leaves
 *		the history's foreign key checks (FOR KEY SHARE) unblocked.  Every
 *		phase_* call on a plan passes here, and starts the refusal recorder
 *		when records wait in the spool (left by a crash or a full
 *		max_worker_processes).
 */
void
plan_lock(const char *name, PlanRow *plan)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;

	recorder_kick();
	backfill_kick();
	/* the owner is kept by name, so that a restore never fails on it */
	if (SPI_execute_with_args(plan_owner_by_name() ?
							  "SELECT p.plan_id, p.status, p.phase,"
							  "  COALESCE((SELECT r.oid FROM pg_catalog.pg_roles r"
							  "            WHERE r.rolname = p.owner), 0),"
							  "  p.entered_at, p.owner"
							  " FROM phased_change.plan p WHERE p.name = $1"
							  " FOR NO KEY UPDATE OF p" :
							  "SELECT p.plan_id, p.status, p.phase, p.owner::pg_catalog.oid,"
							  "  p.entered_at, pg_catalog.pg_get_userbyid(p.owner)"
							  " FROM phased_change.plan p WHERE p.name = $1"
							  " FOR NO KEY UPDATE OF p",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read change plan \"%s\"", name);
	if (SPI_processed == 0)
		plan_not_found(name);

	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	plan->plan_id = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
	plan->name = pstrdup(name);
	plan->status = SPI_getvalue(tuple, tupdesc, 2);
	plan->phase = (Phase) DatumGetInt16(SPI_getbinval(tuple, tupdesc, 3, &isnull));
	plan->owner = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 4, &isnull));
	plan->entered_at = DatumGetTimestampTz(SPI_getbinval(tuple, tupdesc, 5, &isnull));
	plan->owner_name = SPI_getvalue(tuple, tupdesc, 6);
	plan->now = GetCurrentTimestamp();
}

/*
 * plan_require_active
 *		Completed and abandoned plans are history: refuse to change them.
 */
void
plan_require_active(const PlanRow *plan)
{
	if (strcmp(plan->status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("change plan \"%s\" is %s", plan->name, plan->status),
				 errdetail("Only active plans can be changed.")));
}

/*
 * plan_require_privilege
 *		A plan may be changed by its owner, members of the owner role and
 *		superusers (has_privs_of_role covers all three).
 */
void
plan_require_privilege(const PlanRow *plan, const Caller *caller)
{
	if (plan_privileged(plan, caller))
		return;

	if (!OidIsValid(plan->owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for change plan \"%s\"", plan->name),
				 errdetail("The plan's owner role \"%s\" does not exist; only superusers may change this plan.",
						   plan->owner_name),
				 errhint("Create role \"%s\", or have a superuser run SELECT phase_owner_set(%s, 'role').",
						 plan->owner_name, quote_literal_cstr(plan->name))));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for change plan \"%s\"", plan->name),
			 errdetail("Only role \"%s\", its members and superusers may change this plan.",
					   plan->owner_name)));
}

/*
 * plan_privileged
 *		Whether the caller may change the plan: its owner, members of the
 *		owner, superusers; only superusers when the owner role is missing.
 */
bool
plan_privileged(const PlanRow *plan, const Caller *caller)
{
	return OidIsValid(plan->owner) ? has_privs_of_role(caller->roleid, plan->owner)
		: superuser_arg(caller->roleid);
}

/*
 * phase_from_name
 *		Map a phase name to its number, or refuse an unknown one.
 */
Phase
phase_from_name(const char *name)
{
	for (int i = PHASE_EXPAND; i <= PHASE_CLEANUP; i++)
	{
		if (strcmp(name, phase_names[i]) == 0)
			return (Phase) i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown phase \"%s\"", name),
			 errhint("The phases are expand, migrate, contract and cleanup.")));
	return PHASE_NONE;			/* keep compiler quiet */
}

const char *
phase_name(Phase phase)
{
	Assert(phase >= PHASE_EXPAND && phase <= PHASE_CLEANUP);
	return phase_names[phase];
}

/*
 * arg_require
 *		The phase_* functions are CALLED ON NULL INPUT so that a NULL argument
 *		gets a clear error instead of a silent NULL result.
 */
void
arg_require(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/*
 * unicode_prints_blank
 *		Whether a code point prints as nothing or as blank space: Unicode's
 *		White_Space characters, and the invisible ones (zero-width spaces and
 *		joiners, word joiner, byte order mark, soft hyphen, Hangul fillers,
 *		variation selectors, invisible operators, tags).
 */
static bool
unicode_prints_blank(pg_wchar c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
		c == 0xAD || c == 0x034F || c == 0x115F || c == 0x1160 || c == 0x1680 ||
		c == 0x180E || (c >= 0x2000 && c <= 0x200F) ||
		(c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) ||
		c == 0x3000 || c == 0x3164 || (c >= 0xFE00 && c <= 0xFE0F) ||
		c == 0xFEFF || c == 0xFFA0 || (c >= 0xE0000 && c <= 0xE007F);
}

/*
 * text_prints_blank
 *		Whether a string is empty or prints as blank.  Outside UTF-8 only
 *		ASCII white space is known to be blank.
 */
static bool
text_prints_blank(const char *value)
{
	const unsigned char *p = (const unsigned char *) value;

	if (GetDatabaseEncoding() != PG_UTF8)
		return value[strspn(value, " \t\n\r\f\v")] == '\0';
	while (*p)
	{
		if (!unicode_prints_blank(utf8_to_unicode(p)))
			return false;
		p += pg_utf_mblen(p);
	}
	return true;
}

/*
 * arg_text
 *		A required text argument that is not empty or blank (nothing but
 *		white space or invisible characters), as a C string.
 */
char *
arg_text(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *value;

	arg_require(fcinfo, argno, argname);
	value = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be empty", argname)));
	if (text_prints_blank(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be blank", argname),
				 errdetail("It holds only white space or characters that print as nothing.")));
	return value;
}

/*
 * arg_name
 *		A plan or check name: text that is not empty, and short enough to be
 *		indexed.
 */
char *
arg_name(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *value = arg_text(fcinfo, argno, argname);

	if (strlen(value) > PHASED_CHANGE_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("argument \"%s\" is too long", argname),
				 errdetail("Names of plans and checks are at most %d bytes.",
						   PHASED_CHANGE_NAME_MAX)));
	return value;
}
