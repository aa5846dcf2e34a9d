# A crash never leaves a change plan between two phases.
#
# The server is shut down with "immediate" (no checkpoint, crash recovery at
# the next start) in the middle of phase_advance and in the middle of a
# refused DROP COLUMN.  After every restart the plan is in exactly the old
# or the new phase, its history matches that phase (no transition, and no
# verification, of an advance that did not commit; exactly one 'advanced'
# event for one that did), phased_change.progress agrees, and the guard
# still refuses to drop the retired column.  A refused DROP's blocked_ddl
# record is spooled durably by the refusal recorder before the error
# reaches the client, so it survives the crash as well and is recorded
# after it (the history is read after phased_change.recorder_wait()).
#
# The library is not preloaded: the guard lives in its event triggers.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->start;

# "knob" sets how long the 'slow' checks sleep: 0 normally, long while a
# test wants a phase_advance caught in the middle of its checks.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION phased_change;
CREATE TABLE user_profile (id int PRIMARY KEY, legacy_categories text[],
						   primary_categories text[]);
INSERT INTO user_profile VALUES (1, '{news}', '{news}'), (2, '{music}', '{music}');
CREATE TABLE knob (secs float8 NOT NULL);
INSERT INTO knob VALUES (0);

SELECT phase_plan_create('crash', 'Crash safety', '0');
SELECT phase_retire('crash', 'user_profile', 'legacy_categories');
SELECT phase_introduce('crash', 'user_profile', 'primary_categories');
SELECT phase_check_add('crash', 'expand', 'slow',
	'pg_sleep((SELECT secs FROM knob)) IS NOT NULL');
SELECT phase_check_add('crash', 'migrate', 'slow',
	'pg_sleep((SELECT secs FROM knob)) IS NOT NULL');
SELECT phase_check_add('crash', 'migrate', 'backfilled',
	'NOT EXISTS (SELECT FROM user_profile WHERE primary_categories IS DISTINCT FROM legacy_categories)');
});

my $drop = q{ALTER TABLE user_profile DROP COLUMN legacy_categories};

# The whole history of the plan, in order, without timestamps.
sub history
{
	$node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}) eq 't'
	  or die "the refusal recorder did not drain its spool";
	return $node->safe_psql(
		'postgres', q{
SELECT event, from_phase, to_phase, checks_ok, detail ->> 'source'
FROM phased_change.history WHERE plan = 'crash' ORDER BY event_id});
}

sub legacy_exists
{
	return $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_attribute
WHERE attrelid = 'user_profile'::regclass
  AND attname = 'legacy_categories' AND NOT attisdropped});
}

# The guard refuses to drop the retired column, and the column stays.
sub guard_holds
{
	my ($label, $sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql // $drop);
	isnt($ret, 0, "$label: DROP COLUMN of the retired column fails");
	like(
		$stderr,
		qr/ERROR:  cannot drop column "legacy_categories" of table "user_profile"/,
		"$label: refused by the guard");
	is(legacy_exists(), '1', "$label: the retired column still exists");
}

# The plan is in $phase, the plan row, progress and history agree, the
# plan's advances are exactly @$advanced, and the guard holds.
sub consistent
{
	my ($label, $phase, $advanced) = @_;

	is( $node->safe_psql(
			'postgres', q{
SELECT p.status || '|' || ph.name FROM phased_change.plan p
JOIN phased_change.phase ph ON ph.phase = p.phase WHERE p.name = 'crash'}),
		"active|$phase",
		"$label: plan row is active in phase $phase");
	is( $node->safe_psql(
			'postgres', q{
SELECT status, phase FROM phased_change.progress WHERE plan = 'crash'}),
		"active|$phase",
		"$label: progress agrees");

	my $last = $node->safe_psql(
		'postgres', q{
SELECT to_phase FROM phased_change.history
WHERE plan = 'crash' AND event IN ('advanced', 'rolled_back')
ORDER BY event_id DESC LIMIT 1});
	if ($last eq '')
	{
		is($phase, 'expand', "$label: no transition in the history, plan in expand");
	}
	else
	{
		is($last, $phase, "$label: the last transition in the history entered $phase");
	}
	is( $node->safe_psql(
			'postgres', q{
SELECT coalesce(string_agg(to_phase, ',' ORDER BY event_id), '')
FROM phased_change.history WHERE plan = 'crash' AND event = 'advanced'}),
		join(',', @$advanced),
		"$label: the history holds exactly the advances that committed");
	guard_holds($label);
}

# Shut down with "immediate" and start again (crash recovery).  A psql
# session whose connection died is collected.
sub crash_restart
{
	my ($session) = @_;
	$node->stop('immediate');
	if ($session)
	{
		eval { $session->quit; 1 } or eval { $session->{run}->kill_kill; };
	}
	$node->start;
}

consistent('before any crash', 'expand', []);

# An advance interrupted by an immediate shutdown while its check sleeps
# leaves the plan where it was, with the history unchanged.
sub interrupted_advance
{
	my ($label, $phase, $advanced) = @_;
	$node->safe_psql('postgres', 'UPDATE knob SET secs = 3600');
	my $before = history();
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	$session->query_until(qr/advancing/,
		"\\echo advancing\nSELECT phase_advance('crash');\n");
	ok( $node->poll_query_until(
			'postgres', q{
SELECT EXISTS (SELECT FROM pg_stat_activity
			   WHERE pid <> pg_backend_pid() AND state = 'active'
				 AND query LIKE 'SELECT phase_advance%'
				 AND wait_event = 'PgSleep')}),
		"$label phase_advance is running its sleeping check");
	crash_restart($session);
	is(history(), $before, "$label history unchanged: no trace of the interrupted advance");
	consistent("$label after the crash", $phase, $advanced);
	$node->safe_psql('postgres', 'UPDATE knob SET secs = 0');
}

#
# (a) phase_advance inside a transaction that never commits.
#
my $before = history();
my $session = $node->background_psql('postgres');
$session->query_safe('BEGIN');
is($session->query_safe(q{SELECT phase_advance('crash')}),
	'migrate', '(a) phase_advance returned migrate inside the open transaction');
is( $session->query_safe(
		q{SELECT phase FROM phased_change.progress WHERE plan = 'crash'}),
	'migrate',
	'(a) the open transaction sees its own advance');
is( $node->safe_psql(
		'postgres', q{SELECT phase FROM phased_change.progress WHERE plan = 'crash'}),
	'expand',
	'(a) other sessions still see expand');
crash_restart($session);
is(history(), $before, '(a) history unchanged: no trace of the uncommitted advance');
consistent('(a) after the crash', 'expand', []);

#
# (b) phase_advance caught while its check runs (sleeps).
#
interrupted_advance('(b)', 'expand', []);

#
# (c) a committed advance survives the crash, recorded once.
#
is($node->safe_psql('postgres', q{SELECT phase_advance('crash')}),
	'migrate', '(c) phase_advance to migrate committed');
my $committed = history();
like(
	$committed,
	qr/\Qverified|expand||t|phase_advance\E\nadvanced\|expand\|migrate\|\|\z/,
	'(c) the history ends with the verification and the advance');
crash_restart();
is(history(), $committed, '(c) history as committed');
consistent('(c) after the crash', 'migrate', ['migrate']);

#
# (b) again, from migrate: an advance to contract interrupted in its check.
#
interrupted_advance('(b, migrate)', 'migrate', ['migrate']);

#
# (d) a refused DROP COLUMN immediately followed by the crash.
#
my $marked = "$drop /* case d */";
$before = history();
my ($ret, $stdout, $stderr) = $node->psql('postgres', $marked);
isnt($ret, 0, '(d) DROP COLUMN refused');
like(
	$stderr,
	qr/ERROR:  cannot drop column "legacy_categories" of table "user_profile"/,
	'(d) refused by the guard');
crash_restart();
is(legacy_exists(), '1', '(d) the column still exists after the crash');
is(history(), "$before\nddl_blocked|migrate|||",
	'(d) history: the refusal, and nothing else, was added');
is( $node->safe_psql(
		'postgres', qq{
SELECT plan, object, statement FROM phased_change.blocked_ddl
WHERE statement LIKE '%case d%'}),
	"crash|public.user_profile.legacy_categories|$marked",
	'(d) the blocked_ddl record survived the crash');
guard_holds('(d) the same DROP after the crash', $marked);
is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
	't', '(d) the refusal recorder drains its spool');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM phased_change.blocked_ddl WHERE statement LIKE '%case d%'}),
	'2',
	'(d) the repeated refusal is recorded as well');
consistent('(d) after the crash', 'migrate', ['migrate']);

#
# After all this the plan runs to its end.
#
is($node->safe_psql('postgres', q{SELECT phase_advance('crash')}),
	'contract', 'the plan advances to contract');
is($node->safe_psql('postgres', q{SELECT phase_advance('crash')}),
	'cleanup', 'the plan advances to cleanup');
$node->safe_psql('postgres', $drop);
is(legacy_exists(), '0', 'the retired column is dropped in cleanup');
is($node->safe_psql('postgres', q{SELECT phase_advance('crash')}),
	'completed', 'the plan completes');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(coalesce(to_phase, event), ',' ORDER BY event_id)
FROM phased_change.history
WHERE plan = 'crash' AND event IN ('advanced', 'rolled_back', 'completed')}),
	'migrate,contract,cleanup,completed',
	'one transition per phase in the history');

# The crashes were the immediate shutdowns, nothing else.
my $log = slurp_file($node->logfile);
unlike($log, qr/was terminated by signal|PANIC|TRAP:/,
	'no backend crashed');

$node->stop;
done_testing();
