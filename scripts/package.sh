#!/usr/bin/env bash
# scripts/package.sh -- build the Debian package of mediabackups:
# dist/mediabackups_<version>_amd64.deb, with the four binaries, a man page
# per command, the systemd units of packaging/systemd, an example config, and
# maintainer scripts that create the mediabackup user and /var/log/mediabackups.
#
#   scripts/package.sh            # into dist/
#   scripts/package.sh -o DIR     # into DIR
#
# Prints the path of the .deb on stdout. The version comes from
# scripts/version.sh (MEDIABACKUPS_VERSION overrides it); the maintainer from
# $DEBFULLNAME <$DEBEMAIL>, as for other Debian tools. File dates are the
# last commit's (SOURCE_DATE_EPOCH), so a rebuild of the same commit gives
# the same package. Needs only Go: nfpm, pinned below, is built from the Go
# module proxy on first use.
set -euo pipefail

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH
log() { echo "[package] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

out=dist
while getopts o:h opt; do
	case $opt in
	o) out=$OPTARG ;;
	h) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "usage: scripts/package.sh [-o DIR]" ;;
	esac
done
command -v go >/dev/null || die "go not found (looked in PATH and /usr/local/go/bin)"
command -v gzip >/dev/null || die "gzip not found"

version=$(bash scripts/version.sh)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
maintainer="${DEBFULLNAME:-mediabackups maintainers} <${DEBEMAIL:-mediabackups@example.org}>"

build=$(mktemp -d "${TMPDIR:-/tmp}/mediabackups-package.XXXXXX")
trap 'rm -rf "$build"' EXIT
mkdir -p "$build/bin" "$build/man" "$build/doc" "$out"

log "mediabackups $version: building the four binaries"
# Static (no cgo): the package then depends on no particular libc. Stripped
# and without build ids or paths, so that the same commit gives the same bytes.
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -buildvcs=false \
	-ldflags='-s -w -buildid=' -o "$build/bin/" \
	./cmd/mediabackups ./cmd/query-media-file ./cmd/restore-media-file ./cmd/delete-media-file

log "man pages"
go run -buildvcs=false ./cmd/internal/mangen -version "$version" "$build/man"
gzip -9n "$build/man"/*.1

# A native package's changelog: which commit this is; git log is the history.
{
	echo "mediabackups ($version) unstable; urgency=medium"
	echo
	if commit=$(git rev-parse HEAD 2>/dev/null); then
		echo "  * Built from commit $commit."
		echo "    The changes are in the history of the git repository."
	else
		echo "  * Built from a source tree without git history."
	fi
	echo
	echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} >"$build/doc/changelog"
gzip -9n "$build/doc/changelog"

log "packaging with nfpm ($NFPM)"
MB_BUILD=$build MB_VERSION=$version MB_MAINTAINER=$maintainer \
	go run "$NFPM" package --config packaging/nfpm.yaml --packager deb --target "$build/pkg.deb" >&2
deb=$out/mediabackups_${version}_amd64.deb
mv "$build/pkg.deb" "$deb"
log "built $deb"
echo "$deb"
