/*-------------------------------------------------------------------------
 *
 * objects.c
 *		Registering the objects a plan retires (phase_retire) or introduces
 *		(phase_introduce).
 *
 * An object is a relation, or one column of a table.  It is stored as a
 * regclass and a column name, so that it re-resolves by name after
 * pg_restore.  Only the relation's owner may register it (guarding an
 * object restricts what others may do to it), only while the plan is in
 * expand (so that every later phase covers it), and only once: an object
 * that an active plan already guards, directly or through its table,
 * cannot be registered again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "phased_change.h"

PG_FUNCTION_INFO_V1(phase_retire);
PG_FUNCTION_INFO_V1(phase_introduce);

/*
 * object_lock_and_resolve
 *		Lock the relation against concurrent registration and against being
 *		dropped under us, then check it may be guarded by the caller.  Fills
 *		in the address of the relation or column.
 */
static void
object_lock_and_resolve(Oid relid, const char *col, const Caller *caller,
						ObjectAddress *address)
{
	char		relkind;
	AttrNumber	attnum = 0;

	/* Serializes registrations of the same relation across plans. */
	LockDatabaseObject(RelationRelationId, relid, 0, ExclusiveLock);
	LockRelationOid(relid, AccessShareLock);

	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relid < FirstNormalObjectId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot guard system object \"%s\"", get_rel_name(relid))));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot guard temporary relation \"%s\"", get_rel_name(relid)),
				 errdetail("Temporary relations vanish with their session.")));
	if (!pc_relation_ownercheck(relid, caller->roleid))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind),
					   get_rel_name(relid));

	if (col != NULL)
	{
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
			relkind != RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table", get_rel_name(relid)),
					 errdetail("Only columns of tables can be retired or introduced one by one; retire or introduce the whole relation instead.")));
		attnum = get_attnum(relid, col);
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							col, get_rel_name(relid))));
		if (attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot guard system column \"%s\"", col)));
	}
	else if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
			 relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
			 relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", get_rel_name(relid))));

	ObjectAddressSubSet(*address, RelationRelationId, relid, attnum);
}

/*
 * object_require_unguarded
 *		Refuse an object that an active plan (this one included) already
 *		guards: the same object, its table, or one of its columns.
 */
static void
object_require_unguarded(Oid relid, const char *col)
{
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];
	char		nulls[2] = {' ', col ? ' ' : 'n'};
	TupleDesc	tupdesc;
	HeapTuple	tuple;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = col ? DirectFunctionCall1(namein, CStringGetDatum(col)) : (Datum) 0;
	if (SPI_execute_with_args("SELECT p.name, o.role, o.identity"
							  " FROM phased_change.object o"
							  " JOIN phased_change.plan p ON p.plan_id = o.plan_id"
							  " WHERE o.rel = $1::pg_catalog.regclass"
							  "   AND (o.col = $2 OR o.col IS NULL OR $2 IS NULL)"
							  "   AND p.status = 'active'"
							  " LIMIT 1",
							  2, argtypes, values, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up guarded objects");
	if (SPI_processed == 0)
		return;

	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 col ?
			 errmsg("column \"%s\" of relation \"%s\" is already guarded by change plan \"%s\"",
					col, get_rel_name(relid), SPI_getvalue(tuple, tupdesc, 1)) :
			 errmsg("relation \"%s\" is already guarded by change plan \"%s\"",
					get_rel_name(relid), SPI_getvalue(tuple, tupdesc, 1)),
			 errdetail("Change plan \"%s\" has %s \"%s\"; an object is guarded by one active plan at a time.",
					   SPI_getvalue(tuple, tupdesc, 1),
					   SPI_getvalue(tuple, tupdesc, 2),
					   SPI_getvalue(tuple, tupdesc, 3))));
}

/*
 * object_require_expand
 *		Objects join a plan only in expand, so every later phase covers them.
 */
static void
object_require_expand(const PlanRow *plan)
{
	if (plan->phase != PHASE_EXPAND)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot add objects to change plan \"%s\" in phase \"%s\"",
						plan->name, phase_name(plan->phase)),
				 errdetail("Objects are retired or introduced in phase \"expand\", so that every later phase covers them."),
				 errhint("Roll the plan back with phase_rollback, or create a new plan.")));
}

/*
 * object_register
 *		Common body of phase_retire and phase_introduce.
 */
static void
object_register(FunctionCallInfo fcinfo, const char *role)
{
	char	   *plan_name = arg_name(fcinfo, 0, "plan");
	char	   *col = PG_ARGISNULL(2) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(2)));
	Caller		caller = caller_identify();
	ObjectAddress address;
	CatalogSession session;
	PlanRow		plan;
	char	   *identity;
	char	   *object_type;
	Oid			argtypes[7] = {INT8OID, TEXTOID, OIDOID, NAMEOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', col ? ' ' : 'n', ' ', ' ', ' '};
	HistoryEvent event = {role, PHASE_NONE, PHASE_NONE, false, -1, NULL};

	arg_require(fcinfo, 1, "rel");
	object_lock_and_resolve(PG_GETARG_OID(1), col, &caller, &address);
	identity = getObjectIdentity(&address, false);
	object_type = getObjectTypeDescription(&address, false);

	catalog_begin(&session);
	plan_lock(plan_name, &plan);
	plan_require_active(&plan);
	plan_require_privilege(&plan, &caller);
	object_require_expand(&plan);
	object_require_unguarded(address.objectId, col);

	values[0] = Int64GetDatum(plan.plan_id);
	values[1] = CStringGetTextDatum(role);
	values[2] = ObjectIdGetDatum(address.objectId);
	values[3] = col ? DirectFunctionCall1(namein, CStringGetDatum(col)) : (Datum) 0;
	values[4] = CStringGetTextDatum(object_type);
	values[5] = CStringGetTextDatum(identity);
	values[6] = TimestampTzGetDatum(plan.now);
	if (SPI_execute_with_args("INSERT INTO phased_change.object"
							  " (plan_id, role, rel, col, object_type, identity, registered_at)"
							  " VALUES ($1, $2, $3::pg_catalog.regclass, $4, $5, $6, $7)",
							  7, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register object \"%s\"", identity);

	event.detail = history_detail("object", identity, "object_type", object_type, NULL);
	history_record(&plan, &caller, &event);
	catalog_end(&session);
}

/*
 * phase_retire(plan text, rel regclass, col name DEFAULT NULL)
 *		The column, or with col NULL the relation, that the plan removes in
 *		cleanup.
 */
Datum
phase_retire(PG_FUNCTION_ARGS)
{
	object_register(fcinfo, "retired");
	PG_RETURN_VOID();
}

/*
 * phase_introduce(plan text, rel regclass, col name DEFAULT NULL)
 *		The column, or with col NULL the relation, that the plan adds in
 *		expand.
 */
Datum
phase_introduce(PG_FUNCTION_ARGS)
{
	object_register(fcinfo, "introduced");
	PG_RETURN_VOID();
}
