# Usage sources: reads on hot standbys hold contract back too (issue 13).
#
# A primary and two streaming standbys, all with phased_change preloaded.
# The primary reads the standbys' usage counts over libpq, with the
# credentials of a password file (the README's recipe), and:
#  (a) a standby streaming from the primary that is not a usage source is
#      named in progress.warnings; registering it lifts the warning;
#  (b) a read of a retired column on standby 1 holds contract back: the
#      soak counts from it, and column_usage and progress.retired_usage
#      name its node, role and application;
#  (c) standby 2 stopped is a blocker naming it and why; started again
#      (a clean restart keeps its counts), the evidence resumes; after an
#      immediate shutdown its tracking restarted, and the soak counts from
#      that restart, naming it;
#  (d) bad sources get a clear status and none hangs: a wrong password,
#      a server that accepts the connection but never answers (bounded by
#      phased_change.usage_source_timeout), a standby's other database that
#      has phased_change and usage counts too (never merged: object ids
#      are per database), no file descriptor left for the connection (the
#      session's dblink connections took them), and (after the failover)
#      the former primary started again on its own;
#  (e) standbys refuse to register or collect;
#  (f) the primary keeps its own counts in the catalog; after standby 1 is
#      promoted, a read on the former primary after its last collection was
#      never seen: the new primary counts the soak from its takeover (a
#      blocker naming it), shows the former primary's kept counts, skips
#      itself as a source, collects from standby 2, and the plan carries on
#      to cleanup.
#
# Nothing here depends on how fast the machine is: the soak of contract is
# an hour, so every refusal holds, and the plan advances once it is set to
# zero.

use strict;
use warnings;

use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'phased_change'
max_worker_processes = 8
max_connections = 60
max_files_per_process = 100
});
$primary->start;

# The collector: a login role with a password, allowed to read the counts.
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION phased_change;
CREATE ROLE collector LOGIN PASSWORD 'right';
GRANT USAGE ON SCHEMA phased_change TO collector;
GRANT EXECUTE ON FUNCTION phased_change.usage_node(), phased_change.usage_tracking(),
	phased_change.usage_counts() TO collector;
CREATE ROLE reader LOGIN;
CREATE TABLE user_profile (id int PRIMARY KEY, legacy_categories text[],
						   primary_categories text[]);
INSERT INTO user_profile VALUES (1, '{news}', '{news}');
GRANT SELECT ON user_profile TO reader;
CREATE DATABASE otherdb;
});

# Another database with phased_change and a plan of its own, whose object
# ids overlap this one's.
$primary->safe_psql(
	'otherdb', q{
CREATE EXTENSION phased_change;
GRANT USAGE ON SCHEMA phased_change TO collector;
GRANT EXECUTE ON FUNCTION phased_change.usage_node(), phased_change.usage_tracking(),
	phased_change.usage_counts() TO collector;
CREATE TABLE archive (id int PRIMARY KEY, legacy_notes text);
GRANT SELECT ON archive TO reader;
SELECT phase_plan_create('archive', 'Archive notes', '0');
SELECT phase_retire('archive', 'archive', 'legacy_notes');
SELECT phase_advance('archive');
SELECT phase_advance('archive');
});

$primary->backup('backup');
my @standbys;
foreach my $name ('standby1', 'standby2')
{
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, 'backup', has_streaming => 1);
	# the collector must give its password, everyone else is trusted
	my $hba = slurp_file($standby->data_dir . '/pg_hba.conf');
	open(my $fh, '>', $standby->data_dir . '/pg_hba.conf') or die $!;
	print $fh "local all collector scram-sha-256\n$hba";
	close($fh);
	$standby->start;
	push @standbys, $standby;
}
my ($standby1, $standby2) = @standbys;

# The server's password file: credentials never sit in the catalog.
my $passfile = $primary->basedir . '/pgpass';
append_to_file($passfile, "*:*:*:collector:right\n");
chmod 0600, $passfile;
my $wrong_passfile = $primary->basedir . '/pgpass_wrong';
append_to_file($wrong_passfile, "*:*:*:collector:wrong\n");
chmod 0600, $wrong_passfile;

sub source_conninfo
{
	my ($node, $file) = @_;
	return sprintf("host=%s port=%d dbname=postgres user=collector passfile=%s",
		$node->host, $node->port, $file);
}

sub progress
{
	my ($column) = @_;
	return $primary->safe_psql('postgres',
		"SELECT array_to_string($column, E'\\n') FROM phased_change.progress WHERE plan = 'reports'");
}

$primary->safe_psql('postgres',
	"SELECT phase_usage_source_add('standby1', '" . source_conninfo($standby1, $passfile) . "')");
$primary->safe_psql(
	'postgres', q{
SELECT phase_plan_create('reports', 'Nightly reports read a retired column', '0');
SELECT phase_soak_set('reports', 'contract', '1 hour');
SELECT phase_retire('reports', 'user_profile', 'legacy_categories');
SELECT phase_advance('reports');
SELECT phase_advance('reports');
});
$primary->wait_for_catchup($standby1);
$primary->wait_for_catchup($standby2);

# (a) standby 2 streams from the primary but is not a source.
like(progress('warnings'),
	qr/Standby "standby2" streams from this server but is not a usage source: its reads are not seen\./,
	'(a) an unregistered standby is named in progress.warnings');
unlike(progress('warnings'), qr/Standby "standby1"/,
	'(a) a registered standby is not');
is( $primary->safe_psql('postgres',
		q{SELECT status, reachable, last_error IS NULL, tracking_since IS NOT NULL
		  FROM phased_change.usage_sources WHERE name = 'standby1'}),
	'collected|t|t|t',
	'(a) standby 1 was collected on entering contract, with the password file');

# (b) a nightly report reads the retired column on standby 1.
{
	local $ENV{PGAPPNAME} = 'nightly_report';
	$standby1->safe_psql('postgres', 'SELECT legacy_categories FROM user_profile',
		extra_params => [ '-U', 'reader' ]);
}
is($primary->safe_psql('postgres', q{SELECT phase_verify('reports')}), 't',
	'(b) phase_verify collects');
is( $primary->safe_psql('postgres',
		q{SELECT node, reads, writes, last_role, last_application_name
		  FROM phased_change.column_usage WHERE plan = 'reports' ORDER BY node COLLATE "C"}),
	"primary|0|0||\nstandby1|1|0|reader|nightly_report",
	'(b) column_usage names the node, role and application of the read');
like(progress('retired_usage'),
	qr/Retired table column "public\.user_profile\.legacy_categories" was last used on usage source "standby1" at .* by role "reader" \(application "nightly_report"\): 1 reads, 0 writes\./,
	'(b) progress.retired_usage names the node too');
like(progress('blockers'),
	qr/Phase "contract" has soaked for \d\d:\d\d:\d\d of its 01:00:00 soak, counted from the last use of a retired object: a retired object, used on another node at /,
	'(b) the soak counts from the read on standby 1');
is( $primary->safe_psql('postgres',
		q{SELECT (SELECT max(last_seen) FROM phased_change.column_usage WHERE plan = 'reports')
				 > entered_at FROM phased_change.progress WHERE plan = 'reports'}),
	't', '(b) the last use is the standby\'s, after contract began');
my ($ret, $stdout, $stderr) = $primary->psql('postgres', q{SELECT phase_advance('reports')});
like($stderr, qr/cannot leave phase "contract" yet.*counted from the last use of a retired object/s,
	'(b) phase_advance is refused');

# (a) registered, standby 2 is no longer unseen.
$primary->safe_psql('postgres',
	"SELECT phase_usage_source_add('standby2', '" . source_conninfo($standby2, $passfile) . "')");
$primary->safe_psql('postgres', q{SELECT phase_verify('reports')});
unlike(progress('warnings'), qr/Standby "standby2"/,
	'(a) registering standby 2 lifts the warning');
is($primary->safe_psql('postgres',
		q{SELECT status FROM phased_change.usage_sources WHERE name = 'standby2'}),
	'collected', '(a) standby 2 is collected');

# (c) standby 2 stopped: a gap, named.
$standby2->stop;
$primary->safe_psql('postgres', q{SELECT phase_verify('reports')});
like(progress('blockers'),
	qr/Usage source "standby2" could not be read at .*: connection to server .* failed: .*\. Its reads are not seen\./,
	'(c) a stopped source is a blocker naming it and why');
($ret, $stdout, $stderr) = $primary->psql('postgres', q{SELECT phase_advance('reports')});
like($stderr, qr/Usage source "standby2" could not be read/,
	'(c) phase_advance names it');
is($primary->safe_psql('postgres',
		q{SELECT reachable FROM phased_change.usage_sources WHERE name = 'standby2'}),
	'f', '(c) usage_sources shows it unreachable');

# (c) started again after a clean shutdown: its counts and their start are
# kept, so the evidence simply resumes.
my $since2 = $primary->safe_psql('postgres',
	q{SELECT tracking_since FROM phased_change.usage_sources WHERE name = 'standby2'});
$standby2->start;
$primary->safe_psql('postgres', q{SELECT phase_verify('reports')});
unlike(progress('blockers'), qr/standby2/, '(c) back, the evidence resumes');
is($primary->safe_psql('postgres',
		q{SELECT status, tracking_since FROM phased_change.usage_sources WHERE name = 'standby2'}),
	"collected|$since2", '(c) with its tracking continuous');

# (c) an immediate shutdown loses its counts: the soak counts from the restart.
$standby2->stop('immediate');
$standby2->start;
$primary->safe_psql('postgres', q{SELECT phase_verify('reports')});
like(progress('blockers'),
	qr/counted from .*, when usage source "standby2" restarted its usage tracking \(a crash, an immediate shutdown or a run without phased_change preloaded\)\./,
	'(c) a restart of the source\'s tracking during the phase restarts the soak, naming it');
like( $primary->safe_psql('postgres', q{SET phased_change.require_usage_evidence = off;
		SELECT array_to_string(warnings, E'\n') FROM phased_change.progress WHERE plan = 'reports'}),
	qr/The evidence of non-use is continuous only from .*, when usage source "standby2" restarted/,
	'(c) with require_usage_evidence off, a warning');

# (d) a wrong password, and a server that never answers.
my $silent = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
	Proto => 'tcp') or die "cannot listen: $!";
$primary->safe_psql('postgres', "SELECT phase_usage_source_add('wrong-password', '"
	  . source_conninfo($standby1, $wrong_passfile) . "')");
$primary->safe_psql('postgres', "SELECT phase_usage_source_add('silent', 'host=127.0.0.1 port="
	  . $silent->sockport . "')");
$primary->safe_psql('postgres', q{SET phased_change.usage_source_timeout = '300ms';
	SELECT phased_change.usage_sources_collect()});
like( $primary->safe_psql('postgres',
		q{SELECT name, reachable, last_error FROM phased_change.usage_sources
		  WHERE name IN ('wrong-password', 'silent') ORDER BY name}),
	qr/^silent\|f\|could not connect within 300 ms\nwrong-password\|f\|connection to server on socket ".*" failed: FATAL: password authentication failed for user "collector"/,
	'(d) a wrong password and a silent server are clear statuses');
$primary->safe_psql('postgres', q{
SELECT phase_usage_source_drop('wrong-password');
SELECT phase_usage_source_drop('silent');
});
$silent->close;

# (d) a source naming standby 1's other database, where a retired column
# was read: an unreadable source, and none of that database's counts.
$standby1->safe_psql('otherdb', 'SELECT legacy_notes FROM archive',
	extra_params => [ '-U', 'reader' ]);
is($standby1->safe_psql('otherdb', 'SELECT count(*) FROM phased_change.usage_counts()'),
	'1', '(d) the other database has usage counts on standby 1');
(my $other_conninfo = source_conninfo($standby1, $passfile)) =~ s/dbname=postgres/dbname=otherdb/;
$primary->safe_psql('postgres',
	"SELECT phase_usage_source_add('other-database', '$other_conninfo')");
$primary->safe_psql('postgres', q{SELECT phased_change.usage_sources_collect()});
is( $primary->safe_psql('postgres',
		q{SELECT reachable, last_error FROM phased_change.usage_sources WHERE name = 'other-database'}),
	'f|it answers for database "otherdb", not for this database "postgres": its object ids are another database\'s (name this database in dbname=, or leave dbname= out)',
	'(d) a source answering for another database is a clear status');
is( $primary->safe_psql('postgres',
		q{SELECT count(*) FROM phased_change.usage_source_count WHERE source = 'other-database'}),
	'0', '(d) none of the other database\'s counts are merged');
$primary->safe_psql('postgres', q{SELECT phase_usage_source_drop('other-database')});

# (d) no file descriptor left: this session's dblink connections reserve
# theirs as the collection does (max_files_per_process / 3 at most, the
# wait set of each wait included), until one is refused; one more attempt
# then leaves exactly one free (where a refused wait set gives back one
# reservation too many, as on 17, that attempt succeeds; elsewhere it is
# refused too), enough for a socket but not also for the wait set: without
# the check for both, the collection would fail with an error.  The sources are
# then unreadable for that collection, and readable again once the dblink
# connections are closed.
my $fd_outcome = $primary->safe_psql(
	'postgres', sprintf(q{
CREATE EXTENSION dblink;
CREATE TEMP TABLE refusal (detail text);
DO $$
DECLARE
	refused bool := false;
BEGIN
	FOR i IN 1..200 LOOP
		BEGIN
			PERFORM dblink_connect('fd' || i, 'host=%s port=%d dbname=postgres');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO refusal VALUES (SQLERRM || ' ' || coalesce(SQLSTATE, ''));
			EXIT WHEN refused;
			refused := true;
			CONTINUE;
		END;
		EXIT WHEN refused;
	END LOOP;
END
$$;
SELECT 'collect' FROM phased_change.usage_sources_collect();
SELECT 'dblink: ' || detail FROM refusal;
SELECT name, reachable, last_error FROM phased_change.usage_sources ORDER BY name;
SELECT 'closed: ' || (count(dblink_disconnect(c)) > 0)::text FROM unnest(dblink_get_connections()) c;
DROP EXTENSION dblink;
}, $primary->host, $primary->port));
note($fd_outcome);
# (15's dblink says only that it could not connect; 17's names the reason)
like($fd_outcome, qr/^dblink: (?:.*Too many open files|could not establish connection)/mi,
	'(d) the session\'s dblink connections took every descriptor left');
like( $fd_outcome,
	qr/^standby1\|f\|too many open files on this server: no file descriptor is left for the connection \(raise max_files_per_process or "ulimit -n"\)\nstandby2\|f\|too many open files on this server/m,
	'(d) no descriptor left: each source is unreadable, saying why');
like($fd_outcome, qr/^closed: true$/m, '(d) the dblink connections were closed');
$primary->safe_psql('postgres', q{SELECT phased_change.usage_sources_collect()});
is( $primary->safe_psql('postgres',
		q{SELECT string_agg(name || ':' || status, ',' ORDER BY name) FROM phased_change.usage_sources}),
	'standby1:collected,standby2:collected',
	'(d) descriptors free again, the sources are collected');

# (e) standbys replay the sources but neither register nor collect.
($ret, $stdout, $stderr) = $standby2->psql('postgres', q{SELECT phased_change.usage_sources_collect()});
like($stderr, qr/ERROR:  cannot collect usage evidence during recovery/,
	'(e) a standby refuses to collect');
($ret, $stdout, $stderr) = $standby2->psql('postgres',
	q{SELECT phase_usage_source_add('x', 'host=127.0.0.1')});
like($stderr, qr/ERROR:  cannot add a usage source during recovery/,
	'(e) a standby refuses to register a source');

# (f) the primary's own counts are kept in the catalog at each collection.
$primary->safe_psql('postgres', q{SELECT phase_verify('reports')});
$primary->wait_for_catchup($standby1);
is($standby1->safe_psql('postgres',
		q{SELECT count(*) FROM phased_change.usage_primary}),
	'1', '(f) the primary\'s collection is replicated');

# A read on the primary after its last collection, then a failover.
$primary->safe_psql('postgres', 'SELECT legacy_categories FROM user_profile',
	extra_params => [ '-U', 'reader' ]);
$primary->wait_for_catchup($standby1);
$primary->stop;
$standby1->promote;

# Before any collection, the new primary already counts from now.
like( $standby1->safe_psql('postgres',
		q{SELECT array_to_string(blockers, E'\n') FROM phased_change.progress WHERE plan = 'reports'}),
	qr/when this server became the primary: uses on the former primary after its last collection at .* were not seen \(phase_verify collects on this server\)/,
	'(f) promoted: the former primary\'s uncovered window is a gap at once');
is($standby1->safe_psql('postgres', q{SELECT phase_verify('reports')}), 't',
	'(f) promoted: phase_verify collects on the new primary');
is( $standby1->safe_psql('postgres',
		q{SELECT name, status FROM phased_change.usage_sources ORDER BY name}),
	"standby1|this server\nstandby2|collected",
	'(f) promoted: itself is skipped, standby 2 is still a source');
($ret, $stdout, $stderr) = $standby1->psql('postgres', q{SELECT phase_advance('reports')});
like($stderr,
	qr/counted from .*, when this server became the primary: uses on the former primary after its last collection at .* were not seen\./,
	'(f) promoted: phase_advance is refused until the soak has passed since the takeover');
is( $standby1->safe_psql('postgres',
		q{SELECT node, reads, last_role FROM phased_change.column_usage
		  WHERE plan = 'reports' ORDER BY node COLLATE "C"}),
	"former primary (timeline 1)|0|\nprimary|1|reader\nstandby2|0|",
	'(f) promoted: the former primary\'s kept counts, this server\'s read as the primary\'s');
$standby1->safe_psql('postgres', q{SELECT phase_soak_set('reports', 'contract', '0')});
is($standby1->safe_psql('postgres', q{SELECT phase_advance('reports')}),
	'cleanup', '(f) promoted: the plan carries on to cleanup');

# (d) the former primary, started again on its own, is a primary: not a
# source.
$primary->start;
$standby1->safe_psql('postgres',
	"SELECT phase_usage_source_add('former', '" . source_conninfo($primary, $passfile) . "')");
$standby1->safe_psql('postgres', q{SELECT phased_change.usage_sources_collect()});
is( $standby1->safe_psql('postgres',
		q{SELECT reachable, last_error FROM phased_change.usage_sources WHERE name = 'former'}),
	'f|it is not in recovery: a usage source must be a hot standby of this server',
	'(d) a source that is another primary is a clear status');

$primary->stop;
$standby1->stop;
$standby2->stop;
done_testing();
