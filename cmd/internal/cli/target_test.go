package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for name, target := range map[string]string{"link-to-file": file, "link-to-dir": sub, "dangling": filepath.Join(dir, "nowhere")} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	ro := testsvc.ReadOnlyDisk(t)
	for _, tc := range []struct {
		name, target, err string // err "": accepted
	}{
		{"an existing directory", sub, ""},
		{"a link to a directory", filepath.Join(dir, "link-to-dir"), ""},
		{"a new directory", filepath.Join(dir, "new", "deeper"), ""},
		{"the current directory", ".", ""},
		{"a file", file, "it is a regular file, not a directory"},
		{"a link to a file", filepath.Join(dir, "link-to-file"), "it is a symbolic link to " + file + ", which is a regular file, not a directory"},
		{"/dev/null", "/dev/null", "it is a device, not a directory"},
		{"a dangling link", filepath.Join(dir, "dangling"), "it is a symbolic link to " + filepath.Join(dir, "nowhere") + ", which does not exist"},
		{"under a file", filepath.Join(file, "x"), "is a regular file, so the directory cannot be created"},
		{"a read-only directory", ro, "it is on a read-only file system"},
		{"new, in a read-only directory", filepath.Join(ro, "new"), "cannot be created in " + ro},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkTarget(tc.target)
			if tc.err == "" {
				if err != nil || !filepath.IsAbs(got) {
					t.Fatalf("checkTarget(%s) = %q, %v; want it accepted", tc.target, got, err)
				}
				return
			}
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ee) || ee.code != ExitUsage {
				t.Fatalf("checkTarget(%s) = %v; want a usage error with %q", tc.target, err, tc.err)
			}
			if !strings.Contains(err.Error(), "--target "+tc.target) || !strings.Contains(err.Error(), "give a directory you may write into") {
				t.Errorf("the message does not name the flag or say what to do: %v", err)
			}
		})
	}
}

// A bad target or a missing recovery secret is refused before anything is
// searched (nothing is asked, no search in the log) and before anything is
// written.
func TestRestoreChecksBeforeSearching(t *testing.T) {
	f, _, _ := interactiveFactory(t)
	for _, tc := range []struct {
		name   string
		target string
		secret string
		err    string
	}{
		{"target is /dev/null", "/dev/null", "", "--target /dev/null: it is a device"},
		{"missing recovery secret", t.TempDir(), "/nonexistent/recovery-secret", "storage.recovery.secret_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.secret != "" {
				old := f.cfg.Storage.Recovery.SecretKeyFile
				f.cfg.Storage.Recovery.SecretKeyFile = tc.secret
				defer func() { f.cfg.Storage.Recovery.SecretKeyFile = old }()
			}
			p := &scripted{answers: []string{"testwiki", "0", "Wow!Amazing.png", "y"}}
			opts := &RestoreOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "restore", Prompter: p}, Target: tc.target, Parallel: 1}
			err := restoreRun(context.Background(), opts)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("restore: %v, want a usage error with %q", err, tc.err)
			}
			if len(p.asked) != 0 {
				t.Errorf("questions were asked before the check: %v", p.asked)
			}
			b, _ := os.ReadFile(filepath.Join(f.cfg.LogDir, "recovery.log"))
			if strings.Contains(string(b), "msg=search") {
				t.Errorf("a search ran before the check:\n%s", b)
			}
		})
	}
	// The same for delete's credentials.
	f.cfg.Storage.Recovery.SecretKeyFile = "/nonexistent/recovery-secret"
	p := &scripted{answers: []string{"testwiki", "0", "Wow!Amazing.png", "y"}}
	err := deleteRun(context.Background(), &DeleteOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "delete", Prompter: p}})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "storage.recovery") || len(p.asked) != 0 {
		t.Errorf("delete with a missing recovery secret: %v (asked %v), want a usage error before any question", err, p.asked)
	}
}
