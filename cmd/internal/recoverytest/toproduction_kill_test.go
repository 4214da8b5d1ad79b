package recoverytest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// A large restore into production killed with SIGKILL, then run again:
// production never holds a partial object, and ends complete.

// killUpload is the upload date of every version of the kill test, so that
// one search selects them all.
const killUpload = "20250301000000"

// corpus is generated files, served over HTTP as "production" for the
// backup, by title.
type corpus map[string][]byte

func newCorpus(small, smallSize, large, largeSize int) corpus {
	c := corpus{}
	for i := range small + large {
		n := smallSize
		// The large files sit a quarter in, where the kill lands.
		if i >= small/4 && i < small/4+large {
			n = largeSize
		}
		b := make([]byte, n)
		rand.Read(b)
		c[fmt.Sprintf("Kill_%04d.bin", i)] = b
	}
	return c
}

func (c corpus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := c[strings.TrimPrefix(r.URL.Path, "/f/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// register records every file of the corpus as a pending current version
// of wiki, in its production place under layout.
func (c corpus) register(t *testing.T, e *env, wiki, base string, layout mediawiki.Containers) {
	t.Helper()
	ctx := context.Background()
	s, err := metadata.Open(ctx, e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.EnsureWiki(ctx, wiki, "public")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := time.Parse("20060102150405", killUpload)
	var vs []metadata.File
	for title, b := range c {
		sum := sha1.Sum(b)
		container, path := layout.Public(title)
		vs = append(vs, metadata.File{Title: title, Container: container, Path: path, SourceURL: base + "/f/" + title,
			SHA1: hex.EncodeToString(sum[:]), Size: int64(len(b)), MIME: "application/octet-stream", Status: metadata.Public, UploadDate: up})
	}
	if _, err := s.SyncVersions(ctx, id, vs, "test"); err != nil {
		t.Fatal(err)
	}
}

// want returns the md5 and size of every file at its production place,
// by "container/path".
func (c corpus) want(layout mediawiki.Containers) map[string]entry {
	out := map[string]entry{}
	for title, b := range c {
		container, path := layout.Public(title)
		sum := md5.Sum(b)
		out[container+"/"+path] = entry{Size: int64(len(b)), MD5: hex.EncodeToString(sum[:])}
	}
	return out
}

// killSide is one production store of the kill test.
type killSide struct {
	wiki   string
	layout mediawiki.Containers
	list   func(t *testing.T) map[string]entry // every object, complete or not
}

// settled lists production until two listings half a second apart hold as
// many objects, for at most 20 s, and returns the last. Swift may commit an upload that
// was in flight when its client died after the client is gone, and
// replays a container update that timed out under load within its object
// updater's interval (10 s in the test environment): a listing taken at
// once can miss both.
func settled(t *testing.T, list func(t *testing.T) map[string]entry) map[string]entry {
	t.Helper()
	got := list(t)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		next := list(t)
		if len(next) == len(got) {
			return next
		}
		got = next
	}
	return got
}

func TestRestoreToProductionKilled(t *testing.T) {
	const parallel = 4
	t.Parallel()
	sw := testsvc.SwiftService(t)
	files := newCorpus(240, 64<<10, 4, 12<<20)
	srv := httptest.NewServer(files)
	defer srv.Close()

	e := &env{t: t, Deployment: testsvc.NewDeployment(t, 3)}
	e.RecoveryUser()
	project, lang := sw.TestWiki(t)
	swiftLayout := mediawiki.Containers{Project: project, Lang: lang}
	diskLayout := mediawiki.Containers{Project: "wikipedia", Lang: "killdisk"}
	uploads := filepath.Join(e.Dir, "images")
	key := e.Secret("swift-key", sw.Key)
	site := testsvc.Wiki{API: srv.URL + "/api.php"}
	noLogin := func(w *config.Wiki) { w.User, w.PasswordFile, w.WebUser, w.WebPasswordFile = "", "", "", "" }
	e.WriteConfig(nil,
		testsvc.DeployedWiki{Name: "killswift", Type: "public", Wiki: site, Tune: func(w *config.Wiki) {
			noLogin(w)
			w.Project, w.Lang = project, lang
			w.Production = &config.Production{Type: config.ProductionSwift, AuthURL: sw.AuthURL, User: sw.User, KeyFile: key, ACL: swiftACL}
		}},
		testsvc.DeployedWiki{Name: "killdisk", Type: "public", Wiki: site, Tune: func(w *config.Wiki) {
			noLogin(w)
			w.Production = &config.Production{Type: config.ProductionFilesystem, Root: uploads}
		}})
	e.mustRun("mediabackups", "schema", "apply")
	files.register(t, e, "killswift", srv.URL, swiftLayout)
	files.register(t, e, "killdisk", srv.URL, diskLayout)
	e.mustRun("mediabackups", "backup", "--workers", "4")

	conn := sw.Connection(t)
	sides := []killSide{
		{wiki: "killswift", layout: swiftLayout, list: func(t *testing.T) map[string]entry {
			out := map[string]entry{}
			names, err := conn.ContainerNamesAll(context.Background(), &ncw.ContainersOpts{Prefix: project + "-" + lang + "-local-"})
			if err != nil {
				t.Error(err)
				return nil
			}
			for _, c := range names {
				objs, err := conn.ObjectsAll(context.Background(), c, nil)
				if err != nil {
					t.Error(err)
					return nil
				}
				for _, o := range objs {
					out[c+"/"+o.Name] = entry{Size: o.Bytes, MD5: o.Hash}
				}
			}
			return out
		}},
		{wiki: "killdisk", layout: diskLayout, list: func(t *testing.T) map[string]entry {
			out := map[string]entry{}
			container, _ := diskLayout.Public("X")
			filepath.WalkDir(uploads, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".mbtmp-") {
					return nil // the store's temporary files are not objects
				}
				b, err := os.ReadFile(p)
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				if err != nil {
					t.Error(err)
					return nil
				}
				rel, _ := filepath.Rel(uploads, p)
				sum := md5.Sum(b)
				out[container+"/"+rel] = entry{Size: int64(len(b)), MD5: hex.EncodeToString(sum[:])}
				return nil
			})
			return out
		}},
	}
	for _, side := range sides {
		t.Run(side.wiki, func(t *testing.T) {
			want := files.want(side.layout)
			args := []string{"--json", "--to-production", "--execute", "--yes", "--create-containers", "--parallel", fmt.Sprint(parallel),
				"--wiki", side.wiki, "--upload-date", killUpload}
			// check fails for any object production holds that is not
			// exactly a file of the corpus at its place.
			check := func(got map[string]entry) {
				for k, v := range got {
					if w, ok := want[k]; !ok || w.Size != v.Size || w.MD5 != v.MD5 {
						t.Errorf("production holds %s with %d bytes, md5 %s: not the whole file (%d bytes, md5 %s)", k, v.Size, v.MD5, w.Size, w.MD5)
					}
				}
			}
			// interrupt starts the restore, polls production until it
			// holds at least n files (checking every object each time),
			// then sends sig and waits for the restore to end. It returns
			// what production holds then.
			interrupt := func(sig os.Signal, n int) (map[string]entry, *os.ProcessState) {
				cmd := e.command("restore-media-file", args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				polls, at := 0, 0
				for {
					got := side.list(t)
					check(got)
					polls++
					select {
					case err := <-exited:
						t.Fatalf("the restore ended (%v) before %v; make the corpus larger\n%s", err, sig, stderr.String())
					default:
					}
					if len(got) >= n {
						at = len(got)
						if err := cmd.Process.Signal(sig); err != nil {
							t.Fatal(err)
						}
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				<-exited
				after := settled(t, side.list)
				check(after)
				t.Logf("%s, %v: %d polls, %d objects at the signal, %d after", side.wiki, sig, polls, at, len(after))
				if len(after) >= len(want) {
					t.Fatalf("the restore interrupted by %v wrote all %d files", sig, len(want))
				}
				if sig == os.Interrupt && !strings.Contains(stderr.String(), "interrupted") {
					t.Errorf("after SIGINT the restore does not say it was interrupted:\n%s", stderr.String())
				}
				return after, cmd.ProcessState
			}
			_, st := interrupt(os.Interrupt, len(want)/5)
			if st.ExitCode() != 130 {
				t.Errorf("after SIGINT the restore exited %d, want 130", st.ExitCode())
			}
			after, st := interrupt(os.Kill, len(want)/2)
			if st.ExitCode() != -1 {
				t.Fatalf("the restore was not killed: %v", st)
			}

			// The same command again finishes the job.
			r := e.run("restore-media-file", args...)
			if r.code != 0 {
				t.Fatalf("the second run: %s", r)
			}
			res := parseProductionResult(t, r)
			// Every file production held is skipped, not written again. An
			// upload whose body was sent before the kill may still be
			// committed by the server after the listing settled: at most
			// one per parallel upload.
			if res.Skipped < len(after) || res.Skipped > len(after)+parallel ||
				res.Written+res.Skipped != len(want) || len(res.Failed) != 0 {
				t.Errorf("the second run wrote %d, skipped %d and failed %d; production held %d of %d after the kill",
					res.Written, res.Skipped, len(res.Failed), len(after), len(want))
			}
			final := settled(t, side.list)
			check(final)
			if len(final) != len(want) {
				t.Errorf("production holds %d of the %d files after the second run", len(final), len(want))
			}
		})
	}
}
