package testsvc

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// endedTest is a testing.TB whose end the test decides: FreshWiki registers
// its cleanups here, and the test runs them as the end of a failed test
// would.
type endedTest struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (e *endedTest) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }
func (e *endedTest) Failed() bool     { return e.failed || e.TB.Failed() }

// end runs the cleanups, once.
func (e *endedTest) end() {
	for len(e.cleanups) > 0 {
		f := e.cleanups[len(e.cleanups)-1]
		e.cleanups = e.cleanups[:len(e.cleanups)-1]
		f()
	}
}

// answers reports whether something answers HTTP at url (a refused
// connection is quick; a busy php -S on a loaded machine may take long).
func answers(url string) bool {
	c := http.Client{Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// A test's own wiki is stopped and removed when the test ends, also when
// it failed, and leaves nothing under the state directory.
func TestFreshWikiIsRemovedWhenItsTestEnds(t *testing.T) {
	if os.Getenv("MEDIABACKUPS_TEST_KEEP") != "" {
		t.Skip("MEDIABACKUPS_TEST_KEEP keeps the wikis of tests")
	}
	base := Need(t, "MEDIABACKUPS_TEST_DIR")
	et := &endedTest{TB: t}
	defer et.end()                                // also when FreshWiki fails the test
	w := FreshWiki(et, "testsvc-fresh", 4, false) // slot 5 is production/filesystem's
	if !answers(w.API) {
		t.Fatalf("the fresh wiki does not answer on %s", w.API)
	}
	if w.Dir != filepath.Join(base, FreshDir, "testsvc-fresh") {
		t.Errorf("the wiki is in %s, want under %s/%s", w.Dir, base, FreshDir)
	}
	et.failed = true // as if the test had failed
	et.end()
	if _, err := os.Stat(w.Dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after its test ended (%v)", w.Dir, err)
	}
	if _, err := os.Stat(w.Dir + ".lock"); !os.IsNotExist(err) {
		t.Errorf("its lock file is still there (%v)", err)
	}
	if answers(w.API) {
		t.Errorf("the wiki still answers on %s", w.API)
	}
}

// testenv/up.sh removes the wikis that killed tests left behind (their lock
// is free), stopping their servers, and leaves those of running tests alone.
func TestUpSweepsWikisOfKilledTests(t *testing.T) {
	base := Need(t, "MEDIABACKUPS_TEST_DIR")
	portBase := Need(t, "MEDIABACKUPS_TEST_PORT_BASE")
	fresh := filepath.Join(base, FreshDir)
	if err := os.MkdirAll(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	// A killed test: its folder, a free lock, and a server still running
	// (a stand-in that stop.sh recognises by its command line).
	stale := filepath.Join(fresh, "testsvc-killed")
	os.MkdirAll(filepath.Join(stale, "docroot"), 0o755)
	os.WriteFile(stale+".lock", nil, 0o644)
	server := exec.Command("bash", "-c", `exec -a "php -S 127.0.0.1:1 -t `+stale+`/docroot" sleep 600`)
	server.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
		os.RemoveAll(stale)
		os.Remove(stale + ".lock")
	})
	os.WriteFile(filepath.Join(stale, "server.pid"), []byte(strconv.Itoa(server.Process.Pid)+"\n"), 0o644)
	os.WriteFile(filepath.Join(stale, "LocalSettings.php"), nil, 0o644)
	// A running test: its lock is held.
	held := filepath.Join(fresh, "testsvc-running")
	os.MkdirAll(held, 0o755)
	lock, err := os.OpenFile(held+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	t.Cleanup(func() { os.RemoveAll(held); os.Remove(held + ".lock") })
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	up := exec.Command("bash", filepath.Join(RepoRoot(t), "testenv", "up.sh"))
	up.Env = append(os.Environ(), "MBTEST_DIR="+base, "MBTEST_PORT_BASE="+portBase)
	out, err := up.CombinedOutput()
	if err != nil {
		t.Fatalf("testenv/up.sh: %v\n%s", err, out)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("up.sh left the killed test's wiki %s (%v):\n%s", stale, err, out)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("up.sh did not stop the killed test's wiki server")
	}
	if _, err := os.Stat(held); err != nil {
		t.Errorf("up.sh removed the wiki of a running test: %v", err)
	}
}
