package testsvc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// FreshWiki starts a wiki of its own for a test that changes it: a new
// install, populated with the same fixed history as the shared test wikis
// (testenv/testwiki), under $MEDIABACKUPS_TEST_DIR/<name>. It is stopped when
// the test ends. slot (0 to 17) picks its port, PortBase+102+slot (see
// testenv/ports.sh); use a slot no other test package uses, as packages run
// in parallel. It takes about 10 seconds.
func FreshWiki(t testing.TB, name string, slot int, private bool) Wiki {
	t.Helper()
	base := Need(t, "MEDIABACKUPS_TEST_DIR")
	if slot < 0 || slot > 17 {
		t.Fatalf("FreshWiki: slot %d is not in 0-17", slot)
	}
	port := PortBase(t) + 102 + slot
	dir := filepath.Join(base, name)
	root := RepoRoot(t)
	env := append(os.Environ(), "TESTWIKI_DIR="+dir, fmt.Sprintf("TESTWIKI_PORT=%d", port), "TESTWIKI_RESET=1")
	if private {
		env = append(env, "TESTWIKI_PRIVATE=1")
	} else {
		env = append(env, "TESTWIKI_PRIVATE=0")
	}
	run := func(script string) string {
		cmd := exec.Command("bash", filepath.Join(root, "testenv", "testwiki", script))
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("testwiki %s for %s: %v\n%s", script, name, err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	api := run("start.sh")
	t.Cleanup(func() {
		cmd := exec.Command("bash", filepath.Join(root, "testenv", "testwiki", "stop.sh"))
		cmd.Env = env
		cmd.Run()
	})
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
