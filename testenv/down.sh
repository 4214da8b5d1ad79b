#!/usr/bin/env bash
# testenv/down.sh -- stop what testenv/up.sh started.
#
#   testenv/down.sh           # stop MinIO, MariaDB, the wikis and Swift; keep their data
#   testenv/down.sh --wipe    # ... and delete $MBTEST_DIR (the MinIO binary cache stays)
#
# Only processes recorded in $MBTEST_DIR's pid files are stopped, each by its
# process group (up.sh starts every server with setsid). The system's MariaDB
# on 3306 and any other wiki are not touched.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${MBTEST_DIR:-/tmp/mediabackups-test}
DIR=${DIR%/}
MARKER=$DIR/.mediabackups-testenv
# shellcheck source=testenv/ports.sh
source "$HERE/ports.sh"

log() { echo "[testenv] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

wipe=0
for arg in "$@"; do
	case $arg in
	--wipe) wipe=1 ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $arg (usage: down.sh [--wipe])" ;;
	esac
done
[[ $DIR == /* && $DIR != / ]] || die "MBTEST_DIR must be an absolute path other than /"
if [[ ! -d $DIR ]]; then
	log "nothing to stop: $DIR does not exist"
	exit 0
fi
[[ -f $MARKER ]] || die "$DIR was not made by testenv/up.sh (no $MARKER); not touching it"

proc_is() { # proc_is PID PATTERN: PID is alive and its command line contains PATTERN
	[[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
# stop_group NAME PIDFILE PATTERN SECONDS: TERM the process group, wait, then KILL.
stop_group() {
	local name=$1 pidf=$2 pattern=$3 secs=$4 pid
	if [[ ! -f $pidf ]]; then
		return 0
	fi
	pid=$(cat "$pidf" 2>/dev/null || true)
	if proc_is "$pid" "$pattern"; then
		log "stopping $name (pid $pid)"
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name did not stop within $secs s; killing it"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	else
		log "$name was not running"
	fi
	rm -f "$pidf"
}

# All in parallel: each MinIO and MariaDB takes 1-2 s to shut down cleanly.
shopt -s nullglob
jobs=()
for pidf in "$DIR"/minio/*.pid; do
	i=$(basename "$pidf" .pid)
	stop_group "MinIO $i" "$pidf" "minio server --address 127.0.0.1:" 15 &
	jobs+=($!)
done
# mariadbd removes its own pid file on a clean shutdown.
stop_group MariaDB "$DIR/mariadb/mysqld.pid" "--datadir=$DIR/mariadb/data" 60 &
jobs+=($!)
for wiki in "$DIR"/wiki-*; do
	[[ -f $wiki/server.pid ]] || continue
	TESTWIKI_DIR=$wiki bash "$HERE/testwiki/stop.sh" &
	jobs+=($!)
done
failed=0
for j in "${jobs[@]}"; do wait "$j" || failed=1; done
# Swift last: the Swift-backed wikis above (and any a test left running) use it.
if [[ -d $DIR/swift/run ]]; then
	TESTWIKI_SWIFT_DIR=$DIR/swift bash "$HERE/testwiki/swift-stop.sh" || failed=1
fi
((failed == 0)) || die "some services did not stop (see above)"

if ((wipe)); then
	log "wiping $DIR"
	rm -rf "$DIR"
fi
log "down"
