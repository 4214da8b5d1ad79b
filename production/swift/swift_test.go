package swift_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/swift"
)

func metaOf(b []byte, contentType string) production.Meta {
	m, s := md5.Sum(b), sha1.Sum(b)
	return production.Meta{Size: int64(len(b)), MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s[:]), ContentType: contentType}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// objectHeaders are the headers Swift stores with an object and returns on
// HEAD, without those that tell when and which request (they differ between
// any two writes).
func objectHeaders(t *testing.T, c *ncw.Connection, container, name string) http.Header {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, c.StorageUrl+"/"+container+"/"+escapePath(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", c.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s/%s: %s", container, name, resp.Status)
	}
	h := resp.Header.Clone()
	for _, k := range []string{"X-Timestamp", "Last-Modified", "X-Trans-Id", "X-Openstack-Request-Id", "Date"} {
		h.Del(k)
	}
	return h
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// TestIdenticalToMediaWikis writes every version of the shared Swift wiki
// (read only) into a test wiki's containers, under the same names, and
// checks that Swift then holds the same bytes with the same headers as the
// objects MediaWiki wrote: MediaWiki cannot tell them apart.
func TestIdenticalToMediaWikis(t *testing.T) {
	t.Parallel()
	w := testsvc.SharedSwiftWiki(t)
	ctx := ctxT(t)
	s, err := newStore(ctx, t, w.Swift, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := w.Swift.Connection(t)
	test := testLayout(t, w.Swift, w.Shards)
	mwPrefix, testPrefix := w.WikiID()+"-", test.Project+"-"+test.Lang+"-"
	done := map[string]bool{}
	n := 0
	for _, v := range w.Summary(t).Versions() {
		if v.Swift == nil {
			t.Fatalf("the summary of %s gives no Swift place for %s %s", w.Dir, v.Title, v.Path)
		}
		mc, name := v.Swift.Container, v.Swift.Object
		if done[mc+"/"+name] { // deleted versions with the same bytes share one object
			continue
		}
		done[mc+"/"+name] = true
		tc := testPrefix + strings.TrimPrefix(mc, mwPrefix)
		rc, _, err := s.Open(ctx, mc, name)
		if err != nil {
			t.Fatalf("read MediaWiki's %s/%s: %v", mc, name, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := metaOf(body, v.MIME)
		if m.SHA1 != v.SHA1 {
			t.Fatalf("MediaWiki's %s/%s has sha1 %s, the summary %s", mc, name, m.SHA1, v.SHA1)
		}
		if err := s.CreateContainer(ctx, tc); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, tc, name, bytes.NewReader(body), m); err != nil {
			t.Fatalf("Put %s/%s: %v", tc, name, err)
		}
		theirs, ours := objectHeaders(t, conn, mc, name), objectHeaders(t, conn, tc, name)
		if len(theirs) < 4 || !equalHeaders(theirs, ours) {
			t.Errorf("%s (%s):\nMediaWiki's %s/%s: %v\nours        %s/%s: %v", v.Title, v.Status, mc, name, theirs, tc, name, ours)
		}
		_, sums, err := production.Checksum(ctx, s, tc, name)
		if err != nil || sums.SHA1 != v.SHA1 {
			t.Errorf("%s/%s reads back %+v, %v; want sha1 %s", tc, name, sums, err, v.SHA1)
		}
		n++
	}
	if n < 40 {
		t.Errorf("compared %d objects; the test wiki has 47 versions", n)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// recorder is a proxy in front of the real Swift that records the headers
// of every PUT of an object.
type recorder struct {
	mu   sync.Mutex
	puts []*http.Request
}

func (r *recorder) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut && strings.Count(req.URL.Path, "/") >= 4 {
			r.mu.Lock()
			r.puts = append(r.puts, req.Clone(context.Background()))
			r.mu.Unlock()
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

// TestPutSendsMediaWikisHeaders checks the request itself: one PUT with a
// Content-Length (not chunked) and, of what Swift stores, exactly
// Content-Type, ETag and X-Object-Meta-Sha1base36, as SwiftFileBackend
// sends (API-NOTES.md, section 10). No X-Object-Meta-Mtime.
func TestPutSendsMediaWikisHeaders(t *testing.T) {
	sw := testsvc.SwiftService(t)
	ctx := ctxT(t)
	var rec recorder
	sw.AuthURL = rec.start(t, sw.AuthURL) // tempauth then names the proxy as the storage URL
	s, err := newStore(ctx, t, sw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.String(), "swift http://127.0.0.1:") || strings.Contains(s.String(), sw.StorageURL) {
		t.Fatalf("the store does not go through the proxy: %s", s)
	}
	c := testLayout(t, sw, true)
	container, name := c.Public("Simple.png")
	if err := s.CreateContainer(ctx, container); err != nil {
		t.Fatal(err)
	}
	body := []byte("\x89PNG the bytes")
	m := metaOf(body, "image/png")
	if err := s.Put(ctx, container, name, bytes.NewReader(body), m); err != nil {
		t.Fatal(err)
	}
	if len(rec.puts) != 1 {
		t.Fatalf("%d PUTs of an object, want 1", len(rec.puts))
	}
	req := rec.puts[0]
	if req.ContentLength != m.Size || len(req.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v; want %d and none", req.ContentLength, req.TransferEncoding, m.Size)
	}
	b36, _ := mediawiki.SHA1HexToBase36(m.SHA1)
	want := http.Header{"Content-Type": {"image/png"}, "Etag": {m.MD5}, "X-Object-Meta-Sha1base36": {b36}}
	got := req.Header.Clone()
	for _, k := range []string{"X-Auth-Token", "User-Agent", "Expect", "Accept-Encoding", "X-Forwarded-For", "Content-Length"} {
		got.Del(k)
	}
	if !equalHeaders(got, want) {
		t.Errorf("PUT headers %v, want exactly %v (and the transport's own)", got, want)
	}
}

// TestCreateContainerACLs checks that a new container gets MediaWiki's
// ACLs for its zone, the same as the containers MediaWiki created for the
// shared wiki, and that an existing container is left alone.
func TestCreateContainerACLs(t *testing.T) {
	t.Parallel()
	w := testsvc.SharedSwiftWiki(t)
	ctx := ctxT(t)
	s, err := newStore(ctx, t, w.Swift, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := w.Swift.Connection(t)
	c := testLayout(t, w.Swift, true)
	acl := func(container string) [2]string {
		t.Helper()
		_, h, err := conn.Container(ctx, container)
		if err != nil {
			t.Fatalf("HEAD %s: %v", container, err)
		}
		return [2]string{h["X-Container-Read"], h["X-Container-Write"]}
	}
	for _, tc := range []struct{ ours, theirs string }{
		{pick(c.Public("Simple.png")), pick(wikiLayout(w).Public("Simple.png"))},
		{pick(c.Deleted("rjrzta2uecby71eo37q33rfc4bdtzyv.png")), pick(wikiLayout(w).Deleted("rjrzta2uecby71eo37q33rfc4bdtzyv.png"))},
	} {
		if err := s.CreateContainer(ctx, tc.ours); err != nil {
			t.Fatal(err)
		}
		if got, want := acl(tc.ours), acl(tc.theirs); got != want {
			t.Errorf("%s got ACLs %q, MediaWiki gave %s %q", tc.ours, got, tc.theirs, want)
		}
	}
	other := pick(c.Public("Other.png"))
	if err := conn.ContainerCreate(ctx, other, ncw.Headers{"X-Container-Read": "x:y", "X-Container-Write": "x:y"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateContainer(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got := acl(other); got != [2]string{"x:y", "x:y"} {
		t.Errorf("CreateContainer changed the ACLs of an existing container to %q", got)
	}
	// Without ACLs configured, no container is made.
	bare, err := swift.New(ctx, swift.Config{AuthURL: w.Swift.AuthURL, User: w.Swift.User, Key: config.NewSecret(w.Swift.Key)})
	if err != nil {
		t.Fatal(err)
	}
	third := pick(c.Public("Third.png"))
	if err := bare.CreateContainer(ctx, third); err == nil || !strings.Contains(err.Error(), "production.acl") {
		t.Errorf("CreateContainer without ACLs: %v, want a refusal naming production.acl", err)
	}
	if _, _, err := conn.Container(ctx, third); !errors.Is(err, ncw.ContainerNotFound) {
		t.Errorf("HEAD %s: %v, want no such container", third, err)
	}
}

func pick(container, _ string) string { return container }

// TestLoginErrors checks that each kind of wrong access is caught by New
// with a message that says what to check.
func TestLoginErrors(t *testing.T) {
	sw := testsvc.SwiftService(t)
	ctx := ctxT(t)
	u, _ := url.Parse(sw.AuthURL)
	for _, tc := range []struct {
		name   string
		cfg    swift.Config
		denied bool
		hint   string
	}{
		{"wrong key", swift.Config{AuthURL: sw.AuthURL, User: sw.User, Key: config.NewSecret("wrong")}, true, "check the user and the key"},
		{"unknown user", swift.Config{AuthURL: sw.AuthURL, User: "test:nobody", Key: config.NewSecret(sw.Key)}, true, "check the user and the key"},
		{"nothing listens", swift.Config{AuthURL: "http://127.0.0.1:1/auth/v1.0", User: sw.User, Key: config.NewSecret(sw.Key)}, false, "check the auth URL"},
		{"no auth version in the path", swift.Config{AuthURL: u.Scheme + "://" + u.Host + "/nope", User: sw.User, Key: config.NewSecret(sw.Key)}, false, "check the auth URL"},
		{"not the auth path", swift.Config{AuthURL: u.Scheme + "://" + u.Host + "/nope/v1.0", User: sw.User, Key: config.NewSecret(sw.Key)}, false, "check the auth URL"},
		{"no key", swift.Config{AuthURL: sw.AuthURL, User: sw.User}, false, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := swift.New(ctx, tc.cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", s)
			}
			t.Log(err)
			if errors.Is(err, production.ErrAccessDenied) != tc.denied || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("New: %v; want ErrAccessDenied %v and a hint %q", err, tc.denied, tc.hint)
			}
			if strings.Contains(err.Error(), sw.Key) && tc.cfg.Key.Reveal() != "" && sw.Key != "" {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

// TestServedByMediaWiki loses a current, an archived and a deleted version
// of a fresh Swift-backed wiki, and a whole shard container, with Swift's
// own client, then puts them back through the store: MediaWiki serves each
// again (img_auth.php streams it from Swift; Special:Undelete reads the
// deleted zone) with the wiki's sha1.
func TestServedByMediaWiki(t *testing.T) {
	t.Parallel()
	w := testsvc.FreshSwiftWiki(t, "prod-swift-served", 0, false)
	ctx := ctxT(t)
	s, err := newStore(ctx, t, w.Swift, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := w.Swift.Connection(t)
	base := strings.TrimSuffix(w.API, "api.php") + "images/"
	mw, err := mediawiki.New(mediawiki.Config{APIURL: w.API, UserAgent: "mediabackups-tests", WebUser: w.AdminUser, WebPassword: w.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	type lost struct {
		v    testsvc.SummaryVersion
		body []byte
	}
	var gone []lost
	wanted := map[string]bool{"public File:Simple.png": true, "archived File:Wow!Amazing.png": true, "deleted File:Deleted photo.jpeg": true}
	for _, v := range w.Summary(t).Versions() {
		if !wanted[v.Status+" "+v.Title] {
			continue
		}
		rc, _, err := s.Open(ctx, v.Swift.Container, v.Swift.Object)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		gone = append(gone, lost{v, body})
		if err := conn.ObjectDelete(ctx, v.Swift.Container, v.Swift.Object); err != nil {
			t.Fatal(err)
		}
	}
	if len(gone) != len(wanted) {
		t.Fatalf("found %d of the %d versions to lose", len(gone), len(wanted))
	}
	// A lost shard: every object in it, then the container itself.
	shard := pick(wikiLayout(w).Public("Percent 100% sure.png"))
	shardObjs, err := conn.ObjectsAll(ctx, shard, nil)
	if err != nil || len(shardObjs) == 0 {
		t.Fatalf("list %s: %v, %d objects", shard, err, len(shardObjs))
	}
	for _, o := range shardObjs {
		for _, v := range w.Summary(t).Versions() {
			if v.Swift.Container == shard && v.Swift.Object == o.Name {
				rc, _, err := s.Open(ctx, shard, o.Name)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(rc)
				rc.Close()
				gone = append(gone, lost{v, body})
				break
			}
		}
		if err := conn.ObjectDelete(ctx, shard, o.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.ContainerDelete(ctx, shard); err != nil {
		t.Fatal(err)
	}

	get := func(v testsvc.SummaryVersion) (int, string, string) {
		t.Helper()
		if v.Status == "deleted" {
			rc, _, err := mw.DownloadDeleted(ctx, v.Title, v.StorageKey)
			if err != nil {
				return 404, "", err.Error()
			}
			defer rc.Close()
			sums, err := production.Hash(rc)
			if err != nil {
				t.Fatal(err)
			}
			return 200, "", sums.SHA1
		}
		resp, err := http.Get(base + escapePath(v.Path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sums, _ := production.Hash(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), sums.SHA1
	}
	for _, l := range gone {
		if code, _, _ := get(l.v); code == 200 {
			t.Fatalf("%s %s is still served after its object was deleted", l.v.Status, l.v.Title)
		}
	}
	// Put them back, as a restore would: the container first, with
	// MediaWiki's ACLs.
	var wg sync.WaitGroup
	for _, l := range gone {
		if err := s.Put(ctx, l.v.Swift.Container, l.v.Swift.Object, bytes.NewReader(l.body), metaOf(l.body, l.v.MIME)); !errors.Is(err, production.ErrContainerNotFound) && l.v.Swift.Container == shard {
			t.Fatalf("Put into the lost container: %v, want ErrContainerNotFound", err)
		}
	}
	if err := s.CreateContainer(ctx, shard); err != nil {
		t.Fatal(err)
	}
	for _, l := range gone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(ctx, l.v.Swift.Container, l.v.Swift.Object, bytes.NewReader(l.body), metaOf(l.body, l.v.MIME)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var served []string
	for _, l := range gone {
		code, ct, sha1 := get(l.v)
		if code != 200 || sha1 != l.v.SHA1 || (ct != "" && ct != l.v.MIME) {
			t.Errorf("%s %s after the restore: HTTP %d, %s, sha1 %s; want 200, %s, %s", l.v.Status, l.v.Title, code, ct, sha1, l.v.MIME, l.v.SHA1)
		}
		served = append(served, l.v.Status+" "+l.v.Title)
	}
	sort.Strings(served)
	t.Logf("served again: %q", served)
	_, h, err := conn.Container(ctx, shard)
	if err != nil || h["X-Container-Read"] != ".r:*,test:tester" || h["X-Container-Write"] != "test:tester" {
		t.Errorf("the recreated %s has ACLs %q / %q (%v), want MediaWiki's", shard, h["X-Container-Read"], h["X-Container-Write"], err)
	}
}
