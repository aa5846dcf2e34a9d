#!/usr/bin/env bash
# make test-versions: run the project's own `make test` against every
# PostgreSQL major in PG_MAJORS (default "15 17 18"), each in a clean Debian
# of its own: 15 on the host (Debian 12), 17 in a Debian 13 (trixie) root,
# 18 in a Debian unstable (sid) root.
#
# Roots are made with debootstrap --variant=minbase from Debian's default
# mirror, cached under /var/cache/phased_change/roots/<suite> and reused
# while intact (a marker written after the last successful setup, and the
# server's binaries answering); a root that is missing or broken is made
# anew.  /proc, /dev, /dev/pts and /dev/shm are mounted into a root only
# while it is used, and every mount is undone on every exit path.
#
# Ends with one table (major, server version, suites passed / failed,
# seconds) and exits non-zero when any major failed.  As root only.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_MAJORS=${PG_MAJORS:-"15 17 18"}
ROOTS=${PHASED_CHANGE_ROOTS:-/var/cache/phased_change/roots}
LOGS=${PHASED_CHANGE_LOGS:-/var/cache/phased_change/logs}
REQUIRED_PACKAGES="make gcc libipc-run-perl sqlsmith ca-certificates dpkg-dev prometheus-postgres-exporter"

if [ "$(id -u)" != 0 ]; then
	echo "make test-versions runs as root (debootstrap, chroot and mounts)" >&2
	exit 1
fi

# The Debian suite that carries a major, or "host" for the host's own.
suite_for_major() {
	case "$1" in
		15) echo host ;;
		17) echo trixie ;;
		18) echo sid ;;
		*) echo none ;;
	esac
}

# --- mounts: a stack undone in reverse order on every exit path ----------
# The test run inside a root is a process group of its own (CHILD); on an
# interrupt it is stopped first, so that nothing holds the mounts.
MOUNTED=()
CHILD=""

stop_child() {
	if [ -n "$CHILD" ]; then
		kill -TERM -- "-$CHILD" 2>/dev/null || true
		sleep 2
		kill -KILL -- "-$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
		CHILD=""
	fi
}

unmount_all() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
	done
	MOUNTED=()
}
trap 'stop_child; unmount_all' EXIT
trap 'stop_child; unmount_all; exit 130' INT
trap 'stop_child; unmount_all; exit 143' TERM

mount_into() {
	local root=$1
	mount -t proc proc "$root/proc" && MOUNTED+=("$root/proc")
	mount --bind /dev "$root/dev" && MOUNTED+=("$root/dev")
	mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" && MOUNTED+=("$root/dev/pts")
	mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm" && MOUNTED+=("$root/dev/shm")
}

# Refuse to delete a root while anything is mounted below it: a bound /dev
# would be emptied on the host.
remove_root() {
	local root=$1
	if grep -q " $root/" /proc/mounts; then
		echo "refusing to remove $root: something is still mounted in it" >&2
		return 1
	fi
	rm -rf "$root"
}

# The packages a major's root needs; the neighbour packages only where the
# suite has them.
root_packages() {
	local root=$1 major=$2 p list="postgresql-$major postgresql-server-dev-$major $REQUIRED_PACKAGES"
	for p in "postgresql-$major-pgaudit" "postgresql-$major-cron"; do
		if chroot "$root" apt-cache show "$p" >/dev/null 2>&1; then
			list="$list $p"
		else
			echo "note: $p is not in this suite" >&2
		fi
	done
	echo "$list"
}

root_is_intact() {
	local root=$1 major=$2
	[ -f "$root/.phased_change-ready" ] &&
		[ "$(cat "$root/.phased_change-ready")" = "$major" ] &&
		chroot "$root" "/usr/lib/postgresql/$major/bin/postgres" --version >/dev/null 2>&1 &&
		chroot "$root" dpkg -s "postgresql-server-dev-$major" libipc-run-perl make gcc >/dev/null 2>&1
}

# Make (or reuse) the root of one suite for one major.
prepare_root() {
	local suite=$1 major=$2 root="$ROOTS/$suite"
	if [ -d "$root" ] && root_is_intact "$root" "$major"; then
		echo "reusing $root"
		return 0
	fi
	command -v debootstrap >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
	echo "making $root (debootstrap $suite)"
	remove_root "$root"
	remove_root "$root.partial"
	mkdir -p "$ROOTS"
	debootstrap --variant=minbase "$suite" "$root.partial" >"$LOGS/debootstrap-$suite.log" 2>&1 ||
		{ echo "debootstrap $suite failed; see $LOGS/debootstrap-$suite.log" >&2; return 1; }
	mv "$root.partial" "$root"
	if [ "$suite" = sid ]; then
		# The unstable mirror reachable here serves an expired Release file.
		echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99phased-change-valid-until"
	fi
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	mount_into "$root"
	chroot "$root" apt-get update -qq
	local packages
	packages=$(root_packages "$root" "$major")
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$packages >"$LOGS/apt-$suite.log" 2>&1 ||
		{ echo "installing packages in $root failed; see $LOGS/apt-$suite.log" >&2; unmount_all; return 1; }
	chroot "$root" apt-get clean
	unmount_all
	echo "$major" >"$root/.phased_change-ready"
}

# Copy the tree (without build products) into a root, run make test there.
run_in_root() {
	local suite=$1 major=$2 root="$ROOTS/$suite"
	rm -rf "$root/build/phased_change"
	mkdir -p "$root/build/phased_change"
	tar -C . --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude='./tmp_check*' --exclude=./results --exclude='./output_*' -cf - . |
		tar -C "$root/build/phased_change" -xf -
	mount_into "$root"
	local rc=0
	setsid chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		PG_MAJOR="$major" TEST_SUITES="${TEST_SUITES:-}" TEST_MAKE_ARGS="${TEST_MAKE_ARGS:-}" \
		bash -c 'cd /build/phased_change && make test' &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	unmount_all
	return $rc
}

server_version() {
	local suite=$1 major=$2
	if [ "$suite" = host ]; then
		"/usr/lib/postgresql/$major/bin/postgres" --version 2>/dev/null | awk '{print $3}'
	else
		chroot "$ROOTS/$suite" "/usr/lib/postgresql/$major/bin/postgres" --version 2>/dev/null | awk '{print $3}'
	fi
}

mkdir -p "$LOGS"
if [ "${1:-}" = "--prepare-only" ]; then
	for major in $PG_MAJORS; do
		suite=$(suite_for_major "$major")
		[ "$suite" = host ] || [ "$suite" = none ] || prepare_root "$suite" "$major"
	done
	exit 0
fi

summary=()
failed=0
for major in $PG_MAJORS; do
	suite=$(suite_for_major "$major")
	log="$LOGS/test-$major.log"
	start=$(date +%s)
	rc=0
	echo "=== PostgreSQL $major ($suite)"
	if [ "$suite" = none ]; then
		echo "no Debian suite here carries PostgreSQL $major" | tee "$log"
		rc=1
	elif [ "$suite" = host ]; then
		PG_MAJOR=$major make test >"$log" 2>&1 || rc=$?
	else
		{ prepare_root "$suite" "$major" && run_in_root "$suite" "$major"; } >"$log" 2>&1 || rc=$?
	fi
	secs=$(($(date +%s) - start))
	passed=$(grep -c '^suite .*: passed$' "$log" || true)
	nfailed=$(grep -c '^suite .*: FAILED$' "$log" || true)
	nnotrun=$(grep -c '^suite .*: NOT RUN' "$log" || true)
	if [ $rc -ne 0 ]; then
		failed=1
		[ "$nfailed" -gt 0 ] || nfailed=1
		echo "--- PostgreSQL $major failed; the last lines of $log:"
		tail -n 80 "$log"
	fi
	grep '^suite ' "$log" || true
	summary+=("$(printf '%-6s %-10s %6s / %-6s %7s %7s' "$major" "$(server_version "$suite" "$major" || true)" "$passed" "$nfailed" "$nnotrun" "$secs")")
done

echo
printf '%-6s %-10s %15s %7s %7s\n' major server "passed / failed" "not run" seconds
for line in "${summary[@]}"; do
	echo "$line"
done
exit $failed
