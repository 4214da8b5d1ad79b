package recoverytest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// console drives a binary through a pseudo-terminal, as an operator would.
type console struct {
	t    *testing.T
	f    *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	buf  bytes.Buffer
	seen int
	done chan struct{}
}

func (e *env) console(bin string, args ...string) *console {
	e.t.Helper()
	cmd := e.command(bin, args...)
	if os.Getenv("MEDIABACKUPS_TEST_RACE") != "" {
		// promptui v0.9.0 races with its own readline goroutine on every
		// prompt (manifoldco/promptui issues 148 and 210, fix unmerged); the
		// race detector would turn each session's exit code into 66. Our own
		// code is checked under -race by every other end-to-end test.
		cmd.Env = append(cmd.Env, "GORACE=exitcode=0")
	}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	c := &console{t: e.t, f: f, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	e.t.Cleanup(func() { f.Close() })
	return c
}

// expect waits until the output after the last expectation contains s.
func (c *console) expect(s string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.mu.Lock()
		out := c.buf.String()
		c.mu.Unlock()
		if i := strings.Index(out[c.seen:], s); i >= 0 {
			c.seen += i + len(s)
			return
		}
		if time.Now().After(deadline) {
			c.cmd.Process.Kill()
			c.t.Fatalf("waited for %q; the terminal shows:\n%s", s, out[c.seen:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *console) send(s string) {
	c.t.Helper()
	time.Sleep(50 * time.Millisecond) // let readline set the terminal up
	if _, err := io.WriteString(c.f, s); err != nil {
		c.t.Fatal(err)
	}
}

// wait returns the exit code.
func (c *console) wait() int {
	c.t.Helper()
	err := c.cmd.Wait()
	<-c.done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return 0
}

const down = "\x1b[B"

// TestInteractiveSessions drives the real promptui questions of each tool
// through a pseudo-terminal (the exhaustive table of methods and bad
// values is in cmd/internal/cli, through the Prompter interface).
func TestInteractiveSessions(t *testing.T) {
	pub := testsvc.PublicWiki(t)
	e := newEnv(t, wikiConf{"testwiki", "public", pub})

	t.Run("query: sha1 in base 36, a bad value asked again", func(t *testing.T) {
		c := e.console("query-media-file")
		c.expect("Wiki")
		c.send("\r") // the default, testwiki
		c.expect("Search by")
		c.send(down + down + "\r")
		c.expect("sha1 (base 36)")
		c.send("notbase36!\r")
		c.expect("✗")
		c.expect("not a sha1 in base 36")
		c.expect("sha1 (base 36)")
		c.send("rjrzta2uecby71eo37q33rfc4bdtzyv\r")
		c.expect("match 2 of 2")
		c.expect("Deleted_copy.png")
		if code := c.wait(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("query: each of the eight methods, each with a bad value asked again", func(t *testing.T) {
		// inventory knows no delete dates (the log does): give one version one.
		if _, err := e.DB.Exec(`UPDATE files SET delete_date = '2025-01-05 09:00:00' WHERE title = 'To_be_deleted.png'`); err != nil {
			t.Fatal(err)
		}
		simple := e.versions("f.title = 'Simple.png'")[0]
		for i, tc := range []struct {
			method      string
			answers     []string // after the method: bad value first, then good ones
			prompt, bad string   // the value prompt, and what the refusal says
			want        string   // a title among the matches
		}{
			{"title", []string{"\r", "File:Simple.png"}, "Title", "title is empty", "Simple.png"},
			{"sha1 hex", []string{"ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d45z", simple.sha1}, "sha1 (hex)", "not hexadecimal", "Simple.png"},
			{"sha1 base 36", []string{"notbase36!", "rjrzta2uecby71eo37q33rfc4bdtzyv"}, "sha1 (base 36)", "not a sha1 in base 36", "Simple.png"},
			{"container and path", []string{"wikipedia-test-local-public", "   ", "2/2e/Simple.png"}, "Full path in the container", "path is empty", "Simple.png"},
			{"sha256", []string{simple.sha256 + "0", simple.sha256}, "sha256 (hex)", "", "Simple.png"},
			{"upload date", []string{"2025-13-01 10:00:00", "2025-01-01 10:00:00"}, "Upload date", "", "Simple.png"},
			{"archive date", []string{"yesterday", "20250102090000"}, "Archive date", "", "Wow!Amazing.png"},
			{"delete date", []string{"2025-01-05", "2025-01-05 09:00:00"}, "Delete date", "", "To_be_deleted.png"},
		} {
			t.Run(tc.method, func(t *testing.T) {
				c := e.console("query-media-file")
				c.expect("Wiki")
				c.send("\r")
				c.expect("Search by")
				c.send(strings.Repeat(down, i) + "\r")
				answers := tc.answers
				if tc.method == "container and path" {
					c.expect("Production container")
					c.send(answers[0] + "\r")
					answers = answers[1:]
				}
				c.expect(tc.prompt)
				c.send(strings.TrimSuffix(answers[0], "\r") + "\r")
				c.expect("✗")
				c.expect(tc.bad)
				c.expect(tc.prompt)
				c.send(answers[1] + "\r")
				c.expect("match 1 of")
				c.expect("query done")
				if code := c.wait(); code != 0 {
					t.Fatalf("exit %d", code)
				}
				c.mu.Lock()
				out := c.buf.String()
				c.mu.Unlock()
				if !strings.Contains(out, "title:                "+tc.want) {
					t.Errorf("the matches do not include %s:\n%s", tc.want, out)
				}
			})
		}
	})

	t.Run("restore: title, y", func(t *testing.T) {
		dir := t.TempDir()
		c := e.console("restore-media-file", "--target", dir)
		c.expect("Wiki")
		c.send("\r")
		c.expect("Search by")
		c.send("\r") // title
		c.expect("Title")
		c.send("File:Wow!Amazing.png\r")
		c.expect("match 2 of 2")
		c.expect("(y/n)")
		c.send("y\r")
		c.expect("2 out of 2 files were successfully written to the local filesystem")
		if code := c.wait(); code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, n := range []string{"Wow!Amazing.png", "20250102090000!Wow!Amazing.png"} {
			if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("delete --execute: n aborts, --yes is refused", func(t *testing.T) {
		objects, db := e.objects(), e.dbState()
		c := e.console("delete-media-file", "--execute")
		c.expect("EXECUTE")
		c.expect("Wiki")
		c.send("\r")
		c.expect("Search by")
		c.send("\r")
		c.expect("Title")
		c.send("To be deleted.png\r")
		c.expect("match 2 of 2")
		c.expect("(y/n)")
		c.send("n\r")
		c.expect("aborted by the operator")
		if code := c.wait(); code != 5 {
			t.Fatalf("exit %d, want 5 (aborted)", code)
		}
		c = e.console("delete-media-file", "--execute", "--yes", "--title", "To_be_deleted.png")
		c.expect("--yes is refused for --execute on a terminal")
		if code := c.wait(); code != 2 {
			t.Fatalf("exit %d, want 2", code)
		}
		if !slices.Equal(objects, e.objects()) || db != e.dbState() {
			t.Error("an aborted delete changed MinIO or MariaDB")
		}
	})

	t.Run("delete --execute: the log disk fills while the question is asked", func(t *testing.T) {
		objects, db := e.objects(), e.dbState()
		logDir := testsvc.SmallDisk(t, 256<<10)
		c := e.console("delete-media-file", "--execute", "--logdir", logDir, "--title", "To_be_deleted.png")
		c.expect("match 2 of 2")
		c.expect("(y/n)")
		testsvc.FillDisk(t, logDir)
		c.send("y\r")
		c.expect("no space left on device")
		if code := c.wait(); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !slices.Equal(objects, e.objects()) || db != e.dbState() {
			t.Error("a delete whose log could not be written changed MinIO or MariaDB")
		}
	})
}
