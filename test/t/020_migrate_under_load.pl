# The migrate phase under load: a backfill and a dual-write sync on the same
# table while pgbench writes to it as both application versions would.
#
# The table starts with its new column NULL everywhere.  pgbench runs three
# kinds of writers at once: the old application (updates and inserts that
# give legacy_categories only), the new application (updates that give
# primary_categories only) and a counter that every transaction increments.
# Meanwhile the plan enters migrate, which installs the sync and starts the
# backfill in the background.  At the end:
#  - the backfill is done and no row is pending (the migrate check holds),
#    including rows the old application wrote after the backfill passed them;
#  - no update was lost: the counters add up to the transactions pgbench
#    committed, and no pgbench transaction failed;
#  - the plan may leave migrate.
#
# Run twice: with the library in event triggers only, and preloaded.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 20000;

# pending: the row still needs the backfill (a NULL new column included).
my $pending = q{primary_categories IS NULL OR NOT primary_categories @> legacy_categories};

foreach my $mode ('unloaded', 'preloaded')
{
	my $node = PostgreSQL::Test::Cluster->new("load_$mode");
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'phased_change'")
	  if $mode eq 'preloaded';
	$node->start;

	$node->safe_psql(
		'postgres', qq{
CREATE EXTENSION phased_change;
CREATE TABLE user_profile (id bigint PRIMARY KEY, legacy_categories text[],
						   hits bigint NOT NULL DEFAULT 0);
INSERT INTO user_profile (id, legacy_categories)
SELECT g, CASE g % 3 WHEN 0 THEN '{TypeA,TypeB}' WHEN 1 THEN '{TypeC}' ELSE '{}' END::text[]
FROM generate_series(1, $rows) g;
CREATE SEQUENCE new_ids START 1000001;
ALTER TABLE user_profile ADD COLUMN primary_categories text[];

SELECT phase_plan_create('load', 'migrate under load', '0');
SELECT phase_retire('load', 'user_profile', 'legacy_categories');
SELECT phase_introduce('load', 'user_profile', 'primary_categories');
SELECT phase_sync('load', 'user_profile', 'legacy_categories', 'primary_categories',
				  'legacy_categories', 'primary_categories');
SELECT phase_backfill('load', 'user_profile',
	'primary_categories = array_cat(coalesce(primary_categories, ''{}''), legacy_categories)',
	'$pending', batch_size => 500);
});

	my $dir = PostgreSQL::Test::Utils::tempdir;
	my %scripts = (
		'old_update' => q{
\set id random(1, } . $rows . q{)
UPDATE user_profile SET legacy_categories = ARRAY['TypeD'], hits = hits + 1 WHERE id = :id;
},
		'old_insert' => q{
INSERT INTO user_profile (id, legacy_categories, hits) VALUES (nextval('new_ids'), '{TypeE}', 1);
},
		'new_update' => q{
\set id random(1, } . $rows . q{)
UPDATE user_profile SET primary_categories = ARRAY['TypeF'], hits = hits + 1 WHERE id = :id;
},);
	my @files;
	foreach my $name (sort keys %scripts)
	{
		PostgreSQL::Test::Utils::append_to_file("$dir/$name.sql", $scripts{$name});
		push @files, '-f', "$dir/$name.sql";
	}

	# pgbench in the background for a fixed number of transactions; the plan
	# enters migrate while it runs.
	my ($out, $err) = ('', '');
	my $bench = IPC::Run::start(
		[
			$node->installed_command('pgbench'), '-n', '-c', '4', '-j', '2',
			'-t', '1500', @files,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	$node->safe_psql('postgres', q{SELECT phase_advance('load')});
	$bench->finish;
	is($bench->result(0), 0, "$mode: pgbench ran without a failed transaction")
	  or diag($err);
	my ($processed) = $out =~ /number of transactions actually processed: (\d+)/;
	is($processed, 6000, "$mode: pgbench committed every transaction");

	ok( $node->poll_query_until(
			'postgres',
			q{SELECT status FROM phased_change.backfills WHERE plan = 'load'}, 'done'),
		"$mode: the backfill finished under load");

	is( $node->safe_psql('postgres', "SELECT count(*) FROM user_profile WHERE $pending"),
		'0', "$mode: no row is pending, including rows written after the backfill passed them");
	is( $node->safe_psql('postgres',
			q{SELECT sum(hits) FROM user_profile}),
		'6000', "$mode: no update was lost");
	is( $node->safe_psql('postgres', q{SELECT phase_verify('load')}),
		't', "$mode: the migrate checks hold");
	is( $node->safe_psql('postgres', q{SELECT phase_advance('load')}),
		'contract', "$mode: the plan leaves migrate");

	$node->stop;
}

done_testing();
