#!/usr/bin/env bash
# make installcheck-neutral: phased_change is invisible to everyone else.
#
# PostgreSQL's own regression suite (src/test/regress of the installed
# major, from Debian's source package, unpacked by scripts/common.sh into
# PG_REGRESS_SOURCES) runs twice in throwaway instances with the installed
# pg_regress and server: stock, then with phased_change in
# shared_preload_libraries and CREATE EXTENSION phased_change in the
# regression database (--load-extension), phased_change.unplanned_ddl =
# allow (no warning for unplanned DDL).  Everything else is the same:
# schedule, settings, regress.so (built here from regress.c) and the spi
# modules the triggers test loads.
#
# The two runs must give the same results: a test whose output differs
# between them fails this suite unless it passed in both (its output is one
# of PostgreSQL's expected files either way).  The one exception is
# event_trigger, whose listing of event triggers shows ours; there only
# lines naming phased_change may differ.  Both runs must have run every
# test of the schedule.  The suite fails, not skips, when the regression
# sources are missing.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-pg_config}
OUT=${1:-output_neutral}
TIME_LIMIT=${NEUTRAL_TIME_LIMIT:-1200}
major=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
src=${PG_REGRESS_SOURCES:-/var/cache/phased_change/pgsrc/$major}/regress
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
pg_regress=$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")/test/regress/pg_regress

if [ ! -f "$src/parallel_schedule" ] || [ ! -f "$src/regress.c" ]; then
	echo "PostgreSQL's regression sources are missing: no $src/parallel_schedule" >&2
	echo "(scripts/common.sh fetches them as root: fetch_regress_sources)" >&2
	exit 1
fi

rm -rf "$OUT"
mkdir -p "$OUT/lib"
OUT=$(cd "$OUT" && pwd)

# The C test module and the spi modules, as PostgreSQL's own make check has
# them beside pg_regress.
gcc -O2 -fPIC -shared -w -I"$("$PG_CONFIG" --includedir-server)" \
	"$src/regress.c" -o "$OUT/lib/regress.so"
for m in autoinc refint; do
	[ -f "$pkglibdir/$m.so" ] && cp "$pkglibdir/$m.so" "$OUT/lib/"
done

: >"$OUT/stock.conf"
# unplanned_ddl = allow: the DBA's setting for a database without plans; the
# default "warn" would add a WARNING to every DROP of the suite.
printf '%s\n' "shared_preload_libraries = 'phased_change'" \
	"phased_change.unplanned_ddl = allow" >"$OUT/preloaded.conf"

# From 16 on pg_regress looks for expected files in --expecteddir (default:
# the current directory, here the project's own expected/).
expecteddir=()
"$pg_regress" --help | grep -q -- --expecteddir && expecteddir=(--expecteddir="$src")

# run_suite NAME [pg_regress options]: the whole parallel schedule in a
# temporary instance of its own, within the time limit.
run_suite() {
	local name=$1 start rc=0
	shift
	mkdir -p "$OUT/$name"
	start=$(date +%s)
	timeout "$TIME_LIMIT" "$pg_regress" --bindir="$bindir" --dlpath="$OUT/lib" \
		--inputdir="$src" --outputdir="$OUT/$name" --temp-instance="$OUT/$name/tmp_check" \
		--temp-config="$OUT/$name.conf" --schedule="$src/parallel_schedule" \
		--max-concurrent-tests=20 "${expecteddir[@]}" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
	if [ $rc -eq 124 ]; then
		echo "$name: pg_regress did not finish within $TIME_LIMIT s" >&2
		[ -d "$OUT/$name/tmp_check/data" ] &&
			"$bindir/pg_ctl" -D "$OUT/$name/tmp_check/data" stop -m immediate >/dev/null 2>&1
		return 1
	fi
	echo "$name: $(ls "$OUT/$name/results" | wc -l) tests in $(($(date +%s) - start)) s (pg_regress exit status $rc)"
}

# passed NAME TEST: the test's output in run NAME is one of PostgreSQL's
# expected files for it.
passed() {
	local e
	for e in "$src/expected/$2.out" "$src/expected/$2"_[0-9].out "$OUT/$1/expected/$2.out"; do
		[ -f "$e" ] && cmp -s "$e" "$OUT/$1/results/$2.out" && return 0
	done
	return 1
}

run_suite stock
run_suite preloaded --load-extension=phased_change

expected_tests=$(sed -n 's/^test: *//p' "$src/parallel_schedule" | wc -w)
different=0
for name in stock preloaded; do
	got=$(ls "$OUT/$name/results" | wc -l)
	if [ "$got" -lt "$expected_tests" ]; then
		echo "$name: $got results for the $expected_tests tests of the schedule (see $OUT/$name.log)"
		different=1
	fi
done

for f in "$OUT"/stock/results/*.out "$OUT"/preloaded/results/*.out; do
	t=$(basename "$f" .out)
	a="$OUT/stock/results/$t.out"
	b="$OUT/preloaded/results/$t.out"
	[ "$f" = "$b" ] && [ -f "$a" ] && continue
	if [ ! -f "$a" ] || [ ! -f "$b" ]; then
		echo "$t: has results in one run only"
		different=1
	elif cmp -s "$a" "$b" || { passed stock "$t" && passed preloaded "$t"; }; then
		:
	elif [ "$t" = event_trigger ] &&
		! diff "$a" "$b" | grep '^[<>]' | grep -vq phased_change; then
		echo "$t: differs only in lines naming phased_change (allowed)"
	else
		echo "$t: differs between the stock and the preloaded run:"
		diff -u "$a" "$b" | head -n 40
		different=1
	fi
done

failed_stock=$(for f in "$OUT"/stock/results/*.out; do
	t=$(basename "$f" .out); passed stock "$t" || echo "$t"; done | tr '\n' ' ')
echo "failing identically in both runs: ${failed_stock:-none}"
if [ $different -ne 0 ]; then
	echo "PostgreSQL's regression suite gives different results with phased_change preloaded"
	exit 1
fi
echo "PostgreSQL's regression suite gives the stock results with phased_change preloaded"
