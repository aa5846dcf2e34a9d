# A change plan survives pg_dump and restore, in custom and plain format.
#
# The plan's tables are extension configuration tables, so pg_dump carries
# the plans, their soaks, checks, guarded objects and history.  Guarded
# columns are stored as a regclass and a column name, never an attribute
# number: the table here had a column dropped before its columns were
# registered, so the restored table numbers its columns differently, and
# the plan must still find both columns by name and carry on from the phase
# it was in.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', q{
CREATE EXTENSION phased_change;

-- "scratch" is dropped before the plan registers the columns, so that
-- legacy_categories is attribute 3 here but 2 in a restored database.
CREATE TABLE user_profile (id int, scratch int, legacy_categories text[],
						   primary_categories text[]);
ALTER TABLE user_profile DROP COLUMN scratch;
INSERT INTO user_profile VALUES (1, '{news,sport}', '{news,sport}'),
								(2, '{music}', '{music}');

SELECT phase_plan_create('categories', 'Move categories to primary_categories', '0');
SELECT phase_soak_set('categories', 'contract', '2 days');
SELECT phase_retire('categories', 'user_profile', 'legacy_categories');
SELECT phase_introduce('categories', 'user_profile', 'primary_categories');
SELECT phase_check_add('categories', 'migrate', 'backfilled',
	'NOT EXISTS (SELECT FROM user_profile WHERE primary_categories IS DISTINCT FROM legacy_categories)');
});
is($node->safe_psql('src', q{SELECT phase_advance('categories')}),
	'migrate', 'source plan advanced from expand to migrate');

# What must come through the dump unchanged.
my %queries = (
	plan => q{SELECT name, description, status, phase, soak, owner
			  FROM phased_change.plan ORDER BY name},
	progress => q{SELECT plan, description, status, phase
				  FROM phased_change.progress ORDER BY plan},
	checks => q{SELECT ph.name, c.name, c.predicate, c.search_path
				FROM phased_change.plan_check c
				JOIN phased_change.phase ph USING (phase)
				ORDER BY c.phase, c.name},
	phase_soaks => q{SELECT ph.name, s.soak
					 FROM phased_change.phase_soak s
					 JOIN phased_change.phase ph USING (phase)
					 ORDER BY s.phase},
	history => q{SELECT event_id, at, plan, event, from_phase, to_phase,
						time_in_phase, checks_ok, actor, role, detail
				 FROM phased_change.history ORDER BY event_id},
	guarded_objects => q{SELECT plan, object_type, object, role, may_drop
						 FROM phased_change.guarded_objects ORDER BY object});

sub snapshot
{
	my ($db) = @_;
	return { map { $_ => $node->safe_psql($db, $queries{$_}) } keys %queries };
}

sub events
{
	my ($db) = @_;
	return [
		split /\n/,
		$node->safe_psql(
			$db, q{SELECT event FROM phased_change.history ORDER BY event_id})
	];
}

sub legacy_attnum
{
	my ($db) = @_;
	return $node->safe_psql(
		$db, q{SELECT attnum FROM pg_attribute
			   WHERE attrelid = 'public.user_profile'::regclass
				 AND attname = 'legacy_categories'});
}

my $source = snapshot('src');
my $source_events = events('src');
is_deeply(
	$source_events,
	[
		qw(created soak_set retired introduced check_added verified advanced)
	],
	'source history has the expected events');
my $me = $node->safe_psql('src', 'SELECT current_user');
is($source->{plan},
	"categories|Move categories to primary_categories|active|2|00:00:00|$me",
	'source plan row');
is(legacy_attnum('src'), '3', 'legacy_categories is attribute 3 in the source');

# Custom-format dump restored with pg_restore, plain dump replayed with psql.
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $custom = "$tempdir/src.dump";
my $plain = "$tempdir/src.sql";

$node->command_ok(
	[ 'pg_dump', '-Fc', '-f', $custom, '-d', 'src' ],
	'pg_dump -Fc of src');
$node->safe_psql('postgres', 'CREATE DATABASE dst_custom');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', 'dst_custom', $custom ],
	'pg_restore into dst_custom');

$node->command_ok(
	[ 'pg_dump', '-Fp', '-f', $plain, '-d', 'src' ],
	'pg_dump -Fp of src');
$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'dst_plain', '-f', $plain ],
	'plain dump replayed into dst_plain');

foreach my $db (qw(dst_custom dst_plain))
{
	my $restored = snapshot($db);
	foreach my $what (sort keys %queries)
	{
		is($restored->{$what}, $source->{$what}, "$db: $what as in the source");
	}
	is_deeply(events($db), $source_events, "$db: same history events in order");

	is(legacy_attnum($db), '2',
		"$db: legacy_categories has a different attribute number after restore");
	is( $node->safe_psql(
			$db, q{SELECT object, role, exists
				   FROM phased_change.guarded_objects ORDER BY object}),
		"public.user_profile.legacy_categories|retired|t\n"
		  . "public.user_profile.primary_categories|introduced|t",
		"$db: both guarded columns re-resolved by name");
	is( $node->safe_psql(
			$db, q{SELECT rel::text, col FROM phased_change.object ORDER BY col}),
		"user_profile|legacy_categories\nuser_profile|primary_categories",
		"$db: object rows name the restored table");

	is($node->safe_psql($db, q{SELECT phase_advance('categories')}),
		'contract', "$db: phase_advance continues from migrate to contract");
	is( $node->safe_psql(
			$db, q{SELECT status, phase FROM phased_change.progress
				   WHERE plan = 'categories'}),
		'active|contract',
		"$db: plan now in contract");
	is_deeply(
		events($db),
		[ @$source_events, qw(verified advanced) ],
		"$db: the advance is appended to the restored history");
	is( $node->safe_psql(
			$db, q{SELECT detail -> 'checks' -> 0 ->> 'name', checks_ok
				   FROM phased_change.history
				   WHERE event = 'verified' ORDER BY event_id DESC LIMIT 1}),
		'backfilled|t',
		"$db: the restored check ran and held");
}

# The source is untouched by the restores.
is($node->safe_psql('src', $queries{plan}), $source->{plan},
	'source plan unchanged');

$node->stop;
done_testing();
