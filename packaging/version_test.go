package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// TestVersion runs scripts/version.sh in throwaway git repositories, one
// per case: the version of a tree must be a Debian version that grows with
// its history.
func TestVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	script, err := os.ReadFile(filepath.Join(testsvc.RepoRoot(t), "scripts", "version.sh"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// setup runs in the repository, which has one commit ("c1") unless
		// the case says otherwise.
		setup []string
		env   string // MEDIABACKUPS_VERSION
		want  string // a regexp
		fail  string // or: the error
	}{
		{name: "no tag", want: `^0\.0\.0\+git1\.g[0-9a-f]{7}$`},
		{name: "no tag, two commits", setup: []string{"git commit -q --allow-empty -m c2"}, want: `^0\.0\.0\+git2\.g[0-9a-f]{7}$`},
		{name: "tag on HEAD", setup: []string{"git tag v1.2.3"}, want: `^1\.2\.3$`},
		{name: "commits after a tag", setup: []string{"git tag v1.2.3", "git commit -q --allow-empty -m c2", "git commit -q --allow-empty -m c3"},
			want: `^1\.2\.3\+git2\.g[0-9a-f]{7}$`},
		{name: "release candidate sorts before the release", setup: []string{"git tag v1.3.0-rc1"}, want: `^1\.3\.0~rc1$`},
		{name: "other tags are not versions", setup: []string{"git tag deployed"}, want: `^0\.0\.0\+git1\.g[0-9a-f]{7}$`},
		{name: "uncommitted change", setup: []string{"echo changed >file"}, want: `^0\.0\.0\+git1\.g[0-9a-f]{7}\.dirty$`},
		{name: "uncommitted change on a tag", setup: []string{"git tag v2.0.0", "echo changed >file"}, want: `^2\.0\.0\+dirty$`},
		{name: "no git history", setup: []string{"rm -rf .git"}, want: `^0\.0\.0\+unknown$`},
		{name: "override", env: "7.0.1~test", setup: []string{"git tag v1.0.0"}, want: `^7\.0\.1~test$`},
		{name: "override that is no Debian version", env: "v7-beta", fail: "not a Debian version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "scripts", "version.sh"), script, 0o755); err != nil {
				t.Fatal(err)
			}
			sh := func(line string) {
				cmd := exec.Command("bash", "-c", line)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
					"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", line, err, out)
				}
			}
			sh("git init -q . && echo one >file && git add -A && git commit -q -m c1")
			for _, line := range tt.setup {
				sh(line)
			}
			cmd := exec.Command("bash", "scripts/version.sh")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "MEDIABACKUPS_VERSION="+tt.env)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			got := strings.TrimSpace(string(out))
			if tt.fail != "" {
				if err == nil || !strings.Contains(stderr.String(), tt.fail) {
					t.Fatalf("version.sh = %q, %v, stderr %q; want a failure saying %q", got, err, stderr.String(), tt.fail)
				}
				return
			}
			if err != nil {
				t.Fatalf("version.sh: %v\n%s", err, stderr.String())
			}
			if !regexp.MustCompile(tt.want).MatchString(got) {
				t.Errorf("version.sh = %q, want %s", got, tt.want)
			}
		})
	}
}

// TestVersionOrder checks with dpkg itself that the versions grow as the
// history does.
func TestVersionOrder(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	order := []string{"0.0.0+git9.gfffffff", "0.0.0+git10.g0000000", "0.0.0+git10.g0000000.dirty",
		"1.3.0~rc1", "1.3.0", "1.3.0+dirty", "1.3.0+git1.gabcdef0", "1.3.0+git2.g0123456", "1.3.1~rc1"}
	for i := 1; i < len(order); i++ {
		if err := exec.Command("dpkg", "--compare-versions", order[i-1], "lt", order[i]).Run(); err != nil {
			t.Errorf("dpkg does not order %s before %s", order[i-1], order[i])
		}
	}
}
