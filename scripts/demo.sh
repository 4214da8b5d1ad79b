#!/usr/bin/env bash
# scripts/demo.sh -- the main job on a fresh machine: bring up local MariaDB,
# five MinIO servers and two demo wikis (one public, one private), build
# the four binaries into bin/ (mediabackups and the recovery tools
# query-media-file, restore-media-file and delete-media-file), then inventory
# and back up both wikis and show where every object went.
#
#   scripts/demo.sh             # idempotent: a second run backs up nothing new
#
# Everything lives under $MBTEST_DIR (default /tmp/mediabackups-test); the
# demo's config is $MBTEST_DIR/demo/mediabackups.yaml, and the demo ends by
# printing the line that puts bin/ on PATH with that config, e.g.
#   export PATH=$PWD/bin:$PATH MEDIABACKUPS_CONFIG=$MBTEST_DIR/demo/mediabackups.yaml
#   mediabackups status; query-media-file --delete-date "2025-01-05 09:00:00"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH
log() { echo "[demo] $*" >&2; }

env_file=$(bash testenv/up.sh)
# shellcheck disable=SC1090
source "$env_file"
DEMO=$MEDIABACKUPS_TEST_DIR/demo
mkdir -p "$DEMO" bin
chmod 700 "$DEMO"

BINARIES=(mediabackups query-media-file restore-media-file delete-media-file)
log "building ${BINARIES[*]} into bin/"
go build -o bin/ "${BINARIES[@]/#/./cmd/}"

secret() { # secret NAME VALUE: a file only its owner can read
	(umask 077 && printf '%s\n' "$2" >"$DEMO/$1")
}
secret minio-secret "$MEDIABACKUPS_TEST_MINIO_SECRET_KEY"
secret wiki-bot-password "$MEDIABACKUPS_TEST_WIKI_BOT_PASSWORD"
secret wiki-admin-password "$MEDIABACKUPS_TEST_WIKI_ADMIN_PASSWORD"
if [[ ! -f $DEMO/age-identity.txt ]]; then
	go run filippo.io/age/cmd/age-keygen -o "$DEMO/age-identity.txt" 2>/dev/null
	chmod 600 "$DEMO/age-identity.txt"
fi

cat >"$DEMO/mediabackups.yaml" <<YAML
# Written by scripts/demo.sh for the local demo services.
datacenter: dc1
metadata:
  dsn: "${MEDIABACKUPS_TEST_MARIADB_DSN}mediabackups"
storage:
  bucket: mediabackups
  endpoints: [${MEDIABACKUPS_TEST_MINIO_ENDPOINTS//,/, }]
  generation: {access_key: $MEDIABACKUPS_TEST_MINIO_ACCESS_KEY, secret_key_file: $DEMO/minio-secret}
  recovery:   {access_key: $MEDIABACKUPS_TEST_MINIO_ACCESS_KEY, secret_key_file: $DEMO/minio-secret}
encryption:
  identity_file: $DEMO/age-identity.txt
tmpdir: $DEMO/tmp
logdir: $DEMO/log
user_agent: "mediabackups-demo/1.0 (local demo; root@localhost)"
default_wiki: testwiki
wikis:
  - name: testwiki
    api: $MEDIABACKUPS_TEST_WIKI_PUBLIC_API
    type: public
    user: $MEDIABACKUPS_TEST_WIKI_BOT_USER
    password_file: $DEMO/wiki-bot-password
    web_user: $MEDIABACKUPS_TEST_WIKI_ADMIN_USER
    web_password_file: $DEMO/wiki-admin-password
  - name: privatewiki
    api: $MEDIABACKUPS_TEST_WIKI_PRIVATE_API
    type: private
    user: $MEDIABACKUPS_TEST_WIKI_BOT_USER
    password_file: $DEMO/wiki-bot-password
    web_user: $MEDIABACKUPS_TEST_WIKI_ADMIN_USER
    web_password_file: $DEMO/wiki-admin-password
YAML
chmod 600 "$DEMO/mediabackups.yaml" # it holds the MariaDB password
export MEDIABACKUPS_CONFIG=$DEMO/mediabackups.yaml

mb() { echo "\$ mediabackups $*" >&2; bin/mediabackups "$@"; }
mb schema apply
mb inventory --wiki testwiki
mb inventory --wiki privatewiki
mb backup
mb shards
mb status
log "config: $MEDIABACKUPS_CONFIG"
log "the four binaries are in $ROOT/bin; to go on with them:"
log "  export PATH=$ROOT/bin:\$PATH MEDIABACKUPS_CONFIG=$MEDIABACKUPS_CONFIG"
log "  mediabackups status; query-media-file --title Simple.png; query-media-file --delete-date '2025-01-05 09:00:00'"
