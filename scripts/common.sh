# Shared by scripts/test.sh and scripts/demo.sh: install what is missing
# (as root, from Debian's packages), build and install the extension, and
# prepare a copy of the tree that the postgres user may write to.
#
# PG_MAJOR picks the PostgreSQL major (default: the newest installed, or 15
# on a machine that has none yet).  pgaudit and pg_cron, which only the
# neighbour test uses, are installed where the Debian suite has them.

if [ -z "${PG_MAJOR:-}" ]; then
	PG_MAJOR=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
	PG_MAJOR=${PG_MAJOR:-15}
fi
PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR sqlsmith libipc-run-perl make gcc"
OPTIONAL_PACKAGES="postgresql-$PG_MAJOR-pgaudit postgresql-$PG_MAJOR-cron"
PG_BINDIR=/usr/lib/postgresql/$PG_MAJOR/bin
export PG_MAJOR

install_packages() {
	local missing="" p
	for p in $PACKAGES $OPTIONAL_PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	apt-get update -qq
	missing=""
	for p in $PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	for p in $OPTIONAL_PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 && continue
		if apt-cache show "$p" >/dev/null 2>&1; then
			missing="$missing $p"
		else
			echo "note: $p is not in this Debian suite"
		fi
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

# Build (any compiler warning fails the build) and install.
build_and_install() {
	local log
	log=$(mktemp)
	make -s clean PG_CONFIG=$PG_BINDIR/pg_config >/dev/null 2>&1 || true
	if ! make -s PG_CONFIG=$PG_BINDIR/pg_config with_llvm=no >"$log" 2>&1; then
		cat "$log"; rm -f "$log"; return 1
	fi
	if grep -q 'warning:' "$log"; then
		echo "the build printed compiler warnings:"; cat "$log"; rm -f "$log"; return 1
	fi
	rm -f "$log"
	if [ "$(id -u)" = 0 ]; then
		make -s install PG_CONFIG=$PG_BINDIR/pg_config with_llvm=no >/dev/null
	fi
}

# writable_copy: a copy of the tree that the postgres user may write to,
# in WORKDIR, when we are root (initdb refuses root).
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

# run_as_postgres CMD...: run a command as the postgres user.
run_as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env PATH="$PG_BINDIR:$PATH" PG_MAJOR="$PG_MAJOR" "$@"
	else
		env PATH="$PG_BINDIR:$PATH" "$@"
	fi
}
