# phased_change preloaded next to the libraries it usually shares a server
# with: pg_stat_statements, pgaudit and pg_cron.
#
# All of them chain the same hooks (ProcessUtility_hook, and for pgaudit
# also ExecutorCheckPerms_hook, which phased_change counts usage from).
# On one node, preloaded as 'pg_stat_statements, pgaudit, phased_change,
# pg_cron', every extension is created and does its job: the guard refuses
# a DROP COLUMN of a retired column, a read of it is counted,
# pg_stat_statements records a query, pgaudit logs DDL, and pg_cron
# schedules a job; the README's pg_cron recipe (one job calling
# phase_verify_all() over the Unix socket) verifies a plan.  A second node loads them in another order,
# 'phased_change, pg_stat_statements, pgaudit', so that phased_change's
# hooks sit at the other end of each chain, and the guard, the counting,
# pg_stat_statements and pgaudit still work.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Everything but pg_cron, on a node that preloads its libraries in the
# order given.
sub prove_neighbours
{
	my ($node, $order) = @_;
	my $name = $node->name;

	$node->safe_psql(
		'postgres', q{
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION pgaudit;
CREATE EXTENSION phased_change;
});
	is( $node->safe_psql(
			'postgres', q{SELECT string_agg(extname, ',' ORDER BY extname)
						  FROM pg_extension
						  WHERE extname IN ('pg_stat_statements', 'pgaudit', 'phased_change')}),
		'pg_stat_statements,pgaudit,phased_change',
		"$name: the extensions are created");
	is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
		$order, "$name: preloaded as '$order'");
	is( $node->safe_psql(
			'postgres', q{SELECT preloaded, uncounted FROM phased_change.usage_tracking()}),
		't|0', "$name: phased_change usage tracking runs");

	# pgaudit logs this DDL (pgaudit.log = 'ddl').
	$node->safe_psql(
		'postgres', q{
CREATE TABLE items (id int PRIMARY KEY, legacy_code text, code text);
INSERT INTO items VALUES (1, 'a', 'a'), (2, 'b', 'b');
SELECT phase_plan_create('codes', 'Move item codes', '0');
SELECT phase_retire('codes', 'items', 'legacy_code');
SELECT phase_introduce('codes', 'items', 'code');
});

	# The guard.
	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', 'ALTER TABLE items DROP COLUMN legacy_code');
	isnt($ret, 0, "$name: DROP COLUMN of a retired column fails");
	like(
		$stderr,
		qr/ERROR:  cannot drop column "legacy_code" of table "items"\nDETAIL:  The column is retired by change plan "codes"/,
		"$name: the guard refuses DROP COLUMN of a retired column");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM pg_attribute
						  WHERE attrelid = 'items'::regclass AND attname = 'legacy_code'
							AND NOT attisdropped}),
		'1', "$name: the retired column is still there");

	# Usage counting, through every other ExecutorCheckPerms_hook.
	is( $node->safe_psql(
			'postgres', q{SELECT legacy_code FROM items WHERE id = 2}),
		'b', "$name: the retired column is read");
	is( $node->safe_psql(
			'postgres', q{SELECT "column", reads, writes FROM phased_change.column_usage
						  WHERE plan = 'codes' ORDER BY "column"}),
		"code|0|0\nlegacy_code|1|0",
		"$name: the read is counted");

	# pg_stat_statements saw the same query.
	is( $node->safe_psql(
			'postgres', q{SELECT sum(calls) FROM pg_stat_statements
						  WHERE query = 'SELECT legacy_code FROM items WHERE id = $1'}),
		'1', "$name: pg_stat_statements has a row for the query");

	# pgaudit logged the DDL.
	my $log = slurp_file($node->logfile);
	like(
		$log,
		qr/AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE,TABLE,public\.items,"?CREATE TABLE items/,
		"$name: pgaudit logged CREATE TABLE");

	$node->safe_psql('postgres', q{SELECT phase_abandon('codes', 'end of test')});
	return;
}

# The usual order, with pg_cron.
my $order = 'pg_stat_statements, pgaudit, phased_change, pg_cron';
my $node = PostgreSQL::Test::Cluster->new('neighbours');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = '$order'
max_worker_processes = 8
cron.database_name = 'postgres'
pgaudit.log = 'ddl'
phased_change.verify_interval = 0
});
$node->append_conf('postgresql.conf', "cron.host = '" . $node->host . "'\n");
$node->start;

prove_neighbours($node, $order);

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
my $jobid = $node->safe_psql(
	'postgres', q{SELECT cron.schedule('verify-codes', '0 3 * * *',
									   $$SELECT phase_verify('codes')$$)});
like($jobid, qr/^\d+$/, 'cron.schedule returns a job id');
is( $node->safe_psql(
		'postgres', qq{SELECT jobname, schedule, command FROM cron.job WHERE jobid = $jobid}),
	q{verify-codes|0 3 * * *|SELECT phase_verify('codes')},
	'cron.job holds the scheduled job');
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) FROM pg_stat_activity
					  WHERE backend_type = 'pg_cron launcher'}, '1'),
	'the pg_cron launcher runs');

# The README's recipe without the scheduler: one pg_cron job calling
# phase_verify_all() as a role that is a member of the plans' owner,
# connecting over the Unix socket (cron.host).  pg_cron schedules by the
# minute at most in some versions: the first run may take a minute.
$node->safe_psql('postgres', q{
CREATE ROLE deployer;
GRANT CREATE ON SCHEMA public TO deployer;
GRANT EXECUTE ON FUNCTION phase_plan_create(text, text, interval),
	phase_check_add(text, text, text, text) TO deployer;
SET ROLE deployer;
CREATE TABLE cron_items (id int);
SELECT phase_plan_create('cron-plan', NULL, '0');
SELECT phase_check_add('cron-plan', 'expand', 'has items', 'NOT EXISTS (SELECT FROM cron_items)');
RESET ROLE;
CREATE ROLE plan_verifier LOGIN;
GRANT deployer TO plan_verifier;
GRANT EXECUTE ON FUNCTION phase_verify_all() TO plan_verifier;
});
$node->safe_psql('postgres', q{
	SELECT cron.schedule_in_database('verify-plans', '* * * * *',
		'SELECT count(*) FROM phase_verify_all()', 'postgres', 'plan_verifier')});
ok( $node->poll_query_until(
		'postgres', q{SELECT EXISTS (SELECT FROM phased_change.history
									  WHERE plan = 'cron-plan' AND event = 'verified'
										AND role = 'plan_verifier'
										AND detail ->> 'source' = 'phase_verify_all')}),
	'one pg_cron job verifies the plans of the roles its role belongs to');
is( $node->safe_psql(
		'postgres', q{SELECT DISTINCT status FROM cron.job_run_details d
					  JOIN cron.job j USING (jobid) WHERE j.jobname = 'verify-plans'}),
	'succeeded', 'the job succeeds');

$node->stop;

# phased_change first: its hooks are now the last of each chain.
my $order2 = 'phased_change, pg_stat_statements, pgaudit';
my $node2 = PostgreSQL::Test::Cluster->new('reordered');
$node2->init;
$node2->append_conf('postgresql.conf', qq{
shared_preload_libraries = '$order2'
max_worker_processes = 8
pgaudit.log = 'ddl'
});
$node2->start;

prove_neighbours($node2, $order2);

$node2->stop;
done_testing();
