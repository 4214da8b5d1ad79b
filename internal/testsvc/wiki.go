package testsvc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// PortBase returns the first port of the test services' block
// (MEDIABACKUPS_TEST_PORT_BASE, see testenv/ports.sh).
func PortBase(t testing.TB) int {
	t.Helper()
	v := Need(t, "MEDIABACKUPS_TEST_PORT_BASE")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1024 || n > 65235 {
		t.Fatalf("MEDIABACKUPS_TEST_PORT_BASE=%q is not a port base", v)
	}
	return n
}

// RepoRoot returns the module's root directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreshDir is the folder, under the state directory, that holds the wikis
// tests start for themselves (FreshWiki, FreshSwiftWiki):
// <state dir>/fresh/<name>, each with a lock file <name>.lock held while
// its test runs. testenv/up.sh removes the ones whose lock is free (left by
// a test that was killed), and testenv/down.sh stops their servers.
const FreshDir = "fresh"

// freshDir reserves $MEDIABACKUPS_TEST_DIR/fresh/<name> for a wiki of the
// test's own and returns it. It takes the lock first, so that up.sh never
// removes a folder a running test is still setting up (the kernel drops
// the lock when the process dies, however it dies), and registers a
// cleanup that stops the wiki's server and removes the folder and the lock
// when the test ends, passed or failed (MEDIABACKUPS_TEST_KEEP=1 keeps the
// folder for a look). Register the cleanups of the wiki itself after it:
// they run before.
func freshDir(t testing.TB, name string) string {
	t.Helper()
	base := Need(t, "MEDIABACKUPS_TEST_DIR")
	if name == "" || strings.ContainsAny(name, "/.") {
		t.Fatalf("%q is not a plain folder name for a test's wiki", name)
	}
	fresh := filepath.Join(base, FreshDir)
	if err := os.MkdirAll(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(fresh, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		t.Fatalf("the wiki %s: another test holds %s (%v): give each test's wiki its own name", name, lock.Name(), err)
	}
	dir := filepath.Join(fresh, name)
	stop := exec.Command("bash", filepath.Join(RepoRoot(t), "testenv", "testwiki", "stop.sh"))
	stop.Env = append(os.Environ(), "TESTWIKI_DIR="+dir)
	t.Cleanup(func() {
		stop.Run() // again, in case the wiki failed to start half-way
		if os.Getenv("MEDIABACKUPS_TEST_KEEP") == "" {
			os.RemoveAll(dir)
			os.Remove(lock.Name())
		}
		lock.Close() // releases the lock
	})
	return dir
}

// FreshWiki starts a wiki of its own for a test that changes it: a new
// install, populated with the same fixed history as the shared test wikis
// (testenv/testwiki), under $MEDIABACKUPS_TEST_DIR/fresh/<name>. When the
// test ends, passed or failed, the wiki is stopped and its folder removed
// (see freshDir). slot (0 to 17) picks its port, PortBase+102+slot (see
// testenv/ports.sh); use a slot no other test package uses, as packages run
// in parallel. It takes about 10 seconds on a quiet machine.
func FreshWiki(t testing.TB, name string, slot int, private bool) Wiki {
	t.Helper()
	if slot < 0 || slot > 17 {
		t.Fatalf("FreshWiki: slot %d is not in 0-17", slot)
	}
	port := PortBase(t) + 102 + slot
	dir := freshDir(t, name)
	root := RepoRoot(t)
	env := append(os.Environ(), "TESTWIKI_DIR="+dir, fmt.Sprintf("TESTWIKI_PORT=%d", port), "TESTWIKI_RESET=1")
	if private {
		env = append(env, "TESTWIKI_PRIVATE=1")
	} else {
		env = append(env, "TESTWIKI_PRIVATE=0")
	}
	run := func(name string) string {
		cmd := exec.Command("bash", filepath.Join(root, "testenv", "testwiki", name))
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("testwiki %s for %s: %v\n%s", name, dir, err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	api := run("start.sh")
	run("populate.sh")
	return Wiki{
		API:           api,
		Dir:           dir,
		AdminUser:     Need(t, "MEDIABACKUPS_TEST_WIKI_ADMIN_USER"),
		AdminPassword: Need(t, "MEDIABACKUPS_TEST_WIKI_ADMIN_PASSWORD"),
		BotUser:       Need(t, "MEDIABACKUPS_TEST_WIKI_BOT_USER"),
		BotPassword:   Need(t, "MEDIABACKUPS_TEST_WIKI_BOT_PASSWORD"),
	}
}

// MediaWikiCode is where testenv/testwiki/start.sh unpacks MediaWiki.
const MediaWikiCode = "/opt/testwiki-mediawiki"

// Maintenance runs a MediaWiki maintenance script (maintenance/<script>,
// or a path of its own when script holds a "/") on a test wiki, as
// testenv/testwiki/start.sh does, and returns its output; it fails the
// test if the script fails.
func Maintenance(t testing.TB, w Wiki, script string, args ...string) string {
	t.Helper()
	if !strings.Contains(script, "/") {
		script = filepath.Join(MediaWikiCode, "maintenance", script)
	}
	cmd := exec.Command("php", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "MW_INSTALL_PATH="+MediaWikiCode, "MW_CONFIG_FILE="+filepath.Join(w.Dir, "LocalSettings.php"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
	return string(out)
}
