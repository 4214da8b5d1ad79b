package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/storage"
	"github.com/mediabackups/mediabackups/storage/storagetest"
)

// TestHealthConformance runs the conformance suite through a Health
// wrapper around a real MinIO server: the wrapper changes no answer of a
// server that answers.
func TestHealthConformance(t *testing.T) {
	m := testsvc.MinIOServers(t)
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, err := storage.NewServer(m.Endpoints[1%len(m.Endpoints)], testsvc.Bucket(), storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		h := storage.NewHealth(s, storage.HealthOptions{Failures: 1, Pause: time.Hour})
		if err := h.EnsureBucket(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := storage.RemoveTestBucket(ctx, s); err != nil {
				t.Errorf("remove test bucket: %v", err)
			}
		})
		return h
	}, storagetest.Options{AfterEach: func(t *testing.T, b storage.Backend) {
		h := b.(*storage.Health)
		// Failures: 1 would have taken the server down at the first
		// failure the wrapper counted: the suite's failures (missing
		// objects, wrong checksums, failing sources, cancelled calls) are
		// not the server's.
		if d := h.Down(); d != nil {
			t.Errorf("the suite took a healthy server down: %v", d)
		}
		left, err := storage.IncompleteUploads(t.Context(), h.Unwrap().(*storage.Server))
		if err != nil {
			t.Fatalf("list incomplete uploads: %v", err)
		}
		for _, u := range left {
			t.Errorf("incomplete multipart upload left behind: %s", u)
		}
	}})
}

func ownServer(t *testing.T, own *testsvc.OwnMinIO, opts ...storage.Option) *storage.Server {
	t.Helper()
	m := testsvc.MinIOServers(t)
	s, err := storage.NewServer(own.Endpoint, testsvc.Bucket(), storage.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHealthStopsCallingADownServer: with the server killed, the first
// calls fail as the server's do, then every call fails at once with one
// DownError naming the server; once it is back, the first call after the
// pause probes it and the wrapper lets calls through again.
func TestHealthStopsCallingADownServer(t *testing.T) {
	t.Parallel()
	own := testsvc.StartOwnMinIO(t)
	s := ownServer(t, own)
	h := storage.NewHealth(s, storage.HealthOptions{Failures: 3, Pause: 2 * time.Second})
	var changes []bool
	h.OnChange(func(up bool, _ *storage.DownError) { changes = append(changes, up) })
	ctx := t.Context()
	data, sum := storagetest.Content(t, 1000)
	if _, err := h.Put(ctx, "k", bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	// A missing object is an answer, not a failure.
	if _, err := h.Stat(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) || h.Down() != nil {
		t.Fatalf("stat of a missing object: %v, down %v", err, h.Down())
	}
	own.Stop()
	for i := range 3 {
		_, err := h.Stat(ctx, "k")
		if err == nil || errors.Is(err, storage.ErrUnavailable) || !storage.Unreachable(err) {
			t.Fatalf("call %d to the stopped server: %v, want the server's own connection error", i+1, err)
		}
	}
	start := time.Now()
	_, err := h.Put(ctx, "k2", bytes.NewReader(data), int64(len(data)), sum)
	var de *storage.DownError
	if !errors.Is(err, storage.ErrUnavailable) || !errors.As(err, &de) || de.Endpoint != own.Endpoint || de.Failures != 3 {
		t.Fatalf("after 3 failures: %v, want a DownError of %s after 3 failures", err, own.Endpoint)
	}
	if took := time.Since(start); took > time.Second { // the DownError proves no request was made; this only catches a wait
		t.Errorf("a call to a server taken down took %s, want at once", took)
	}
	t.Logf("the error: %v", err)
	if h.Down() == nil {
		t.Error("Down() = nil while the breaker is open")
	}
	own.Start()
	time.Sleep(2100 * time.Millisecond)
	got := storagetest.Get(t, ctx, h, "k") // the probe
	if !bytes.Equal(got, data) || h.Down() != nil {
		t.Fatalf("after the pause with the server back: %d bytes, down %v", len(got), h.Down())
	}
	if len(changes) != 2 || changes[0] || !changes[1] {
		t.Errorf("OnChange calls %v, want down then up", changes)
	}
	// MarkDown: out for good, whatever the server does.
	h.MarkDown(errors.New("the bucket check failed"))
	if _, err := h.Stat(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("a call after MarkDown: %v, want ErrUnavailable", err)
	}
}

// TestTimeoutOnAHungServer: a SIGSTOPped server (it accepts connections
// but answers nothing) fails each operation within the timeout with a
// StallError, a download cut off mid-body included, while a large object
// that keeps flowing is not cut short by a timeout shorter than its
// transfer.
func TestTimeoutOnAHungServer(t *testing.T) {
	t.Parallel()
	own := testsvc.StartOwnMinIO(t)
	const timeout = time.Second
	s := ownServer(t, own, storage.WithTimeout(timeout))
	ctx := t.Context()
	// 40 MiB read slowly: the read takes longer than the timeout, but
	// bytes keep coming.
	big, bigSum := storagetest.Content(t, 40<<20)
	if _, err := s.Put(ctx, "big", bytes.NewReader(big), int64(len(big)), bigSum); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var got bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := rc.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("slow read of a flowing object: %v after %s", err, time.Since(start))
		}
		time.Sleep(60 * time.Millisecond) // the reader is slow, not the server
	}
	rc.Close()
	if took := time.Since(start); took < 2*timeout || !bytes.Equal(got.Bytes(), big) {
		t.Fatalf("read %d bytes in %s; the test needs a read longer than the timeout", got.Len(), took)
	}

	// Mid-body: the server stops while the object is being read.
	rc, _, err = s.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	own.Freeze()
	defer own.Thaw()
	start = time.Now()
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	var se *storage.StallError
	if !errors.As(err, &se) || !storage.Unreachable(err) {
		t.Errorf("reading from the frozen server: %v, want a StallError", err)
	}
	checkWithin(t, "the stalled download", start, timeout)

	for name, op := range map[string]func() error{
		"get":  func() error { _, _, err := s.Get(ctx, "big"); return err },
		"stat": func() error { _, err := s.Stat(ctx, "big"); return err },
		"put": func() error {
			_, err := s.Put(ctx, "small", bytes.NewReader([]byte("x")), 1, nil)
			return err
		},
		"remove": func() error { return s.Remove(ctx, "big") },
	} {
		start := time.Now()
		err := op()
		if !errors.As(err, &se) {
			t.Errorf("%s on the frozen server: %v, want a StallError", name, err)
		}
		checkWithin(t, name, start, timeout)
		t.Logf("%s: %v", name, err)
	}
}

// checkWithin fails the test unless what started at start ended within
// the timeout and a little slack (no retries: one timeout).
func checkWithin(t *testing.T, what string, start time.Time, timeout time.Duration) {
	t.Helper()
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("%s failed after %s, want within the %s timeout", what, took.Round(time.Millisecond), timeout)
	}
}
