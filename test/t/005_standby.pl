# A streaming standby carries the plans, and a promoted standby carries on.
#
# The plan catalog and its history are ordinary WAL-logged tables, and a
# refused statement's record is committed by a background worker, so a
# streaming standby shows the same progress, history and blocked_ddl as
# the primary.  DDL on the standby fails as on any read-only server,
# without the guard getting in the way or crashing it.  Once the standby is
# promoted, the guard refuses the same DROP COLUMN there, and the plan
# continues from the phase it was in: to cleanup, where the DROP succeeds,
# and to completion.
#
# The library is not preloaded (the guard lives in its event triggers),
# except for one restart of the standby with it preloaded: there the
# guard's hooks run before PostgreSQL's read-only check, and a guarded DROP
# gets the refusal itself, kept in the standby's spool and recorded once
# the standby is promoted.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION phased_change;
CREATE TABLE user_profile (id int PRIMARY KEY, legacy_categories text[],
						   primary_categories text[]);
INSERT INTO user_profile VALUES (1, '{news}', '{news}'), (2, '{music}', '{music}');

SELECT phase_plan_create('standby', 'Survives failover', '0');
SELECT phase_retire('standby', 'user_profile', 'legacy_categories');
SELECT phase_introduce('standby', 'user_profile', 'primary_categories');
SELECT phase_check_add('standby', 'migrate', 'backfilled',
	'NOT EXISTS (SELECT FROM user_profile WHERE primary_categories IS DISTINCT FROM legacy_categories)');
});
is($primary->safe_psql('postgres', q{SELECT phase_advance('standby')}),
	'migrate', 'primary: advanced to migrate');
is($primary->safe_psql('postgres', q{SELECT phase_advance('standby')}),
	'contract', 'primary: advanced to contract');

my $drop = q{ALTER TABLE user_profile DROP COLUMN legacy_categories};
my $refusal =
  qr/ERROR:  cannot drop column "legacy_categories" of table "user_profile"/;

my ($ret, $stdout, $stderr) = $primary->psql('postgres', $drop);
isnt($ret, 0, 'primary: DROP COLUMN in contract fails');
like($stderr, $refusal, 'primary: refused by the guard');
# the refusal is recorded by the recorder, after the statement: wait for it
is( $primary->safe_psql(
		'postgres', q{SELECT phased_change.recorder_wait();
					  SELECT count(*) FROM phased_change.blocked_ddl}),
	"t\n1",
	'primary: the refusal is in blocked_ddl');

my %queries = (
	progress => q{SELECT plan, description, status, phase, phase_number,
						 entered_at, soak, checks_passed, checks_total,
						 last_verified_at, ready, blockers, next_step,
						 warnings, owner, created_at
				  FROM phased_change.progress ORDER BY plan},
	history => q{SELECT event_id, at, plan, event, from_phase, to_phase,
						time_in_phase, checks_ok, actor, role,
						application_name, client_addr, detail
				 FROM phased_change.history ORDER BY event_id},
	blocked_ddl => q{SELECT at, plan, object, statement, actor, role,
							application_name, client_addr
					 FROM phased_change.blocked_ddl ORDER BY at, object},
	guarded_objects => q{SELECT plan, object_type, object, role, exists,
								may_drop, plan_status, plan_phase
						 FROM phased_change.guarded_objects ORDER BY object});

$primary->wait_for_catchup($standby);

my %on_primary =
  map { $_ => $primary->safe_psql('postgres', $queries{$_}) } keys %queries;
foreach my $what (sort keys %queries)
{
	is($standby->safe_psql('postgres', $queries{$what}),
		$on_primary{$what}, "standby: $what as on the primary");
}
like($on_primary{progress}, qr/^standby\|Survives failover\|active\|contract\|3\|/,
	'primary: progress shows the plan in contract');
is( $standby->safe_psql(
		'postgres',
		q{SELECT plan, object, statement FROM phased_change.blocked_ddl}),
	"standby|public.user_profile.legacy_categories|$drop",
	'standby: the blocked_ddl record of the primary');

# DDL on the standby fails as on any read-only server.
($ret, $stdout, $stderr) = $standby->psql('postgres', $drop);
isnt($ret, 0, 'standby: DROP COLUMN fails');
like(
	$stderr,
	qr/ERROR:  cannot execute ALTER TABLE in a read-only transaction/,
	'standby: refused because the standby is read-only');
is($standby->safe_psql('postgres', 'SELECT 1'),
	'1', 'standby: still accepts queries');
is($standby->safe_psql('postgres', $queries{blocked_ddl}),
	$on_primary{blocked_ddl}, 'standby: blocked_ddl unchanged');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute
	WHERE attrelid = 'user_profile'::regclass
	  AND attname = 'legacy_categories' AND NOT attisdropped}),
	'1', 'standby: the column is still there');

# Preloaded, the guard's hooks run before PostgreSQL's read-only check: on
# the standby a guarded DROP gets the refusal itself (not a lock or write
# error), and a DROP the guard does not care about gets PostgreSQL's own
# read-only error.  Then back to the event triggers only.
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'phased_change'");
$standby->restart;
($ret, $stdout, $stderr) = $standby->psql('postgres', $drop);
isnt($ret, 0, 'preloaded standby: DROP COLUMN fails');
like($stderr, $refusal, 'preloaded standby: refused by the guard');
unlike($stderr, qr/lock|read-only/, 'preloaded standby: the refusal, not a lock or write error');
($ret, $stdout, $stderr) = $standby->psql('postgres', 'DROP TABLE IF EXISTS nothing_here');
like($stderr, qr/cannot execute DROP TABLE in a read-only transaction/,
	'preloaded standby: unguarded DDL gets PostgreSQL\'s read-only error');
$standby->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$standby->restart;

# Fail over.
$primary->stop;
$standby->promote;
ok( $standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'standby promoted');

($ret, $stdout, $stderr) = $standby->psql('postgres', $drop);
isnt($ret, 0, 'promoted: DROP COLUMN in contract fails');
like($stderr, $refusal, 'promoted: refused by the guard');
like($stderr, qr/phase "contract"/, 'promoted: the refusal names phase contract');
# The refusal made on the preloaded standby waited in its spool; once
# promoted, it is recorded with the new one, next to the primary's.
is($standby->safe_psql('postgres', q{SELECT phased_change.recorder_wait()}),
	't', 'promoted: the recorder drains the spool');
is( $standby->safe_psql(
		'postgres', q{SELECT count(*) FROM phased_change.blocked_ddl}),
	'3',
	'promoted: the standby\'s and the new refusal are recorded next to the primary\'s');

is($standby->safe_psql('postgres', q{SELECT phase_advance('standby')}),
	'cleanup', 'promoted: phase_advance continues from contract to cleanup');
$standby->safe_psql('postgres', $drop);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute
	WHERE attrelid = 'user_profile'::regclass
	  AND attname = 'legacy_categories' AND NOT attisdropped}),
	'0', 'promoted: DROP COLUMN succeeds in cleanup');
is($standby->safe_psql('postgres', q{SELECT phase_advance('standby')}),
	'completed', 'promoted: the plan completes');
is( $standby->safe_psql(
		'postgres', q{SELECT status, phase FROM phased_change.progress}),
	'completed|cleanup',
	'promoted: progress shows the plan completed');
is( $standby->safe_psql(
		'postgres', q{
SELECT string_agg(coalesce(to_phase, event), ',' ORDER BY event_id)
FROM phased_change.history
WHERE event IN ('advanced', 'rolled_back', 'completed')}),
	'migrate,contract,cleanup,completed',
	'promoted: one transition per phase, across the failover');

$standby->stop;
done_testing();
