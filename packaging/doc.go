// Package packaging holds the Debian package of mediabackups, which
// scripts/package.sh builds with nfpm: nfpm.yaml, the systemd units
// (systemd/), the example configuration, and the maintainer scripts and
// copyright (debian/). It has no Go API; its tests check the package:
//
//   - TestVersion: scripts/version.sh, in throwaway git repositories.
//   - TestExampleConfig: the example is the README's and parses.
//   - TestDebianPackage: builds the .deb, checks it with lintian, and takes
//     it through install, upgrade, remove and purge with dpkg on this
//     machine. It changes the machine, so it runs only as root and only
//     under CI (CI non-empty) or when MEDIABACKUPS_TEST_DEB=1, and leaves
//     the machine as it found it.
package packaging
