// Package packaging holds the Debian package of mediabackups, which
// scripts/package.sh builds with nfpm: nfpm.yaml, the systemd units
// (systemd/), the example configuration, and the maintainer scripts and
// copyright (debian/). It has no Go API; its tests check the package:
//
//   - TestVersion: scripts/version.sh, in throwaway git repositories.
//   - TestExampleConfig: the example is the README's and parses.
package packaging
