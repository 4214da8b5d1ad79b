package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestCopyParts(t *testing.T) {
	for _, tc := range []struct{ length, want int64 }{
		{1, copyPartSize},
		{1 << 30, copyPartSize},
		{(maxParts - 1) * copyPartSize, copyPartSize},
		{(maxParts-1)*copyPartSize + 1, copyPartSize + 1},
		{5 << 40, (5<<40 + maxParts - 2) / (maxParts - 1)},
	} {
		got := copyParts(tc.length)
		if got != tc.want {
			t.Errorf("copyParts(%d) = %d, want %d", tc.length, got, tc.want)
		}
		if n := len(splitRange(0, tc.length, got)); n > maxParts-1 {
			t.Errorf("copyParts(%d) = %d makes %d parts", tc.length, got, n)
		}
	}
}

func TestSplitRange(t *testing.T) {
	tests := []struct {
		offset, length, max int64
		want                [][2]int64
	}{
		{0, 10, 10, [][2]int64{{0, 10}}},
		{5, 10, 100, [][2]int64{{5, 10}}},
		{0, 11, 10, [][2]int64{{0, 6}, {6, 5}}},
		{100, 25, 10, [][2]int64{{100, 9}, {109, 9}, {118, 7}}},
		{0, 20, 10, [][2]int64{{0, 10}, {10, 10}}},
	}
	for _, tt := range tests {
		got := splitRange(tt.offset, tt.length, tt.max)
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitRange(%d, %d, %d) = %v, want %v", tt.offset, tt.length, tt.max, got, tt.want)
		}
		var sum int64
		for _, r := range got {
			if r[1] > tt.max || r[1] <= 0 {
				t.Errorf("splitRange(%d, %d, %d): piece %v", tt.offset, tt.length, tt.max, r)
			}
			sum += r[1]
		}
		if sum != tt.length {
			t.Errorf("splitRange(%d, %d, %d) covers %d bytes", tt.offset, tt.length, tt.max, sum)
		}
	}
}

// TestCompose builds objects from uploaded bytes and server-side copies on
// a real MinIO, and checks that failures leave nothing behind.
func TestCompose(t *testing.T) {
	srv := testServers(t, 1)[0]
	ctx := testCtx(t)
	src, _ := randomContent(t, 12<<20)
	if _, err := srv.Put(ctx, "src", bytes.NewReader(src), int64(len(src)), nil); err != nil {
		t.Fatal(err)
	}
	head, _ := randomContent(t, MinPartSize)
	check := func(key string, want []byte) {
		t.Helper()
		if got := get(t, ctx, srv, key); !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes differ from the %d expected", key, len(got), len(want))
		}
	}

	// Uploaded head, then 7 MiB copied from the middle of src.
	st, err := srv.Compose(ctx, "new", []Part{{Data: head}, {CopyKey: "src", Offset: 5 << 20, Length: 7 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(head))+7<<20 || st.Uploaded != int64(len(head)) || st.Copied != 7<<20 {
		t.Errorf("stats = %+v", st)
	}
	check("new", append(append([]byte{}, head...), src[5<<20:]...))

	// A single small uploaded part, and a copy that ends with a small part.
	if _, err := srv.Compose(ctx, "small", []Part{{Data: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	check("small", []byte("hello"))
	if _, err := srv.Compose(ctx, "tail", []Part{{CopyKey: "src", Offset: 0, Length: MinPartSize}, {Data: []byte("!")}}); err != nil {
		t.Fatal(err)
	}
	check("tail", append(append([]byte{}, src[:MinPartSize]...), '!'))

	// GetRange.
	rc, err := srv.GetRange(ctx, "src", 100, 50)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(part, src[100:150]) {
		t.Error("GetRange returned other bytes")
	}
	if _, err := srv.GetRange(ctx, "missing", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRange of a missing object = %v", err)
	}

	// Failures: nothing is created, an existing object is untouched, and
	// no incomplete upload is left.
	for name, parts := range map[string][]Part{
		"small first part":    {{Data: []byte("x")}, {CopyKey: "src", Offset: 0, Length: 10}},
		"missing source":      {{Data: head}, {CopyKey: "missing", Offset: 0, Length: 10}},
		"range past the end":  {{Data: head}, {CopyKey: "src", Offset: 12 << 20, Length: 10}},
		"copy without length": {{CopyKey: "src"}},
	} {
		t.Run(name, func(t *testing.T) {
			key := "fail-" + fmt.Sprint(len(name))
			if _, err := srv.Compose(ctx, key, parts); err == nil {
				t.Fatal("Compose succeeded")
			} else if name == "small first part" && !errors.Is(err, ErrPartTooSmall) {
				t.Errorf("error = %v, want ErrPartTooSmall", err)
			}
			if _, err := srv.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("a failed Compose left an object: %v", err)
			}
			if _, err := srv.Compose(ctx, "small", parts); err == nil {
				t.Fatal("Compose succeeded")
			}
			check("small", []byte("hello"))
		})
	}
	left, err := IncompleteUploads(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("incomplete uploads left: %v", left)
	}
}

func TestRekeyedKey(t *testing.T) {
	h := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct{ in, want string }{
		{"enwiki/e3b/" + h + ".age", "enwiki/e3b/" + h + ".k1.age"},
		{"enwiki/e3b/" + h + ".k1.age", "enwiki/e3b/" + h + ".k2.age"},
		{"enwiki/e3b/" + h + ".k9.age", "enwiki/e3b/" + h + ".k10.age"},
		{"enwiki/e3b/" + h + ".k10.age", "enwiki/e3b/" + h + ".k11.age"},
		// Not a generation: kept as part of the name.
		{"w/x.k0.age", "w/x.k0.k1.age"},
		{"w/x.k01.age", "w/x.k01.k1.age"},
		{"w/x.k-1.age", "w/x.k-1.k1.age"},
		{"w/x.kk.age", "w/x.kk.k1.age"},
		{"w/x.k.age", "w/x.k.k1.age"},
	}
	for _, tt := range tests {
		got, err := RekeyedKey(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("RekeyedKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", ".age", "enwiki/e3b/" + h, "x.age.gz"} {
		if got, err := RekeyedKey(bad); err == nil {
			t.Errorf("RekeyedKey(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzRekeyedKey(f *testing.F) {
	for _, s := range []string{"w/a.age", "w/a.k1.age", "w/a.k99999999999999999999.age", "a.k.age", ".k1.age"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		next, err := RekeyedKey(key)
		if err != nil {
			return
		}
		if next == key {
			t.Fatalf("RekeyedKey(%q) is the key itself", key)
		}
		again, err := RekeyedKey(next)
		if err != nil || again == next || again == key {
			t.Fatalf("RekeyedKey(%q) = %q, then %q, %v", key, next, again, err)
		}
		if !strings.HasSuffix(next, ".age") {
			t.Fatalf("RekeyedKey(%q) = %q lost the suffix", key, next)
		}
	})
}
