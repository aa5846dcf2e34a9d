# Operating plans day to day (issue 12, items 1 to 3), preloaded:
#  (a) the scheduler verifies every active plan of every database that has
#      the extension, every phased_change.verify_interval, as each plan's
#      owner, without any call; a database without the extension and one
#      dropped while it runs stop nothing; the history grows only when an
#      outcome changes; at most one database worker runs at a time;
#  (b) verify_interval = 0 turns it off, and a SIGHUP with a new interval
#      turns it on again;
#  (c) phase_verify_all() gives a plan whose verification raises an error
#      (its row locked past lock_timeout) ok = false and a WARNING, and
#      verifies the others;
#  (d) every history event is sent by NOTIFY phased_change at commit, as
#      JSON (refusals recorded by the recorder too, with the object); a
#      rolled-back event is not sent;
#  (e) every transition and refusal writes one LOG line of a fixed form;
#      a rolled-back transition writes none;
#  (f) the server stops with the scheduler running.
#
# Waits poll; nothing depends on how fast the machine is.

use strict;
use warnings;

use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('operations');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'phased_change'
max_worker_processes = 8
phased_change.verify_interval = '1s'
});
$node->start;
my $super = $node->safe_psql('postgres', 'SELECT current_user');

# A plan owned by a role that is not a superuser, with one check, in db.
sub make_plan
{
	my ($db, $plan) = @_;
	$node->safe_psql($db, qq{
CREATE EXTENSION IF NOT EXISTS phased_change;
DO \$\$ BEGIN CREATE ROLE tap_owner; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
GRANT CREATE ON SCHEMA public TO tap_owner;
GRANT EXECUTE ON FUNCTION phase_plan_create(text, text, interval),
	phase_check_add(text, text, text, text) TO tap_owner;
SET ROLE tap_owner;
CREATE TABLE items_$db (id int, code text);
INSERT INTO items_$db VALUES (1, 'a');
SELECT phase_plan_create('$plan', NULL, '0');
SELECT phase_check_add('$plan', 'expand', 'coded',
	'NOT EXISTS (SELECT FROM items_$db WHERE code IS NULL)');
});
}

sub last_verified
{
	my ($db, $plan) = @_;
	return $node->safe_psql($db,
		"SELECT coalesce(last_verified_at::text, '') FROM phased_change.plan WHERE name = '$plan'");
}

# Wait until the scheduler has verified the plan after $since.
sub verified_after
{
	my ($db, $plan, $since) = @_;
	my $cond = $since eq '' ? 'last_verified_at IS NOT NULL'
	  : "last_verified_at > '$since'";
	return $node->poll_query_until($db,
		"SELECT $cond FROM phased_change.plan WHERE name = '$plan'");
}

# (a) Two databases with plans, one without the extension, one doomed.
$node->safe_psql('postgres', $_)
  for ('CREATE DATABASE ops1', 'CREATE DATABASE ops2', 'CREATE DATABASE noext',
	'CREATE DATABASE doomed');
make_plan('ops1', 'one');
make_plan('ops2', 'two');
make_plan('doomed', 'doomed');
my $log_start = -s $node->logfile;

ok(verified_after('ops1', 'one', ''), 'the scheduler verifies a plan of one database');
ok(verified_after('ops2', 'two', ''), 'and of another');
ok(verified_after('doomed', 'doomed', ''), 'and of a third');
is( $node->safe_psql('ops1', q{
		SELECT event, role, actor = (SELECT rolname FROM pg_roles WHERE oid = 10),
			   application_name, detail ->> 'source'
		FROM phased_change.history WHERE plan = 'one' AND checks_ok IS NOT NULL}),
	"verified|tap_owner|t|phased_change scheduler|scheduler",
	'as the plan\'s owner, by the scheduler, recorded once');

$node->safe_psql('postgres', 'DROP DATABASE doomed');
my $seen = last_verified('ops1', 'one');
ok(verified_after('ops1', 'one', $seen), 'verification goes on after a database is dropped');
$seen = last_verified('ops1', 'one');
ok(verified_after('ops1', 'one', $seen), 'and again');
is($node->safe_psql('ops1', q{
		SELECT count(*) FROM phased_change.history WHERE plan = 'one' AND checks_ok IS NOT NULL}),
	'1', 'an unchanged outcome adds no history');

# A failure is recorded once, and so is the recovery.
$node->safe_psql('ops1', q{UPDATE items_ops1 SET code = NULL});
ok($node->poll_query_until('ops1',
		q{SELECT NOT last_verification_ok FROM phased_change.plan WHERE name = 'one'}),
	'the scheduler sees the check fail');
$seen = last_verified('ops1', 'one');
ok(verified_after('ops1', 'one', $seen), 'and verifies it again');
$node->safe_psql('ops1', q{UPDATE items_ops1 SET code = 'a'});
ok($node->poll_query_until('ops1',
		q{SELECT last_verification_ok FROM phased_change.plan WHERE name = 'one'}),
	'then hold');
is($node->safe_psql('ops1', q{
		SELECT string_agg(event, ',' ORDER BY event_id) FROM phased_change.history
		WHERE plan = 'one' AND checks_ok IS NOT NULL}),
	'verified,verify_failed,verified', 'one history row per change of outcome');

# pg_stat_activity is read once per transaction: one sample per query
my $workers = 0;
for (1 .. 30)
{
	my $n = $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'phased_change scheduler database'});
	$workers = $n if $n > $workers;
}
cmp_ok($workers, '<=', 1, 'at most one database worker at a time');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'phased_change scheduler'}),
	'1', 'one scheduler');

my $log = slurp_file($node->logfile, $log_start);
unlike($log, qr/noext/, 'the database without the extension is passed over quietly');
my @bad = grep { /(ERROR|WARNING|FATAL):/ && !/database \d+ does not exist/ } split /\n/, $log;
is(join("\n", @bad), '', 'no error, but for a worker started for the dropped database');

# (b) Off, then on again with a SIGHUP.
$node->safe_psql('postgres', q{ALTER SYSTEM SET phased_change.verify_interval = 0});
$node->reload;
# a round that had started when the reload arrived may still finish
sleep 2;
$seen = last_verified('ops1', 'one');
sleep 3;
is(last_verified('ops1', 'one'), $seen, 'verify_interval = 0: no verification');
$node->safe_psql('postgres', q{ALTER SYSTEM SET phased_change.verify_interval = '1s'});
$node->reload;
ok(verified_after('ops1', 'one', $seen), 'a SIGHUP with an interval turns it on again');
$node->safe_psql('postgres', q{ALTER SYSTEM SET phased_change.verify_interval = 0});
$node->reload;
my ($ret, $stdout, $stderr) = $node->psql('ops1',
	q{SET phased_change.verify_interval = '5s'});
like($stderr, qr/cannot be changed now/, 'verify_interval cannot be set in a session');

# (c) phase_verify_all with one plan's row locked.
$node->safe_psql('ops1', q{SELECT phase_plan_create('locked', NULL, '0')});
my ($lock_in, $lock_out, $lock_err) =
  ("BEGIN;\nSELECT 1 FROM phased_change.plan WHERE name = 'locked' FOR UPDATE;\nSELECT 'locked';\n", '', '');
my $locker = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('ops1') ],
	'<', \$lock_in, '>', \$lock_out, '2>', \$lock_err, IPC::Run::timeout(120));
$locker->pump until $lock_out =~ /locked/;
($ret, $stdout, $stderr) = $node->psql('ops1',
	q{SET lock_timeout = '100ms'; SELECT plan, ok, ready FROM phase_verify_all() ORDER BY plan});
is($stdout, "locked|f|f\none|t|t", 'phase_verify_all: the locked plan fails, the other is verified');
like($stderr, qr/WARNING:  could not verify change plan "locked": canceling statement due to lock timeout/,
	'with a WARNING naming the plan');
$lock_in .= "ROLLBACK;\n\\q\n";
$locker->finish;

# (d) NOTIFY, and (e) LOG lines.
$log_start = -s $node->logfile;
$node->safe_psql('ops1', q{
CREATE TABLE orders (id int, legacy int, total int);
SELECT phase_plan_create('notify-me', NULL, '0');
SELECT phase_retire('notify-me', 'orders', 'legacy');
SELECT phase_advance('notify-me');
SELECT phase_advance('notify-me');
});
($ret, $stdout, $stderr) = $node->psql('ops1', q{
LISTEN phased_change;
ALTER TABLE orders DROP COLUMN legacy;
SELECT phased_change.recorder_wait();
SELECT phase_advance('notify-me');
BEGIN;
SELECT phase_rollback('notify-me', 'not sent');
ROLLBACK;
SELECT phase_soak_set('notify-me', 'contract', '1 hour');
SELECT phase_rollback('notify-me', 'back');
SELECT phase_advance('notify-me');
SELECT phased_change.recorder_wait();
SELECT 'done';
}, on_error_stop => 0);
my @payloads;
push @payloads, decode_json($1)
  while $stdout =~ /Asynchronous notification "phased_change" with payload "(.*?)" received/g;
my @events = map { $_->{event} } @payloads;
is(join(',', @events),
	'ddl_blocked,verified,advanced,soak_set,rolled_back,verified,advance_refused',
	'every event is notified at commit, a rolled-back one never; refusals by the recorder')
  or diag $stdout;
my ($advanced) = grep { $_->{event} eq 'advanced' } @payloads;
is_deeply([ sort keys %$advanced ],
	[qw(actor at event event_id from_phase plan role to_phase)], 'the payload fields');
is(join('|', map { $_ // 'null' } @$advanced{qw(plan from_phase to_phase actor role)}),
	"notify-me|contract|cleanup|$super|$super", 'what a transition says');
like($advanced->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, 'when, in ISO 8601');
my ($blocked) = grep { $_->{event} eq 'ddl_blocked' } @payloads;
like($blocked->{object}, qr/orders\.legacy/, 'a refusal names the object');
is($blocked->{from_phase}, 'contract', 'and the phase');

$log = slurp_file($node->logfile, $log_start);
my @lines = $log =~ /LOG:  (phased_change: .*)/g;
my $expected = join("\n",
	qq{phased_change: plan "notify-me" advanced from phase "expand" to phase "migrate" by role "$super"},
	qq{phased_change: plan "notify-me" advanced from phase "migrate" to phase "contract" by role "$super"},
	qq{phased_change: refused drop of "\\S*orders.legacy" \\(plan "notify-me", phase "contract"\\) by role "$super"},
	qq{phased_change: plan "notify-me" advanced from phase "contract" to phase "cleanup" by role "$super"},
	qq{phased_change: plan "notify-me" rolled back from phase "cleanup" to phase "contract" by role "$super"},
	qq{phased_change: refused phase_advance of plan "notify-me" in phase "contract" by role "$super"});
like(join("\n", @lines), qr/^$expected$/,
	'one LOG line per transition and refusal, none for the rolled-back one')
  or diag join("\n", @lines);

# An override that lets guarded DDL through is logged the same way.
$log_start = -s $node->logfile;
$node->safe_psql('ops1', q{SET phased_change.override = 'drill';
	ALTER TABLE orders DROP COLUMN legacy;});
like(slurp_file($node->logfile, $log_start),
	qr/LOG:  phased_change: override let drop of "\S*orders.legacy" \(plan "notify-me", phase "contract"\) by role "$super"/,
	'an override writes one LOG line');

# (f) The server stops with the scheduler running.
$node->safe_psql('postgres', q{ALTER SYSTEM SET phased_change.verify_interval = '1s'});
$node->reload;
$node->stop('fast');
ok(!defined $node->{_pid}, 'the server stops with the scheduler running');

done_testing();
