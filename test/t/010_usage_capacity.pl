# phased_change.max_tracked_columns is a cap on the usage table in shared
# memory, and what the README says of a full table holds:
#  (a) at the smallest capacity (64), retiring and reading 70 columns counts
#      64 objects and never more, however often the others are read: further
#      objects go uncounted, and usage_tracking() says how many uses were lost;
#  (b) the server log says so once;
#  (c) column_usage.tracking_complete is false;
#  (d) with require_usage_evidence (the default) the plan cannot leave
#      contract, progress.blockers says why, and with it off the gap is a
#      warning only;
#  (e) once max_tracked_columns is raised (a restart), every object is
#      counted, tracking is complete and the plan may leave contract.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('capacity');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'phased_change'
max_worker_processes = 8
phased_change.max_tracked_columns = 64
});
$node->start;

my $columns = join(', ', map { "legacy_$_ int" } 1 .. 70);
my $retire = join("\n", map { "SELECT phase_retire('wide', 'wide', 'legacy_$_');" } 1 .. 70);
$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION phased_change;
CREATE TABLE wide (id int, $columns);
INSERT INTO wide (id) VALUES (1);
SELECT phase_plan_create('wide', NULL, '0');
$retire
});

# (a) One read of every column: 64 objects counted, 6 uses lost; a second
# read adds 6 lost uses and no object.
$node->safe_psql('postgres', 'SELECT * FROM wide');
is($node->safe_psql('postgres',
		'SELECT tracked, capacity, uncounted FROM phased_change.usage_tracking()'),
	'64|64|6', '(a) a full table counts 64 objects and loses the uses of the other 6');
$node->safe_psql('postgres', 'SELECT * FROM wide');
is($node->safe_psql('postgres',
		'SELECT tracked, capacity, uncounted FROM phased_change.usage_tracking()'),
	'64|64|12', '(a) reading again adds lost uses, never an object past the cap');
is($node->safe_psql('postgres',
		q{SELECT count(*) FILTER (WHERE reads = 2), count(*) FILTER (WHERE reads = 0)
		  FROM phased_change.column_usage WHERE plan = 'wide'}),
	'64|6', '(a) 64 columns have both reads, 6 none');

# (b) The log says so once.
my $full_messages = () = slurp_file($node->logfile) =~
  /phased_change usage tracking is full/g;
is($full_messages, 1, '(b) the server log says once that the table is full');

# (c) Tracking is not complete.
is($node->safe_psql('postgres',
		q{SELECT DISTINCT tracking_complete FROM phased_change.column_usage WHERE plan = 'wide'}),
	'f', '(c) column_usage.tracking_complete is false');

# (d) In contract the plan cannot leave, with the reason in progress.
$node->safe_psql('postgres',
	q{SELECT phase_advance('wide'); SELECT phase_advance('wide');});
is($node->safe_psql('postgres', q{SELECT phase FROM phased_change.progress WHERE plan = 'wide'}),
	'contract', '(d) the plan is in contract');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT phase_advance('wide')});
isnt($ret, 0, '(d) phase_advance out of contract is refused while uses went uncounted');
like($err, qr/Usage tracking is full \(phased_change.max_tracked_columns\): 12 uses went uncounted/,
	'(d) the refusal says the table is full');
is($node->safe_psql('postgres',
		q{SELECT blockers[1] FROM phased_change.progress WHERE plan = 'wide'}),
	'Usage tracking is full (phased_change.max_tracked_columns): 12 uses went uncounted.',
	'(d) progress.blockers says the table is full');
is($node->safe_psql('postgres',
		q{SET phased_change.require_usage_evidence = off;
		  SELECT cardinality(blockers), warnings[1] FROM phased_change.progress WHERE plan = 'wide'}),
	'0|Usage tracking is full (phased_change.max_tracked_columns): 12 uses went uncounted.',
	'(d) with require_usage_evidence off the gap is a warning only');

# (e) Raised, every object is counted and the plan may leave contract.
$node->append_conf('postgresql.conf', 'phased_change.max_tracked_columns = 128');
$node->restart;
$node->safe_psql('postgres', 'SELECT * FROM wide');
is($node->safe_psql('postgres',
		'SELECT tracked, capacity, uncounted FROM phased_change.usage_tracking()'),
	'70|128|0', '(e) raised, every object is counted');
is($node->safe_psql('postgres',
		q{SELECT DISTINCT tracking_complete FROM phased_change.column_usage WHERE plan = 'wide'}),
	't', '(e) tracking is complete again');
$node->safe_psql('postgres', q{SELECT phase_advance('wide')});
is($node->safe_psql('postgres', q{SELECT phase FROM phased_change.progress WHERE plan = 'wide'}),
	'cleanup', '(e) the plan leaves contract');

$node->stop;
done_testing();
