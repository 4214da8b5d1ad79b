// Package scripts_test tests the project's scripts as a new user and CI run
// them: scripts/demo.sh against the real test services, and .ci/run.
package scripts_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// .ci/run exports CI=true, so that a missing service fails CI instead of
// skipping the tests that need it.
func TestCIRunExportsCI(t *testing.T) {
	root := testsvc.RepoRoot(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".ci"), 0o755)
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	b, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ".ci", "run"), b, 0o755)
	// scripts/test.sh stands in for the real one: it reports what it got.
	seen := filepath.Join(dir, "seen")
	os.WriteFile(filepath.Join(dir, "scripts", "test.sh"), []byte(`echo "CI=${CI:-unset}" >`+seen+"\n"), 0o755)
	cmd := exec.Command("bash", filepath.Join(dir, ".ci", "run"))
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf(".ci/run: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(seen)
	if strings.TrimSpace(string(got)) != "CI=true" {
		t.Errorf("scripts/test.sh ran with %q, want CI=true", strings.TrimSpace(string(got)))
	}
}

// scripts/demo.sh builds the four binaries into bin/, ends by saying how to
// put them on PATH, and the inventory gives the deleted versions their
// delete dates: a search by delete date finds them.
func TestDemo(t *testing.T) {
	root := testsvc.RepoRoot(t)
	base := testsvc.Need(t, "MEDIABACKUPS_TEST_DIR")
	ports := testsvc.Need(t, "MEDIABACKUPS_TEST_PORT_BASE")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "MBTEST_DIR="+base, "MBTEST_PORT_BASE="+ports, "MEDIABACKUPS_CONFIG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/demo.sh: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	bin := filepath.Join(root, "bin")
	config := filepath.Join(base, "demo", "mediabackups.yaml")
	if want := "export PATH=" + bin + ":$PATH MEDIABACKUPS_CONFIG=" + config; !strings.Contains(stderr.String(), want) {
		t.Errorf("the demo does not say how to put its binaries on PATH (%q):\n%s", want, stderr.String())
	}
	// What the demo tells the user to run works.
	path := bin + ":" + os.Getenv("PATH")
	for _, b := range []string{"mediabackups", "query-media-file", "restore-media-file", "delete-media-file"} {
		c := exec.Command("bash", "-c", b+" --help")
		c.Env = append(os.Environ(), "PATH="+path, "MEDIABACKUPS_CONFIG="+config)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("%s --help on the PATH the demo gives: %v\n%s", b, err, out)
		}
	}
	c := exec.Command("bash", "-c", `query-media-file --json --delete-date "2025-01-05 09:00:00"`)
	c.Env = append(os.Environ(), "PATH="+path, "MEDIABACKUPS_CONFIG="+config)
	out, err := c.Output()
	var q struct {
		Matches []struct {
			Title      string `json:"title"`
			DeleteDate string `json:"delete_date"`
		} `json:"matches"`
	}
	if err != nil || json.Unmarshal(out, &q) != nil || len(q.Matches) != 7 {
		t.Errorf("query-media-file --delete-date after the demo: %v, %d matches, want the 7 versions deleted then\n%s", err, len(q.Matches), out)
	}
}
