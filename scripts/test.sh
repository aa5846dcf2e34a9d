#!/usr/bin/env bash
# make test: build, install and run every test suite (pg_regress, isolation,
# TAP) in throwaway clusters as the postgres user.  Exits non-zero on any
# failure, after printing the differences.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

install_packages
build_and_install
writable_copy

status=0
make_args="PG_CONFIG=$PG_BINDIR/pg_config with_llvm=no"
# pg_regress, isolation and TAP; then pg_regress again, preloaded.
run_as_postgres make -C "$WORKDIR" installcheck $make_args || status=$?
run_as_postgres make -C "$WORKDIR" installcheck-preload $make_args || status=$?

for diffs in "$WORKDIR/regression.diffs" "$WORKDIR/output_iso/regression.diffs" \
	"$WORKDIR/output_preload/regression.diffs"; do
	if [ -s "$diffs" ]; then
		echo "=== $diffs"
		cat "$diffs"
	fi
done
if [ $status -ne 0 ] && [ -d "$WORKDIR/tmp_check/log" ]; then
	for f in "$WORKDIR"/tmp_check/log/*; do
		echo "=== $f"; tail -n 60 "$f"
	done
fi
if [ $status -eq 0 ]; then
	echo "all test suites passed"
	[ "$(id -u)" = 0 ] && rm -rf "$(dirname "$WORKDIR")"
else
	echo "test suites FAILED (work tree kept in $WORKDIR)"
fi
exit $status
