# testenv/ports.sh -- the ports of the test services, all derived from one
# base, so that several sets of services can run side by side (sourced by
# up.sh and down.sh; internal/testsvc computes the same numbers from
# MEDIABACKUPS_TEST_PORT_BASE).
#
#   B = $MBTEST_PORT_BASE [9100], a block of 300 ports from B:
#   B+0            MariaDB
#   B+1..B+49      MinIO API, server i on B+i
#   B+51..B+99     MinIO console, server i on B+50+i
#   B+100, B+101   the shared public and private wikis
#   B+102..B+119   wikis that tests start for themselves (testsvc.FreshWiki)
#   B+120..B+149   OpenStack Swift and the wikis whose files are in it:
#                  B+120 Swift proxy (tempauth), B+121..B+123 its account,
#                  container and object servers, B+124 its memcached,
#                  B+130 the shared Swift-backed wiki, B+131..B+149 Swift-backed
#                  wikis that tests start for themselves (testsvc.FreshSwiftWiki)
#   B+150..B+299   free for tests that need a port of their own
PORT_BASE=${MBTEST_PORT_BASE:-9100}
# ports_check: set PORTS_ERROR and fail unless the base is usable.
ports_check() {
	if ! [[ $PORT_BASE =~ ^[0-9]+$ ]] || ((PORT_BASE < 1024 || PORT_BASE + 300 > 65535)); then
		PORTS_ERROR="MBTEST_PORT_BASE must be a number from 1024 to 65235, not '$PORT_BASE'"
		return 1
	fi
	if ((PORT_BASE <= 3306 && 3306 < PORT_BASE + 300)); then
		PORTS_ERROR="MBTEST_PORT_BASE $PORT_BASE would cover 3306, which is left to the system's MariaDB"
		return 1
	fi
}
MARIADB_PORT=$((PORT_BASE + 0))
WIKI_PUBLIC_PORT=$((PORT_BASE + 100))
WIKI_PRIVATE_PORT=$((PORT_BASE + 101))
SWIFT_PORT=$((PORT_BASE + 120))
SWIFT_SERVER_PORT=$((PORT_BASE + 121)) # account; container +1, object +2
SWIFT_MEMCACHE_PORT=$((PORT_BASE + 124))
WIKI_SWIFT_PORT=$((PORT_BASE + 130))
minio_port() { echo $((PORT_BASE + $1)); }
minio_console_port() { echo $((PORT_BASE + 50 + $1)); }
