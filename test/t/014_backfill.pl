# Backfills run by the background worker, under the faults a production
# backfill meets (issue 11):
#
#  (a) several batches, an immediate shutdown in the middle of one, a
#      restart: the committed batches are all or nothing (every row up to
#      the recorded last key is done, none after it), and the backfill
#      resumes at the next phase_* call with no row missed or done twice;
#  (b) a pending that raises on one row: failed, naming the key, earlier
#      batches kept;
#  (c) concurrent writers (pgbench) on the table during the backfill: at the
#      end no row is pending and no writer's update is lost;
#  (d) a streaming standby whose replay is paused: the backfill is
#      throttled and says by which standby, and finishes once the standby
#      catches up;
#  (e) no free max_worker_processes slot: status waiting and a WARNING;
#      after a restart with slots, the next phase_* call resumes it;
#  (f) the worker's batch cancelled (pg_cancel_backend): retried, and said
#      in last_error (status still running) and in the server log at LOG
#      while it lasts; the lock timeouts that follow are plain retries.
#
# The library is not preloaded: the worker is started by the phase_* calls.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('backfill');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', q{
max_worker_processes = 8
wal_receiver_status_interval = 1
});
$node->start;

my $pending = q{primary_categories IS NULL OR NOT primary_categories @> legacy_categories};

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION phased_change;
CREATE TABLE user_profile (id bigint PRIMARY KEY, legacy_categories text[],
						   primary_categories text[], hits int NOT NULL DEFAULT 0);
INSERT INTO user_profile (id, legacy_categories)
SELECT i, ARRAY['c' || i % 7] FROM generate_series(1, 10000) i;
ANALYZE user_profile;
SELECT phase_plan_create('bf', NULL, '0');
SELECT phase_advance('bf');
});

sub backfill_row
{
	my ($plan, $table) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT status, rows_done, rows_updated, batches, last_key, last_error
		   FROM phased_change.backfills WHERE plan = '$plan' AND "table" = '$table'});
}

# (a) Slow batches (each row of a batch sleeps half a millisecond), so that
# the immediate shutdown lands inside one.
$node->safe_psql(
	'postgres', qq{
SELECT phase_backfill('bf', 'user_profile',
	\$\$primary_categories = CASE WHEN pg_sleep(0.0005) IS NULL THEN NULL
	  ELSE array_cat(coalesce(primary_categories, '{}'), legacy_categories) END\$\$,
	'$pending', 250);
});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT batches >= 3 AND status = 'running' AND eta > '0'
		  FROM phased_change.backfills WHERE "table" = 'public.user_profile'}),
	'(a) the worker runs batches, and the view says running');
$node->stop('immediate');
$node->start;

my ($done_before, $last_key) = split /\|/,
  $node->safe_psql('postgres',
	q{SELECT rows_done, last_key FROM phased_change.backfills WHERE "table" = 'public.user_profile'});
cmp_ok($done_before, '<', 10000, '(a) the shutdown came before the end');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FILTER (WHERE id <= $last_key AND ($pending)),
	   count(*) FILTER (WHERE id > $last_key AND NOT ($pending)),
	   count(*) FILTER (WHERE id <= $last_key)
FROM user_profile}),
	"0|0|$done_before",
	'(a) after the crash, every row up to the last recorded key is done and none after it');
is($node->safe_psql('postgres',
		q{SELECT status FROM phased_change.backfills WHERE "table" = 'public.user_profile'}),
	'waiting', '(a) after the restart, no worker runs: the view says waiting');

# The next phase_* call on any plan starts the worker again.
$node->safe_psql('postgres', q{SELECT phase_verify('bf')});
is($node->safe_psql('postgres',
		q{SELECT phased_change.backfill_wait('bf', 'user_profile', '120 seconds')}),
	'done', '(a) the backfill resumes and finishes');
is( $node->safe_psql(
		'postgres', qq{
SELECT (SELECT count(*) FROM user_profile WHERE $pending),
	   (SELECT count(*) FROM user_profile WHERE primary_categories <> legacy_categories)}),
	'0|0', '(a) no row is pending, and none was updated twice');
is(backfill_row('bf', 'public.user_profile'), 'done|10000|10000|40|10000|',
	'(a) every row passed once, in 40 batches');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM phased_change.history WHERE plan = 'bf' AND event = 'backfill_done'}),
	'1', '(a) one backfill_done event');
is($node->safe_psql('postgres', q{SELECT phase_verify('bf')}), 't', '(a) the migrate check holds');

# (b) A pending that raises on one row.
$node->safe_psql(
	'postgres', q{
CREATE TABLE fragile (id int PRIMARY KEY, d int NOT NULL, v int);
INSERT INTO fragile SELECT i, i - 17, NULL FROM generate_series(1, 30) i;
SELECT phase_backfill('bf', 'fragile', 'v = id', 'v IS NULL AND 100 / d <> 0', 5);
});
is($node->safe_psql('postgres', q{SELECT phased_change.backfill_wait('bf', 'fragile')}),
	'failed', '(b) the backfill fails');
is(backfill_row('bf', 'public.fragile'),
	'failed|15|15|3|15|key (id)=(17): division by zero',
	'(b) it names the key and the error; the three batches before it are kept');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fragile WHERE v = id}),
	'15', '(b) the rows of the earlier batches stay updated');
like($node->safe_psql('postgres', q{SELECT array_to_string(blockers, ' ') FROM phased_change.progress WHERE plan = 'bf'}),
	qr/Backfill of table "public.fragile" failed: key \(id\)=\(17\): division by zero/,
	'(b) the plan is blocked, and progress says why');
$node->safe_psql('postgres', q{SELECT phase_backfill_cancel('bf', 'fragile'); DROP TABLE fragile;
	DELETE FROM phased_change.plan_check WHERE name = 'backfill of public.fragile'});

# (c) Writers update random rows (a counter, and both category columns, as
# an application writing both would) while a backfill runs.
$node->safe_psql('postgres', q{UPDATE user_profile SET primary_categories = NULL});
my $script = $node->basedir . '/write.sql';
open(my $fh, '>', $script) or die "could not write $script: $!";
print $fh q{\set id random(1, 10000)
UPDATE user_profile SET hits = hits + 1,
	legacy_categories = legacy_categories || 'w'::text,
	primary_categories = primary_categories || 'w'::text
WHERE id = :id;
};
close($fh);
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[
		$node->installed_command('pgbench'), '-n', '-c', '3', '-j', '2',
		'-T', '5', '-f', $script, '-d', $node->connstr('postgres')
	],
	'<', \undef, '>', \$bench_out, '2>', \$bench_err,
	IPC::Run::timeout(120));
$node->safe_psql(
	'postgres', qq{
SELECT phase_backfill('bf', 'user_profile',
	'primary_categories = array_cat(coalesce(primary_categories, ''{}''), legacy_categories)',
	'$pending', 200, '20 milliseconds');
});
$bench->finish;
is($?, 0, '(c) pgbench ran') or diag($bench_err);
my ($writes) = $bench_out =~ /number of transactions actually processed: (\d+)/;
cmp_ok($writes, '>', 0, '(c) the writers wrote');
is($node->safe_psql('postgres',
		q{SELECT phased_change.backfill_wait('bf', 'user_profile', '120 seconds')}),
	'done', '(c) the backfill finishes');
is( $node->safe_psql(
		'postgres', qq{
SELECT (SELECT count(*) FROM user_profile WHERE $pending), (SELECT sum(hits) FROM user_profile)}),
	"0|$writes", '(c) no row is pending, and every write is there');
note("(c) writer transactions: $writes");

# (d) A standby whose replay is paused holds the backfill back.
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup('standby', 'replay');
$standby->safe_psql('postgres', q{SELECT pg_wal_replay_pause()});
$node->safe_psql('postgres', q{CREATE TABLE wal_maker (i int)});
my $lagging = 0;
for my $round (1 .. 300)
{
	$node->safe_psql('postgres', q{INSERT INTO wal_maker VALUES (1)});
	$lagging = $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_replication WHERE replay_lag > '200 milliseconds'});
	last if $lagging;
	usleep(100_000);
}
ok($lagging, '(d) the paused standby lags');
$node->safe_psql(
	'postgres', qq{
UPDATE user_profile SET primary_categories = NULL WHERE id <= 1000;
SELECT phase_backfill('bf', 'user_profile',
	'primary_categories = array_cat(coalesce(primary_categories, ''{}''), legacy_categories)',
	'$pending', 100, '0', '100 milliseconds');
});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT status = 'throttled' AND throttled_by LIKE 'standby "standby": replay lag %'
		  FROM phased_change.backfills WHERE "table" = 'public.user_profile'}),
	'(d) the backfill is throttled, and says by which standby');
is($node->safe_psql('postgres',
		q{SELECT batches FROM phased_change.backfills WHERE "table" = 'public.user_profile'}),
	'0', '(d) no batch ran while the standby lagged');
$standby->safe_psql('postgres', q{SELECT pg_wal_replay_resume()});
is($node->safe_psql('postgres',
		q{SELECT phased_change.backfill_wait('bf', 'user_profile', '120 seconds')}),
	'done', '(d) once the standby catches up, the backfill finishes');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM user_profile WHERE $pending}),
	'0', '(d) no row is pending');
$standby->stop;

# (e) No free worker slot: the logical replication launcher takes the only one.
$node->append_conf('postgresql.conf', q{max_worker_processes = 1});
$node->restart;
$node->safe_psql('postgres', q{UPDATE user_profile SET primary_categories = NULL WHERE id <= 10});
my ($ret, $out, $err) = $node->psql(
	'postgres', qq{
SELECT phase_backfill('bf', 'user_profile',
	'primary_categories = array_cat(coalesce(primary_categories, ''{}''), legacy_categories)',
	'$pending');
});
is($ret, 0, '(e) the backfill is registered');
like($err, qr/WARNING:  could not start the phased_change backfill worker/,
	'(e) a WARNING says the worker could not start');
like($err, qr/HINT:  Raise max_worker_processes/, '(e) and what to do');
is($node->safe_psql('postgres',
		q{SELECT status FROM phased_change.backfills WHERE "table" = 'public.user_profile'}),
	'waiting', '(e) the backfill is waiting');
$node->append_conf('postgresql.conf', q{max_worker_processes = 8});
$node->restart;
$node->safe_psql('postgres', q{SELECT phase_verify('bf')});
is($node->safe_psql('postgres',
		q{SELECT phased_change.backfill_wait('bf', 'user_profile', '120 seconds')}),
	'done', '(e) the next phase_* call with a free slot resumes it');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM user_profile WHERE $pending}),
	'0', '(e) no row is pending');


# (f) A batch that takes seconds (each row sleeps), cancelled while a
# session waits to lock the table: the retries then time out on that lock,
# so no batch commits and last_error keeps saying why the batch retries.
$node->safe_psql(
	'postgres', q{
CREATE TABLE slow_table (id int PRIMARY KEY, v int);
INSERT INTO slow_table SELECT i, NULL FROM generate_series(1, 20) i;
CREATE FUNCTION slow_row() RETURNS boolean LANGUAGE plpgsql
AS $$BEGIN PERFORM pg_sleep(1); RETURN true; END$$;
SELECT phase_plan_create('bf-cancel', NULL, '0');
SELECT phase_advance('bf-cancel');
SELECT phase_backfill('bf-cancel', 'slow_table', 'v = id', 'v IS NULL AND slow_row()', 5);
});
my $in_batch = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'phased_change backfill' AND state = 'active'
	  AND query LIKE 'phased_change: backfill of public.slow_table%'};
ok($node->poll_query_until('postgres', "SELECT EXISTS ($in_batch)"),
	'(f) the worker runs a batch');
my ($lock_in, $lock_out, $lock_err) =
  ("BEGIN;\nLOCK slow_table IN EXCLUSIVE MODE;\nSELECT 'locked';\n", '', '');
my $locker = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$lock_in, '>', \$lock_out, '2>', \$lock_err, IPC::Run::timeout(180));
my $waiting = 0;
for (my $try = 0; $try < 1800 && !$waiting; $try++)
{
	$locker->pump_nb;	# IPC::Run feeds the input only when pumped
	$waiting = $node->safe_psql('postgres',
		q{SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE query LIKE 'LOCK slow_table%' AND wait_event_type = 'Lock')}) eq 't';
	usleep(100_000) unless $waiting;
}
ok($waiting, '(f) a session waits for the batch to lock the table');
$node->safe_psql('postgres', "SELECT pg_cancel_backend(pid) FROM ($in_batch) w");
$locker->pump until $lock_out =~ /locked/;
# (the batch cancelled is the first: no batch has committed, so the status
# is still waiting; the standby of (d) may make it throttled)
ok($node->poll_query_until('postgres',
		q{SELECT last_error = 'retrying the batch: canceling statement due to user request'
		  FROM phased_change.backfills WHERE plan = 'bf-cancel'}),
	'(f) while it retries, last_error says why');
like($node->safe_psql('postgres',
		q{SELECT status FROM phased_change.backfills WHERE plan = 'bf-cancel'}),
	qr/^(waiting|running|throttled)$/, '(f) and the backfill is not failed');
my $log = slurp_file($node->logfile);
like($log, qr/LOG:  phased_change backfill \d+ retries its batch: canceling statement due to user request/,
	'(f) the server log says it at LOG');
unlike($log, qr/LOG:  phased_change backfill \d+ retries its batch: canceling statement due to lock timeout/,
	'(f) the lock timeouts are plain retries');
$lock_in .= "COMMIT;\n";
$locker->finish;
$node->safe_psql('postgres',
	q{CREATE OR REPLACE FUNCTION slow_row() RETURNS boolean LANGUAGE plpgsql
	  AS $$BEGIN RETURN true; END$$});
is($node->safe_psql('postgres',
		q{SELECT phased_change.backfill_wait('bf-cancel', 'slow_table', '120 seconds')}),
	'done', '(f) the backfill finishes once the table is free');
is($node->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE v IS NULL) || '/' || COALESCE(
			(SELECT last_error FROM phased_change.backfills WHERE plan = 'bf-cancel'), 'none')
		  FROM slow_table}),
	'0/none', '(f) no row left behind, and a committed batch cleared last_error');

$node->stop;
done_testing();
