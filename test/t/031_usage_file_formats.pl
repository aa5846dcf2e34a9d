# The usage statistics file across versions of the library.
#
# 1.4 saves, with each guarded object's counts, the roles and applications
# that used it in the current phase (file format "PCU3").  A file saved by
# the 1.3 library (format "PCU2", entries without users) is loaded: the
# counts, last use and start of tracking carry over, with no users.  A file
# in an unknown format is ignored with a LOG line, and the server starts.
#
# The PCU2 file is written here as the 1.3 library wrote it on a 64-bit
# platform: a 24-byte header (magic, count, tracking_since, saved_at) and
# 128-byte entries (database oid, object id, spinlock, reads, writes,
# first_seen, last_seen, last role, last application_name).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('formats');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'phased_change'\n");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION phased_change;
CREATE TABLE crates (id int, legacy_size int, size int);
SELECT phase_plan_create('crates', NULL, '0');
SELECT phase_retire('crates', 'crates', 'legacy_size');
SELECT count(legacy_size) FROM crates;
});
my $object_id = $node->safe_psql('postgres',
	q{SELECT object_id FROM phased_change.object WHERE plan_id =
	  (SELECT plan_id FROM phased_change.plan WHERE name = 'crates')});
my $dbid = $node->safe_psql('postgres',
	q{SELECT oid FROM pg_database WHERE datname = current_database()});
my $roleid = $node->safe_psql('postgres', q{SELECT oid FROM pg_roles WHERE rolname = current_user});
is($node->safe_psql('postgres', q{SELECT count(*) FROM phased_change.retired_usage}),
	'1', 'one role and application used the retired column');

# (a) The current format survives a clean restart (002_preload.pl has more).
$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FROM phased_change.retired_usage}),
	'1', '(a) the users survive a clean restart');

# (b) A file of the 1.3 library: counts kept, no users.
$node->stop;
my $stat_file = $node->data_dir . '/pg_stat/phased_change.stat';
ok(-e $stat_file, '(b) the clean shutdown saved the usage file');

# microseconds since 2000-01-01 UTC
my $epoch_2000 = 946684800;
my $tracking_since = (1_700_000_000 - $epoch_2000) * 1_000_000;    # 2023-11-14
my $saved_at = (time() + 86400 - $epoch_2000) * 1_000_000;   # after the last checkpoint
my $first_seen = (1_700_000_100 - $epoch_2000) * 1_000_000;
my $last_seen = (1_700_000_200 - $epoch_2000) * 1_000_000;
my $header = pack('L l q q', 0x50435532, 1, $tracking_since, $saved_at);
my $entry = pack('L x4 q C x7 q q q q L a64 x4',
	$dbid, $object_id, 0, 7, 3, $first_seen, $last_seen, $roleid, 'old-app');
is(length($entry), 128, '(b) a 1.3 entry is 128 bytes');
open(my $fh, '>:raw', $stat_file) or die "could not write $stat_file: $!";
print $fh $header, $entry;
close($fh);

$node->start;
is( $node->safe_psql(
		'postgres', q{SELECT reads, writes, last_application_name,
							 last_seen = '2023-11-14 22:16:40+00'::timestamptz,
							 tracking_since = '2023-11-14 22:13:20+00'::timestamptz
					  FROM phased_change.column_usage WHERE plan = 'crates'}),
	'7|3|old-app|t|t',
	'(b) the counts, last use and start of tracking of a 1.3 file are loaded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM phased_change.retired_usage}),
	'0', '(b) with no users');
$node->safe_psql('postgres', q{SELECT count(legacy_size) FROM crates});
is( $node->safe_psql(
		'postgres', q{SELECT reads, (SELECT count(*) FROM phased_change.retired_usage)
					  FROM phased_change.column_usage WHERE plan = 'crates'}),
	'8|1', '(b) and counting goes on from there, users included');

# (c) A file in an unknown format is ignored, and said so.
$node->stop;
open($fh, '>:raw', $stat_file) or die "could not write $stat_file: $!";
print $fh pack('L l q q', 0x50435539, 1, 0, $saved_at), 'x' x 100;
close($fh);
my $log_offset = -s $node->logfile;
$node->start;
ok( $node->log_contains(
		qr/ignoring file "pg_stat\/phased_change\.stat" with an unexpected format/, $log_offset),
	'(c) an unknown format is ignored with a LOG line');
is( $node->safe_psql(
		'postgres', q{SELECT reads FROM phased_change.column_usage WHERE plan = 'crates'}),
	'0', '(c) and nothing of it is loaded');

$node->stop;
done_testing();
