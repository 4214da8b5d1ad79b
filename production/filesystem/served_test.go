package filesystem_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
)

// TestServedByMediaWiki loses a current and an archived version of a fresh
// disk wiki, and its whole deleted zone, with rm, then puts them back
// through the store: MediaWiki serves each again with the wiki's sha1, and
// every restored file has the mode and owner the lost one had.
func TestServedByMediaWiki(t *testing.T) {
	t.Parallel()
	w := testsvc.FreshWiki(t, "prod-fs-served", 5, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root := filepath.Join(w.Dir, "images")
	s := newStore(t, root, "", 0)
	mw, err := mediawiki.New(mediawiki.Config{APIURL: w.API, UserAgent: "mediabackups-tests", WebUser: w.AdminUser, WebPassword: w.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	type lost struct {
		v         testsvc.SummaryVersion
		container string
		name      string
		body      []byte
		fi        os.FileInfo
	}
	var gone []lost
	for _, v := range w.Summary(t).Versions() {
		c, name := public, v.Path
		if rest, ok := strings.CutPrefix(v.Path, "deleted/"); ok {
			c, name = deleted, rest
		} else if v.Title != "File:Simple.png" && v.Title != "File:Wow!Amazing.png" {
			continue
		}
		p := filepath.Join(root, v.Path)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		gone = append(gone, lost{v, c, name, body, fi})
	}
	for _, l := range gone {
		if l.container == public {
			if err := os.Remove(filepath.Join(root, l.v.Path)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.RemoveAll(filepath.Join(root, "deleted")); err != nil {
		t.Fatal(err)
	}
	get := func(v testsvc.SummaryVersion) (int, string) {
		t.Helper()
		if v.Status == "deleted" || v.Hidden {
			var rc io.ReadCloser
			var err error
			if v.Hidden {
				rc, _, err = mw.DownloadHidden(ctx, v.Title, v.ArchiveName)
			} else {
				rc, _, err = mw.DownloadDeleted(ctx, v.Title, v.StorageKey)
			}
			if err != nil {
				return 404, err.Error()
			}
			defer rc.Close()
			sums, err := production.Hash(rc)
			if err != nil {
				t.Fatal(err)
			}
			return 200, sums.SHA1
		}
		parts := strings.Split(v.Path, "/")
		for i := range parts {
			parts[i] = url.PathEscape(parts[i])
		}
		resp, err := http.Get(strings.TrimSuffix(w.API, "api.php") + "images/" + strings.Join(parts, "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sums, _ := production.Hash(resp.Body)
		return resp.StatusCode, sums.SHA1
	}
	for _, l := range gone {
		if code, _ := get(l.v); code == 200 {
			t.Fatalf("%s %s (%s) is still served after it was removed", l.v.Status, l.v.Title, l.v.Path)
		}
	}
	for _, l := range gone {
		err := s.Put(ctx, l.container, l.name, bytes.NewReader(l.body), meta(l.body))
		if l.container == deleted && !errors.Is(err, production.ErrContainerNotFound) {
			t.Fatalf("Put into the lost deleted zone: %v, want ErrContainerNotFound", err)
		}
	}
	if err := s.CreateContainer(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	for _, l := range gone {
		if err := s.Put(ctx, l.container, l.name, bytes.NewReader(l.body), meta(l.body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range gone {
		if code, sha1 := get(l.v); code != 200 || sha1 != l.v.SHA1 {
			t.Errorf("%s %s after the restore: HTTP %d, sha1 %s; want 200, %s", l.v.Status, l.v.Title, code, sha1, l.v.SHA1)
		}
		m, u, g := owner(t, filepath.Join(root, l.v.Path))
		st := l.fi.Sys().(*syscall.Stat_t)
		lm, lu, lg := l.fi.Mode(), int(st.Uid), int(st.Gid)
		if m != lm || u != lu || g != lg {
			t.Errorf("%s: mode %v owner %d:%d, the lost file had %v %d:%d", l.v.Path, m, u, g, lm, lu, lg)
		}
	}
}
