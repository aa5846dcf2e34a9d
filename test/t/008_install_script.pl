# Extension-script security (PostgreSQL's "Security Considerations for
# Extensions"): no operator in any install or upgrade script can be captured
# through the search_path, every SECURITY DEFINER function pins its
# search_path, and the install fails rather than adopt a schema, table or
# function someone else made.

use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# 1. Every operator is written OPERATOR(pg_catalog.x).
my $top = dirname(dirname(dirname(__FILE__)));
my @scripts = glob("$top/phased_change--*.sql");
ok(scalar(@scripts) >= 3, 'install and upgrade scripts found');
foreach my $script (@scripts)
{
	my $text = slurp_file($script);
	$text =~ s/\$\$.*?\$\$//gs;                # function bodies (plpgsql)
	$text =~ s{/\*.*?\*/}{}gs;                  # block comments
	$text =~ s/--[^\n]*//g;                     # line comments
	$text =~ s/'(?:[^']|'')*'//g;               # string literals
	$text =~ s/"[^"]*"//g;                      # quoted identifiers
	$text =~ s/^\\echo[^\n]*//mg;               # psql guard
	$text =~ s/\@extschema\@//g;
	$text =~ s/OPERATOR\(pg_catalog\.[^)\s]+\)//g;
	$text =~ s/:://g;                           # casts
	$text =~ s/SET\s+\w+\s*=//gi;                 # SET name = value: syntax
	$text =~ s/\(\*\)//g;                       # count(*)
	my @bare = ($text =~ /([-+*\/<>=~!\@#%^&|?]+)/g);
	is_deeply(\@bare, [], basename($script) . ': no unqualified operator');
}

my $node = PostgreSQL::Test::Cluster->new('install');
$node->init;
$node->start;

# 2. SECURITY DEFINER functions pin search_path.
$node->safe_psql('postgres', 'CREATE EXTENSION phased_change');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'phased_change'
WHERE p.prosecdef
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)}),
	'0',
	'every SECURITY DEFINER function pins search_path');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'phased_change'
WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)}),
	'0',
	'every PL/pgSQL function pins search_path');

# 3. The install never adopts what someone else made.
foreach my $case (
	[ 'schema', 'CREATE SCHEMA phased_change', qr/schema "phased_change" already exists/ ],
	[ 'function', 'CREATE FUNCTION public.phase_advance(plan text) RETURNS text LANGUAGE sql AS $$ SELECT 1::text $$',
	  qr/function "phase_advance" already exists/ ],
	[ 'function', 'CREATE FUNCTION public.phase_verify(plan text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$',
	  qr/function "phase_verify" already exists/ ])
{
	my ($kind, $sql, $expected) = @$case;
	$node->safe_psql('postgres', 'CREATE DATABASE squatted');
	$node->safe_psql('squatted', $sql);
	my ($ret, $out, $err) = $node->psql('squatted', 'CREATE EXTENSION phased_change');
	isnt($ret, 0, "CREATE EXTENSION fails over a pre-existing $kind");
	like($err, $expected, "... naming the $kind");
	is($node->safe_psql('squatted',
			"SELECT count(*) FROM pg_extension WHERE extname = 'phased_change'"),
		'0', '... and installs nothing');
	$node->safe_psql('postgres', 'DROP DATABASE squatted');
}

$node->stop;
done_testing();
