package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/mediabackups/mediabackups/sharding"
)

var (
	_ fmt.Stringer   = Credentials{}
	_ fmt.GoStringer = Credentials{}
	_ fmt.Stringer   = (*Server)(nil)
	_ io.Reader      = (*verifyingReader)(nil)
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomContent(t testing.TB, n int) ([]byte, []byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, sum[:]
}

// streamOnly hides every method but Read (minio-go treats io.ReaderAt and
// io.Seeker readers differently).
type streamOnly struct{ r io.Reader }

func (s streamOnly) Read(p []byte) (int, error) { return s.r.Read(p) }

func get(t *testing.T, ctx context.Context, s *Server, key string) []byte {
	t.Helper()
	rc, size, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if int64(len(b)) != size {
		t.Fatalf("Get(%s) announced %d bytes, returned %d", key, size, len(b))
	}
	return b
}

func TestShardedPlacement(t *testing.T) {
	servers := testServers(t, 5)
	ctx := testCtx(t)
	backends := make([]Backend, len(servers))
	for i, s := range servers {
		backends[i] = s
	}
	sh, err := NewSharded(backends)
	if err != nil {
		t.Fatal(err)
	}
	perShard := make([]int, len(servers))
	for i := range 60 {
		b, sum := randomContent(t, 100+i)
		h := hex.EncodeToString(sum)
		key, err := ObjectKey("testwiki", h, false)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := sh.For(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Put(ctx, key, bytes.NewReader(b), int64(len(b)), sum); err != nil {
			t.Fatal(err)
		}
		want, err := sharding.Shard(h, len(servers))
		if err != nil {
			t.Fatal(err)
		}
		perShard[want]++
		for j, other := range servers {
			_, err := other.Stat(ctx, key)
			switch {
			case j == want && err != nil:
				t.Errorf("%s (shard %d) is missing from server %d %s: %v", key, want, j, other.Endpoint(), err)
			case j != want && !errors.Is(err, ErrNotFound):
				t.Errorf("%s (shard %d) found on server %d %s: %v", key, want, j, other.Endpoint(), err)
			}
		}
		// A restore finds it through the recorded endpoint.
		recorded := srv.Endpoint()
		byEP, ok := sh.ByEndpoint(recorded)
		if !ok || byEP != Backend(servers[want]) {
			t.Fatalf("ByEndpoint(%s) = %v, %v; want server %d", recorded, byEP, ok, want)
		}
		if got := get(t, ctx, byEP.(*Server), key); !bytes.Equal(got, b) {
			t.Errorf("content of %s differs", key)
		}
	}
	t.Logf("objects per shard: %v", perShard)
}

func TestServerWithoutBucket(t *testing.T) {
	endpoints, creds := testEndpoints(t, 1)
	s, err := NewServer(endpoints[0], "mbtest-does-not-exist-"+fmt.Sprint(time.Now().UnixNano()), creds)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	_, err = s.Stat(ctx, "x")
	if err == nil || errors.Is(err, ErrNotFound) || !errors.Is(err, ErrNoBucket) || !strings.Contains(err.Error(), "EnsureBucket") {
		t.Errorf("Stat in a missing bucket = %v, want ErrNoBucket with a hint", err)
	}
}

func TestServerBadCredentials(t *testing.T) {
	endpoints, creds := testEndpoints(t, 1)
	s, err := NewServer(endpoints[0], "mbtest-whatever", Credentials{AccessKey: creds.AccessKey, SecretKey: "wrong-secret"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.EnsureBucket(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), endpoints[0]) {
		t.Errorf("EnsureBucket with a wrong secret = %v, want an error naming the endpoint", err)
	}
}

// Tests below need no MinIO server.

func TestPutBadArguments(t *testing.T) {
	s, err := NewServer("http://127.0.0.1:1", "mbtest-x", Credentials{AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	empty := sha256.Sum256(nil)
	tests := []struct {
		name string
		size int64
		want []byte
		is   error
	}{
		{"short checksum", 1, make([]byte, 31), nil},
		{"long checksum", 1, make([]byte, 33), nil},
		{"empty checksum", 1, []byte{}, nil},
		{"negative size", -2, nil, nil},
		{"empty content with a wrong checksum", 0, make([]byte, 32), ErrChecksumMismatch},
		{"empty content with the right checksum reaches the network", 0, empty[:], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(ctx, "k", strings.NewReader(""), tt.size, tt.want)
			if err == nil {
				t.Fatal("Put succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Put = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestVerifyingReader(t *testing.T) {
	content := []byte("some media content")
	sum := sha256.Sum256(content)
	wrong := sha256.Sum256([]byte("other"))
	tests := []struct {
		name     string
		src      io.Reader
		size     int64
		want     []byte
		mismatch bool
	}{
		{"known size", bytes.NewReader(content), int64(len(content)), sum[:], false},
		{"unknown size", bytes.NewReader(content), -1, sum[:], false},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(content)), -1, sum[:], false},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(content)), -1, sum[:], false},
		{"extra bytes after size are ignored", bytes.NewReader(append(bytes.Clone(content), "xyz"...)), int64(len(content)), sum[:], false},
		{"wrong, known size", bytes.NewReader(content), int64(len(content)), wrong[:], true},
		{"wrong, unknown size", bytes.NewReader(content), -1, wrong[:], true},
		{"wrong, one byte at a time", iotest.OneByteReader(bytes.NewReader(content)), int64(len(content)), wrong[:], true},
		{"short content", bytes.NewReader(content[:5]), int64(len(content)), sum[:], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &verifyingReader{r: tt.src, size: tt.size, want: tt.want, h: sha256.New()}
			var out []byte
			buf := make([]byte, 7)
			var err error
			for {
				var n int
				n, err = v.Read(buf)
				out = append(out, buf[:n]...)
				if err != nil || (tt.size >= 0 && int64(len(out)) >= tt.size) {
					break
				}
			}
			if tt.mismatch {
				if !errors.Is(err, ErrChecksumMismatch) {
					t.Fatalf("err = %v, want ErrChecksumMismatch", err)
				}
				// With a known size the reader withholds the last bytes;
				// with an unknown size it returns the error instead of
				// io.EOF. Either way the consumer cannot finish cleanly.
				if tt.size >= 0 && len(out) >= len(content) {
					t.Errorf("all %d bytes were released despite the mismatch", len(out))
				}
				return
			}
			if err != nil && err != io.EOF {
				t.Fatalf("err = %v", err)
			}
			if !bytes.Equal(out[:len(content)], content) {
				t.Errorf("read %q", out)
			}
		})
	}
}

func TestNewServer(t *testing.T) {
	creds := Credentials{AccessKey: "a", SecretKey: "b"}
	tests := []struct {
		endpoint, bucket string
		want             string // normalized endpoint; "" means an error is expected
	}{
		{"http://127.0.0.1:9101", "mbtest-a", "http://127.0.0.1:9101"},
		{"http://127.0.0.1:9101/", "mbtest-a", "http://127.0.0.1:9101"},
		{"HTTPS://MinIO.Example.org", "mediabackups", "https://minio.example.org"},
		{" http://[::1]:9000 ", "mediabackups", "http://[::1]:9000"},
		{"127.0.0.1:9101", "mbtest-a", ""},
		{"ftp://127.0.0.1", "mbtest-a", ""},
		{"http://", "mbtest-a", ""},
		{"http://host/path", "mbtest-a", ""},
		{"http://host?x=1", "mbtest-a", ""},
		{"http://user:pw@host", "mbtest-a", ""},
		{"http://host:9000", "", ""},
		{"http://host:9000", "UPPER", ""},
		{"http://host:9000", "under_score", ""},
		{"http://host:9000", "ab", ""},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+"|"+tt.bucket, func(t *testing.T) {
			s, err := NewServer(tt.endpoint, tt.bucket, creds)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NewServer(%q, %q) succeeded", tt.endpoint, tt.bucket)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewServer(%q, %q): %v", tt.endpoint, tt.bucket, err)
			}
			if s.Endpoint() != tt.want || s.Bucket() != tt.bucket {
				t.Errorf("Endpoint, Bucket = %q, %q; want %q, %q", s.Endpoint(), s.Bucket(), tt.want, tt.bucket)
			}
		})
	}
	if _, err := NewServer("http://h:1", "mbtest-a", Credentials{}); err == nil {
		t.Error("NewServer without an access key succeeded")
	}
}

func TestNewServersShareTransport(t *testing.T) {
	servers, err := NewServers([]string{"http://h1:1", "https://h2:2"}, "mbtest-a", Credentials{AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := servers[0].transport, servers[1].transport
	if t1 == nil || t1 != t2 {
		t.Errorf("transports %p and %p, want one shared transport", t1, t2)
	}
	if _, err := NewServers([]string{"http://h1:1", "bad"}, "mbtest-a", Credentials{AccessKey: "a"}); err == nil {
		t.Error("NewServers with a bad endpoint succeeded")
	}
}

func TestCredentialsRedacted(t *testing.T) {
	c := Credentials{AccessKey: "mbtestadmin", SecretKey: "hunter2-secret"}
	for _, format := range []string{"%v", "%+v", "%s", "%#v"} {
		out := fmt.Sprintf(format, c)
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "mbtestadmin") {
			t.Errorf("Sprintf(%q) = %q", format, out)
		}
	}
}

func TestNewSharded(t *testing.T) {
	mk := func(endpoint string) *Server {
		s, err := NewServer(endpoint, "mbtest-a", Credentials{AccessKey: "a"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, c := mk("http://h:1"), mk("http://h:2"), mk("http://h:3")
	tests := []struct {
		name    string
		servers []Backend
		ok      bool
	}{
		{"one", []Backend{a}, true},
		{"three", []Backend{a, b, c}, true},
		{"none", nil, false},
		{"nil server", []Backend{a, nil}, false},
		{"duplicate endpoint", []Backend{a, b, mk("HTTP://H:1/")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh, err := NewSharded(tt.servers)
			if (err == nil) != tt.ok {
				t.Fatalf("NewSharded = %v", err)
			}
			if err == nil && !slices.Equal(sh.Servers(), tt.servers) {
				t.Errorf("Servers() = %v, want %v", sh.Servers(), tt.servers)
			}
		})
	}

	sh, err := NewSharded([]Backend{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	// Servers returns a copy.
	sh.Servers()[0] = c
	if sh.Servers()[0] != Backend(a) {
		t.Error("modifying Servers() changed the Sharded")
	}
	// For follows sharding.Shard over the servers in order.
	for _, h := range []string{strings.Repeat("0", 64), "55555556" + strings.Repeat("0", 56), strings.Repeat("F", 64)} {
		i, _ := sharding.Shard(h, 3)
		if got, err := sh.For(h); err != nil || got != sh.Servers()[i] {
			t.Errorf("For(%s) = %v, %v; want server %d", h, got, err, i)
		}
	}
	if _, err := sh.For("xyz"); !errors.Is(err, sharding.ErrInvalidSHA256) {
		t.Errorf("For(xyz) = %v, want sharding.ErrInvalidSHA256", err)
	}
	// ByEndpoint normalizes.
	for _, e := range []string{"http://h:2", "HTTP://H:2/", " http://h:2"} {
		if got, ok := sh.ByEndpoint(e); !ok || got != Backend(b) {
			t.Errorf("ByEndpoint(%q) = %v, %v; want %v", e, got, ok, b)
		}
	}
	for _, e := range []string{"http://h:4", "https://h:2", "h:2", ""} {
		if got, ok := sh.ByEndpoint(e); ok {
			t.Errorf("ByEndpoint(%q) = %v, want none", e, got)
		}
	}
}

func TestObjectKey(t *testing.T) {
	const h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name      string
		wiki      string
		sha256hex string
		encrypted bool
		want      string // "" means an error is expected
	}{
		{"plain", "enwiki", h, false, "enwiki/e3b/" + h},
		{"encrypted", "commonswiki", h, true, "commonswiki/e3b/" + h + ".age"},
		{"upper-case hash is lowered", "enwiki", strings.ToUpper(h), false, "enwiki/e3b/" + h},
		{"zeros", "testwiki", strings.Repeat("0", 64), true, "testwiki/000/" + strings.Repeat("0", 64) + ".age"},
		{"dashes and digits", "be-x-oldwiki", h, false, "be-x-oldwiki/e3b/" + h},
		{"empty wiki", "", h, false, ""},
		{"slash in wiki", "en/wiki", h, false, ""},
		{"backslash in wiki", `en\wiki`, h, false, ""},
		{"dot", ".", h, false, ""},
		{"dot dot", "..", h, false, ""},
		{"newline", "enwiki\n", h, false, ""},
		{"NUL", "en\x00wiki", h, false, ""},
		{"invalid UTF-8", "en\xffwiki", h, false, ""},
		{"short hash", "enwiki", h[:63], false, ""},
		{"long hash", "enwiki", h + "0", false, ""},
		{"non-hex hash", "enwiki", "g" + h[1:], false, ""},
		{"empty hash", "enwiki", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ObjectKey(tt.wiki, tt.sha256hex, tt.encrypted)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ObjectKey(%q, %q) = %q, want an error", tt.wiki, tt.sha256hex, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ObjectKey(%q, %q, %v) = %q, %v; want %q", tt.wiki, tt.sha256hex, tt.encrypted, got, err, tt.want)
			}
		})
	}
}

func FuzzObjectKey(f *testing.F) {
	f.Add("enwiki", strings.Repeat("a", 64), true)
	f.Add("", "", false)
	f.Add("a/b", strings.Repeat("A", 64), false)
	f.Fuzz(func(t *testing.T, wiki, h string, enc bool) {
		key, err := ObjectKey(wiki, h, enc)
		if err != nil {
			return
		}
		parts := strings.Split(key, "/")
		if len(parts) != 3 || parts[0] != wiki || parts[1] != strings.ToLower(h[:3]) || !strings.HasPrefix(parts[2], strings.ToLower(h)) {
			t.Fatalf("ObjectKey(%q, %q) = %q", wiki, h, key)
		}
		if err := s3utils.CheckValidObjectName(key); err != nil {
			t.Fatalf("ObjectKey(%q, %q) = %q, not a valid object name: %v", wiki, h, key, err)
		}
	})
}
