# Shared by scripts/test.sh and scripts/demo.sh: install what is missing
# (as root, from Debian's packages), build and install the extension, and
# prepare a copy of the tree that the postgres user may write to.

PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-pgaudit postgresql-15-cron sqlsmith libipc-run-perl make gcc"
PG_BINDIR=/usr/lib/postgresql/15/bin

install_packages() {
	local missing=""
	for p in $PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "installing:$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

build_and_install() {
	make -s PG_CONFIG=$PG_BINDIR/pg_config with_llvm=no
	if [ "$(id -u)" = 0 ]; then
		make -s install PG_CONFIG=$PG_BINDIR/pg_config with_llvm=no >/dev/null
	fi
}

# run_as_postgres CMD...: run a command as the postgres user (initdb refuses
# root), in a writable copy of the tree when we are root.
writable_copy() {
	if [ "$(id -u)" = 0 ]; then
		WORKDIR=$(mktemp -d /tmp/phased_change.XXXXXX)
		cp -a . "$WORKDIR/tree"
		chown -R postgres: "$WORKDIR"
		WORKDIR="$WORKDIR/tree"
	else
		WORKDIR=$(pwd)
	fi
}

run_as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env PATH="$PG_BINDIR:$PATH" "$@"
	else
		env PATH="$PG_BINDIR:$PATH" "$@"
	fi
}
