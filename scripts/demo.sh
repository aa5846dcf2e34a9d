#!/usr/bin/env bash
# make demo: build and install phased_change, start a throwaway cluster,
# run the narrated walkthrough (sql/walkthrough.sql) in psql, and remove
# the cluster again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

install_packages
build_and_install
writable_copy

DEMO=$(mktemp -d /tmp/phased_change_demo.XXXXXX)
chown postgres: "$DEMO" 2>/dev/null || true
PORT=54329
cleanup() {
	run_as_postgres pg_ctl -D "$DEMO/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$DEMO"
	[ "$(id -u)" = 0 ] && rm -rf "$(dirname "$WORKDIR")"
}
trap cleanup EXIT

echo "Starting a throwaway PostgreSQL $PG_MAJOR cluster in $DEMO ..."
run_as_postgres initdb -D "$DEMO/data" -A trust >/dev/null
run_as_postgres pg_ctl -D "$DEMO/data" -o "-p $PORT -k $DEMO -c listen_addresses=''" \
	-l "$DEMO/server.log" -w start >/dev/null
run_as_postgres createdb -h "$DEMO" -p $PORT demo

echo
echo "CREATE EXTENSION phased_change: no configuration change needed."
run_as_postgres psql -X -q -h "$DEMO" -p $PORT -d demo -e -c "CREATE EXTENSION phased_change;"
run_as_postgres psql -X -q -h "$DEMO" -p $PORT -d demo -v demo=1 -e -f "$WORKDIR/sql/walkthrough.sql" 2>&1 |
	sed -e 's/^psql:[^ ]*: //'
echo
echo "Done; the throwaway cluster is removed."
