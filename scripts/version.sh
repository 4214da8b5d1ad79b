#!/usr/bin/env bash
# scripts/version.sh -- print the version of this tree as a Debian version:
# the one place scripts/package.sh takes it from.
#
#   HEAD tagged v1.2.3                 1.2.3
#   3 commits after v1.2.3             1.2.3+git3.gabc1234
#   tag v1.3.0-rc1                     1.3.0~rc1 (sorts before 1.3.0)
#   no v* tag yet                      0.0.0+git<commits on HEAD>.g<hash>
#   uncommitted changes                the above + .dirty
#   no git history (a source tarball)  0.0.0+unknown
#
# $MEDIABACKUPS_VERSION, if set, is printed instead (it must be a Debian
# version: digits first, then [A-Za-z0-9.+~]).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n ${MEDIABACKUPS_VERSION:-} ]]; then
	if [[ ! $MEDIABACKUPS_VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
		echo "version.sh: MEDIABACKUPS_VERSION=$MEDIABACKUPS_VERSION is not a Debian version (digits first, then letters, digits and . + ~)" >&2
		exit 2
	fi
	echo "$MEDIABACKUPS_VERSION"
	exit 0
fi
if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo "0.0.0+unknown"
	exit 0
fi

dirty=
git update-index -q --refresh >/dev/null 2>&1 || true # stale stat info is not a change
git diff-index --quiet HEAD -- 2>/dev/null || dirty=.dirty
hash=$(git rev-parse --short=7 HEAD)
if desc=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null) &&
	[[ $desc =~ ^v(.+)-([0-9]+)-g[0-9a-f]+$ ]]; then
	base=${BASH_REMATCH[1]//-/\~} n=${BASH_REMATCH[2]}
	if ((n == 0)); then
		version=$base${dirty:++dirty}
	else
		version=$base+git$n.g$hash$dirty
	fi
else
	version=0.0.0+git$(git rev-list --count HEAD).g$hash$dirty
fi
echo "$version"
