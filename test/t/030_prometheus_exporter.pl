# Metrics for Prometheus: Debian's prometheus-postgres-exporter, given the
# repository's contrib/postgres_exporter/queries.yaml, exports one series
# per active change plan from the view phased_change.metrics, with the names
# and values the README documents.
#
# The exporter runs on a loopback port against a test cluster, as a role
# with only the grants the README lists; the test reads /metrics with
# HTTP::Tiny.  Its flags differ between Debian's versions (0.11 in
# bookworm, 0.17 in trixie, 0.19 in sid): the custom query file is given
# with --extend.query-path, which each version's --help is checked for.

use strict;
use warnings;

use File::Basename;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $top = dirname(dirname(dirname(__FILE__)));
my $queries = "$top/contrib/postgres_exporter/queries.yaml";
my $exporter = $ENV{PROMETHEUS_POSTGRES_EXPORTER}
  // '/usr/bin/prometheus-postgres-exporter';

ok(-x $exporter, "the exporter $exporter is installed")
  or BAIL_OUT('prometheus-postgres-exporter is missing (scripts/common.sh installs it)');
ok(-r $queries, 'the queries file is in the repository');

my ($help_out, $help_err) = ('', '');
IPC::Run::run([ $exporter, '--help' ], '>', \$help_out, '2>', \$help_err);
my $help = $help_out . $help_err;
like($help, qr/--extend\.query-path/,
	'this version of the exporter takes a custom query file (--extend.query-path)');
my @quiet;
push @quiet, '--disable-settings-metrics' if $help =~ /--disable-settings-metrics/;

my $node = PostgreSQL::Test::Cluster->new('exporter');
$node->init;
$node->start;

# A monitoring role with the grants the README lists, and three plans: one
# soaking, one ready (no soak, verified), one that refused a DROP.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION phased_change;
CREATE ROLE phased_change_monitor LOGIN;
GRANT USAGE ON SCHEMA phased_change TO phased_change_monitor;
GRANT SELECT ON phased_change.metrics TO phased_change_monitor;
GRANT EXECUTE ON FUNCTION phased_change.usage_tracking(), phased_change.usage_of(bigint),
	phased_change.usage_users(bigint), phased_change.usage_users_sentence(bigint)
	TO phased_change_monitor;
CREATE TABLE parcels (id int, legacy_weight int, weight int);
SELECT phase_plan_create('exp-soaking', NULL, '1 hour');
SELECT phase_plan_create('exp-ready', NULL, '0');
SELECT phase_verify('exp-ready');
SELECT phase_plan_create('exp-refused', NULL, '2 hours');
SELECT phase_retire('exp-refused', 'parcels', 'legacy_weight');
SELECT phase_plan_create('exp-done', NULL, '0');
SELECT phase_abandon('exp-done', 'not exported');
});
my ($stdout, $stderr);
$node->psql('postgres', 'ALTER TABLE parcels DROP COLUMN legacy_weight',
	stdout => \$stdout, stderr => \$stderr);
like($stderr, qr/cannot drop column "legacy_weight"/, 'the DROP is refused');
$node->safe_psql('postgres', 'SELECT phased_change.recorder_wait()');

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $dsn = sprintf('host=%s port=%d user=phased_change_monitor dbname=postgres sslmode=disable',
	$node->host, $node->port);
my ($exp_out, $exp_err) = ('', '');
my $handle;
{
	local $ENV{DATA_SOURCE_NAME} = $dsn;
	$handle = IPC::Run::start(
		[
			$exporter, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries", '--disable-default-metrics',
			@quiet
		],
		'>', \$exp_out, '2>', \$exp_err);
}

# Poll /metrics until the plans' series appear (the exporter connects on
# the first scrape).
my $http = HTTP::Tiny->new(timeout => 10);
my $body = '';
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $deadline)
{
	my $response = $http->get("http://127.0.0.1:$port/metrics");
	$body = $response->{content} // '';
	last if $response->{success} && $body =~ /^phased_change_soak_seconds\{/m;
	sleep 1;
}
$handle->kill_kill;
$handle->finish;
ok($body =~ /^phased_change_soak_seconds\{/m, 'the exporter serves the phased_change metrics')
  or diag("exporter output:\n$exp_out$exp_err\n/metrics:\n$body");

# The value of one metric of one plan, whatever the order of the labels.
sub metric
{
	my ($name, $plan) = @_;
	foreach my $line (split /\n/, $body)
	{
		next unless $line =~ /^\Q$name\E\{([^}]*)\} (\S+)$/;
		my ($labels, $value) = ($1, $2);
		return $value if $labels =~ /(^|,)plan="\Q$plan\E"(,|$)/;
	}
	return undef;
}

sub labels
{
	my ($name, $plan) = @_;
	foreach my $line (split /\n/, $body)
	{
		return $1 if $line =~ /^\Q$name\E\{([^}]*plan="\Q$plan\E"[^}]*)\}/;
	}
	return '';
}

# Every metric the README names, with its type.
foreach my $metric (
	qw(seconds_in_phase soak_seconds soak_remaining_seconds ready ready_seconds
	verification_age_seconds checks_failing retired_last_use_age_seconds))
{
	like($body, qr/^# TYPE phased_change_$metric gauge$/m, "phased_change_$metric is a gauge");
}
like($body, qr/^# TYPE phased_change_refusals_total counter$/m,
	'phased_change_refusals_total is a counter');

like(labels('phased_change_soak_seconds', 'exp-soaking'), qr/(^|,)phase="expand"(,|$)/,
	'the phase is a label');
is(metric('phased_change_soak_seconds', 'exp-soaking'), '3600', 'soak of a one-hour plan');
cmp_ok(metric('phased_change_soak_remaining_seconds', 'exp-soaking'), '>', 0,
	'its soak has time to go');
cmp_ok(metric('phased_change_soak_remaining_seconds', 'exp-soaking'), '<=', 3600,
	'no more than the soak');
is(metric('phased_change_ready', 'exp-soaking'), '0', 'a soaking plan is not ready');
is(metric('phased_change_verification_age_seconds', 'exp-soaking'), 'NaN',
	'a plan never verified has no verification age');
cmp_ok(metric('phased_change_seconds_in_phase', 'exp-soaking'), '>=', 0, 'seconds in phase');

is(metric('phased_change_ready', 'exp-ready'), '1', 'a verified plan without soak is ready');
is(metric('phased_change_soak_seconds', 'exp-ready'), '0', 'its soak is 0');
cmp_ok(metric('phased_change_verification_age_seconds', 'exp-ready'), '>=', 0,
	'its verification age is known');
is(metric('phased_change_checks_failing', 'exp-ready'), '0', 'no check fails');

is(metric('phased_change_refusals_total', 'exp-refused'), '1', 'the refused DROP is counted');
is(metric('phased_change_refusals_total', 'exp-soaking'), '0', 'no refusal for another plan');
is(metric('phased_change_retired_last_use_age_seconds', 'exp-refused'), 'NaN',
	'no use of a retired object without preloading');

is(metric('phased_change_soak_seconds', 'exp-done'), undef, 'an ended plan is not exported');

$node->stop;
done_testing();
