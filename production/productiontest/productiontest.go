// Package productiontest is the conformance suite of production.Store: one
// set of tests that every kind of store passes, run against the real
// thing (a real OpenStack Swift, a real directory), never a fake. It
// checks each promise of the production package's Guarantees: typed errors
// for missing containers and objects, streaming listings in byte order with
// resumption, exact round trips of bytes and metadata, atomic and verified
// writes that leave nothing behind when the bytes are wrong, the reader
// fails, the context is cancelled or the writer is killed with SIGKILL, and
// refusal of names MediaWiki never makes.
//
// A store's test calls Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		productiontest.Run(t, productiontest.Harness{Setup: …, Open: …})
//	}
//
// The kill -9 test runs the same test binary again as a child process,
// with -test.run selecting the test that called Run; Run notices that it is
// the child before it calls Setup. The test function must therefore do
// nothing before Run that it would regret doing twice.
package productiontest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
)

// Harness is what Run needs of one kind of store.
type Harness struct {
	// Setup prepares an empty place for the store under test: none of the
	// layout's containers may exist. It returns how the throwaway wiki's
	// containers are named (the project must start with "mbtest") and a
	// state string from which Open makes the store. It removes what the
	// suite made when the test ends (t.Cleanup).
	Setup func(t *testing.T) (layout mediawiki.Containers, state string)
	// Open returns the store under test. Run calls it in the test and in a
	// child process, with the layout and state that Setup returned.
	Open func(ctx context.Context, layout mediawiki.Containers, state string) (production.Store, error)
}

// childEnv carries the kill -9 test's job to the child process.
const childEnv = "MEDIABACKUPS_PRODUCTIONTEST_CHILD"

// readyLine is what the child prints once half of an object is on its way.
const readyLine = "PRODUCTIONTEST-READY"

type childJob struct {
	Test      string               `json:"test"`
	Layout    mediawiki.Containers `json:"layout"`
	State     string               `json:"state"`
	Container string               `json:"container"`
	Names     []string             `json:"names"`
	Size      int64                `json:"size"`
}

// Run runs the suite against the store h gives.
func Run(t *testing.T, h Harness) {
	if v := os.Getenv(childEnv); v != "" {
		runChild(t, h, v)
		return
	}
	layout, state := h.Setup(t)
	if !strings.HasPrefix(layout.Project, "mbtest") {
		t.Fatalf("productiontest: refusing containers of project %q: a test project starts with mbtest", layout.Project)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	s, err := h.Open(ctx, layout, state)
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	e := &env{t: t, run: t.Name(), ctx: ctx, s: s, layout: layout, state: state, h: h, data: testData(layout)}
	// The order matters: later tests use the containers and objects that
	// earlier ones made.
	t.Run("MissingContainer", e.missingContainer)
	t.Run("CreateContainer", e.createContainer)
	t.Run("PutAndRead", e.putAndRead)
	t.Run("List", e.list)
	t.Run("Overwrite", e.overwrite)
	t.Run("PutNew", e.putNew)
	t.Run("Mismatch", e.mismatch)
	t.Run("ReaderError", e.readerError)
	t.Run("Cancel", e.cancel)
	t.Run("Atomic", e.atomic)
	t.Run("InvalidNames", e.invalidNames)
	t.Run("InvalidMeta", e.invalidMeta)
	t.Run("Parallel", e.parallel)
	t.Run("Kill9", e.kill9)
}

type env struct {
	t      *testing.T
	run    string // the name of the test that called Run
	ctx    context.Context
	s      production.Store
	layout mediawiki.Containers
	state  string
	h      Harness
	data   []object
	mu     sync.Mutex
	// want is what each container must hold: name → bytes.
	want map[string]map[string][]byte
}

// object is one version the suite writes.
type object struct {
	container, name, title string
	body                   []byte
	contentType            string
}

func meta(body []byte, contentType string) production.Meta {
	m, s := md5.Sum(body), sha1.Sum(body)
	return production.Meta{Size: int64(len(body)), MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s[:]), ContentType: contentType}
}

func (o object) meta() production.Meta { return meta(o.body, o.contentType) }

// titles are names MediaWiki accepts that are hard on URLs and paths.
var titles = []string{
	"Simple.png", "Ελληνικά_γράμματα.png", "Wow!Amazing.png", "Comma,_semicolon;_(parens).png",
	"Percent_100%_sure.png", "Emoji_😀_smile.png", "What?_A_question.jpg", "O'Brien's_photo.jpg",
	"Plus+and&amp=.png", "中文_名前.gif", "Space_like_%20_this.svg", "Hash-like_#1.png",
}

// testData makes a current, an archived and a deleted version of every
// title, with different sizes (one empty) and contents.
func testData(c mediawiki.Containers) []object {
	var out []object
	for i, title := range titles {
		ct := "image/png"
		switch {
		case strings.HasSuffix(title, ".jpg"):
			ct = "image/jpeg"
		case strings.HasSuffix(title, ".gif"):
			ct = "image/gif"
		case strings.HasSuffix(title, ".svg"):
			ct = "image/svg+xml"
		}
		body := func(kind string, n int) []byte {
			return bytes.Repeat([]byte(fmt.Sprintf("%s %s %d|", kind, title, i)), n)
		}
		cur := body("current", 1+i*37)
		if i == 3 {
			cur = nil // an empty object
		}
		pc, pp := c.Public(title)
		out = append(out, object{container: pc, name: pp, title: title, body: cur, contentType: ct})
		old := body("archived", 3+i*11)
		ac, ap := c.Archived(title, "20250102090000!"+title)
		out = append(out, object{container: ac, name: ap, title: title, body: old, contentType: ct})
		del := body("deleted", 2+i*23)
		sum := sha1.Sum(del)
		key, err := mediawiki.StorageKey(hex.EncodeToString(sum[:]), title)
		if err != nil {
			panic(err)
		}
		dc, dp := c.Deleted(key)
		out = append(out, object{container: dc, name: dp, title: title, body: del, contentType: ct})
	}
	return out
}

func (e *env) containers() []string {
	var cs []string
	for _, o := range e.data {
		if !slices.Contains(cs, o.container) {
			cs = append(cs, o.container)
		}
	}
	sort.Strings(cs)
	return cs
}

func (e *env) prefix() string { return e.layout.Project + "-" + e.layout.Lang + "-local-" }

func (e *env) record(container, name string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.want == nil {
		e.want = map[string]map[string][]byte{}
	}
	if e.want[container] == nil {
		e.want[container] = map[string][]byte{}
	}
	e.want[container][name] = body
}

func (e *env) put(t *testing.T, container, name string, body []byte, ct string) {
	t.Helper()
	if err := e.s.Put(e.ctx, container, name, bytes.NewReader(body), meta(body, ct)); err != nil {
		t.Fatalf("Put %s/%s: %v", container, name, err)
	}
	e.record(container, name, body)
}

// listAll lists a container.
func (e *env) listAll(t *testing.T, container, after string) []production.Object {
	t.Helper()
	var got []production.Object
	if err := e.s.Objects(e.ctx, container, after, func(o production.Object) error {
		got = append(got, o)
		return nil
	}); err != nil {
		t.Fatalf("Objects(%s, after %q): %v", container, after, err)
	}
	return got
}

// checkHolds checks that container holds exactly e.want[container], byte
// for byte.
func (e *env) checkHolds(t *testing.T, container string) {
	t.Helper()
	got := e.listAll(t, container, "")
	var names, wantNames []string
	for _, o := range got {
		names = append(names, o.Name)
	}
	for n := range e.want[container] {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("container %s lists\n  %q\nwant\n  %q", container, names, wantNames)
	}
	for _, o := range got {
		body := e.want[container][o.Name]
		if o.Size != int64(len(body)) {
			t.Errorf("%s/%s: listed size %d, want %d", container, o.Name, o.Size, len(body))
		}
		if o.MD5 != "" && o.MD5 != meta(body, "x/y").MD5 {
			t.Errorf("%s/%s: listed md5 %s, want %s", container, o.Name, o.MD5, meta(body, "x/y").MD5)
		}
		_, sums, err := production.Checksum(e.ctx, e.s, container, o.Name)
		if err != nil {
			t.Fatalf("Checksum %s/%s: %v", container, o.Name, err)
		}
		if m := meta(body, "x/y"); sums.Size != m.Size || sums.MD5 != m.MD5 || sums.SHA1 != m.SHA1 {
			t.Errorf("%s/%s holds %+v, want size %d md5 %s sha1 %s", container, o.Name, sums, m.Size, m.MD5, m.SHA1)
		}
	}
}

func (e *env) missingContainer(t *testing.T) {
	o := e.data[0]
	check := func(what string, err error) {
		t.Helper()
		var cnf *production.ContainerNotFoundError
		if !errors.As(err, &cnf) || cnf.Container != o.container || !errors.Is(err, production.ErrContainerNotFound) {
			t.Errorf("%s on a missing container: %v, want a *ContainerNotFoundError for %s", what, err, o.container)
		}
		if err != nil && !strings.Contains(err.Error(), o.container) {
			t.Errorf("%s: the error %q does not name the container", what, err)
		}
	}
	check("Objects", e.s.Objects(e.ctx, o.container, "", func(production.Object) error { return nil }))
	_, err := e.s.Stat(e.ctx, o.container, o.name)
	check("Stat", err)
	_, _, err = e.s.Open(e.ctx, o.container, o.name)
	check("Open", err)
	// Twice, and then a Stat: a server that answers a PUT before reading
	// its body may close the connection, and the next request must not
	// fail for that.
	for range 2 {
		check("Put", e.s.Put(e.ctx, o.container, o.name, bytes.NewReader(o.body), o.meta()))
		check("PutNew", e.s.PutNew(e.ctx, o.container, o.name, bytes.NewReader(o.body), o.meta()))
	}
	_, err = e.s.Stat(e.ctx, o.container, o.name)
	check("Stat after Put", err)
	var cs []string
	if err := e.s.Containers(e.ctx, e.prefix(), func(c string) error { cs = append(cs, c); return nil }); err != nil {
		t.Fatalf("Containers: %v", err)
	}
	if len(cs) != 0 {
		t.Errorf("Containers(%s) = %q after a Put into a missing container; no store may create one on its own", e.prefix(), cs)
	}
}

func (e *env) createContainer(t *testing.T) {
	want := e.containers()
	// The public zone first: on disk, the deleted zone's directory may be
	// inside the public one's.
	for _, c := range want {
		if strings.Contains(c, "-local-public") {
			if err := e.s.CreateContainer(e.ctx, c); err != nil {
				t.Fatalf("CreateContainer(%s): %v", c, err)
			}
		}
	}
	for _, c := range want {
		if err := e.s.CreateContainer(e.ctx, c); err != nil {
			t.Fatalf("CreateContainer(%s): %v", c, err)
		}
		if err := e.s.CreateContainer(e.ctx, c); err != nil {
			t.Fatalf("CreateContainer(%s) of an existing container: %v, want nil", c, err)
		}
		if got := e.listAll(t, c, ""); len(got) != 0 {
			t.Errorf("new container %s lists %d objects", c, len(got))
		}
	}
	var got []string
	if err := e.s.Containers(e.ctx, e.prefix(), func(c string) error { got = append(got, c); return nil }); err != nil {
		t.Fatalf("Containers: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Containers(%q) = %q, want %q", e.prefix(), got, want)
	}
	got = nil
	if err := e.s.Containers(e.ctx, e.prefix()+"nomatch", func(c string) error { got = append(got, c); return nil }); err != nil || len(got) != 0 {
		t.Errorf("Containers(%q) = %q, %v; want none", e.prefix()+"nomatch", got, err)
	}
	stop := errors.New("stop")
	n := 0
	err := e.s.Containers(e.ctx, e.prefix(), func(string) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("Containers with a callback that fails: %v after %d calls, want the callback's error as is after 1", err, n)
	}
	if err := e.s.CreateContainer(e.ctx, "not-a-mediawiki-container"); !errors.Is(err, production.ErrInvalidName) {
		t.Errorf("CreateContainer(not-a-mediawiki-container) = %v, want ErrInvalidName", err)
	}
}

func (e *env) putAndRead(t *testing.T) {
	for _, o := range e.data {
		e.put(t, o.container, o.name, o.body, o.contentType)
	}
	for _, o := range e.data {
		m := o.meta()
		b36, _ := mediawiki.SHA1HexToBase36(m.SHA1)
		st, err := e.s.Stat(e.ctx, o.container, o.name)
		if err != nil {
			t.Fatalf("Stat %s/%s: %v", o.container, o.name, err)
		}
		if st.Name != o.name || st.Size != m.Size {
			t.Errorf("Stat %s/%s = %+v, want name %q size %d", o.container, o.name, st, o.name, m.Size)
		}
		if st.MD5 != "" && st.MD5 != m.MD5 {
			t.Errorf("Stat %s/%s: md5 %s, want %s", o.container, o.name, st.MD5, m.MD5)
		}
		if st.ContentType != "" && st.ContentType != m.ContentType {
			t.Errorf("Stat %s/%s: content type %s, want %s", o.container, o.name, st.ContentType, m.ContentType)
		}
		if st.SHA1Base36 != "" && st.SHA1Base36 != b36 {
			t.Errorf("Stat %s/%s: sha1base36 %s, want %s", o.container, o.name, st.SHA1Base36, b36)
		}
		if st.Metadata != nil && !(len(st.Metadata) == 1 && st.Metadata["sha1base36"] == b36) {
			t.Errorf("Stat %s/%s: metadata %v, want exactly MediaWiki's {sha1base36: %s}", o.container, o.name, st.Metadata, b36)
		}
		if st.Modified.IsZero() || time.Since(st.Modified) > time.Hour || time.Until(st.Modified) > time.Hour {
			t.Errorf("Stat %s/%s: modified %v, want about now", o.container, o.name, st.Modified)
		}
		rc, ost, err := e.s.Open(e.ctx, o.container, o.name)
		if err != nil {
			t.Fatalf("Open %s/%s: %v", o.container, o.name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, o.body) {
			t.Errorf("Open %s/%s read %d bytes (%v), want the %d written", o.container, o.name, len(b), err, len(o.body))
		}
		ost.Modified, st.Modified = time.Time{}, time.Time{}
		if fmt.Sprint(ost) != fmt.Sprint(st) {
			t.Errorf("Open %s/%s describes %+v, Stat %+v", o.container, o.name, ost, st)
		}
	}
	o := e.data[0]
	sibling := o.name + ".missing.png"
	if _, err := e.s.Stat(e.ctx, o.container, sibling); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Stat of a missing object: %v, want ErrObjectNotFound", err)
	}
	if _, _, err := e.s.Open(e.ctx, o.container, sibling); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Open of a missing object: %v, want ErrObjectNotFound", err)
	}
	dir := o.name[:strings.LastIndexByte(o.name, '/')]
	if _, err := e.s.Stat(e.ctx, o.container, dir); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Stat of a directory-like name %q: %v, want ErrObjectNotFound", dir, err)
	}
	if _, err := e.s.Stat(e.ctx, o.container, o.name+"/below.png"); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Stat of a name below an object: %v, want ErrObjectNotFound", err)
	}
}

func (e *env) list(t *testing.T) {
	for _, c := range e.containers() {
		e.checkHolds(t, c)
		all := e.listAll(t, c, "")
		for k := range all {
			rest := e.listAll(t, c, all[k].Name)
			if len(rest) != len(all)-k-1 || (len(rest) > 0 && rest[0].Name != all[k+1].Name) {
				t.Fatalf("Objects(%s, after %q) gave %d objects, want the %d after it", c, all[k].Name, len(rest), len(all)-k-1)
			}
		}
		// A marker that is not a name, between names.
		if len(all) > 1 {
			mid := all[0].Name + "\x01"
			if rest := e.listAll(t, c, mid); len(rest) != len(all)-1 {
				t.Errorf("Objects(%s, after %q) gave %d objects, want %d", c, mid, len(rest), len(all)-1)
			}
		}
		stop := errors.New("stop")
		n := 0
		err := e.s.Objects(e.ctx, c, "", func(production.Object) error { n++; return stop })
		if len(all) > 0 && (err != stop || n != 1) {
			t.Errorf("Objects with a callback that fails: %v after %d calls, want the callback's error as is after 1", err, n)
		}
	}
}

func (e *env) overwrite(t *testing.T) {
	o := e.data[6]
	body := []byte("a new version of the same object, of another size")
	e.put(t, o.container, o.name, body, o.contentType)
	e.checkHolds(t, o.container)
}

// object0 returns an object the suite wrote (for overwriting) and a new
// name in the same directory.
// putNew checks that PutNew writes where nothing is, never replaces an
// object, and checks the bytes as Put does.
func (e *env) putNew(t *testing.T) {
	o, fresh := e.pick(7)
	body := []byte("written by PutNew where nothing was")
	if err := e.s.PutNew(e.ctx, o.container, fresh, bytes.NewReader(body), meta(body, o.contentType)); err != nil {
		t.Fatalf("PutNew %s/%s: %v", o.container, fresh, err)
	}
	e.record(o.container, fresh, body)
	got, err := e.s.Stat(e.ctx, o.container, fresh)
	if err != nil || got.Size != int64(len(body)) || (got.MD5 != "" && got.ContentType != o.contentType) {
		t.Errorf("Stat after PutNew = %+v, %v", got, err)
	}
	other := []byte("other bytes that must not replace an object")
	for _, name := range []string{fresh, o.name} {
		err := e.s.PutNew(e.ctx, o.container, name, bytes.NewReader(other), meta(other, o.contentType))
		if !errors.Is(err, production.ErrObjectExists) || !strings.Contains(err.Error(), name) {
			t.Errorf("PutNew over %s/%s = %v, want ErrObjectExists naming it", o.container, name, err)
		}
	}
	// A body far larger than a socket's buffers: the store must still
	// report the object that is there (Swift answers 412 before reading
	// the body), not a broken connection.
	big := bytes.Repeat([]byte("a big body that must not replace an object. "), 400_000)
	if err := e.s.PutNew(e.ctx, o.container, fresh, bytes.NewReader(big), meta(big, o.contentType)); !errors.Is(err, production.ErrObjectExists) {
		t.Errorf("PutNew of %d bytes over %s/%s = %v, want ErrObjectExists", len(big), o.container, fresh, err)
	}
	// Bytes that do not match: nothing, as with Put.
	again, fresh2 := e.pick(8)
	bad := meta(body, again.contentType)
	bad.SHA1 = strings.Repeat("0", 40)
	var me *production.MismatchError
	if err := e.s.PutNew(e.ctx, again.container, fresh2, bytes.NewReader(body), bad); !errors.As(err, &me) {
		t.Errorf("PutNew of mismatched bytes = %v, want a *MismatchError", err)
	}
	if _, err := e.s.Stat(e.ctx, again.container, fresh2); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("after a refused PutNew, Stat = %v, want ErrObjectNotFound", err)
	}
	e.checkHolds(t, o.container)
	e.checkHolds(t, again.container)
}

func (e *env) pick(i int) (object, string) {
	o := e.data[i]
	return o, o.name[:strings.LastIndexByte(o.name, '/')+1] + fmt.Sprintf("New_%d_%s", i, o.title)
}

func (e *env) mismatch(t *testing.T) {
	o, fresh := e.pick(9)
	body := []byte("the bytes a restore meant to write")
	good := meta(body, o.contentType)
	cases := []struct {
		name  string
		r     io.Reader
		m     production.Meta
		field string
	}{
		{"wrong md5", bytes.NewReader(body), func() production.Meta { m := good; m.MD5 = strings.Repeat("0", 32); return m }(), "md5"},
		{"wrong sha1", bytes.NewReader(body), func() production.Meta { m := good; m.SHA1 = strings.Repeat("0", 40); return m }(), "sha1"},
		{"short", bytes.NewReader(body[:10]), good, "size"},
		{"long", io.MultiReader(bytes.NewReader(body), strings.NewReader("!")), good, "size"},
		{"size too small", bytes.NewReader(body), func() production.Meta { m := good; m.Size--; return m }(), "size"},
		{"damaged byte", bytes.NewReader(append([]byte("T"), body[1:]...)), good, "md5"},
	}
	for _, tc := range cases {
		for _, name := range []string{o.name, fresh} {
			err := e.s.Put(e.ctx, o.container, name, tc.r, tc.m)
			var me *production.MismatchError
			if !errors.As(err, &me) || !errors.Is(err, production.ErrMismatch) || me.Field != tc.field {
				t.Errorf("%s: Put %s = %v, want a *MismatchError on %s", tc.name, name, err, tc.field)
			}
			if r, ok := tc.r.(*bytes.Reader); ok {
				r.Seek(0, io.SeekStart)
			}
		}
	}
	if _, err := e.s.Stat(e.ctx, o.container, fresh); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("after failed Puts, Stat %s: %v, want ErrObjectNotFound", fresh, err)
	}
	e.checkHolds(t, o.container) // the old object is intact, nothing else appeared
}

type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}

func (e *env) readerError(t *testing.T) {
	o, fresh := e.pick(10)
	body := bytes.Repeat([]byte("reader error "), 100000)
	boom := errors.New("the backup copy could not be read")
	for _, name := range []string{o.name, fresh} {
		err := e.s.Put(e.ctx, o.container, name, &failingReader{r: bytes.NewReader(body), n: len(body) / 2, err: boom}, meta(body, o.contentType))
		if !errors.Is(err, boom) {
			t.Errorf("Put %s with a reader that fails: %v, want that reader's error", name, err)
		}
	}
	if _, err := e.s.Stat(e.ctx, o.container, fresh); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Stat %s: %v, want ErrObjectNotFound", fresh, err)
	}
	e.checkHolds(t, o.container)
}

// slowReader gives n bytes, then calls at (once) and goes on, each Read
// waiting pause.
type slowReader struct {
	r     io.Reader
	n     int
	at    func()
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n <= 0 && s.at != nil {
		s.at()
		s.at = nil
	}
	if s.pause > 0 {
		time.Sleep(s.pause)
	}
	if s.n > 0 && len(p) > s.n {
		p = p[:s.n]
	}
	k, err := s.r.Read(p)
	s.n -= k
	return k, err
}

func (e *env) cancel(t *testing.T) {
	o, fresh := e.pick(11)
	body := bytes.Repeat([]byte("cancelled "), 200000)
	for _, name := range []string{o.name, fresh} {
		ctx, cancel := context.WithCancel(e.ctx)
		err := e.s.Put(ctx, o.container, name, &slowReader{r: bytes.NewReader(body), n: len(body) / 2, at: cancel}, meta(body, o.contentType))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put %s cancelled half-way: %v, want context.Canceled", name, err)
		}
	}
	if _, err := e.s.Stat(e.ctx, o.container, fresh); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("Stat %s: %v, want ErrObjectNotFound", fresh, err)
	}
	e.checkHolds(t, o.container)
}

// atomic checks what readers see while a Put is half-way.
func (e *env) atomic(t *testing.T) {
	o, fresh := e.pick(12)
	old := e.want[o.container][o.name]
	body := bytes.Repeat([]byte("atomic "), 300000)
	look := func(name string, before []byte) func() {
		return func() {
			st, err := e.s.Stat(e.ctx, o.container, name)
			switch {
			case before == nil && !errors.Is(err, production.ErrObjectNotFound):
				t.Errorf("half-way through a Put, Stat %s = %+v, %v; want ErrObjectNotFound", name, st, err)
			case before != nil && (err != nil || st.Size != int64(len(before))):
				t.Errorf("half-way through a Put, Stat %s = %+v, %v; want the old object (%d bytes)", name, st, err, len(before))
			}
			if before != nil {
				_, sums, err := production.Checksum(e.ctx, e.s, o.container, name)
				if err != nil || sums.SHA1 != meta(before, "x/y").SHA1 {
					t.Errorf("half-way through a Put, %s reads %+v, %v; want the old bytes", name, sums, err)
				}
			}
			for _, l := range e.listAll(t, o.container, "") {
				if l.Name == name && (before == nil || l.Size != int64(len(before))) {
					t.Errorf("half-way through a Put, the listing shows %+v", l)
				}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		before []byte
	}{{o.name, old}, {fresh, nil}} {
		err := e.s.Put(e.ctx, o.container, tc.name, &slowReader{r: bytes.NewReader(body), n: len(body) / 2, at: look(tc.name, tc.before)}, meta(body, o.contentType))
		if err != nil {
			t.Fatalf("Put %s: %v", tc.name, err)
		}
		e.record(o.container, tc.name, body)
	}
	e.checkHolds(t, o.container)
}

func (e *env) invalidNames(t *testing.T) {
	o := e.data[0]
	body := []byte("never written")
	m := meta(body, "image/png")
	names := []string{"", "/" + o.name, o.name + "/", strings.Replace(o.name, "/", "//", 1),
		"./" + o.name, strings.Replace(o.name, "/", "/./", 1), "../" + o.name, strings.Replace(o.name, "/", "/../", 1),
		"..", ".", o.name[:len(o.name)-1] + "\x00", o.name + "\n", "a/ab/" + strings.Repeat("x", 256) + ".png",
		"a/ab/\xff\xfe.png", strings.Repeat("a/", 600) + "x.png"}
	if e.layout.PublicShards {
		// The right name in the wrong shard would be invisible to MediaWiki.
		other := o.container[:len(o.container)-2] + "00"
		if other == o.container {
			other = o.container[:len(o.container)-2] + "01"
		}
		if err := e.s.CreateContainer(e.ctx, other); err != nil {
			t.Fatal(err)
		}
		err := e.s.Put(e.ctx, other, o.name, bytes.NewReader(body), m)
		if !errors.Is(err, production.ErrInvalidName) {
			t.Errorf("Put %s into the wrong shard %s: %v, want ErrInvalidName", o.name, other, err)
		}
		if got := e.listAll(t, other, ""); len(got) != 0 {
			t.Errorf("the wrong shard %s holds %v", other, got)
		}
	}
	for _, name := range names {
		err := e.s.Put(e.ctx, o.container, name, bytes.NewReader(body), m)
		if !errors.Is(err, production.ErrInvalidName) {
			t.Errorf("Put %q: %v, want ErrInvalidName", name, err)
		}
		if _, err := e.s.Stat(e.ctx, o.container, name); !errors.Is(err, production.ErrInvalidName) {
			t.Errorf("Stat %q: %v, want ErrInvalidName", name, err)
		}
		if _, _, err := e.s.Open(e.ctx, o.container, name); !errors.Is(err, production.ErrInvalidName) {
			t.Errorf("Open %q: %v, want ErrInvalidName", name, err)
		}
	}
	for _, c := range []string{"", "../" + o.container, o.container + "/x", "-" + o.container} {
		if err := e.s.Put(e.ctx, c, o.name, bytes.NewReader(body), m); !errors.Is(err, production.ErrInvalidName) {
			t.Errorf("Put into container %q: %v, want ErrInvalidName", c, err)
		}
		if err := e.s.Objects(e.ctx, c, "", func(production.Object) error { return nil }); !errors.Is(err, production.ErrInvalidName) {
			t.Errorf("Objects of container %q: %v, want ErrInvalidName", c, err)
		}
	}
	e.checkHolds(t, o.container)
}

// countingReader counts what was read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += k
	return k, err
}

func (e *env) invalidMeta(t *testing.T) {
	o, fresh := e.pick(1)
	body := []byte("some bytes")
	good := meta(body, "image/png")
	for _, tc := range []struct {
		name string
		m    production.Meta
	}{
		{"negative size", production.Meta{Size: -1, MD5: good.MD5, SHA1: good.SHA1, ContentType: good.ContentType}},
		{"md5 not hex", production.Meta{Size: good.Size, MD5: strings.Repeat("z", 32), SHA1: good.SHA1, ContentType: good.ContentType}},
		{"sha1 short", production.Meta{Size: good.Size, MD5: good.MD5, SHA1: good.SHA1[:39], ContentType: good.ContentType}},
		{"no content type", production.Meta{Size: good.Size, MD5: good.MD5, SHA1: good.SHA1}},
		{"content type without /", production.Meta{Size: good.Size, MD5: good.MD5, SHA1: good.SHA1, ContentType: "png"}},
		{"content type with a newline", production.Meta{Size: good.Size, MD5: good.MD5, SHA1: good.SHA1, ContentType: "image/png\r\nX-Object-Meta-Evil: 1"}},
	} {
		r := &countingReader{r: bytes.NewReader(body)}
		err := e.s.Put(e.ctx, o.container, fresh, r, tc.m)
		if err == nil || errors.Is(err, production.ErrMismatch) || r.n != 0 {
			t.Errorf("%s: Put = %v after reading %d bytes; want an error before reading", tc.name, err, r.n)
		}
	}
	e.checkHolds(t, o.container)
}

func (e *env) parallel(t *testing.T) {
	c := e.layout
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		title := fmt.Sprintf("Parallel_%02d.png", i)
		body := bytes.Repeat([]byte(title), 1000+i)
		pc, pp := c.Public(title)
		key, _ := mediawiki.StorageKey(meta(body, "x/y").SHA1, title)
		dc, dp := c.Deleted(key)
		for _, place := range [][2]string{{pc, pp}, {dc, dp}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A new shard container as needed, like a restore does.
				if err := e.s.CreateContainer(e.ctx, place[0]); err != nil {
					errs <- err
					return
				}
				if err := e.s.Put(e.ctx, place[0], place[1], bytes.NewReader(body), meta(body, "image/png")); err != nil {
					errs <- err
					return
				}
				e.record(place[0], place[1], body)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for cont := range e.want {
		e.checkHolds(t, cont)
	}
}

// kill9 kills a process with SIGKILL while it writes two objects, a new
// one and one that exists, each half sent.
func (e *env) kill9(t *testing.T) {
	o, fresh := e.pick(4)
	job := childJob{Test: e.run, Layout: e.layout, State: e.state, Container: o.container,
		Names: []string{fresh, o.name}, Size: 4 << 20}
	b, _ := json.Marshal(job)
	var run []string
	for _, part := range strings.Split(e.run, "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan error, 1)
	var lines []string
	go func() {
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), readyLine) {
				if n++; n == len(job.Names) {
					ready <- nil
					io.Copy(io.Discard, out)
					return
				}
			}
		}
		ready <- fmt.Errorf("the child ended before it was ready: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Wait()
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, strings.Join(lines, "\n"), stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the child was not ready after 2 minutes\nstdout:\n%s\nstderr:\n%s", strings.Join(lines, "\n"), stderr.String())
	}
	time.Sleep(300 * time.Millisecond) // let the half-sent bytes land
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := e.s.Stat(e.ctx, o.container, fresh); !errors.Is(err, production.ErrObjectNotFound) {
		t.Errorf("after kill -9 during its Put, Stat %s: %v, want ErrObjectNotFound", fresh, err)
	}
	e.checkHolds(t, o.container) // the old object intact, nothing new
	// Running the same write again finishes the job.
	body := childBody(job.Size)
	for _, name := range job.Names {
		e.put(t, o.container, name, body, "image/png")
	}
	e.checkHolds(t, o.container)
}

func childBody(size int64) []byte {
	return bytes.Repeat([]byte("k"), int(size))
}

// blockingReader gives half of body, then prints ready and blocks until
// the process is killed.
type blockingReader struct {
	r     io.Reader
	half  int
	ready func()
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.half <= 0 {
		b.ready()
		select {}
	}
	if len(p) > b.half {
		p = p[:b.half]
	}
	k, err := b.r.Read(p)
	b.half -= k
	return k, err
}

// runChild is the kill -9 test's child: it starts the Puts and blocks.
func runChild(t *testing.T, h Harness, v string) {
	var job childJob
	if err := json.Unmarshal([]byte(v), &job); err != nil {
		t.Fatalf("%s: %v", childEnv, err)
	}
	if job.Test != t.Name() {
		t.Skipf("the kill -9 child of %s", job.Test)
	}
	ctx := context.Background()
	s, err := h.Open(ctx, job.Layout, job.State)
	if err != nil {
		t.Fatalf("child: open the store: %v", err)
	}
	body := childBody(job.Size)
	var mu sync.Mutex
	for _, name := range job.Names {
		go func() {
			r := &blockingReader{r: bytes.NewReader(body), half: len(body) / 2, ready: func() {
				mu.Lock()
				fmt.Println(readyLine, name)
				mu.Unlock()
			}}
			err := s.Put(ctx, job.Container, name, r, meta(body, "image/png"))
			fmt.Println("child: Put returned", err)
		}()
	}
	select {}
}
