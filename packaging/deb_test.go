package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// What the package installs, as the test expects it.
const (
	pkgName  = "mediabackups"
	userName = "mediabackup"
	logDir   = "/var/log/mediabackups"
	etcDir   = "/etc/mediabackups"
	example  = etcDir + "/mediabackups.yaml.example"
	unitDir  = "/lib/systemd/system"
)

var units = []string{"mediabackups-update@.service", "mediabackups-backup@.service", "mediabackups-backup@.timer"}

// unitLink matches where a link made by systemctl enable points for one of
// the units.
var unitLink = regexp.MustCompile(`/mediabackups-(update@\.service|backup@\.service|backup@\.timer)$`)

// TestDebianPackage builds the package with scripts/package.sh, checks it
// with lintian, and takes it through install, upgrade, remove and purge
// with dpkg on this machine, checking at each step what an operator would
// find. It runs only as root, and only under CI or with
// MEDIABACKUPS_TEST_DEB=1; it refuses a machine where the package, or
// its log directory, is there already, and puts back what it changed
// (package, user, files) even when it fails.
func TestDebianPackage(t *testing.T) {
	switch {
	case runtime.GOOS != "linux":
		t.Skip("the Debian package is for Linux")
	case os.Getenv("CI") == "" && os.Getenv("MEDIABACKUPS_TEST_DEB") != "1":
		t.Skip("installs a package on this machine: runs under CI, or with MEDIABACKUPS_TEST_DEB=1 (as root)")
	case os.Geteuid() != 0:
		t.Skip("installs a package with dpkg: run as root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "man", "lintian", "runuser", "userdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			testsvc.SkipOrFail(t, "%s not found: scripts/test.sh installs it (testenv/up.sh with MBTEST_APT_EXTRA)", tool)
		}
	}
	m := newMachine(t)

	root := testsvc.RepoRoot(t)
	version := strings.TrimSpace(m.run(t, "bash", filepath.Join(root, "scripts", "version.sh")))
	deb := m.build(t, root, "")
	if want := fmt.Sprintf("mediabackups_%s_amd64.deb", version); filepath.Base(deb) != want {
		t.Errorf("package.sh built %s, want %s", filepath.Base(deb), want)
	}

	t.Run("lintian", func(t *testing.T) {
		// --fail-on makes warnings fail too; the overrides the package
		// ships (packaging/debian/lintian-overrides) say why each is there.
		out, err := exec.Command("lintian", "--fail-on", "error,warning", "--info", "--pedantic", deb).CombinedOutput()
		if err != nil {
			t.Errorf("lintian: %v\n%s", err, out)
		}
	})

	bins := binaries(t, root)
	m.dpkg(t, "-i", deb)
	t.Run("installed", func(t *testing.T) {
		if st, v := m.status(); st != "install ok installed" || v != version {
			t.Errorf("dpkg says %q, version %q; want installed, %s", st, v, version)
		}
		contents := m.run(t, "dpkg", "-L", pkgName)
		for _, b := range bins {
			out := m.run(t, "/usr/bin/"+b, "--help")
			if !strings.Contains(out, "Usage:") || !strings.Contains(out, b) {
				t.Errorf("%s --help:\n%s", b, out)
			}
			// Where dpkg is told to leave out /usr/share/man (slim images), man
			// would fail for that reason: say so rather than blame the package.
			page := "/usr/share/man/man1/" + b + ".1.gz"
			if !strings.Contains(contents, page) {
				t.Errorf("the package has no %s", page)
			} else if _, err := os.Stat(page); err != nil {
				t.Fatalf("%s is in the package but not on disk (a dpkg path-exclude?): %v", page, err)
			}
			man := m.man(t, b)
			if !strings.Contains(man, "NAME") || !strings.Contains(man, b) || !strings.Contains(man, "--config") {
				t.Errorf("man %s:\n%s", b, man)
			}
		}
		if out := m.run(t, "mediabackups", "--help"); !strings.Contains(out, "schema apply") {
			t.Errorf("mediabackups --help does not teach the first run:\n%s", out)
		}
		// A sub-command's page, as the units' Documentation= names it.
		if man := m.man(t, "mediabackups-update"); !strings.Contains(man, "--follow") {
			t.Errorf("man mediabackups-update:\n%s", man)
		}
	})

	t.Run("user", func(t *testing.T) { m.checkUser(t) })

	t.Run("log directory", func(t *testing.T) {
		m.checkLogDir(t)
		// The user writes there, as the recovery tools do.
		m.run(t, "runuser", "-u", userName, "--", "sh", "-c", "echo probe >"+logDir+"/probe.log")
	})

	t.Run("units", func(t *testing.T) {
		for _, u := range units {
			b, err := os.ReadFile(filepath.Join(unitDir, u))
			if err != nil {
				t.Fatal(err)
			}
			// Every unit that runs something runs it as the package's user.
			if strings.Contains(string(b), "ExecStart=") && !strings.Contains(string(b), "\nUser="+userName+"\n") {
				t.Errorf("%s does not run as %s:\n%s", u, userName, b)
			}
		}
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Log("systemd-analyze not installed: units not verified")
		} else {
			// Instances, as an operator enables them; verify checks the
			// executables and the man pages they name.
			cmd := exec.Command("systemd-analyze", "verify",
				"mediabackups-update@testwiki.service", "mediabackups-backup@testwiki.service", "mediabackups-backup@testwiki.timer")
			out, err := cmd.CombinedOutput()
			if err != nil || bytes.Contains(out, []byte("mediabackups")) {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		}
		if _, err := exec.LookPath("systemctl"); err == nil {
			// Enabled as the README says (without --now: nothing starts),
			// so that purge has links to clean up.
			m.run(t, "systemctl", "enable", "mediabackups-update@testwiki.service", "mediabackups-backup@testwiki.timer")
			if n := m.enabledLinks(); n != 2 {
				t.Errorf("%d links to the units after systemctl enable, want 2", n)
			}
		}
	})

	t.Run("example config", func(t *testing.T) {
		b, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(b); err != nil {
			t.Errorf("%s does not parse: %v", example, err)
		}
		if conf := m.run(t, "dpkg-query", "-W", "-f=${Conffiles}", pkgName); !strings.Contains(conf, example) {
			t.Errorf("%s is not a conffile: %q", example, conf)
		}
	})
	if t.Failed() {
		t.FailNow() // the rest builds on an install that works
	}

	// An upgrade to a newer build: postinst runs again over the user and
	// the log directory that are there, and must keep them.
	uid := m.uid(t)
	newer := m.build(t, root, version+"+1")
	m.dpkg(t, "-i", newer)
	t.Run("upgraded", func(t *testing.T) {
		if st, v := m.status(); st != "install ok installed" || v != version+"+1" {
			t.Errorf("dpkg says %q, version %q; want installed, %s+1", st, v, version)
		}
		m.checkUser(t)
		if got := m.uid(t); got != uid {
			t.Errorf("the user's uid changed on upgrade: %d, was %d", got, uid)
		}
		m.checkLogDir(t)
		if _, err := os.Stat(logDir + "/probe.log"); err != nil {
			t.Errorf("the upgrade lost a log: %v", err)
		}
	})

	// The operator's own config, which no step may delete.
	opConfig := etcDir + "/mediabackups.yaml"
	if _, err := os.Stat(opConfig); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(opConfig, []byte("# the operator's\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(opConfig) })
	}

	m.dpkg(t, "-r", pkgName)
	t.Run("removed", func(t *testing.T) {
		if st, _ := m.status(); st != "deinstall ok config-files" {
			t.Errorf("dpkg says %q after remove, want config-files", st)
		}
		for _, b := range bins {
			m.gone(t, "/usr/bin/"+b, "/usr/share/man/man1/"+b+".1.gz")
		}
		for _, u := range units {
			m.gone(t, filepath.Join(unitDir, u))
		}
		// Remove keeps configuration, logs and the user.
		m.there(t, example, opConfig, logDir+"/probe.log")
		m.checkUser(t)
	})

	m.dpkg(t, "--purge", pkgName)
	t.Run("purged", func(t *testing.T) {
		if st, _ := m.status(); st != "" && st != "unknown ok not-installed" {
			t.Errorf("dpkg says %q after purge, want not installed", st)
		}
		m.gone(t, logDir, example)
		if n := m.enabledLinks(); n != 0 {
			t.Errorf("%d links to the removed units are left after purge", n)
		}
		// Debian policy keeps the user; the operator's config stays too.
		m.checkUser(t)
		m.there(t, opConfig)
	})
}

// machine runs commands on the test machine. Its methods take the
// testing.TB of the (sub)test that calls them.
type machine struct{}

// newMachine takes this machine for the test: one run at a time (other
// checkouts on the same machine may run it too), and only if the package
// and its log directory are not there already. When the test ends,
// whatever happened, the package is purged, and the user and group are
// deleted if the test created them.
func newMachine(t *testing.T) *machine {
	m := &machine{}
	lockDir := "/run/lock"
	if _, err := os.Stat(lockDir); err != nil {
		lockDir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(lockDir, "mediabackups-deb-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // releases the lock, after the cleanups below
	deadline := time.Now().Add(15 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("another TestDebianPackage has held %s for 15 minutes", f.Name())
		}
		t.Log("waiting for another TestDebianPackage on this machine")
		time.Sleep(5 * time.Second)
	}

	if st, v := m.status(); st != "" && st != "unknown ok not-installed" {
		t.Fatalf("%s is on this machine already (%s, %s): this test installs and purges it, so it will not run here; "+
			"dpkg --purge %s if it is a leftover", pkgName, st, v, pkgName)
	}
	if _, err := os.Stat(logDir); err == nil {
		t.Fatalf("%s exists already, and purging the package deletes it: move it away to run this test", logDir)
	}
	_, errUser := user.Lookup(userName)
	_, errGroup := user.LookupGroup(userName)
	_, errEtc := os.Stat(etcDir)
	t.Cleanup(func() {
		if st, _ := m.status(); st != "" && st != "unknown ok not-installed" {
			if out, err := m.command("dpkg", "--purge", pkgName).CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge %s: %v\n%s", pkgName, err, out)
			}
		}
		if errUser != nil {
			if _, err := user.Lookup(userName); err == nil {
				if out, err := m.command("userdel", userName).CombinedOutput(); err != nil {
					t.Errorf("cleanup: userdel %s: %v\n%s", userName, err, out)
				}
			}
		}
		if errGroup != nil {
			if _, err := user.LookupGroup(userName); err == nil {
				if out, err := m.command("groupdel", userName).CombinedOutput(); err != nil {
					t.Errorf("cleanup: groupdel %s: %v\n%s", userName, err, out)
				}
			}
		}
		if errors.Is(errEtc, os.ErrNotExist) {
			os.Remove(etcDir) // only if empty: never someone's config
		}
	})
	return m
}

// command is exec.Command with the sbin directories in PATH (dpkg needs
// them) and without a terminal.
func (m *machine) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/local/sbin:/usr/sbin:/sbin",
		"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8")
	return cmd
}

// run runs a command and returns its output; a failure fails the test.
func (m *machine) run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := m.command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// dpkg runs dpkg with args, waiting while another dpkg or apt holds its
// lock (testenv/up.sh of another checkout may be installing packages).
func (m *machine) dpkg(t testing.TB, args ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := m.command("dpkg", args...).CombinedOutput()
		if err == nil {
			t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
			return
		}
		if !bytes.Contains(out, []byte("lock")) || time.Now().After(deadline) {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		time.Sleep(5 * time.Second)
	}
}

// status returns dpkg's status and version of the package, or "" if dpkg
// has never heard of it.
func (m *machine) status() (status, version string) {
	out, err := m.command("dpkg-query", "-W", "-f=${Status}\t${Version}", pkgName).Output()
	if err != nil {
		return "", ""
	}
	status, version, _ = strings.Cut(string(out), "\t")
	return status, version
}

// build runs scripts/package.sh into a new directory and returns the .deb
// it printed; version, if not empty, overrides scripts/version.sh.
func (m *machine) build(t testing.TB, root, version string) string {
	t.Helper()
	cmd := m.command("bash", filepath.Join(root, "scripts", "package.sh"), "-o", t.TempDir())
	if version != "" {
		cmd.Env = append(cmd.Env, "MEDIABACKUPS_VERSION="+version)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, stderr.Bytes())
	}
	deb := strings.TrimSpace(string(out))
	t.Logf("built %s in %v", deb, time.Since(start).Round(time.Second))
	return deb
}

// man returns man's rendering of a page, as an operator reads it.
func (m *machine) man(t testing.TB, page string) string {
	t.Helper()
	cmd := m.command("man", "-P", "cat", page)
	cmd.Env = append(cmd.Env, "MANWIDTH=100")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("man %s: %v\n%s", page, err, out)
	}
	return string(out)
}

// checkUser checks the package's system user and its group.
func (m *machine) checkUser(t testing.TB) {
	t.Helper()
	u, err := user.Lookup(userName)
	if err != nil {
		t.Errorf("no user %s: %v", userName, err)
		return
	}
	g, err := user.LookupGroup(userName)
	if err != nil {
		t.Errorf("no group %s: %v", userName, err)
		return
	}
	if u.Gid != g.Gid {
		t.Errorf("user %s's group is %s, want %s (%s)", userName, u.Gid, userName, g.Gid)
	}
	// A system user (adduser --system: uid below 1000) that cannot log in.
	if uid := m.uid(t); uid == 0 || uid >= 1000 {
		t.Errorf("user %s has uid %d, want a system user's", userName, uid)
	}
	entry := m.run(t, "getent", "passwd", userName)
	if !strings.HasSuffix(strings.TrimSpace(entry), ":/usr/sbin/nologin") {
		t.Errorf("user %s can log in: %s", userName, entry)
	}
}

func (m *machine) uid(t testing.TB) int {
	t.Helper()
	u, err := user.Lookup(userName)
	if err != nil {
		t.Fatalf("no user %s: %v", userName, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	return uid
}

// checkLogDir checks that the log directory belongs to the user, and is
// closed to others.
func (m *machine) checkLogDir(t testing.TB) {
	t.Helper()
	fi, err := os.Stat(logDir)
	if err != nil {
		t.Errorf("no log directory: %v", err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != 0o750 || int(st.Uid) != m.uid(t) {
		t.Errorf("%s: %v, uid %d; want a directory, 0750, owned by %s", logDir, fi.Mode(), st.Uid, userName)
	}
}

// enabledLinks counts the links to the package's units below
// /etc/systemd/system, as systemctl enable makes them.
func (m *machine) enabledLinks() int {
	n := 0
	filepath.WalkDir("/etc/systemd/system", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(path)
		if err == nil && unitLink.MatchString(target) {
			n++
		}
		return nil
	})
	return n
}

func (m *machine) gone(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
}

func (m *machine) there(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s is gone: %v", p, err)
		}
	}
}

// binaries returns the programs the repository builds: cmd/*/main.go.
func binaries(t *testing.T, root string) []string {
	mains, err := filepath.Glob(filepath.Join(root, "cmd", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no cmd/*/main.go under %s: %v", root, err)
	}
	var names []string
	for _, p := range mains {
		names = append(names, filepath.Base(filepath.Dir(p)))
	}
	return names
}
