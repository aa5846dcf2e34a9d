# Upgrades: CREATE EXTENSION phased_change VERSION '1.0' (or '1.1', '1.2')
# followed by ALTER EXTENSION phased_change UPDATE gives exactly the schema
# of a fresh install of the current version, and keeps the plans, checks,
# objects and history of the older version.
#
# "Exactly" is compared object by object over the extension's members: the
# definition of every function, view, table (columns, defaults,
# constraints, indexes, triggers and whether they fire ALWAYS), sequence and
# event trigger, their privileges and comments, and the configuration
# tables pg_dump carries.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $members_sql = q{
WITH ext AS (
	SELECT oid, extversion, extconfig, extcondition FROM pg_extension
	WHERE extname = 'phased_change'),
members AS (
	SELECT d.classid, d.objid
	FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
	  AND d.deptype = 'e')
SELECT string_agg(definition, E'\n----\n' ORDER BY definition) FROM (
	SELECT pg_describe_object(m.classid, m.objid, 0) || E'\n' ||
		CASE m.classid
		WHEN 'pg_proc'::regclass THEN
			pg_get_functiondef(m.objid) ||
			coalesce((SELECT proacl::text FROM pg_proc WHERE oid = m.objid), '')
		WHEN 'pg_class'::regclass THEN (
			SELECT c.relkind::text || ' ' || coalesce(c.relacl::text, '') || E'\n' ||
				coalesce(pg_get_viewdef(c.oid), '') ||
				coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
							|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
							|| coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
							|| coalesce(' -- ' || col_description(c.oid, a.attnum), ''),
							E'\n' ORDER BY a.attnum)
						  FROM pg_attribute a
						  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
						  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || E'\n' ||
				coalesce((SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conname)
						  FROM pg_constraint WHERE conrelid = c.oid), '') || E'\n' ||
				coalesce((SELECT string_agg(pg_get_indexdef(indexrelid), E'\n' ORDER BY 1)
						  FROM pg_index WHERE indrelid = c.oid), '') || E'\n' ||
				coalesce((SELECT string_agg(pg_get_triggerdef(oid) || ' ' || tgenabled::text, E'\n' ORDER BY tgname)
						  FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal), '')
			FROM pg_class c WHERE c.oid = m.objid)
		WHEN 'pg_event_trigger'::regclass THEN (
			SELECT evtevent || ' ' || coalesce(evttags::text, '') || ' ' || evtenabled::text || ' ' ||
				evtfoid::regprocedure::text
			FROM pg_event_trigger WHERE oid = m.objid)
		WHEN 'pg_namespace'::regclass THEN (
			SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE oid = m.objid)
		ELSE ''
		END || E'\n' ||
		coalesce('comment: ' || obj_description(m.objid,
			(SELECT relname FROM pg_class WHERE oid = m.classid)), '') AS definition
	FROM members m
	UNION ALL
	SELECT 'config: ' || (SELECT string_agg(c::regclass::text, ', ' ORDER BY c::regclass::text)
						  FROM ext, unnest(ext.extconfig) c)
) defs;
};

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

# A fresh install of the current version.
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION phased_change');
my $fresh_version = $node->safe_psql('fresh',
	"SELECT extversion FROM pg_extension WHERE extname = 'phased_change'");
my $default_version = $node->safe_psql('fresh',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'phased_change'");
is($fresh_version, $default_version, 'fresh install is the default version');
isnt($fresh_version, '1.0', 'the default version is newer than 1.0');
isnt($fresh_version, '1.1', 'the default version is newer than 1.1');
isnt($fresh_version, '1.2', 'the default version is newer than 1.2');
isnt($fresh_version, '1.3', 'the default version is newer than 1.3');

# Each older version with a plan in progress, then updated: the result is
# the fresh install, and the plan carries on.
my $fresh_members = $node->safe_psql('fresh', $members_sql);
ok(length($fresh_members) > 1000, 'the member listing is not empty');
my $state_sql = q{
SELECT p.plan, p.phase, p.status, p.soak, p.checks_total,
	   (SELECT count(*) FROM phased_change.history h WHERE h.plan = p.plan),
	   (SELECT string_agg(object || ' ' || role, ', ' ORDER BY object)
		FROM phased_change.guarded_objects g WHERE g.plan = p.plan)
FROM phased_change.progress p};

foreach my $version ('1.0', '1.1', '1.2', '1.3')
{
	my $db = 'from_' . ($version =~ tr/./_/r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql(
		$db, qq{
CREATE EXTENSION phased_change VERSION '$version';
CREATE TABLE user_profile (id int, legacy_categories text[], primary_categories text[]);
SELECT phase_plan_create('merge-aggregators', 'kept across the update', '0');
SELECT phase_soak_set('merge-aggregators', 'contract', '3 days');
SELECT phase_retire('merge-aggregators', 'user_profile', 'legacy_categories');
SELECT phase_introduce('merge-aggregators', 'user_profile', 'primary_categories');
SELECT phase_check_add('merge-aggregators', 'migrate', 'backfilled', 'true');
SELECT phase_advance('merge-aggregators');
});
	my $before = $node->safe_psql($db, $state_sql);

	$node->safe_psql($db, 'ALTER EXTENSION phased_change UPDATE');
	is( $node->safe_psql(
			$db, "SELECT extversion FROM pg_extension WHERE extname = 'phased_change'"),
		$fresh_version,
		"$version: ALTER EXTENSION UPDATE reaches the current version");
	is($node->safe_psql($db, $members_sql), $fresh_members,
		"$version updated has exactly the members and definitions of a fresh install");
	is($node->safe_psql($db, $state_sql), $before,
		"$version: plans, checks, objects and history are kept");
	is($node->safe_psql($db, "SELECT phase_advance('merge-aggregators')"),
		'contract', "$version: the plan carries on after the update");
	my ($ret, $out, $err) = $node->psql($db,
		'ALTER TABLE user_profile DROP COLUMN legacy_categories');
	like($err, qr/cannot drop column "legacy_categories"/,
		"$version: the guard holds after the update");
}

$node->stop;
done_testing();
