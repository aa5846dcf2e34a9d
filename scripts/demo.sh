#!/usr/bin/env bash
# make demo: build and install phased_change, start a throwaway cluster,
# run the narrated walkthrough (sql/walkthrough.sql) in psql while a writer
# plays the application in the background, and remove the cluster again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

install_packages
build_and_install
writable_copy

DEMO=$(mktemp -d /tmp/phased_change_demo.XXXXXX)
chown postgres: "$DEMO" 2>/dev/null || true
PORT=54329
WRITER=
cleanup() {
	[ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null
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
# The application, while the walkthrough runs: up to contract the old
# version (it writes legacy_categories only, and adds users), from contract
# on the new one (it writes primary_categories only).  Ten writes a second;
# a write that fails (the table does not exist yet) is simply tried again.
writer() {
	while sleep 0.1; do
		run_as_postgres psql -X -q -h "$DEMO" -p $PORT -d demo >/dev/null 2>&1 <<-'SQL'
		DO $$
		DECLARE
			phase text := (SELECT p.phase FROM phased_change.progress p
						   WHERE p.plan = 'merge-aggregators' AND p.status = 'active');
			target int := 1 + (random() * 4999)::int;
		BEGIN
			IF phase IN ('expand', 'migrate') THEN
				UPDATE user_profile SET legacy_categories = '{TypeA}' WHERE id = target;
				INSERT INTO user_profile (id, legacy_categories)
				VALUES (100000 + (random() * 100000)::int, '{TypeB}') ON CONFLICT DO NOTHING;
			ELSIF phase IN ('contract', 'cleanup') THEN
				UPDATE user_profile SET primary_categories = '{TypeC}' WHERE id = target;
			END IF;
		END
		$$;
		SQL
	done
}
writer &
WRITER=$!
echo "A writer plays the application in the background: ten writes a second."
run_as_postgres psql -X -q -h "$DEMO" -p $PORT -d demo -v demo=1 -e -f "$WORKDIR/sql/walkthrough.sql" 2>&1 |
	sed -e 's/^psql:[^ ]*: //'
echo
echo "Done; the throwaway cluster is removed."
