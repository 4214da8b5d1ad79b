#!/usr/bin/env bash
# testenv/up.sh -- bring up the local services the tests and the demo use.
#
# Debian 12, run as root, talks only to 127.0.0.1. Idempotent: services that
# already run are left alone, so a second run takes a couple of seconds.
#
#   . "$(testenv/up.sh)"        # prints the env file's path on stdout
#
# What it starts (all state under $MBTEST_DIR, stop with testenv/down.sh), on
# 127.0.0.1 ports derived from one base B = $MBTEST_PORT_BASE (see ports.sh):
#   MariaDB 10.11   B+0          user mediabackups/mediabackups-test
#                   (ALL PRIVILEGES: tests create throwaway mbtest_* databases),
#                   database `mediabackups` for the demo
#   MinIO x N       API B+i, console B+50+i (i = 1..N),
#                   root user mbtestadmin/mbtestadmin-secret
#   MediaWiki 1.39  public wiki B+100, private wiki B+101, both populated by
#                   testenv/testwiki/populate.sh; tests start wikis of their
#                   own on B+102..B+119
#   OpenStack Swift proxy B+120 (tempauth test:tester/testing), account,
#                   container and object servers B+121..B+123, memcached B+124,
#                   state in $MBTEST_DIR/swift (testenv/testwiki/swift-start.sh)
#   MediaWiki 1.39  whose files are in that Swift, sharded like Wikimedia's big
#                   wikis (containers wikipedia-swifttest-local-*), B+130,
#                   populated and checked with check.sh; READ-ONLY for tests,
#                   which start Swift-backed wikis of their own on B+131..B+149
# The wikis tests start for themselves live in $MBTEST_DIR/fresh/NAME and are
# removed when their test ends; one left there by a test that was killed
# (its fresh/NAME.lock is free) is stopped and removed here.
# and writes $MBTEST_DIR/env with the MEDIABACKUPS_TEST_* variables. Two sets
# of services run side by side when they have different MBTEST_DIR and
# MBTEST_PORT_BASE (e.g. 9100 and 9400).
#
# Environment (defaults in brackets):
#   MBTEST_DIR            state directory               [/tmp/mediabackups-test]
#   MBTEST_PORT_BASE      first port of the block of 300 [9100]
#   MBTEST_MINIO_COUNT    number of MinIO servers, 1..49 [5]
#   MEDIABACKUPS_CACHE    where the MinIO binary is built [$HOME/.cache/mediabackups]
#   MBTEST_APT_EXTRA      more Debian packages to install, space-separated []
#                         (scripts/test.sh: lintian and man-db, for packaging/)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${MBTEST_DIR:-/tmp/mediabackups-test}
DIR=${DIR%/}
CACHE=${MEDIABACKUPS_CACHE:-${HOME:-/root}/.cache/mediabackups}
CACHE=${CACHE%/}
MINIO_COUNT=${MBTEST_MINIO_COUNT:-5}
# shellcheck source=testenv/ports.sh
source "$HERE/ports.sh"
# Pinned: bump both together. Built from the Go module proxy, not downloaded.
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN=$CACHE/bin/minio
MINIO_USER=mbtestadmin
MINIO_PASS=mbtestadmin-secret
DB_USER=mediabackups
DB_PASS=mediabackups-test
DB_NAME=mediabackups
HOST=127.0.0.1
ENV_FILE=$DIR/env
MARKER=$DIR/.mediabackups-testenv # lets down.sh --wipe know the dir is ours

T0=$SECONDS
log() { echo "[testenv] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (apt-get, mariadbd --user=root)"
ports_check || die "$PORTS_ERROR"
if ! [[ $MINIO_COUNT =~ ^[0-9]+$ ]] || ((MINIO_COUNT < 1 || MINIO_COUNT > 49)); then
	die "MBTEST_MINIO_COUNT must be 1..49"
fi
[[ $DIR == /* && $DIR != / ]] || die "MBTEST_DIR must be an absolute path other than /"
command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH

mkdir -p "$DIR" "$CACHE"
touch "$MARKER"
# One up.sh at a time per state dir. Every process started below gets 8>&-,
# or it would hold this lock for as long as it runs.
exec 8>"$DIR/.up.lock"
flock 8

# proc_is PID PATTERN: PID is alive and its command line contains PATTERN.
proc_is() {
	[[ $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}
# pid_from FILE: the PID in FILE, if any.
pid_from() { [[ -f $1 ]] && cat "$1" 2>/dev/null; }
# port_busy PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# -------------------------------------------- 0. wikis left by killed tests
# testsvc.FreshWiki keeps each test's own wiki in $DIR/fresh/NAME and holds
# an flock on $DIR/fresh/NAME.lock while the test runs (the kernel drops it
# when the process dies). A free lock means the test ended without cleaning
# up (killed, or a timeout): stop that wiki and remove it. Folders of running
# tests are never touched. Wikis of the former layout ($DIR/NAME, beside
# wiki-public and wiki-private) are removed when their server is not running.
sweep_fresh() {
	local lock name wdir d
	shopt -s nullglob
	for lock in "$DIR"/fresh/*.lock; do
		name=$(basename "$lock" .lock)
		wdir=$DIR/fresh/$name
		(
			exec 9<"$lock" || exit 0
			flock -n 9 || exit 0 # its test is running
			if [[ -f $wdir/server.pid ]]; then
				TESTWIKI_DIR=$wdir bash "$HERE/testwiki/stop.sh" 9>&- >/dev/null 2>&1 || true
			fi
			rm -rf "$wdir"
			rm -f "$lock"
			log "removed $wdir, left by a test that did not finish"
		)
	done
	for d in "$DIR"/fresh/*/; do # a folder without its lock file
		d=${d%/}
		[[ -e $d.lock ]] && continue
		[[ -f $d/server.pid ]] && TESTWIKI_DIR=$d bash "$HERE/testwiki/stop.sh" >/dev/null 2>&1
		rm -rf "$d"
		log "removed $d, left by a test that did not finish"
	done
	for d in "$DIR"/*/; do # the former layout
		d=${d%/}
		case $(basename "$d") in wiki-* | fresh | demo | mariadb | minio | swift) continue ;; esac
		[[ -f $d/LocalSettings.php ]] || continue
		if [[ -f $d/server.pid ]] && kill -0 "$(cat "$d/server.pid" 2>/dev/null)" 2>/dev/null; then
			continue
		fi
		rm -rf "$d"
		log "removed the stopped test wiki $d"
	done
	shopt -u nullglob
}
sweep_fresh

# ------------------------------------------------------------- 1. packages
PKGS=(mariadb-server age curl jq ca-certificates rclone)
read -ra extra_pkgs <<<"${MBTEST_APT_EXTRA:-}"
PKGS+=("${extra_pkgs[@]}")
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt_log=$DIR/apt.log
	apt_install() {
		apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >>"$apt_log" 2>&1
	}
	log "apt-get install ${missing[*]} (log $apt_log)"
	# Update the package lists only when they are missing or the install fails.
	if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || ! apt_install; then
		log "apt-get update"
		apt-get update -q -o DPkg::Lock::Timeout=600 >>"$apt_log" 2>&1 || die "apt-get update failed, see $apt_log"
		apt_install || die "apt-get install failed, see $apt_log"
	fi
fi
for b in mariadbd mariadb-install-db mariadb mariadb-admin curl jq; do
	command -v "$b" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
	command -v "$b" >/dev/null || die "$b not found after installing ${PKGS[*]}"
done
MARIADB_BIN_DIR=$(dirname "$(command -v mariadbd)")

# ---------------------------------------------- 2. MinIO binary (background)
# Built in the background while MariaDB and the wikis come up; waited for in 5.
build_pid=
if [[ -x $MINIO_BIN && $(cat "$MINIO_BIN.version" 2>/dev/null) == "$MINIO_VERSION" ]]; then
	:
else
	command -v go >/dev/null || die "go not found (install Go or put /usr/local/go/bin on PATH)"
	build_log=$CACHE/minio-build.log
	log "building MinIO $MINIO_VERSION from the Go module proxy into $CACHE/bin (takes ~3 min; log $build_log)"
	(
		set -e
		exec 8>&- </dev/null >"$build_log" 2>&1
		exec 7>"$CACHE/.minio-build.lock"
		flock 7 # another up.sh (other MBTEST_DIR) may be building the same binary
		if [[ -x $MINIO_BIN && $(cat "$MINIO_BIN.version" 2>/dev/null) == "$MINIO_VERSION" ]]; then
			exit 0
		fi
		tmp=$(mktemp -d "$CACHE/build.XXXXXX")
		cd "$tmp"
		GOBIN=$tmp/bin GOFLAGS='' go install "$MINIO_MODULE@$MINIO_VERSION"
		mkdir -p "$CACHE/bin"
		mv -f "$tmp/bin/minio" "$MINIO_BIN"
		echo "$MINIO_VERSION" >"$MINIO_BIN.version"
		cd / && rm -rf "$tmp"
	) &
	build_pid=$!
	# If up.sh fails before waiting, the build still finishes into the cache
	# (it installs atomically), which only makes the next run faster.
fi

# --------------------------------------------- 2b. OpenStack Swift (background)
# Started in the background (apt and the rings take ~25 s the first time, a
# running one answers in ~1 s) while MariaDB and the disk wikis come up;
# waited for in 4b. swift-start.sh shares the apt lock with testwiki/start.sh.
SWIFT_DIR=$DIR/swift
SWIFT_USER=test:tester
SWIFT_KEY=testing
swift_log=$DIR/swift-start.log
swift_out=$DIR/swift-start.out
swift_reset=0
if [[ -f $SWIFT_DIR/etc/.built ]] &&
	! grep -qx "SAVED_PORT=$SWIFT_PORT" "$SWIFT_DIR/swift.env" 2>/dev/null; then
	# The rings hold the server ports: a new port base needs a new cluster
	# (and so a new Swift-backed wiki).
	log "Swift in $SWIFT_DIR was built for other ports; rebuilding it on $SWIFT_PORT (its objects are lost)"
	TESTWIKI_SWIFT_DIR=$SWIFT_DIR bash "$HERE/testwiki/swift-stop.sh" 8>&- 2>>"$swift_log" || true
	swift_reset=1
fi
TESTWIKI_SWIFT_DIR=$SWIFT_DIR TESTWIKI_SWIFT_PORT=$SWIFT_PORT TESTWIKI_SWIFT_SERVER_PORT=$SWIFT_SERVER_PORT \
	TESTWIKI_SWIFT_MEMCACHE_PORT=$SWIFT_MEMCACHE_PORT TESTWIKI_SWIFT_RESET=$swift_reset \
	bash "$HERE/testwiki/swift-start.sh" >"$swift_out" 2>>"$swift_log" </dev/null 8>&- &
swift_pid=$!

# ----------------------------------------------------------------- 3. MariaDB
DB_DIR=$DIR/mariadb
DB_DATA=$DB_DIR/data
DB_SOCK=$DB_DIR/mysqld.sock
DB_PID=$DB_DIR/mysqld.pid
DB_LOG=$DB_DIR/error.log
db_root() { mariadb --no-defaults --protocol=socket --socket="$DB_SOCK" -uroot; } # SQL on stdin
db_ping() { mariadb-admin --no-defaults --protocol=socket --socket="$DB_SOCK" -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

mkdir -p "$DB_DIR"
pid=$(pid_from "$DB_PID") || true
if [[ -n $pid ]] && proc_is "$pid" "--datadir=$DB_DATA" && ! proc_is "$pid" "--port=$MARIADB_PORT "; then
	log "MariaDB (pid $pid) runs on another port; restarting it on $MARIADB_PORT"
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && die "MariaDB (pid $pid) did not stop within 60 s"
	pid=
fi
if [[ -n $pid ]] && proc_is "$pid" "--datadir=$DB_DATA" && db_ping; then
	log "MariaDB already running (pid $pid, port $MARIADB_PORT)"
else
	if [[ -n $pid ]] && proc_is "$pid" "--datadir=$DB_DATA"; then
		log "MariaDB (pid $pid) is running but not answering yet; waiting"
	else
		rm -f "$DB_PID"
		port_busy "$MARIADB_PORT" &&
			die "something else listens on $HOST:$MARIADB_PORT (choose another MBTEST_PORT_BASE)"
		if [[ ! -f $DB_DATA/.mbtest-installed ]]; then
			log "initialising MariaDB data dir $DB_DATA"
			rm -rf "$DB_DATA"
			mariadb-install-db --no-defaults --datadir="$DB_DATA" --user=root \
				--auth-root-authentication-method=normal --skip-test-db \
				>"$DB_DIR/install.log" 2>&1 </dev/null 8>&- ||
				{ tail -20 "$DB_DIR/install.log" >&2; die "mariadb-install-db failed (log $DB_DIR/install.log)"; }
			touch "$DB_DATA/.mbtest-installed"
		fi
		log "starting MariaDB on $HOST:$MARIADB_PORT (log $DB_LOG)"
		# Throwaway test server: speed over durability.
		setsid nohup mariadbd --no-defaults --datadir="$DB_DATA" --socket="$DB_SOCK" \
			--port="$MARIADB_PORT" --bind-address="$HOST" --user=root \
			--pid-file="$DB_PID" --log-error="$DB_LOG" \
			--skip-log-bin --skip-name-resolve --max-connections=500 \
			--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
			--innodb-buffer-pool-size=1G --innodb-flush-log-at-trx-commit=2 \
			--innodb-doublewrite=0 --innodb-log-file-size=256M \
			>>"$DB_DIR/stdout.log" 2>&1 </dev/null 8>&- &
		pid=$!
	fi
	for _ in $(seq 300); do
		db_ping && break
		kill -0 "$pid" 2>/dev/null || { tail -20 "$DB_LOG" >&2; die "mariadbd exited (log $DB_LOG)"; }
		sleep 0.2
	done
	db_ping || die "MariaDB did not answer within 60 s (log $DB_LOG)"
	log "MariaDB ready (pid $(pid_from "$DB_PID"))"
fi
# Cheap, so done every time: a wiped user or database comes back.
db_root <<SQL || die "creating the MariaDB user failed"
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
SQL
mariadb --no-defaults -h"$HOST" -P"$MARIADB_PORT" -u"$DB_USER" -p"$DB_PASS" -e 'SELECT 1' >/dev/null ||
	die "cannot log in as $DB_USER over TCP on $HOST:$MARIADB_PORT"

# MinIO servers left running on another port base hold ports the wikis below
# may need: stop them now (step 5 starts them on their new ports).
minio_current() { # minio_current PID I: server I runs on the current ports
	proc_is "$1" "minio server --address $HOST:$(minio_port "$2") --console-address $HOST:$(minio_console_port "$2") "
}
stop_minio() { # stop_minio PID: TERM its process group, wait, then KILL
	kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL -- "-$1" 2>/dev/null || true
}
shopt -s nullglob
for pidf in "$DIR"/minio/*.pid; do
	i=$(basename "$pidf" .pid)
	pid=$(pid_from "$pidf") || true
	if [[ -n $pid ]] && proc_is "$pid" "minio server " && ! minio_current "$pid" "$i"; then
		log "MinIO $i runs on other ports; stopping it"
		stop_minio "$pid"
		rm -f "$pidf"
	fi
done
shopt -u nullglob

# ----------------------------------------------------------------- 4. wikis
WIKI_PUBLIC_DIR=$DIR/wiki-public
WIKI_PRIVATE_DIR=$DIR/wiki-private
wiki_up() { # wiki_up DIR PORT PRIVATE
	TESTWIKI_DIR=$1 TESTWIKI_PORT=$2 TESTWIKI_PRIVATE=$3 bash "$HERE/testwiki/start.sh" >/dev/null 8>&- || return 1
	[[ -f $1/populate-summary.json ]] || log "populating the wiki on port $2"
	TESTWIKI_DIR=$1 bash "$HERE/testwiki/populate.sh" >/dev/null 8>&- || return 1
}
wiki_up "$WIKI_PUBLIC_DIR" "$WIKI_PUBLIC_PORT" 0 || die "public wiki (port $WIKI_PUBLIC_PORT) failed"
wiki_up "$WIKI_PRIVATE_DIR" "$WIKI_PRIVATE_PORT" 1 || die "private wiki (port $WIKI_PRIVATE_PORT) failed"

# ------------------------------------------------- 4b. Swift and its wiki
t_swift=$SECONDS
wait "$swift_pid" || { tail -20 "$swift_log" >&2; die "Swift did not start (log $swift_log)"; }
SWIFT_AUTH_URL=$(cat "$swift_out")
[[ $SWIFT_AUTH_URL == "http://$HOST:$SWIFT_PORT/auth/v1.0" ]] ||
	die "swift-start.sh printed '$SWIFT_AUTH_URL', not http://$HOST:$SWIFT_PORT/auth/v1.0 (log $swift_log)"
SWIFT_STORAGE_URL=http://$HOST:$SWIFT_PORT/v1/AUTH_test
WIKI_SWIFT_DIR=$DIR/wiki-swift
WIKI_SWIFT_PROJECT=wikipedia
WIKI_SWIFT_LANG=swifttest
WIKI_SWIFT_ID=$WIKI_SWIFT_PROJECT-$WIKI_SWIFT_LANG
# swift_wiki_up RESET: start (RESET=1: reinstall) and populate the Swift-backed
# wiki; a fresh population is checked with check.sh, which catches the rare
# object that goes missing during populate on a busy machine (testwiki/README).
swift_wiki_up() {
	if [[ $1 == 1 || ! -f $WIKI_SWIFT_DIR/populate-summary.json ]]; then
		rm -f "$WIKI_SWIFT_DIR/.mbtest-checked"
	fi
	TESTWIKI_DIR=$WIKI_SWIFT_DIR TESTWIKI_PORT=$WIKI_SWIFT_PORT TESTWIKI_PRIVATE=0 TESTWIKI_RESET=$1 \
		TESTWIKI_SWIFT=1 TESTWIKI_SWIFT_SHARDS=1 TESTWIKI_SWIFT_WIKI_ID=$WIKI_SWIFT_ID TESTWIKI_SWIFT_DIR=$SWIFT_DIR \
		bash "$HERE/testwiki/start.sh" >/dev/null 8>&- || return 1
	[[ -f $WIKI_SWIFT_DIR/.mbtest-checked ]] && return 0
	log "populating and checking the Swift-backed wiki on port $WIKI_SWIFT_PORT"
	TESTWIKI_DIR=$WIKI_SWIFT_DIR bash "$HERE/testwiki/populate.sh" >/dev/null 8>&- || return 1
	TESTWIKI_DIR=$WIKI_SWIFT_DIR bash "$HERE/testwiki/check.sh" >"$WIKI_SWIFT_DIR/check.log" 2>&1 8>&- || return 2
	touch "$WIKI_SWIFT_DIR/.mbtest-checked"
}
# A wiki from before a Swift rebuild has lost its objects: install it afresh.
wiki_reset=$swift_reset
[[ -f $WIKI_SWIFT_DIR/.installed ]] || wiki_reset=0
rc=0
swift_wiki_up "$wiki_reset" || rc=$?
if ((rc == 2)); then
	log "check.sh failed on the Swift-backed wiki ($(tail -1 "$WIKI_SWIFT_DIR/check.log")); installing it once more"
	rc=0
	swift_wiki_up 1 || rc=$?
fi
((rc == 0)) || die "Swift-backed wiki (port $WIKI_SWIFT_PORT) failed$( ((rc == 2)) && echo ": check.sh, see $WIKI_SWIFT_DIR/check.log")"
log "Swift and its wiki ready ($((SECONDS - t_swift)) s after the disk wikis)"

# ----------------------------------------------------------------- 5. MinIO
if [[ -n $build_pid ]]; then
	log "waiting for the MinIO build"
	wait "$build_pid" || { tail -20 "$CACHE/minio-build.log" >&2; die "MinIO build failed (log $CACHE/minio-build.log)"; }
	build_pid=
	log "MinIO built: $MINIO_BIN"
fi
minio_live() { [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HOST:$1/minio/health/live" 2>/dev/null) == 200 ]]; }
mkdir -p "$DIR/minio"
starting=()
for ((i = 1; i <= MINIO_COUNT; i++)); do
	api=$(minio_port "$i") console=$(minio_console_port "$i")
	data=$DIR/minio/$i
	pidf=$DIR/minio/$i.pid
	pid=$(pid_from "$pidf") || true
	if [[ -n $pid ]] && minio_current "$pid" "$i" && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$MINIO_BIN" ]]; then
		starting+=("$i")
		continue
	fi
	if [[ -n $pid ]] && proc_is "$pid" "minio server "; then
		log "MinIO $i runs an old binary; restarting it"
		stop_minio "$pid"
	fi
	rm -f "$pidf"
	port_busy "$api" && die "something else listens on $HOST:$api (MinIO $i)"
	port_busy "$console" && die "something else listens on $HOST:$console (MinIO $i console)"
	mkdir -p "$data"
	log "starting MinIO $i on $HOST:$api (console $console, data $data)"
	MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASS MINIO_UPDATE=off \
		setsid nohup "$MINIO_BIN" server --address "$HOST:$api" --console-address "$HOST:$console" \
		--quiet "$data" >>"$DIR/minio/$i.log" 2>&1 </dev/null 8>&- &
	echo $! >"$pidf"
	starting+=("$i")
done
for i in "${starting[@]}"; do
	api=$(minio_port "$i")
	for _ in $(seq 300); do
		minio_live "$api" && break
		kill -0 "$(cat "$DIR/minio/$i.pid")" 2>/dev/null ||
			{ tail -20 "$DIR/minio/$i.log" >&2; die "MinIO $i exited (log $DIR/minio/$i.log)"; }
		sleep 0.2
	done
	minio_live "$api" || die "MinIO $i did not answer on $HOST:$api within 60 s (log $DIR/minio/$i.log)"
done
log "MinIO: $MINIO_COUNT servers live on $HOST:$(minio_port 1)..$(minio_port "$MINIO_COUNT")"

# --------------------------------------------------------------- 6. env file
endpoints=
for ((i = 1; i <= MINIO_COUNT; i++)); do endpoints+=${endpoints:+,}http://$HOST:$(minio_port "$i"); done
cat >"$ENV_FILE.tmp" <<EOF
# Written by testenv/up.sh; source it before go test.
export MEDIABACKUPS_TEST_MARIADB_DSN='$DB_USER:$DB_PASS@tcp($HOST:$MARIADB_PORT)/'
export MEDIABACKUPS_TEST_MINIO_ENDPOINTS='$endpoints'
export MEDIABACKUPS_TEST_MINIO_ACCESS_KEY='$MINIO_USER'
export MEDIABACKUPS_TEST_MINIO_SECRET_KEY='$MINIO_PASS'
export MEDIABACKUPS_TEST_WIKI_PUBLIC_API='http://$HOST:$WIKI_PUBLIC_PORT/api.php'
export MEDIABACKUPS_TEST_WIKI_PUBLIC_DIR='$WIKI_PUBLIC_DIR'
export MEDIABACKUPS_TEST_WIKI_PRIVATE_API='http://$HOST:$WIKI_PRIVATE_PORT/api.php'
export MEDIABACKUPS_TEST_WIKI_PRIVATE_DIR='$WIKI_PRIVATE_DIR'
export MEDIABACKUPS_TEST_WIKI_ADMIN_USER='Admin'
export MEDIABACKUPS_TEST_WIKI_ADMIN_PASSWORD='testwiki-admin-pass'
export MEDIABACKUPS_TEST_WIKI_BOT_USER='Admin@backup'
export MEDIABACKUPS_TEST_WIKI_BOT_PASSWORD='backupbackupbackupbackupbackup000'
export MEDIABACKUPS_TEST_SWIFT_AUTH_URL='$SWIFT_AUTH_URL'
export MEDIABACKUPS_TEST_SWIFT_USER='$SWIFT_USER'
export MEDIABACKUPS_TEST_SWIFT_KEY='$SWIFT_KEY'
export MEDIABACKUPS_TEST_SWIFT_STORAGE_URL='$SWIFT_STORAGE_URL'
export MEDIABACKUPS_TEST_SWIFT_DIR='$SWIFT_DIR'
export MEDIABACKUPS_TEST_WIKI_SWIFT_API='http://$HOST:$WIKI_SWIFT_PORT/api.php'
export MEDIABACKUPS_TEST_WIKI_SWIFT_DIR='$WIKI_SWIFT_DIR'
export MEDIABACKUPS_TEST_WIKI_SWIFT_ID='$WIKI_SWIFT_ID'
export MEDIABACKUPS_TEST_WIKI_SWIFT_PROJECT='$WIKI_SWIFT_PROJECT'
export MEDIABACKUPS_TEST_WIKI_SWIFT_LANG='$WIKI_SWIFT_LANG'
export MEDIABACKUPS_TEST_WIKI_SWIFT_SHARDS='1'
export MEDIABACKUPS_TEST_MINIO_BIN='$MINIO_BIN'
export MEDIABACKUPS_TEST_MARIADB_BIN_DIR='$MARIADB_BIN_DIR'
export MEDIABACKUPS_TEST_DIR='$DIR'
export MEDIABACKUPS_TEST_PORT_BASE='$PORT_BASE'
EOF
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
log "ready in $((SECONDS - T0)) s; env file $ENV_FILE"
echo "$ENV_FILE"
