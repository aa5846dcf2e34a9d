/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The one place where differences between PostgreSQL major versions
 *		are papered over.  Built and tested against PostgreSQL 15; the
 *		entries below keep 13 to 18 within reach.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHASED_CHANGE_COMPAT_H
#define PHASED_CHANGE_COMPAT_H

#if PG_VERSION_NUM < 130000
#error "phased_change requires PostgreSQL 13 or later"
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

/* raw_parser() took a mode argument from PostgreSQL 14 on. */
#if PG_VERSION_NUM >= 140000
#define pc_raw_parser(str) raw_parser((str), RAW_PARSE_DEFAULT)
#else
#define pc_raw_parser(str) raw_parser(str)
#endif

#endif							/* PHASED_CHANGE_COMPAT_H */
