# Shared by scripts/test.sh and scripts/demo.sh: install what is missing
# (as root, from Debian's packages), build and install the extension, and
# prepare a copy of the tree that the postgres user may write to.
# It also keeps an unpacked copy of PostgreSQL's own regression suite (from
# Debian's source package of the major) for the neutrality suite.
#
# PG_MAJOR picks the PostgreSQL major (default: the newest installed, or 15
# on a machine that has none yet).  pgaudit and pg_cron, which only the
# neighbour test uses, are installed where the Debian suite has them.

if [ -z "${PG_MAJOR:-}" ]; then
	PG_MAJOR=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
	PG_MAJOR=${PG_MAJOR:-15}
fi
PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR sqlsmith libipc-run-perl make gcc dpkg-dev prometheus-postgres-exporter"
OPTIONAL_PACKAGES="postgresql-$PG_MAJOR-pgaudit postgresql-$PG_MAJOR-cron"
PG_BINDIR=/usr/lib/postgresql/$PG_MAJOR/bin
# PostgreSQL's regression suite of this major (src/test/regress), unpacked
# by fetch_regress_sources; test/pg_regress_neutral.sh reads it.
PG_REGRESS_SOURCES=${PG_REGRESS_SOURCES:-/var/cache/phased_change/pgsrc/$PG_MAJOR}
export PG_MAJOR PG_REGRESS_SOURCES

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

# add_deb_src_entries: apt-get source needs deb-src entries.  When the
# system has none, write ours (one file of our own) from the deb entries it
# already has, same URIs and suites: deb822 .sources files and one-line
# sources.list entries alike.
DEB_SRC_FILE=/etc/apt/sources.list.d/phased-change-deb-src
add_deb_src_entries() {
	local f
	if grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
		return 1
	fi
	# Debian's own entries only: stanzas signed by the Debian archive key
	# (deb822), and the one-line entries of /etc/apt/sources.list.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; ORS = "\n\n" }
			/Types:[ \t]*deb([ \t]|\n|$)/ && /debian-archive-keyring/ {
				sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f"
	done >"$DEB_SRC_FILE.sources"
	[ -s "$DEB_SRC_FILE.sources" ] || rm -f "$DEB_SRC_FILE.sources"
	sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list 2>/dev/null \
		>"$DEB_SRC_FILE.list"
	[ -s "$DEB_SRC_FILE.list" ] || rm -f "$DEB_SRC_FILE.list"
	return 0
}

# fetch_regress_sources: unpack src/test/regress of the installed major's
# Debian source package (patches applied) into PG_REGRESS_SOURCES, once per
# server version.  Only this install step downloads; the neutrality suite
# reads the copy and fails when it is missing.
fetch_regress_sources() {
	local version tmp
	version=$(dpkg-query -W -f '${Version}' "postgresql-$PG_MAJOR" 2>/dev/null) || return 0
	[ "$(cat "$PG_REGRESS_SOURCES/VERSION" 2>/dev/null)" = "$version" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "PostgreSQL's regression sources of $version are not in $PG_REGRESS_SOURCES (run as root to fetch them)" >&2
		return 0
	fi
	add_deb_src_entries || true
	apt-get update -qq || true
	tmp=$(mktemp -d)
	# The source of the installed binary; else the newest source version the
	# mirror still serves (both runs of the suite use the same one, so a
	# minor version between them changes nothing the suite compares).
	local candidate fetched=""
	for candidate in "$version" $(apt-cache showsrc "postgresql-$PG_MAJOR" 2>/dev/null |
		sed -n 's/^Version: //p' | sort -rV | uniq); do
		if (cd "$tmp" && apt-get source -qq "postgresql-$PG_MAJOR=$candidate" >"$tmp/log" 2>&1); then
			fetched=$candidate
			break
		fi
		rm -rf "${tmp:?}"/postgresql* 2>/dev/null || true
	done
	if [ -z "$fetched" ]; then
		echo "could not fetch any source of postgresql-$PG_MAJOR:"; cat "$tmp/log"
		mkdir -p "$(dirname "$PG_REGRESS_SOURCES")"
		{
			echo "Debian's mirror serves no source package of postgresql-$PG_MAJOR here"
			cat "$tmp/log"
		} >"$PG_REGRESS_SOURCES.unavailable"
		rm -rf "$tmp"
		return 0
	fi
	rm -f "$PG_REGRESS_SOURCES.unavailable"
	rm -rf "$PG_REGRESS_SOURCES.new"
	mkdir -p "$PG_REGRESS_SOURCES.new"
	cp -a "$tmp"/postgresql-*/src/test/regress "$PG_REGRESS_SOURCES.new/regress"
	ls "$tmp"/*.dsc | sed 's/.*_\(.*\)\.dsc$/\1/' >"$PG_REGRESS_SOURCES.new/SOURCE_VERSION"
	echo "$version" >"$PG_REGRESS_SOURCES.new/VERSION"
	rm -rf "$tmp" "$PG_REGRESS_SOURCES"
	mv "$PG_REGRESS_SOURCES.new" "$PG_REGRESS_SOURCES"
	echo "PostgreSQL's regression suite $(cat "$PG_REGRESS_SOURCES/SOURCE_VERSION") unpacked in $PG_REGRESS_SOURCES"
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
