# Restores that used to lose plans or break the history.
#
# 1. pg_restore --no-owner --no-privileges onto a server that lacks the role
#    owning one plan: the owner is stored by name, so the plan rows copy;
#    every plan is kept, the others guard as before, pg_restore says which
#    plan has no owner, and progress blocks that plan until a superuser
#    reassigns it with phase_owner_set.
# 2. pg_restore --data-only of an older dump into a database whose plans
#    have moved on since: the dump sets the catalog's sequences back, and
#    later writes (history events, plans, checks) must not collide with the
#    rows already there: phase_verify, phase_advance, a refused DROP and a
#    new plan all work, and the refusal is the refusal.
#
# Run twice: with the guard in event triggers only, and preloaded.

use strict;
use warnings;

use IPC::Run;
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
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'phased_change'") if $preload;
	$node->start;
	return $node;
}

# Run a client program; returns (exit status, stdout, stderr).
sub run
{
	my @cmd = @_;
	my ($stdout, $stderr) = ('', '');
	IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, $stdout, $stderr);
}

sub run_case
{
	my ($preload) = @_;
	my $mode = $preload ? 'preloaded' : 'event triggers';
	my $src = node("src_$preload", $preload);
	my $dst = node("dst_$preload", $preload);

	$src->safe_psql(
		'postgres', q{
CREATE EXTENSION phased_change;
CREATE ROLE alice;
GRANT CREATE ON SCHEMA public TO alice;
GRANT EXECUTE ON FUNCTION phase_plan_create(text, text, interval),
	phase_retire(text, regclass, name) TO alice;
CREATE TABLE user_profile (id int, legacy_categories text[], primary_categories text[]);
SELECT phase_plan_create('mine', 'Owned by the superuser', '0');
SELECT phase_retire('mine', 'user_profile', 'legacy_categories');
SET ROLE alice;
CREATE TABLE alice_table (id int, old_col int);
SELECT phase_plan_create('alices', 'Owned by a role the target lacks', '0');
SELECT phase_retire('alices', 'alice_table', 'old_col');
RESET ROLE;
SELECT phase_verify('mine');
});
	my $dump = $src->basedir . '/src.dump';
	$src->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('postgres') ],
		"$mode: pg_dump");

	# 1. The target has no role alice.
	$dst->safe_psql('postgres', 'CREATE DATABASE restored');
	my ($rc, $out, $err) = run('pg_restore', '--no-owner', '--no-privileges', '--verbose',
		'-d', $dst->connstr('restored'), $dump);
	is($rc, 0, "$mode: pg_restore --no-owner --no-privileges succeeds");
	unlike($err, qr/errors ignored/, "$mode: with no error ignored");
	like($err,
		qr/owner role "alice" of change plan "alices" does not exist/,
		"$mode: pg_restore --verbose says which plan has no owner");
	ok($dst->log_contains(qr/WARNING:  owner role "alice" of change plan "alices" does not exist/),
		"$mode: so does the server log");
	is( $dst->safe_psql(
			'restored', q{SELECT name, owner FROM phased_change.plan ORDER BY name}),
		"alices|alice\nmine|" . $src->safe_psql('postgres', 'SELECT current_user'),
		"$mode: every plan is kept, with its owner's name");
	is( $dst->safe_psql(
			'restored', q{SELECT event FROM phased_change.history ORDER BY event_id}),
		$src->safe_psql(
			'postgres', q{SELECT event FROM phased_change.history ORDER BY event_id}),
		"$mode: the history is kept");
	my ($ret, $stdout, $stderr) = $dst->psql('restored', $drop);
	like($stderr, $refusal, "$mode: the plan whose owner exists still guards");
	($ret, $stdout, $stderr) =
	  $dst->psql('restored', q{ALTER TABLE alice_table DROP COLUMN old_col});
	like($stderr, qr/cannot drop column "old_col" of table "alice_table"/,
		"$mode: so does the plan whose owner is missing");
	like( $dst->safe_psql(
			'restored', q{SELECT blockers[1] FROM phased_change.progress WHERE plan = 'alices'}),
		qr/owner role "alice" does not exist/,
		"$mode: progress says the owner is missing");
	$dst->psql('restored', q{CREATE ROLE bob; SELECT phase_owner_set('alices', 'bob')});
	is( $dst->safe_psql(
			'restored', q{SELECT owner, blockers FROM phased_change.progress WHERE plan = 'alices'}),
		'bob|{}',
		"$mode: a superuser reassigns the plan");

	# 2. The plans move on after the dump; then an older dump's data comes back.
	$dst->safe_psql('postgres', 'CREATE DATABASE moved_on; CREATE ROLE alice');
	($rc, $out, $err) = run('pg_restore', '--no-owner', '--no-privileges',
		'-d', $dst->connstr('moved_on'), $dump);
	is($rc, 0, "$mode: full restore for the data-only case");
	$dst->safe_psql(
		'moved_on', q{
SELECT phase_verify('mine') FROM generate_series(1, 5);
SELECT phase_plan_create('later', 'Created after the dump', '0');
SELECT phase_check_add('later', 'expand', 'always', 'true');
SELECT phase_soak_set('mine', 'migrate', '1 day');
});
	($rc, $out, $err) = run('pg_restore', '--data-only', '-d', $dst->connstr('moved_on'), $dump);
	like($err, qr/duplicate key/, "$mode: the data-only restore collides on the rows already there");
	is( $dst->safe_psql(
			'moved_on', q{SELECT last_value < (SELECT max(event_id) FROM phased_change.event_log)
						  FROM phased_change.event_id_seq}),
		't',
		"$mode: and it set event_log's sequence back");

	is($dst->safe_psql('moved_on', q{SELECT phase_verify('mine')}),
		't', "$mode: phase_verify records its verification");
	is($dst->safe_psql('moved_on', q{SELECT phase_advance('mine')}),
		'migrate', "$mode: phase_advance records its transition");
	($ret, $stdout, $stderr) = $dst->psql('moved_on', q{SELECT phase_advance('mine')});
	like($stderr, qr/cannot leave phase "migrate" yet/,
		"$mode: a refused advance is the refusal");
	($ret, $stdout, $stderr) = $dst->psql('moved_on', $drop);
	like($stderr, $refusal, "$mode: a refused DROP is the refusal");
	unlike($stderr, qr/duplicate key/, "$mode: not a duplicate key");
	$dst->safe_psql(
		'moved_on', q{
SELECT phase_plan_create('newest', NULL, '0');
SELECT phase_check_add('newest', 'expand', 'always', 'true');
SELECT phase_retire('newest', 'alice_table', 'id');
});
	is( $dst->safe_psql(
			'moved_on', q{SELECT count(*) FROM phased_change.plan}),
		'4',
		"$mode: a new plan, its check and its object get ids of their own");
	ok( $dst->poll_query_until(
			'moved_on',
			q{SELECT count(*) = 2 FROM phased_change.history
			  WHERE event IN ('advance_refused', 'ddl_blocked') AND plan = 'mine'}),
		"$mode: both refusals are in the history");

	$dst->stop;
	$src->stop;
}

run_case(0);
run_case(1);

done_testing();
