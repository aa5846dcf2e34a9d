/*-------------------------------------------------------------------------
 *
 * guard_events.c
 *		The guard's entry points without preloading: a C event trigger at
 *		ddl_command_start, which reads the parse tree and refuses before
 *		anything happens, and a C sql_drop event trigger, the backstop for
 *		drops that reach a guarded object through a dependency.
 *
 * Both are ENABLE ALWAYS.  When the library is preloaded, the hooks of
 * guard_hooks.c do the same work and these stand down.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"

#include "guard.h"

PG_FUNCTION_INFO_V1(guard_ddl_command_start);
PG_FUNCTION_INFO_V1(guard_sql_drop);

/*
 * guard_ddl_command_start()
 *		Event trigger: refuse early, from the parse tree.
 */
Datum
guard_ddl_command_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "guard_ddl_command_start: not fired by event trigger manager");
	if (guard_hooks_installed)
		PG_RETURN_VOID();		/* the ProcessUtility hook has done it */
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!guard_statement_may_matter(trigdata->parsetree))
		PG_RETURN_VOID();
	if (!guard_catalog_present() && !guard_catalog_unreadable())
		PG_RETURN_VOID();		/* the extension is being created */
	(void) guard_self_protect(trigdata->parsetree);
	guard_enforce(guard_statement_targets(trigdata->parsetree));
	PG_RETURN_VOID();
}

/*
 * dropped_relkind
 *		The relkind of a dropped relation, from its object type.
 */
static char
dropped_relkind(const char *object_type)
{
	if (strcmp(object_type, "view") == 0)
		return RELKIND_VIEW;
	if (strcmp(object_type, "materialized view") == 0)
		return RELKIND_MATVIEW;
	if (strcmp(object_type, "foreign table") == 0)
		return RELKIND_FOREIGN_TABLE;
	return RELKIND_RELATION;
}

/*
 * guard_dropped_targets
 *		The relations and columns this statement has dropped, as targets.
 */
static List *
guard_dropped_targets(void)
{
	MemoryContext caller_context = CurrentMemoryContext;
	List	   *targets = NIL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT objid, objsubid, object_type, object_identity,"
					"  address_names[pg_catalog.array_length(address_names, 1)],"
					"  address_names[2], is_temporary"
					" FROM pg_catalog.pg_event_trigger_dropped_objects()"
					" WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					"   AND object_type OPERATOR(pg_catalog.=) ANY (ARRAY['table', 'view',"
					"       'materialized view', 'foreign table', 'table column'])",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read dropped objects");

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext spi_context = MemoryContextSwitchTo(caller_context);
		GuardTarget *target = palloc0(sizeof(GuardTarget));
		char	   *object_type = SPI_getvalue(tuple, tupdesc, 3);
		bool		is_column = strcmp(object_type, "table column") == 0;

		target->relid = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		target->column = is_column ? SPI_getvalue(tuple, tupdesc, 5) : NULL;
		target->action = GUARD_DROP;
		target->cascaded = true;
		target->gone = !is_column;
		target->temporary = DatumGetBool(SPI_getbinval(tuple, tupdesc, 7, &isnull));
		target->relkind = dropped_relkind(object_type);
		target->identity = SPI_getvalue(tuple, tupdesc, 4);
		target->relname = SPI_getvalue(tuple, tupdesc, is_column ? 6 : 5);
		targets = lappend(targets, target);
		MemoryContextSwitchTo(spi_context);
	}
	SPI_finish();
	return targets;
}

/*
 * guard_sql_drop()
 *		Event trigger: the backstop for drops that cascade into a guarded
 *		object (DROP TYPE/DOMAIN/SCHEMA ... CASCADE, DROP OWNED, ...).
 */
Datum
guard_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "guard_sql_drop: not fired by event trigger manager");
	if (guard_hooks_installed)
		PG_RETURN_VOID();		/* the object access hook has done it */
	guard_enforce(guard_dropped_targets());
	PG_RETURN_VOID();
}
