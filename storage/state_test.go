package storage

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/sharding"
)

// TestShardedStates pins where new objects of each range go for a set of
// states (sharding.Targets through Sharded.For), without any I/O.
func TestShardedStates(t *testing.T) {
	mk := func(endpoint string) Backend {
		s, err := NewServer(endpoint, "mbtest-a", Credentials{AccessKey: "a"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	eps := []string{"http://h:1", "http://h:2", "http://h:3", "http://h:4", "http://h:5"}
	// The smallest sha256 of each of the 5 ranges.
	firsts := []string{"00000000", "33333334", "66666667", "9999999a", "cccccccd"}
	tests := []struct {
		name   string
		states []sharding.State
		want   []int // server index For returns for each range
	}{
		{"all active", []sharding.State{"active", "active", "active", "active", "active"}, []int{0, 1, 2, 3, 4}},
		{"third readonly", []sharding.State{"active", "active", "readonly", "active", "active"}, []int{0, 1, 3, 3, 4}},
		{"last down", []sharding.State{"active", "active", "active", "active", "down"}, []int{0, 1, 2, 3, 0}},
		{"two out in a row", []sharding.State{"active", "down", "readonly", "active", "active"}, []int{0, 3, 3, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []Member
			for i, e := range eps {
				ms = append(ms, Member{Backend: mk(e), State: tt.states[i]})
			}
			sh, err := NewShardedMembers(ms)
			if err != nil {
				t.Fatal(err)
			}
			for r, first := range firsts {
				h := first + strings.Repeat("0", 56)
				home, err := sh.Home(h)
				if err != nil || home != r {
					t.Fatalf("Home(%s) = %d, %v; want %d", h, home, err, r)
				}
				got, err := sh.For(h)
				if err != nil {
					t.Fatal(err)
				}
				if got.Endpoint() != eps[tt.want[r]] {
					t.Errorf("range %d: For = %s, want %s", r, got.Endpoint(), eps[tt.want[r]])
				}
				if sh.Fallback(r) != tt.want[r] {
					t.Errorf("Fallback(%d) = %d, want %d", r, sh.Fallback(r), tt.want[r])
				}
			}
			var writable []string
			for _, b := range sh.Writable() {
				writable = append(writable, b.Endpoint())
			}
			for i, st := range tt.states {
				if st.Writable() != strings.Contains(strings.Join(writable, " "), eps[i]) {
					t.Errorf("Writable() = %v, server %d is %s", writable, i, st)
				}
				if got := sh.Members()[i].State; got != st {
					t.Errorf("Members()[%d].State = %s, want %s", i, got, st)
				}
			}
		})
	}

	// No active server: reads are still possible, writes are not placed.
	var ms []Member
	for _, e := range eps[:2] {
		ms = append(ms, Member{Backend: mk(e), State: sharding.ReadOnly})
	}
	sh, err := NewShardedMembers(ms)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.For(strings.Repeat("0", 64)); !errors.Is(err, sharding.ErrNoWritableServer) {
		t.Errorf("For with no active server = %v, want ErrNoWritableServer", err)
	}
	if _, ok := sh.ByEndpoint(eps[0]); !ok {
		t.Error("ByEndpoint found no readonly server")
	}
	if _, err := NewShardedMembers([]Member{{Backend: mk(eps[0]), State: "drained"}}); !errors.Is(err, sharding.ErrInvalidState) {
		t.Errorf("unknown state: %v, want ErrInvalidState", err)
	}
	if _, err := NewShardedMembers([]Member{{Backend: mk(eps[0])}}); !errors.Is(err, sharding.ErrInvalidState) {
		t.Errorf("empty state: %v, want ErrInvalidState", err)
	}
}

// TestReadOnlyServer: a readonly server is read and emptied through the
// real MinIO, and every write is refused before any request.
func TestReadOnlyServer(t *testing.T) {
	srv := testServers(t, 1)[0]
	ctx := testCtx(t)
	b, sum := randomContent(t, 1000)
	key, _ := ObjectKey("testwiki", hex.EncodeToString(sum), false)
	if _, err := srv.Put(ctx, key, bytes.NewReader(b), int64(len(b)), sum); err != nil {
		t.Fatal(err)
	}
	ro := WithState(srv, sharding.ReadOnly)
	if ro.Endpoint() != srv.Endpoint() {
		t.Errorf("Endpoint() = %s", ro.Endpoint())
	}
	if got := get(t, ctx, srv, key); !bytes.Equal(got, b) {
		t.Fatal("content differs")
	}
	rc, _, err := ro.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get through readonly: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, b) {
		t.Error("Get through readonly: content differs")
	}
	if _, err := ro.Stat(ctx, key); err != nil {
		t.Errorf("Stat through readonly: %v", err)
	}
	n := 0
	if err := ro.List(ctx, "testwiki/", func(ObjectInfo) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("List through readonly: %d objects, %v", n, err)
	}
	other, otherSum := randomContent(t, 10)
	otherKey, _ := ObjectKey("testwiki", hex.EncodeToString(otherSum), false)
	_, err = ro.Put(ctx, otherKey, bytes.NewReader(other), 10, otherSum)
	var se *StateError
	if !errors.As(err, &se) || !errors.Is(err, ErrServerState) || se.State != sharding.ReadOnly || !strings.Contains(err.Error(), srv.Endpoint()) {
		t.Fatalf("Put through readonly = %v, want a StateError naming the server", err)
	}
	if _, err := srv.Stat(ctx, otherKey); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused Put stored something: %v", err)
	}
	if err := ro.EnsureBucket(ctx); !errors.Is(err, ErrServerState) {
		t.Errorf("EnsureBucket through readonly = %v", err)
	}
	// Removing is reading's companion (deletes of erased files, rebalance
	// moving objects off it): allowed.
	if err := ro.Remove(ctx, key); err != nil {
		t.Fatalf("Remove through readonly: %v", err)
	}
	if _, err := srv.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Remove: %v", err)
	}
}

// TestDownServer: a down server is never contacted. Its endpoint is a
// port that accepts connections and never answers: any request would
// hang there, so an immediate error proves none was made.
func TestDownServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			defer c.Close()
		}
	}()
	srv, err := NewServer("http://"+l.Addr().String(), "mbtest-down", Credentials{AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	d := WithState(srv, sharding.Down)
	if d.Endpoint() != srv.Endpoint() {
		t.Errorf("Endpoint() = %s", d.Endpoint())
	}
	ctx := testCtx(t)
	key := "testwiki/000/" + strings.Repeat("0", 64)
	calls := map[string]func() error{
		"Get":          func() error { _, _, err := d.Get(ctx, key); return err },
		"Stat":         func() error { _, err := d.Stat(ctx, key); return err },
		"Put":          func() error { _, err := d.Put(ctx, key, strings.NewReader("x"), 1, nil); return err },
		"Remove":       func() error { return d.Remove(ctx, key) },
		"List":         func() error { return d.List(ctx, "", func(ObjectInfo) error { return nil }) },
		"EnsureBucket": func() error { return d.EnsureBucket(ctx) },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		var se *StateError
		if !errors.As(err, &se) || se.State != sharding.Down || !errors.Is(err, ErrServerState) {
			t.Errorf("%s = %v, want a StateError of a down server", name, err)
			continue
		}
		if !strings.Contains(err.Error(), srv.Endpoint()) || !strings.Contains(err.Error(), "down in storage.endpoints") {
			t.Errorf("%s: %q does not name the server and its state", name, err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("%s took %v: it waited for the server", name, time.Since(start))
		}
	}
	select {
	case <-accepted:
		t.Error("the down server was contacted")
	case <-time.After(100 * time.Millisecond):
	}
	// An unknown state is treated as down.
	if _, _, err := WithState(srv, "maintenance").Get(ctx, key); !errors.Is(err, ErrServerState) || !strings.Contains(err.Error(), "not understood") {
		t.Errorf("unknown state: %v", err)
	}
}

func TestAsComposer(t *testing.T) {
	srv, err := NewServer("http://h:1", "mbtest-a", Credentials{AccessKey: "a"})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHealth(srv, HealthOptions{})
	for name, tc := range map[string]struct {
		b  Backend
		ok bool
	}{
		"server":          {srv, true},
		"health":          {h, true},
		"active health":   {WithState(h, sharding.Active), true},
		"readonly health": {WithState(h, sharding.ReadOnly), false},
		"down":            {WithState(srv, sharding.Down), false},
		"readonly server": {WithState(srv, sharding.ReadOnly), false},
		"nil":             {nil, false},
	} {
		c, ok := AsComposer(tc.b)
		if ok != tc.ok || (ok && c != Composer(srv)) {
			t.Errorf("%s: AsComposer = %v, %v; want %v", name, c, ok, tc.ok)
		}
	}
}
