package testsvc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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
// install on port, populated with the same fixed history as the shared test
// wikis (testenv/testwiki), under $MEDIABACKUPS_TEST_DIR/<name>. It is
// stopped when the test ends. Use a port no other test package uses:
// 8082-8089 are for such wikis (8080 and 8081 are the shared, read-only ones).
// It takes about 10 seconds.
func FreshWiki(t testing.TB, name string, port int, private bool) Wiki {
	t.Helper()
	base := Need(t, "MEDIABACKUPS_TEST_DIR")
	if port < 8082 || port > 8089 {
		t.Fatalf("FreshWiki: port %d is not in 8082-8089", port)
	}
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
