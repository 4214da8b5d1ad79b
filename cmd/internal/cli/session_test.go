package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
)

// fillAtConfirm is a Prompter that fills the log's disk when the
// confirmation is asked, then answers it.
type fillAtConfirm struct {
	*scripted
	fill func()
}

func (p *fillAtConfirm) Input(label, def string) (string, error) {
	if strings.HasSuffix(label, "(y/n)") {
		p.fill()
	}
	return p.scripted.Input(label, def)
}

func wantLogError(t *testing.T, err error, logDir string) {
	t.Helper()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitError {
		t.Fatalf("err = %v, want exit 1", err)
	}
	for _, want := range []string{"write the session log " + logDir, "no space left on device", "the session log is an audit log: stopped before", "--logdir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
}

// TestFullLogDiskStopsEverySession: with the session log on a full disk
// (a real tmpfs, filled), each tool stops with exit 1 before it searches,
// and no output is shown.
func TestFullLogDiskStopsEverySession(t *testing.T) {
	f, out, _ := interactiveFactory(t)
	f.cfg.LogDir = testsvc.SmallDisk(t, 256<<10)
	testsvc.FillDisk(t, f.cfg.LogDir)
	title := map[string]*string{"title": ptr("Wow!Amazing.png")}
	for name, run := range map[string]func() error{
		"query": func() error {
			return queryRun(context.Background(), &QueryOptions{RecoveryOptions{F: f, Tool: "query", Search: title}})
		},
		"restore": func() error {
			return restoreRun(context.Background(), &RestoreOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "restore", Search: title, Yes: true}, Target: t.TempDir(), Parallel: 1})
		},
		"delete": func() error {
			return deleteRun(context.Background(), &DeleteOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "delete", Search: title, Yes: true}, Execute: true})
		},
	} {
		t.Run(name, func(t *testing.T) {
			out.Reset()
			wantLogError(t, run(), f.cfg.LogDir)
			if out.Len() != 0 {
				t.Errorf("output despite the failed log:\n%s", out)
			}
		})
	}
}

// TestLogDiskFullMidSession: the disk fills while the operator is asked
// to confirm. The restore writes nothing (it never even contacts the
// storage, which does not exist here), the deletion changes nothing.
func TestLogDiskFullMidSession(t *testing.T) {
	f, _, _ := interactiveFactory(t)
	ctx := context.Background()
	t.Run("restore", func(t *testing.T) {
		f.cfg.LogDir = testsvc.SmallDisk(t, 256<<10)
		p := &fillAtConfirm{&scripted{answers: []string{"testwiki", "0", "Wow!Amazing.png", "y"}}, func() { testsvc.FillDisk(t, f.cfg.LogDir) }}
		target := filepath.Join(t.TempDir(), "restored")
		err := restoreRun(ctx, &RestoreOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "restore", Prompter: p}, Target: target, Parallel: 1})
		wantLogError(t, err, f.cfg.LogDir)
		if !strings.Contains(err.Error(), "stopped before any file was written") {
			t.Errorf("the error does not say nothing was written: %v", err)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 0 {
			t.Errorf("files written with a full log disk: %v", entries)
		}
	})
	t.Run("delete", func(t *testing.T) {
		f.cfg.LogDir = testsvc.SmallDisk(t, 256<<10)
		s, err := metadata.Open(ctx, f.cfg.Metadata.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		state := func() string {
			var sum string
			s.DB().QueryRowContext(ctx, "CHECKSUM TABLE files").Scan(new(string), &sum)
			return sum
		}
		before := state()
		// Deleted_copy.png has no production URL: no production check.
		p := &fillAtConfirm{&scripted{answers: []string{"testwiki", "0", "Deleted_copy.png", "y"}}, func() { testsvc.FillDisk(t, f.cfg.LogDir) }}
		err = deleteRun(ctx, &DeleteOptions{RecoveryOptions: RecoveryOptions{F: f, Tool: "delete", Prompter: p}, Execute: true})
		wantLogError(t, err, f.cfg.LogDir)
		if !strings.Contains(err.Error(), "before it stopped: 0 objects removed, 0 marked hard-deleted") {
			t.Errorf("the error does not say what was done: %v", err)
		}
		if before != state() {
			t.Error("the files table changed although the deletion could not be logged")
		}
		if len(p.answers) != 0 {
			t.Fatalf("the confirmation was not reached: %v left (asked %v)", p.answers, p.asked)
		}
	})
}
