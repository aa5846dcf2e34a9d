# The plan catalog replicates to a logical-replication subscriber that has
# the extension, and the subscriber's guard holds with what arrives.
#
# A publication of the schema phased_change carries the plans, their
# objects, checks, soaks and history.  The table sync of every catalog
# table completes, phased_change.phase included (both sides hold the same
# four rows; re-inserting one is a no-op).  A session on the subscriber
# whose guard cache was loaded before a plan arrived sees the plan: the
# apply worker fires the catalog's row triggers, which invalidate the cache.
# The subscriber records its own refusals (ids past the replicated ones,
# with a gap), and the publisher's later history still applies: no id
# collision stops the subscription.
#
# Run twice: with the guard in event triggers only, and preloaded.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $drop = q{ALTER TABLE user_profile DROP COLUMN legacy_categories};
my $refusal =
  qr/ERROR:  cannot drop column "legacy_categories" of table "user_profile"/;

sub node
{
	my ($name, $preload) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'phased_change'") if $preload;
	$node->start;
	$node->safe_psql(
		'postgres', q{
CREATE EXTENSION phased_change;
CREATE TABLE user_profile (id int PRIMARY KEY, legacy_categories text[],
						   primary_categories text[], scratch int);
});
	return $node;
}

sub run_case
{
	my ($preload) = @_;
	my $mode = $preload ? 'preloaded' : 'event triggers';
	my $pub = node("pub_$preload", $preload);
	my $sub = node("sub_$preload", $preload);

	# A plan that exists before the subscription: copied by the table sync.
	$pub->safe_psql(
		'postgres', q{
SELECT phase_plan_create('early', 'Exists before the subscription', '0');
SELECT phase_check_add('early', 'expand', 'always', 'true');
SELECT phase_verify('early');
CREATE PUBLICATION catalog FOR TABLES IN SCHEMA phased_change;
});

	my $connstr = $pub->connstr . ' dbname=postgres';
	$sub->safe_psql('postgres',
		"CREATE SUBSCRIPTION catalog CONNECTION '$connstr' PUBLICATION catalog"
	);
	ok( $sub->poll_query_until(
			'postgres',
			q{SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate <> 'r'}),
		"$mode: the table sync of the catalog finishes")
	  or die "$mode: the table sync of the catalog did not finish";
	is( $sub->safe_psql(
			'postgres',
			q{SELECT count(*) FROM pg_subscription_rel r
			  JOIN pg_class c ON c.oid = r.srrelid
			  WHERE c.relnamespace = 'phased_change'::regnamespace AND r.srsubstate = 'r'}
		),
		# every table of the catalog, however many a version has
		$pub->safe_psql(
			'postgres',
			q{SELECT count(*) FROM pg_class
			  WHERE relnamespace = 'phased_change'::regnamespace AND relkind = 'r'}),
		"$mode: every catalog table, phase included, is synchronized");
	is($sub->safe_psql('postgres', q{SELECT name FROM phased_change.phase ORDER BY phase}),
		"expand\nmigrate\ncontract\ncleanup", "$mode: the phases are the four phases");

	# Once the sync is done, a session on the subscriber loads its guard cache for user_profile.
	my $session = $sub->background_psql('postgres', on_error_stop => 0);
	$session->query(q{ALTER TABLE user_profile RENAME COLUMN scratch TO scratch2});
	like($session->{stderr}, qr/is not retired by an active change plan/,
		"$mode: the subscriber's session found user_profile unguarded");
	$session->{stderr} = '';

	# A plan created on the publisher after the sync, through the apply worker.
	$pub->safe_psql(
		'postgres', q{
SELECT phase_plan_create('categories', 'Replicated plan', '0');
SELECT phase_retire('categories', 'user_profile', 'legacy_categories');
});
	$pub->wait_for_catchup('catalog');

	$session->query($drop);
	like($session->{stderr}, $refusal,
		"$mode: a session whose guard cache was loaded sees the replicated plan");
	$session->{stderr} = '';
	$session->quit;

	my ($ret, $stdout, $stderr) = $sub->psql('postgres', $drop);
	isnt($ret, 0, "$mode: a new session's DROP fails");
	like($stderr, $refusal, "$mode: with the refusal, not a write error");
	unlike($stderr, qr/duplicate key/, "$mode: no history id collides");
	ok( $sub->poll_query_until(
			'postgres',
			q{SELECT count(*) = 2 FROM phased_change.blocked_ddl WHERE plan = 'categories'}),
		"$mode: the subscriber recorded both refusals");

	# The publisher's history goes on and still applies on the subscriber
	# (a verification is recorded when its outcome changes: 'categories'
	# had not been verified, 'early' had, with the same outcome).
	$pub->safe_psql('postgres',
		q{SELECT phase_verify('categories'); SELECT phase_verify('early')});
	$pub->wait_for_catchup('catalog');
	is( $sub->safe_psql(
			'postgres',
			q{SELECT count(*) FROM phased_change.history WHERE event = 'verified'}),
		'2',
		"$mode: the publisher's later events reach the subscriber");
	my $pub_events = $pub->safe_psql('postgres',
		q{SELECT event_id, plan, event FROM phased_change.history ORDER BY event_id});
	is( $sub->safe_psql(
			'postgres',
			q{SELECT event_id, plan, event FROM phased_change.history
			  WHERE event <> 'ddl_blocked' ORDER BY event_id}),
		$pub_events,
		"$mode: the subscriber's history holds the publisher's, ids unchanged");
	ok( !$sub->log_contains(qr/duplicate key value/),
		"$mode: the apply worker never hit a duplicate key");

	$sub->stop;
	$pub->stop;
}

run_case(0);
run_case(1);

done_testing();
