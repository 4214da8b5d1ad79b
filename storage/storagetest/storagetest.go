// Package storagetest is the conformance suite of storage.Backend: every
// kind of backend (and every wrapper around one) must pass [Run], against
// a real server, as restic's backend tests and perkeep's storagetest do.
//
// A backend under test must start empty. The suite writes objects under
// a few prefixes and removes what it wrote.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mediabackups/mediabackups/storage"
)

// Options tunes Run for one kind of backend.
type Options struct {
	// AfterEach, when set, runs after each sub-test with the backend it
	// used: a place for checks only that kind can make (MinIO: no
	// incomplete multipart upload left behind).
	AfterEach func(t *testing.T, b storage.Backend)
	// SkipLarge leaves out the objects larger than one part (16 MiB).
	SkipLarge bool
}

// Run runs the whole suite. open returns a new, empty backend for each
// sub-test; it is called from that sub-test, so it may use t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) storage.Backend, opts Options) {
	for _, tc := range []struct {
		name  string
		large bool
		fn    func(t *testing.T, b storage.Backend)
	}{
		{"RoundTrip", false, testRoundTrip},
		{"List", false, testList},
		{"Overwrite", false, testOverwrite},
		{"Remove", false, testRemove},
		{"NotFound", false, testNotFound},
		{"WrongChecksum", false, testWrongChecksum},
		{"WrongChecksumLarge", true, testWrongChecksumLarge},
		{"Multipart", true, testMultipart},
		{"SourceError", false, testSourceError},
		{"Cancelled", false, testCancelled},
		{"BadArguments", false, testBadArguments},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.large && opts.SkipLarge {
				t.Skip("large objects left out for this backend")
			}
			b := open(t)
			tc.fn(t, b)
			if opts.AfterEach != nil {
				opts.AfterEach(t, b)
			}
		})
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Content returns n random bytes and their sha256.
func Content(t testing.TB, n int) ([]byte, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, sum[:]
}

// streamOnly hides every method but Read (implementations may treat
// io.ReaderAt and io.Seeker readers differently).
type streamOnly struct{ r io.Reader }

func (s streamOnly) Read(p []byte) (int, error) { return s.r.Read(p) }

// Get reads the whole object key and checks that Get announced its size.
func Get(t *testing.T, ctx context.Context, b storage.Backend, key string) []byte {
	t.Helper()
	rc, size, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if int64(len(got)) != size {
		t.Fatalf("Get(%s) announced %d bytes, returned %d", key, size, len(got))
	}
	return got
}

// AssertNotFound checks that Stat and Get say that key does not exist.
func AssertNotFound(t *testing.T, ctx context.Context, b storage.Backend, key string) {
	t.Helper()
	if _, err := b.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(%s) on %s = %v, want ErrNotFound", key, b.Endpoint(), err)
	}
	if rc, _, err := b.Get(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Get(%s) on %s = %v, want ErrNotFound", key, b.Endpoint(), err)
	}
}

func testRoundTrip(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	if err := b.EnsureBucket(ctx); err != nil {
		t.Fatalf("EnsureBucket on an existing bucket: %v", err)
	}
	contents := map[string][]byte{}
	for i, n := range []int{0, 1, 1000, 64 << 10, 5 << 20} {
		c, sum := Content(t, n)
		key := fmt.Sprintf("enwiki/%03d/%x", i, sum)
		got, err := b.Put(ctx, key, bytes.NewReader(c), int64(n), sum)
		if err != nil {
			t.Fatalf("Put(%d bytes): %v", n, err)
		}
		if got != int64(n) {
			t.Errorf("Put(%d bytes) returned size %d", n, got)
		}
		contents[key] = c
	}
	// Without an expected checksum, from a plain stream of known size, and
	// of unknown size.
	c, _ := Content(t, 3000)
	if _, err := b.Put(ctx, "other/x", streamOnly{bytes.NewReader(c)}, int64(len(c)), nil); err != nil {
		t.Fatal(err)
	}
	contents["other/x"] = c
	small, ssum := Content(t, 100)
	if n, err := b.Put(ctx, "other/unknown-size", streamOnly{bytes.NewReader(small)}, -1, ssum); err != nil || n != 100 {
		t.Fatalf("Put(100 bytes, size -1) = %d, %v", n, err)
	}
	contents["other/unknown-size"] = small
	for key, want := range contents {
		if got := Get(t, ctx, b, key); !bytes.Equal(got, want) {
			t.Errorf("Get(%s) returned different content", key)
		}
		info, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatalf("Stat(%s): %v", key, err)
		}
		if info.Key != key || info.Size != int64(len(want)) || time.Since(info.LastModified) > time.Hour {
			t.Errorf("Stat(%s) = %+v", key, info)
		}
	}
}

func testList(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	sizes := map[string]int64{}
	for _, key := range []string{"enwiki/abc/1", "enwiki/abc/2", "enwiki/abd/3", "enwikibooks/x", "dewiki/y"} {
		c, sum := Content(t, len(key))
		if _, err := b.Put(ctx, key, bytes.NewReader(c), int64(len(c)), sum); err != nil {
			t.Fatal(err)
		}
		sizes[key] = int64(len(c))
	}
	var listed []string
	err := b.List(ctx, "enwiki/", func(o storage.ObjectInfo) error {
		if o.Size != sizes[o.Key] {
			t.Errorf("List: %s has size %d, want %d", o.Key, o.Size, sizes[o.Key])
		}
		listed = append(listed, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"enwiki/abc/1", "enwiki/abc/2", "enwiki/abd/3"}; !slices.Equal(listed, want) {
		t.Errorf("List(enwiki/) = %v, want %v (key order, recursive)", listed, want)
	}
	// fn's error stops the listing and is returned as is.
	errStop := errors.New("stop")
	calls := 0
	if err := b.List(ctx, "", func(storage.ObjectInfo) error { calls++; return errStop }); err != errStop || calls != 1 {
		t.Errorf("List with failing fn = %v after %d calls, want errStop after 1", err, calls)
	}
	if err := b.List(ctx, "nothing-here/", func(o storage.ObjectInfo) error { return fmt.Errorf("unexpected %s", o.Key) }); err != nil {
		t.Errorf("List of an empty prefix: %v", err)
	}
}

func testOverwrite(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	old, osum := Content(t, 1000)
	if _, err := b.Put(ctx, "other/x", bytes.NewReader(old), 1000, osum); err != nil {
		t.Fatal(err)
	}
	nb, nsum := Content(t, 10)
	if _, err := b.Put(ctx, "other/x", bytes.NewReader(nb), 10, nsum); err != nil {
		t.Fatal(err)
	}
	if got := Get(t, ctx, b, "other/x"); !bytes.Equal(got, nb) {
		t.Error("overwritten object has the old content")
	}
}

func testRemove(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	c, sum := Content(t, 10)
	if _, err := b.Put(ctx, "rm/x", bytes.NewReader(c), 10, sum); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, "rm/x"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	AssertNotFound(t, ctx, b, "rm/x")
	if err := b.Remove(ctx, "rm/x"); err != nil {
		t.Errorf("Remove of a missing object: %v", err)
	}
	if err := b.List(ctx, "rm/", func(o storage.ObjectInfo) error { return fmt.Errorf("left behind: %s", o.Key) }); err != nil {
		t.Error(err)
	}
}

func testNotFound(t *testing.T, b storage.Backend) {
	AssertNotFound(t, testCtx(t), b, "never/written")
}

// wrongChecksum checks that Put of content with a wrong expected sha256
// fails with ErrChecksumMismatch, stores nothing, and leaves a good object
// under the same key alone.
func wrongChecksum(t *testing.T, b storage.Backend, name string, n int, unknownSize, readerAt bool) {
	t.Helper()
	ctx := testCtx(t)
	c, sum := Content(t, n)
	wrong := bytes.Clone(sum)
	wrong[31] ^= 1
	key := "wrong/" + strings.ReplaceAll(name, " ", "-")
	size := int64(n)
	if unknownSize {
		size = -1
	}
	src := func() io.Reader {
		if readerAt {
			return bytes.NewReader(c)
		}
		return streamOnly{bytes.NewReader(c)}
	}
	_, err := b.Put(ctx, key, src(), size, wrong)
	if !errors.Is(err, storage.ErrChecksumMismatch) {
		t.Fatalf("%s: Put with a wrong checksum = %v, want ErrChecksumMismatch", name, err)
	}
	AssertNotFound(t, ctx, b, key)
	old, oldSum := Content(t, 50)
	if _, err := b.Put(ctx, key, bytes.NewReader(old), 50, oldSum); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, key, src(), size, wrong); !errors.Is(err, storage.ErrChecksumMismatch) {
		t.Fatalf("%s: second Put with a wrong checksum = %v, want ErrChecksumMismatch", name, err)
	}
	if got := Get(t, ctx, b, key); !bytes.Equal(got, old) {
		t.Errorf("%s: a failed Put replaced the existing object", name)
	}
}

func testWrongChecksum(t *testing.T, b storage.Backend) {
	wrongChecksum(t, b, "empty", 0, false, false)
	wrongChecksum(t, b, "small", 1000, false, false)
	wrongChecksum(t, b, "small unknown size", 1000, true, false)
}

func testWrongChecksumLarge(t *testing.T, b storage.Backend) {
	wrongChecksum(t, b, "multipart", 17<<20, false, false)
	wrongChecksum(t, b, "multipart unknown size", 20<<20, true, false)
	wrongChecksum(t, b, "multipart readable at any offset", 20<<20, false, true)
}

func testMultipart(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	const size = 20 << 20 // more than one 16 MiB part
	c, sum := Content(t, size)
	for _, tt := range []struct {
		name     string
		size     int64
		want     []byte
		readerAt bool
	}{
		{"unknown size", -1, sum, false},
		{"unknown size without checksum", -1, nil, false},
		{"known size", size, sum, false},
		{"known size, readable at any offset", size, sum, true},
	} {
		key := "multipart/" + strings.NewReplacer(" ", "-", ",", "").Replace(tt.name)
		var r io.Reader = streamOnly{bytes.NewReader(c)}
		if tt.readerAt {
			r = bytes.NewReader(c) // an io.ReaderAt, like a spooled file
		}
		n, err := b.Put(ctx, key, r, tt.size, tt.want)
		if err != nil {
			t.Fatalf("%s: Put: %v", tt.name, err)
		}
		if n != size {
			t.Errorf("%s: Put returned size %d, want %d", tt.name, n, size)
		}
		if info, err := b.Stat(ctx, key); err != nil || info.Size != size {
			t.Errorf("%s: Stat = %+v, %v", tt.name, info, err)
		}
		if got := sha256.Sum256(Get(t, ctx, b, key)); !bytes.Equal(got[:], sum) {
			t.Errorf("%s: downloaded content differs", tt.name)
		}
	}
}

func testSourceError(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	errSource := errors.New("network share vanished")
	for _, size := range []int64{2000, -1} {
		c, _ := Content(t, 1000)
		src := io.MultiReader(bytes.NewReader(c), iotest.ErrReader(errSource))
		key := fmt.Sprintf("source-error/%d", size)
		_, err := b.Put(ctx, key, src, size, nil)
		if err == nil {
			t.Fatalf("size %d: Put of a failing source succeeded", size)
		}
		if !errors.Is(err, errSource) || !strings.Contains(err.Error(), key) {
			t.Errorf("size %d: Put = %v, want an error naming the key and wrapping the source error", size, err)
		}
		if n := strings.Count(err.Error(), key+" to "); n > 1 {
			t.Errorf("size %d: the error repeats its prefix (%d times): %v", size, n, err)
		}
		AssertNotFound(t, ctx, b, key)
	}
}

func testCancelled(t *testing.T, b storage.Backend) {
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	c, sum := Content(t, 10)
	if _, err := b.Put(ctx, "cancelled", bytes.NewReader(c), 10, sum); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v, want context.Canceled", err)
	}
	AssertNotFound(t, testCtx(t), b, "cancelled")
}

func testBadArguments(t *testing.T, b storage.Backend) {
	ctx := testCtx(t)
	if _, err := b.Put(ctx, "bad/size", bytes.NewReader(nil), -2, nil); err == nil {
		t.Error("Put with size -2 succeeded")
	}
	if _, err := b.Put(ctx, "bad/sum", bytes.NewReader([]byte("x")), 1, []byte{1, 2, 3}); err == nil {
		t.Error("Put with a 3-byte sha256 succeeded")
	}
	AssertNotFound(t, ctx, b, "bad/size")
	AssertNotFound(t, ctx, b, "bad/sum")
}
