# Random SQL from sqlsmith against a database with phased_change installed
# (preloaded, so that the guard's hooks and usage tracking see every query),
# a few tables, and active plans in every phase guarding their columns.
#
# sqlsmith connects as a non-superuser that owns the tables and may execute
# the phase_* functions, and sends a bounded number of generated queries:
# SELECTs over the tables and the extension's views (progress,
# guarded_objects, column_usage, history, blocked_ddl, which call the C
# functions behind them), calls of the phase_* functions with whatever
# arguments it makes up (including plan names read from a table), and
# INSERT / UPDATE / DELETE / MERGE on the tables.  Afterwards the server must
# still answer, its log must show no backend killed by a signal, no failed
# assertion and no PANIC, and the plan catalog must still be consistent.
# The run must have reached the extension: with track_functions = all, the
# extension's functions (the phase_* functions, and the C functions behind
# its views) must show calls made by sqlsmith's sessions, counted from a
# statistics reset after the setup.
#
# sqlsmith (Debian package sqlsmith) is optional: without it the test is
# skipped.  SQLSMITH, SQLSMITH_QUERIES and SQLSMITH_SEED override the binary,
# the number of queries (default 2000) and the random seed (default 1).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sqlsmith = $ENV{SQLSMITH};
if (!defined $sqlsmith)
{
	($sqlsmith) = grep { -x "$_/sqlsmith" } split(/:/, $ENV{PATH} // ''), '/usr/bin';
	$sqlsmith .= '/sqlsmith' if defined $sqlsmith;
}
plan skip_all => 'sqlsmith is not installed (Debian package sqlsmith)'
  unless defined $sqlsmith && -x $sqlsmith;

my $max_queries = $ENV{SQLSMITH_QUERIES} // 2000;
my $seed = $ENV{SQLSMITH_SEED} // 1;
my $timeout = 150;		# seconds for the whole sqlsmith run

my $node = PostgreSQL::Test::Cluster->new('sqlsmith');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'phased_change'
max_worker_processes = 8
track_functions = all
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE smith');
$node->safe_psql(
	'smith', q{
CREATE EXTENSION phased_change;

-- The role sqlsmith connects as: no superuser, the README's operator
-- grants, a statement_timeout so that no generated query runs for long.
CREATE ROLE regress_smith LOGIN;
ALTER ROLE regress_smith SET statement_timeout = '2s';
ALTER ROLE regress_smith SET lock_timeout = '1s';
GRANT USAGE ON SCHEMA phased_change TO regress_smith;
GRANT SELECT ON phased_change.progress, phased_change.history, phased_change.guarded_objects,
	phased_change.blocked_ddl, phased_change.column_usage TO regress_smith;
GRANT EXECUTE ON FUNCTION phased_change.usage_tracking(), phased_change.usage_counts(),
	phased_change.usage_of(bigint)
	TO regress_smith;
GRANT EXECUTE ON FUNCTION
	phase_plan_create(text, text, interval), phase_retire(text, regclass, name),
	phase_introduce(text, regclass, name), phase_check_add(text, text, text, text),
	phase_soak_set(text, text, interval), phase_advance(text), phase_rollback(text, text),
	phase_verify(text), phase_abandon(text, text)
	TO regress_smith;
CREATE SCHEMA app AUTHORIZATION regress_smith;

-- Its tables and plans, one plan in each phase.
SET ROLE regress_smith;
CREATE TABLE app.accounts (id int PRIMARY KEY, old_email text, email text, created date);
CREATE TABLE app.orders (id int PRIMARY KEY, account_id int REFERENCES app.accounts,
						 legacy_total numeric, total numeric, note text);
CREATE TABLE app.events (at date NOT NULL, legacy_kind text, kind text, payload jsonb)
	PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events
	FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE app.events_2027 PARTITION OF app.events
	FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
CREATE VIEW app.old_report AS
	SELECT a.id, a.old_email, sum(o.legacy_total) AS legacy_total
	FROM app.accounts a LEFT JOIN app.orders o ON o.account_id = a.id GROUP BY a.id;
CREATE TABLE app.deploy_log (plan text, note text);

INSERT INTO app.accounts
	SELECT i, 'old' || i || '@example.com', CASE WHEN i % 3 > 0 THEN i || '@example.com' END,
		   DATE '2026-01-01' + i
	FROM generate_series(1, 50) i;
INSERT INTO app.orders
	SELECT i, 1 + i % 50, i * 1.5, CASE WHEN i % 2 = 0 THEN i * 1.5 END, 'order ' || i
	FROM generate_series(1, 200) i;
INSERT INTO app.events
	SELECT DATE '2026-06-01' + i, 'kind' || i % 5, NULL, jsonb_build_object('i', i)
	FROM generate_series(1, 300) i;

SELECT phase_plan_create('in-expand', 'stays in expand', '48 hours');
SELECT phase_retire('in-expand', 'app.accounts', 'old_email');
SELECT phase_introduce('in-expand', 'app.accounts', 'email');
SELECT phase_check_add('in-expand', 'expand', 'emails present',
	'NOT EXISTS (SELECT FROM app.accounts WHERE email IS NULL)');

SELECT phase_plan_create('in-migrate', 'in migrate', '48 hours');
SELECT phase_soak_set('in-migrate', 'expand', '0');
SELECT phase_retire('in-migrate', 'app.orders', 'legacy_total');
SELECT phase_introduce('in-migrate', 'app.orders', 'total');
SELECT phase_check_add('in-migrate', 'migrate', 'totals copied',
	'NOT EXISTS (SELECT FROM app.orders WHERE total IS DISTINCT FROM legacy_total)');
SELECT phase_advance('in-migrate');

SELECT phase_plan_create('in-contract', 'in contract', '0');
SELECT phase_soak_set('in-contract', 'contract', '72 hours');
SELECT phase_retire('in-contract', 'app.events', 'legacy_kind');
SELECT phase_introduce('in-contract', 'app.events', 'kind');
SELECT phase_advance('in-contract');
SELECT phase_advance('in-contract');

SELECT phase_plan_create('in-cleanup', 'in cleanup', '0');
SELECT phase_retire('in-cleanup', 'app.old_report');
SELECT phase_advance('in-cleanup');
SELECT phase_advance('in-cleanup');
SELECT phase_advance('in-cleanup');

INSERT INTO app.deploy_log
	SELECT plan, 'deployed' FROM phased_change.progress;
RESET ROLE;
});

is( $node->safe_psql(
		'smith',
		q{SELECT string_agg(plan || ':' || phase || ':' || status, ',' ORDER BY plan)
		  FROM phased_change.progress}),
	'in-cleanup:cleanup:active,in-contract:contract:active,'
	  . 'in-expand:expand:active,in-migrate:migrate:active',
	'four active plans, one in each phase');

# Count function calls from here on: wait for the setup session's counts
# (flushed when it exits), then reset the database's statistics.
my $extension_calls = q{SELECT coalesce(sum(f.calls), 0) FROM pg_stat_user_functions f
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = f.funcid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'phased_change'};
$node->poll_query_until('smith', "SELECT ($extension_calls) > 0")
  or die 'the setup\'s function calls never reached the statistics';
$node->safe_psql('smith', 'SELECT pg_stat_reset()');
is($node->safe_psql('smith', $extension_calls), '0', 'function statistics reset after the setup');

# Run sqlsmith, bounded by query count and by time.
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $queries_file = "$tempdir/sqlsmith_queries.sql";
my $connstr =
  'host=' . $node->host . ' port=' . $node->port . ' dbname=smith user=regress_smith';
my $stderr = '';
# --exclude-catalog keeps the queries on the tables and the extension's
# views rather than on pg_catalog.
my @cmd = (
	$sqlsmith, "--target=$connstr", "--max-queries=$max_queries",
	"--seed=$seed", '--exclude-catalog', '--verbose', '--dump-all-queries');
note "running: @cmd";
my $h = IPC::Run::start(\@cmd, '<', \undef, '>', $queries_file, '2>', \$stderr,
	IPC::Run::timeout($timeout));
my $timed_out = 0;
my $exited_ok = 0;
eval { $exited_ok = $h->finish; 1 } or do
{
	$timed_out = 1;
	note "sqlsmith stopped after ${timeout}s: $@";
	$h->kill_kill;
};
my ($generated) = $stderr =~ /.*queries: (\d+)/s;
$generated //= 0;
note "sqlsmith report:\n" . join("\n", grep { /^(queries|error rate)/ } split /\n/, $stderr);
cmp_ok($generated, '>', 0, "sqlsmith generated and ran queries ($generated)");
SKIP:
{
	skip 'sqlsmith was stopped by the timeout', 1 if $timed_out;
	# (sqlsmith reconnects after losing its connection: a crash shows in the
	# server log, checked below, not necessarily in its exit status.)
	ok($exited_ok, 'sqlsmith ran to its query limit and exited cleanly')
	  or diag 'sqlsmith exit status ' . ($h->full_result >> 8) . "; stderr (end):\n"
	  . substr($stderr, -2000);
}

my $queries = slurp_file($queries_file);
my %reached;
$reached{$_}++ for $queries =~
  /\b(phase_(?:plan_create|retire|introduce|check_add|soak_set|advance|rollback|verify|abandon)|phased_change\.\w+)\b/g;
note 'extension objects in the generated queries: '
  . (join(', ', map { "$_ x$reached{$_}" } sort keys %reached) || 'none');

# sqlsmith's sessions called the extension's functions (their counts are
# flushed when the sessions end).
ok($node->poll_query_until('smith', "SELECT ($extension_calls) > 0"),
	'sqlsmith reached the extension\'s functions');

# The server is still up, and its log shows no crash.
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still answers');
my $log = slurp_file($node->logfile);
unlike($log, qr/server process .* was terminated by signal/, 'no backend terminated by a signal');
unlike($log, qr/TRAP:/, 'no failed assertion');
unlike($log, qr/PANIC/, 'no PANIC');

# The plan catalog is still consistent: every plan has a progress row with
# a next step, every active plan's protected retired object still exists,
# and the guard still refuses what it should.
is( $node->safe_psql(
		'smith',
		q{SELECT (SELECT count(*) FROM phased_change.plan)
				 = (SELECT count(*) FROM phased_change.progress WHERE next_step IS NOT NULL)}),
	't', 'every plan has a progress row with a next step');
is( $node->safe_psql(
		'smith',
		q{SELECT count(*) FROM phased_change.guarded_objects
		  WHERE plan_status = 'active' AND role = 'retired' AND NOT may_drop AND NOT exists}),
	'0', 'no protected retired object has gone');
my ($ret, $out, $err) = $node->psql(
	'smith',
	q{SELECT phase_plan_create('after-smith', NULL, '1 hour');
	  SELECT phase_retire('after-smith', 'app.deploy_log', 'note');
	  ALTER TABLE app.deploy_log DROP COLUMN note;},
	extra_params => [ '-U', 'regress_smith' ]);
like($err, qr/cannot drop column "note" of table "deploy_log"/,
	'the guard still refuses to drop a retired column');

$node->stop;
done_testing();
