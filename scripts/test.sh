#!/usr/bin/env bash
# make test: build, install and run every test suite in throwaway clusters
# as the postgres user: pg_regress (plain, then preloaded), isolation (plain,
# then preloaded), TAP, and neutral: PostgreSQL's own regression suite, stock
# and with phased_change preloaded, giving the same results.
# Every suite runs even when one fails; each prints "suite NAME: passed" or
# "suite NAME: FAILED", and the run ends with "N passed, M failed" and a
# non-zero exit on any failure, after printing the differences.
#
# For a quicker loop while developing: TEST_SUITES picks suites (e.g.
# "regress preload"), TEST_MAKE_ARGS adds make variables (e.g.
# 'REGRESS=guard REGRESS_PRELOAD=guard PROVE_TESTS=test/t/002_preload.pl').
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

install_packages
fetch_regress_sources
echo "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
passed=0
failed=0
report() {
	if [ "$2" -eq 0 ]; then
		echo "suite $1: passed"; passed=$((passed + 1))
	else
		echo "suite $1: FAILED"; failed=$((failed + 1))
	fi
}

rc=0
build_and_install || rc=$?
report build $rc
if [ $rc -ne 0 ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
writable_copy

make_args="PG_CONFIG=$PG_BINDIR/pg_config with_llvm=no ${TEST_MAKE_ARGS:-}"
not_run=0
for suite in ${TEST_SUITES:-regress preload isolation isolation-preload tap neutral}; do
	# PostgreSQL's regression sources come from Debian's source package; where
	# the mirror serves none for this major, say so instead of failing.
	if [ "$suite" = neutral ] && [ ! -d "$PG_REGRESS_SOURCES/regress" ] &&
		[ -f "$PG_REGRESS_SOURCES.unavailable" ]; then
		echo "suite neutral: NOT RUN ($(head -n 1 "$PG_REGRESS_SOURCES.unavailable"))"
		not_run=$((not_run + 1))
		continue
	fi
	rc=0
	run_as_postgres make -C "$WORKDIR" "installcheck-$suite" $make_args || rc=$?
	report "$suite" $rc
done

for diffs in "$WORKDIR/regression.diffs" "$WORKDIR/output_iso/regression.diffs" \
	"$WORKDIR/output_preload/regression.diffs" "$WORKDIR/output_iso_preload/regression.diffs"; do
	if [ -s "$diffs" ]; then
		echo "=== $diffs"
		cat "$diffs"
	fi
done
if [ $failed -ne 0 ] && [ -d "$WORKDIR/tmp_check/log" ]; then
	for f in "$WORKDIR"/tmp_check/log/*; do
		echo "=== $f"; tail -n 60 "$f"
	done
fi
if [ $not_run -gt 0 ]; then
	echo "$passed passed, $failed failed, $not_run skipped"
else
	echo "$passed passed, $failed failed"
fi
if [ $failed -eq 0 ]; then
	[ "$(id -u)" = 0 ] && rm -rf "$(dirname "$WORKDIR")"
else
	echo "test suites FAILED (work tree kept in $WORKDIR)"
fi
[ $failed -eq 0 ]
