/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The one place where differences between PostgreSQL major versions
 *		are papered over.  Supported: 15 to 18 (built and tested on 15, 17
 *		and 18; 16 is compiled from the same guards).  15 is the floor:
 *		shmem_request_hook, MarkGUCPrefixReserved and InitMaterializedSRF
 *		arrived in it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_COMPAT_H
#define PHASED_CHANGE_COMPAT_H

#include "catalog/pg_namespace.h"
#include "nodes/parsenodes.h"

#if PG_VERSION_NUM < 150000
#error "phased_change requires PostgreSQL 15 or later"
#endif

/* PostgreSQL 16 replaced the per-class ownercheck functions. */
#if PG_VERSION_NUM >= 160000
#define pc_relation_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#define pc_namespace_ownercheck(nspid, roleid) \
	object_ownercheck(NamespaceRelationId, (nspid), (roleid))
#define pc_extension_ownercheck(extid, roleid) \
	object_ownercheck(ExtensionRelationId, (extid), (roleid))
#define pc_event_trigger_ownercheck(evtid, roleid) \
	object_ownercheck(EventTriggerRelationId, (evtid), (roleid))
#else
#define pc_relation_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#define pc_namespace_ownercheck(nspid, roleid) \
	pg_namespace_ownercheck((nspid), (roleid))
#define pc_extension_ownercheck(extid, roleid) \
	pg_extension_ownercheck((extid), (roleid))
#define pc_event_trigger_ownercheck(evtid, roleid) \
	pg_event_trigger_ownercheck((evtid), (roleid))
#endif

#define pc_raw_parser(str) raw_parser((str), RAW_PARSE_DEFAULT)

/*
 * ExecutorCheckPerms_hook: up to 15 the permission facts of each relation
 * (requiredPerms, selectedCols, insertedCols, updatedCols) sit in its range
 * table entry and the hook takes (rangeTable, ereport); from 16 they sit in
 * a list of RTEPermissionInfo, one per relation, passed as a second
 * argument.  Both structs spell the fields the same, so usage tracking
 * walks PC_CHECK_PERMS_LIST as pc_perminfo either way.
 */
#if PG_VERSION_NUM >= 160000
typedef RTEPermissionInfo pc_perminfo;

#define PC_CHECK_PERMS_PARAMS \
	List *range_table, List *perm_infos, bool ereport_on_violation
#define PC_CHECK_PERMS_ARGS range_table, perm_infos, ereport_on_violation
#define PC_CHECK_PERMS_LIST perm_infos
#define pc_perminfo_is_relation(perminfo) true
#else
typedef RangeTblEntry pc_perminfo;

#define PC_CHECK_PERMS_PARAMS List *range_table, bool ereport_on_violation
#define PC_CHECK_PERMS_ARGS range_table, ereport_on_violation
#define PC_CHECK_PERMS_LIST range_table
#define pc_perminfo_is_relation(rte) ((rte)->rtekind == RTE_RELATION)
#endif

/*
 * PostgreSQL 18 keeps an UPDATE's RETURNING list in a ReturningClause (with
 * its OLD/NEW aliases); older majors in a plain list.
 */
#if PG_VERSION_NUM >= 180000
#define pc_update_has_returning(stmt) ((stmt)->returningClause != NULL)
#else
#define pc_update_has_returning(stmt) ((stmt)->returningList != NIL)
#endif

#endif							/* PHASED_CHANGE_COMPAT_H */
