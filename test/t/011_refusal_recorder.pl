# Every refusal is recorded, under any load, without taking worker slots
# from anyone.
#
# In both modes (library loaded on demand, and preloaded):
#  (a) a storm: 16 pgbench sessions each refusing a guarded DROP COLUMN in
#      every transaction for 10 seconds; once the recorder has drained the
#      spool (polled through phased_change.recorder_wait), the history
#      holds exactly one ddl_blocked record per refusal made, nothing is
#      pending and nothing was set aside;
#  (b) a parallel query run during the storm gets every worker it planned:
#      refusals take no max_worker_processes slot of their own;
#  (c) with synchronous_standby_names naming a standby that is down, a
#      refused DROP still returns the refusal at once (a hang fails the
#      test through the psql timeout instead of hanging it), and the record
#      is written with synchronous_commit = local;
#  (d) when the spool cannot be written, the refusal is still the refusal,
#      after a WARNING;
#  (e) a record still spooled at an immediate shutdown (the history locked
#      by another session, so the recorder could not insert it) is recorded
#      after the restart: preloaded by the start-up launcher alone, loaded
#      on demand by the next phase_* call;
#  (f) preloaded, a refusal in a READ ONLY transaction is the refusal
#      (SQLSTATE 55000), not a write error, and it is recorded.  Loaded on
#      demand the guard lives in event triggers, which PostgreSQL does not
#      reach in a read-only transaction: the statement gets PostgreSQL's
#      own read-only error and there is no refusal to record.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $drop = q{ALTER TABLE user_profile DROP COLUMN legacy_categories};

sub refusals_recorded
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT count(*) FROM phased_change.blocked_ddl
		  WHERE object = 'public.user_profile.legacy_categories'});
}

sub run_mode
{
	my ($preload) = @_;
	my $mode = $preload ? 'preloaded' : 'loaded on demand';
	my $node = PostgreSQL::Test::Cluster->new($preload ? 'recorder_preload' : 'recorder');

	$node->init;
	$node->append_conf('postgresql.conf', q{
max_worker_processes = 8
max_parallel_workers = 8
max_connections = 40
});
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'phased_change'")
	  if $preload;
	$node->start;

	$node->safe_psql(
		'postgres', q{
CREATE EXTENSION phased_change;
CREATE TABLE user_profile (id int PRIMARY KEY, legacy_categories text[],
						   primary_categories text[]);
SELECT phase_plan_create('storm', 'Refusal storm', '0');
SELECT phase_retire('storm', 'user_profile', 'legacy_categories');
CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 200000) g;
ANALYZE big;
});

	# (a) The storm: every transaction is one refusal, caught.
	my $script = $node->basedir . '/refuse.sql';
	open(my $fh, '>', $script) or die "could not write $script: $!";
	print $fh qq{DO \$\$ BEGIN EXECUTE '$drop'; }
	  . q{EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END $$;} . "\n";
	close($fh);

	my ($bench_out, $bench_err) = ('', '');
	my $bench = IPC::Run::start(
		[
			$node->installed_command('pgbench'), '-n', '-c', '16', '-j', '2',
			'-T', '10', '-f', $script, '-d', $node->connstr('postgres')
		],
		'<', \undef, '>', \$bench_out, '2>', \$bench_err,
		IPC::Run::timeout(120));

	# (b) Once refusals are being recorded, a parallel query during the storm.
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) >= 50 FROM phased_change.blocked_ddl}),
		"$mode: refusals are recorded while the storm runs");
	my @launched;
	my $recorders_seen = 0;
	for my $round (1 .. 3)
	{
		my $plan = $node->safe_psql(
			'postgres', q{
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM big;
});
		my ($planned) = $plan =~ /Workers Planned: (\d+)/;
		my ($got) = $plan =~ /Workers Launched: (\d+)/;
		is($planned, 2, "$mode: the parallel query plans 2 workers (round $round)");
		is($got, $planned,
			"$mode: the parallel query during the storm launches every planned worker (round $round)");
		push @launched, $got;
		my $recorders = $node->safe_psql('postgres',
			q{SELECT count(*) FROM pg_stat_activity
			  WHERE backend_type = 'phased_change recorder'});
		$recorders_seen = $recorders if $recorders > $recorders_seen;
	}

	$bench->finish;
	is($?, 0, "$mode: pgbench ran") or diag($bench_err);
	my ($made) = $bench_out =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $bench_out =~ /number of failed transactions: (\d+)/;
	$failed //= 0;
	cmp_ok($made, '>', 0, "$mode: the storm made refusals");
	is($failed, 0, "$mode: every storm transaction was a caught refusal");

	is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait('120 seconds')}),
		't', "$mode: the recorder drains the spool");
	my $recorded = refusals_recorded($node);
	is($recorded, $made, "$mode: refusals recorded = refusals made");
	is($node->safe_psql('postgres', q{SELECT pending, unrecorded FROM phased_change.recorder}),
		'0|0', "$mode: nothing pending, nothing set aside");
	note("$mode: refusals made $made, recorded $recorded, parallel workers launched "
		  . join('/', @launched) . " of 2, recorder workers seen at once: $recorders_seen");

	# (c) A synchronous standby that is down does not hold up a refusal.
	$node->append_conf('postgresql.conf', q{synchronous_standby_names = 'nowhere'});
	$node->reload;
	my $before = refusals_recorded($node);
	my ($out, $err) = ('', '');
	my $psql = IPC::Run::start(
		[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'),
		  '-c', $drop ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	eval { $psql->finish; };
	is($@, '', "$mode: with the synchronous standby down, the refused DROP returns");
	like($err, qr/ERROR:  cannot drop column "legacy_categories" of table "user_profile"/,
		"$mode: ... with the refusal");
	unlike($err, qr/WARNING/, "$mode: ... and no recording warning");
	is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
		't', "$mode: the recorder does not wait for the synchronous standby");
	is(refusals_recorded($node), $before + 1, "$mode: ... and records the refusal");
	$node->append_conf('postgresql.conf', q{synchronous_standby_names = ''});
	$node->reload;

	# (d) A spool that cannot be written: a WARNING, then the refusal.
	my $dboid = $node->safe_psql('postgres',
		q{SELECT oid FROM pg_database WHERE datname = 'postgres'});
	my $spool = $node->data_dir . "/pg_phased_change/$dboid";
	chmod(0500, $spool) or die "chmod $spool: $!";
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $drop);
	chmod(0700, $spool) or die "chmod $spool: $!";
	like($stderr, qr/WARNING:  could not create file [^\n]*\n[^\n]*ERROR:  cannot drop column "legacy_categories" of table "user_profile"/s,
		"$mode: an unwritable spool gives a WARNING, then the refusal");

	# (e) A record spooled at a crash is recorded after the restart.
	$before = refusals_recorded($node);
	my ($lock_in, $lock_out, $lock_err) = ("BEGIN;\nLOCK phased_change.event_log IN SHARE MODE;\nSELECT 'locked';\n", '', '');
	my $locker = IPC::Run::start(
		[ $node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$lock_in, '>', \$lock_out, '2>', \$lock_err, IPC::Run::timeout(120));
	$locker->pump until $lock_out =~ /locked/;
	($ret, $stdout, $stderr) = $node->psql('postgres', $drop);
	like($stderr, qr/ERROR:  cannot drop column/, "$mode: refused while the history is locked");
	is($node->safe_psql('postgres', q{SELECT pending FROM phased_change.recorder}),
		'1', "$mode: the refusal waits in the spool");
	$node->stop('immediate');
	$locker->kill_kill;
	$node->start;
	if ($preload)
	{
		ok($node->poll_query_until('postgres',
				q{SELECT pending = 0 FROM phased_change.recorder}),
			"$mode: the start-up launcher drains the spool");
	}
	else
	{
		$node->safe_psql('postgres', q{SELECT phase_verify('storm')});
		ok($node->poll_query_until('postgres',
				q{SELECT pending = 0 FROM phased_change.recorder}),
			"$mode: the next phase_* call drains the spool");
	}
	is(refusals_recorded($node), $before + 1,
		"$mode: the refusal spooled at the crash is recorded once");

	# (f) READ ONLY.
	$before = refusals_recorded($node);
	($ret, $stdout, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nBEGIN READ ONLY;\n$drop;\nROLLBACK;");
	if ($preload)
	{
		like($stderr,
			qr/ERROR:  55000: cannot drop column "legacy_categories" of table "user_profile"/,
			"$mode: in a READ ONLY transaction the refusal is the refusal");
		unlike($stderr, qr/WARNING|read-only/, "$mode: ... with no write error");
		is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
			't', "$mode: the recorder drains the spool");
		is(refusals_recorded($node), $before + 1, "$mode: ... and it is recorded");
	}
	else
	{
		like($stderr,
			qr/ERROR:  25006: cannot execute ALTER TABLE in a read-only transaction/,
			"$mode: in a READ ONLY transaction PostgreSQL refuses before the event triggers");
		is($node->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
			't', "$mode: nothing waits in the spool");
		is(refusals_recorded($node), $before, "$mode: ... and there is no refusal to record");
	}

	$node->stop;
}

run_mode(0);
run_mode(1);

done_testing();
