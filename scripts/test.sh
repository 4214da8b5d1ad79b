#!/usr/bin/env bash
# scripts/test.sh -- the project's test command: brings up MariaDB, MinIO,
# OpenStack Swift and the test wikis (testenv/up.sh), then runs go vet and go
# test against them.
#
#   scripts/test.sh                     # everything
#   scripts/test.sh -run TestBackup -v  # extra arguments go to go test
#
# Exits with go test's status. The services keep running afterwards
# (testenv/down.sh stops them), so the next run starts in seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { echo "[testenv] $*" >&2; }
command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH

# The Debian package test (packaging/) checks the .deb with lintian and
# reads the installed man pages with man.
env_file=$(MBTEST_APT_EXTRA="lintian man-db ${MBTEST_APT_EXTRA:-}" bash testenv/up.sh)
# shellcheck disable=SC1090
source "$env_file"

log "go vet ./..."
go vet ./...
log "go test -count=1 -timeout 40m $* ./..."
status=0
go test -count=1 -timeout 40m "$@" ./... || status=$?
log "go test exited with status $status"
exit "$status"
