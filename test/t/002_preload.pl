# phased_change in shared_preload_libraries: usage evidence and a guard
# that cannot be switched off.
#
# Preloaded, phased_change counts every read and write of a guarded column
# in shared memory, and this test proves what that evidence is worth:
#  (a) a read through a prepared statement (each EXECUTE) and through
#      COPY ... TO STDOUT is counted, exactly;
#  (b) in phase contract a read of a retired column restarts the soak;
#  (c) the counts and their start survive a clean (fast) restart;
#  (d) after an immediate shutdown, and after a crash (a backend killed),
#      they are gone, the evidence starts again at the restart, and a plan
#      in contract counts its soak from there -- unless
#      phased_change.require_usage_evidence is off, when the gap is only a
#      warning and the plan may advance;
#  (e) with both of the guard's event triggers disabled (which only the
#      audited override allows) the hooks still refuse a DROP COLUMN of a
#      retired column and a DROP TYPE ... CASCADE that reaches one;
#  (f) DROP EXTENSION phased_change is refused while a plan is active and
#      goes through once none is.
#
# Nothing here depends on how fast the machine is: waits poll, and the one
# soak that must not run out between two statements is checked in the same
# psql call as the read that restarted it.

use strict;
use warnings;

use File::Basename;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'phased_change'
max_worker_processes = 8
restart_after_crash = on
});
$node->start;

my $appname = basename($0);    # PGAPPNAME of every psql the test runs
my $me = $node->safe_psql('postgres', 'SELECT current_user');
my $stat_file = $node->data_dir . '/pg_stat/phased_change.stat';

# Two plans.  "notes" (soak 0 but 5 seconds in contract) retires
# accounts.legacy_note for accounts.note; "gap" (an hour in contract)
# retires two columns of orders, one of them of a type of its own.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION phased_change;

CREATE TABLE accounts (id int PRIMARY KEY, legacy_note text, note text);
INSERT INTO accounts VALUES (1, 'one', 'one'), (2, 'two', 'two');
CREATE TYPE order_status AS ENUM ('open', 'closed');
CREATE TABLE orders (id int PRIMARY KEY, legacy_ref text,
					 legacy_status order_status, ref text);
INSERT INTO orders VALUES (1, 'r1', 'open', 'r1');

SELECT phase_plan_create('notes', 'Move notes to accounts.note', '0');
SELECT phase_soak_set('notes', 'contract', '5 seconds');
SELECT phase_retire('notes', 'accounts', 'legacy_note');
SELECT phase_introduce('notes', 'accounts', 'note');

SELECT phase_plan_create('gap', 'Retire the order reference', '0');
SELECT phase_soak_set('gap', 'contract', '1 hour');
SELECT phase_retire('gap', 'orders', 'legacy_ref');
SELECT phase_retire('gap', 'orders', 'legacy_status');
SELECT phase_introduce('gap', 'orders', 'ref');
});

is( $node->safe_psql(
		'postgres', q{SELECT preloaded, tracking_since IS NOT NULL, uncounted,
							 require_evidence
					  FROM phased_change.usage_tracking()}),
	't|t|0|t',
	'usage tracking runs when preloaded, and evidence is required by default');

# The counts of one plan's objects, as column_usage shows them.
sub usage
{
	my ($plan) = @_;
	return $node->safe_psql(
		'postgres', qq{SELECT "table", "column", reads, writes
					   FROM phased_change.column_usage
					   WHERE plan = '$plan' ORDER BY "column"});
}

sub tracking_since
{
	return $node->safe_psql('postgres',
		'SELECT tracking_since FROM phased_change.usage_tracking()');
}

is(usage('notes'),
	"public.accounts|legacy_note|0|0\npublic.accounts|note|0|0",
	'nothing counted before any use');

# (a) A prepared statement counts at every execution, COPY ... TO once.
$node->safe_psql(
	'postgres', q{
PREPARE legacy_by_id AS SELECT legacy_note FROM accounts WHERE id = $1;
EXECUTE legacy_by_id(1);
EXECUTE legacy_by_id(2);
});
is(usage('notes'),
	"public.accounts|legacy_note|2|0\npublic.accounts|note|0|0",
	'(a) two EXECUTEs of a prepared statement count two reads');

is($node->safe_psql('postgres', 'COPY accounts (id, legacy_note) TO STDOUT'),
	"1\tone\n2\ttwo", '(a) COPY TO STDOUT returns the retired column');
is(usage('notes'),
	"public.accounts|legacy_note|3|0\npublic.accounts|note|0|0",
	'(a) COPY TO STDOUT counts one read');

# Writes, so that (c) has some to keep: one to each column, one to the new.
$node->safe_psql(
	'postgres', q{
INSERT INTO accounts VALUES (3, 'three', 'three');
UPDATE accounts SET note = 'uno' WHERE id = 1;
});
is(usage('notes'),
	"public.accounts|legacy_note|3|1\npublic.accounts|note|0|2",
	'(a) inserted and updated columns count as writes');
is( $node->safe_psql(
		'postgres', q{SELECT last_role, last_application_name,
							 first_seen <= last_seen, last_seen >= tracking_since
					  FROM phased_change.column_usage
					  WHERE plan = 'notes' AND "column" = 'legacy_note'}),
	"$me|$appname|t|t",
	'(a) the last role and application are kept with the counts');

# (b) In contract a read of the retired column restarts the soak.
is($node->safe_psql('postgres', q{SELECT phase_advance('notes')}),
	'migrate', '(b) notes advanced to migrate');
is($node->safe_psql('postgres', q{SELECT phase_advance('notes')}),
	'contract', '(b) notes advanced to contract');
is($node->safe_psql('postgres', q{SELECT phase_advance('gap')}),
	'migrate', 'gap advanced to migrate');
is($node->safe_psql('postgres', q{SELECT phase_advance('gap')}),
	'contract', 'gap advanced to contract');

ok( $node->poll_query_until(
		'postgres', q{SELECT ready FROM phased_change.progress WHERE plan = 'notes'}),
	'(b) notes becomes ready once its contract soak has passed');

# The read and the look at progress in one session, one after the other:
# the 5-second soak cannot run out in between.
my $after_read = $node->safe_psql(
	'postgres', q{
SELECT legacy_note FROM accounts WHERE id = 2;
SELECT ready, soak_remaining > '0', blockers[1]
FROM phased_change.progress WHERE plan = 'notes';
});
my ($read_value, $progress_after_read) = split /\n/, $after_read, 2;
is($read_value, 'two', '(b) the retired column was read');
like(
	$progress_after_read,
	qr/^f\|t\|Phase "contract" has soaked for \S+ of its 00:00:05 soak, counted from the last use of a retired object: retired table column "public\.accounts\.legacy_note", used at .* by role "\Q$me\E" \(application "\Q$appname\E"\)\.$/,
	'(b) after the read notes is not ready: the soak counts from the last use, whose reader is named');
is(usage('notes'),
	"public.accounts|legacy_note|4|1\npublic.accounts|note|0|2",
	'(b) the read in contract was counted');
like(
	$node->safe_psql(
		'postgres', q{SELECT array_to_string(retired_usage, ' ')
					  FROM phased_change.progress WHERE plan = 'notes'}),
	qr/^Retired table column "public\.accounts\.legacy_note" was last used at .* by role "\Q$me\E" \(application "\Q$appname\E"\): 4 reads, 1 writes\. In the current phase: role "\Q$me\E" \(application "\Q$appname\E"\) 1 uses \(1 reads, 0 writes\), last at .*\.$/,
	'(b) progress names the last use of the retired column, and who used it in this phase');
ok( $node->poll_query_until(
		'postgres', q{SELECT ready FROM phased_change.progress WHERE plan = 'notes'}),
	'(b) notes is ready again once the soak has passed since the read');

# (c) A clean restart keeps the counts and the start of tracking.
my $usage_query = q{SELECT plan, "table", "column", reads, writes, first_seen,
						   last_seen, last_role, last_application_name,
						   tracking_since, tracking_complete
					FROM phased_change.column_usage ORDER BY plan, "column"};
my $usage_before = $node->safe_psql('postgres', $usage_query);
my $users_query = q{SELECT plan, object, role, application, uses, reads, writes,
						   first_seen, last_seen, others
					FROM phased_change.retired_usage ORDER BY 1, 2, 3, 4};
my $users_before = $node->safe_psql('postgres', $users_query);
my $since_before = tracking_since();

$node->restart;    # pg_ctl restart, whose default mode is fast
is($node->safe_psql('postgres', $usage_query),
	$usage_before, '(c) every count survives a fast restart');
isnt($users_before, '', '(c) retired_usage names who used the retired column');
is($node->safe_psql('postgres', $users_query),
	$users_before, '(c) who used each retired object survives a fast restart');
is(usage('notes'),
	"public.accounts|legacy_note|4|1\npublic.accounts|note|0|2",
	'(c) the same reads and writes after the restart');
is(tracking_since(), $since_before,
	'(c) tracking_since is unchanged by a fast restart');
ok(!-e $stat_file, '(c) the saved file is removed once loaded');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM phased_change.progress,
							 unnest(blockers || warnings) AS sentence
					  WHERE sentence LIKE '%usage tracking%'}),
	'0',
	'(c) no plan reports a gap in usage tracking after a clean restart');

# (d) After an immediate shutdown the counts are gone and the evidence
# starts again: the server did not shut down cleanly, so whatever was in
# shared memory is not evidence of a continuous run.
$node->stop('immediate');
note('after the immediate shutdown ' . $stat_file
	  . (-e $stat_file ? ' exists' : ' does not exist'));
$node->start;

is(usage('notes'),
	"public.accounts|legacy_note|0|0\npublic.accounts|note|0|0",
	'(d) the counts are gone after an immediate shutdown');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM phased_change.column_usage
					  WHERE last_seen IS NOT NULL}),
	'0', '(d) no last use is remembered after an immediate shutdown');
is( $node->safe_psql(
		'postgres', qq{SELECT tracking_since > '$since_before'::timestamptz
					   FROM phased_change.usage_tracking()}),
	't', '(d) tracking_since moved to the restart after an immediate shutdown');

# The blocker of "gap" in contract, which it entered before the restart
# with an hour's soak, when the soak counts from the start of tracking.
my $gap_blocker = q{SELECT p.ready,
						   p.blockers[1] LIKE 'Phase "contract" has soaked for % of its 01:00:00 soak, counted from the start of usage tracking at '
							   || t.tracking_since || ', because the server restarted without saved usage statistics.',
						   cardinality(p.warnings)
					FROM phased_change.progress p, phased_change.usage_tracking() t
					WHERE p.plan = 'gap'};
is($node->safe_psql('postgres', $gap_blocker),
	'f|t|0',
	'(d) after an immediate shutdown the soak counts from the start of usage tracking, as a blocker');

# A crash proper: a backend killed, the shared memory reinitialized.
my $since_before_crash = tracking_since();
my $log_offset = -s $node->logfile;
my ($sleep_in, $sleep_out, $sleep_err) = ('', '', '');
my $sleeper = IPC::Run::start(
	[
		$node->installed_command('psql'), '-XAtq',
		'-d', $node->connstr('postgres'),
		'-c', 'SELECT pg_sleep(600)'
	],
	'<', \$sleep_in, '>', \$sleep_out, '2>', \$sleep_err);
my $sleeping = q{SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'};
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM ($sleeping) s", '1'),
	'(d) a backend to crash is running');
my $victim = $node->safe_psql('postgres', $sleeping);
is(kill('KILL', $victim), 1, '(d) the backend is killed');
$sleeper->finish;
$node->wait_for_log(qr/all server processes terminated; reinitializing/,
	$log_offset);
ok($node->poll_query_until('postgres', 'SELECT true'),
	'(d) the server is back after the crash');

is(usage('notes'),
	"public.accounts|legacy_note|0|0\npublic.accounts|note|0|0",
	'(d) the counts are gone after a crash');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM phased_change.column_usage
					  WHERE last_seen IS NOT NULL}),
	'0', '(d) no last use is remembered after a crash');
is( $node->safe_psql(
		'postgres', qq{SELECT tracking_since > '$since_before_crash'::timestamptz
					   FROM phased_change.usage_tracking()}),
	't', '(d) tracking_since moved to the crash restart');
is($node->safe_psql('postgres', $gap_blocker),
	'f|t|0',
	'(d) after a crash the soak counts from the start of usage tracking, as a blocker');

# With require_usage_evidence off the gap is a warning, not a blocker.
$node->safe_psql('postgres',
	'ALTER SYSTEM SET phased_change.require_usage_evidence = off');
$node->reload;
ok( $node->poll_query_until(
		'postgres', 'SELECT require_evidence FROM phased_change.usage_tracking()', 'f'),
	'(d) require_usage_evidence is off after the reload');

is( $node->safe_psql(
		'postgres', q{SELECT p.warnings[1] = 'Usage tracking has covered the retired objects only since '
								 || t.tracking_since || ', because the server restarted without saved usage statistics.',
							 cardinality(p.warnings)
					  FROM phased_change.progress p, phased_change.usage_tracking() t
					  WHERE p.plan = 'gap'}),
	't|1',
	'(d) gap: the gap in tracking is now a warning');
like(
	$node->safe_psql(
		'postgres', q{SELECT array_to_string(blockers, ' ') FROM phased_change.progress
					  WHERE plan = 'gap'}),
	qr/^Phase "contract" has soaked for \S+ of its 01:00:00 soak\.$/,
	'(d) gap: its soak counts from entering contract again, and nothing names usage tracking');

# "notes" has soaked long enough since entering contract: the gap no longer
# holds it back, and phase_advance agrees with the view.
is( $node->safe_psql(
		'postgres', q{SELECT ready, cardinality(blockers), warnings[1] LIKE '%only since%'
					  FROM phased_change.progress WHERE plan = 'notes'}),
	't|0|t',
	'(d) notes: ready, with only a warning about the gap');
is($node->safe_psql('postgres', q{SELECT phase_advance('notes')}),
	'cleanup', '(d) notes advances to cleanup despite the gap');

# (e) With the guard's event triggers disabled -- which takes the audited
# override -- the hooks still guard.
$node->safe_psql(
	'postgres', q{
SET phased_change.override = 'tap';
ALTER EVENT TRIGGER phased_change_guard DISABLE;
ALTER EVENT TRIGGER phased_change_guard_drop DISABLE;
});
is( $node->safe_psql(
		'postgres', q{SELECT evtname, evtenabled FROM pg_event_trigger
					  WHERE evtname LIKE 'phased_change%' ORDER BY evtname}),
	"phased_change_guard|D\nphased_change_guard_drop|D",
	'(e) both event triggers are disabled');
is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
	't', '(e) the refusal recorder has recorded the overrides');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM phased_change.history
					  WHERE event = 'override' AND detail ->> 'reason' = 'tap'}),
	'2', '(e) both overrides are in the history');

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'ALTER TABLE orders DROP COLUMN legacy_ref');
isnt($ret, 0, '(e) DROP COLUMN of a retired column fails');
like(
	$stderr,
	qr/ERROR:  cannot drop column "legacy_ref" of table "orders"\nDETAIL:  The column is retired by change plan "gap", which has been in phase "contract" since /,
	'(e) the hook refuses DROP COLUMN of a retired column');

($ret, $stdout, $stderr) =
  $node->psql('postgres', 'DROP TYPE order_status CASCADE');
isnt($ret, 0, '(e) DROP TYPE ... CASCADE fails');
like(
	$stderr,
	qr/ERROR:  cannot drop column "legacy_status" of table "orders"/,
	'(e) the hook refuses a DROP TYPE ... CASCADE that reaches a retired column');

is( $node->safe_psql(
		'postgres', q{SELECT string_agg(attname, ',' ORDER BY attnum)
					  FROM pg_attribute
					  WHERE attrelid = 'orders'::regclass AND attnum > 0
						AND NOT attisdropped}),
	'id,legacy_ref,legacy_status,ref',
	'(e) both retired columns are still there');
is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
	't', '(e) the refusal recorder has recorded the refusals');
is( $node->safe_psql(
		'postgres', q{SELECT plan, object, statement FROM phased_change.blocked_ddl
					  ORDER BY at}),
	"gap|public.orders.legacy_ref|ALTER TABLE orders DROP COLUMN legacy_ref\n"
	  . "gap|public.orders.legacy_status|DROP TYPE order_status CASCADE",
	'(e) both refusals are recorded');

# notes is in cleanup: its column may go, and the plan completes.
$node->safe_psql('postgres', 'ALTER TABLE accounts DROP COLUMN legacy_note');
is($node->safe_psql('postgres', q{SELECT phase_advance('notes')}),
	'completed', 'notes completes once its retired column is dropped');

# (f) DROP EXTENSION waits for the last active plan.
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'DROP EXTENSION phased_change');
isnt($ret, 0, '(f) DROP EXTENSION fails while a plan is active');
like(
	$stderr,
	qr/ERROR:  cannot drop extension "phased_change" while change plans are active\nDETAIL:  Active change plans: "gap" \(phase "contract"\)\./,
	'(f) DROP EXTENSION is refused, naming the active plan');
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'DROP EXTENSION phased_change CASCADE');
like(
	$stderr,
	qr/ERROR:  cannot drop extension "phased_change" while change plans are active/,
	'(f) DROP EXTENSION ... CASCADE is refused too');

$node->safe_psql('postgres', q{SELECT phase_abandon('gap', 'end of test')});
is( $node->safe_psql(
		'postgres', q{SELECT string_agg(plan || ':' || status, ',' ORDER BY plan)
					  FROM phased_change.progress}),
	'gap:abandoned,notes:completed',
	'(f) no plan is active any more');
# the refused DROP EXTENSIONs are recorded first: the recorder's inserts
# must not race the drop of the history
$node->safe_psql('postgres', 'SELECT phased_change.recorder_wait()');
$node->safe_psql('postgres', 'DROP EXTENSION phased_change');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'phased_change'}),
	'0', '(f) DROP EXTENSION succeeds once no plan is active');

# The hooks stay loaded without the extension and guard nothing.
$node->safe_psql('postgres', 'ALTER TABLE orders DROP COLUMN legacy_ref');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_attribute
					  WHERE attrelid = 'orders'::regclass AND attname = 'legacy_ref'}),
	'0', '(f) without the extension the preloaded hooks let DDL through');

$node->stop;
done_testing();
