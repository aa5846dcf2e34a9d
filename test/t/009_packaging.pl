# Packaging: the PGXN META.json is valid (the keys PGXN requires, a
# semantic version, a known license, the prerequisite PostgreSQL >= 15) and
# agrees with the control file and the install script it names; and what a
# DBA sees in \dx and pg_available_extensions is right: the comment, the
# version, and the required extension (plpgsql) recorded as a dependency.

use strict;
use warnings;

use File::Basename;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $top = dirname(dirname(dirname(__FILE__)));
my $meta = decode_json(slurp_file("$top/META.json"));
my $control = slurp_file("$top/phased_change.control");
my ($default_version) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
my ($comment) = $control =~ /^comment\s*=\s*'([^']+)'/m;
my ($requires) = $control =~ /^requires\s*=\s*'([^']+)'/m;
my $semver = qr/^\d+\.\d+\.\d+$/;

foreach my $key (qw(name abstract version maintainer license provides meta-spec))
{
	ok(defined $meta->{$key}, "META.json has $key");
}
is($meta->{name}, 'phased_change', 'META.json names the distribution');
like($meta->{version}, $semver, 'the distribution version is semantic');
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec 1.0.0');
ok((grep { $_ eq $meta->{license} }
		qw(postgresql bsd mit apache_2_0 gpl_3 lgpl_3 artistic_2 unrestricted)),
	'the license is one PGXN knows');

my $provided = $meta->{provides}{phased_change};
ok(defined $provided, 'META.json provides the extension');
is($provided->{version}, "$default_version.0",
	'the provided version is the control file default_version');
is($meta->{version}, $provided->{version},
	'the distribution and the extension have one version');
ok(-f "$top/$provided->{file}", "the provided file $provided->{file} exists");
is($provided->{file}, "phased_change--$default_version.sql",
	'the provided file is the install script of default_version');
ok(-f "$top/$provided->{docfile}", 'the docfile exists');
is($meta->{prereqs}{runtime}{requires}{PostgreSQL}, '15.0.0',
	'the prerequisite is PostgreSQL 15');
ok(exists $meta->{prereqs}{runtime}{requires}{$requires},
	"the prerequisites include the required extension $requires");
like(slurp_file("$top/src/compat.h"), qr/PG_VERSION_NUM < 150000/,
	'compat.h refuses what META.json does not support');

# The Makefile refuses a major below 15 with one line naming both versions.
my $fake = PostgreSQL::Test::Utils::tempdir() . '/pg_config';
open(my $fh, '>', $fake) or die "could not write $fake: $!";
print $fh "#!/bin/sh\necho 'PostgreSQL 14.10 (Debian 14.10-1)'\n";
close($fh);
chmod(0755, $fake);
my ($stdout, $stderr);
IPC::Run::run([ 'make', '-C', $top, '-n', "PG_CONFIG=$fake" ], '>', \$stdout, '2>', \$stderr);
like($stderr,
	qr/phased_change needs PostgreSQL 15 or later, but \S+ is PostgreSQL 14\./,
	'make refuses PostgreSQL 14, naming the version found and the one needed');

# What \dx shows on a server.
my $node = PostgreSQL::Test::Cluster->new('packaging');
$node->init;
$node->start;
is( $node->safe_psql('postgres',
		q{SELECT default_version || '|' || comment FROM pg_available_extensions
		  WHERE name = 'phased_change'}),
	"$default_version|$comment",
	'pg_available_extensions shows the version and comment');
$node->safe_psql('postgres', 'CREATE EXTENSION phased_change');
is( $node->safe_psql('postgres',
		q{SELECT e.extversion || '|' || obj_description(e.oid, 'pg_extension')
		  FROM pg_extension e WHERE e.extname = 'phased_change'}),
	"$default_version|$comment",
	'\dx shows the version and comment');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(r.extname, ',' ORDER BY r.extname)
		  FROM pg_depend d
		  JOIN pg_extension e ON e.oid = d.objid AND d.classid = 'pg_extension'::regclass
		  JOIN pg_extension r ON r.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
		  WHERE e.extname = 'phased_change'}),
	$requires,
	'the required extension is recorded as a dependency');
like($node->safe_psql('postgres', 'SHOW server_version_num'), qr/^1[5-9]\d{4}$/,
	'the server is a supported major');
$node->stop;

done_testing();
