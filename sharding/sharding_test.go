package sharding

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestShardFirstDigit pins, for 1 to 17 servers, the shard of the smallest
// and of the largest SHA-256 starting with each of the 16 hex digits. The
// expected values were computed independently (Python big integers) and must
// never change: objects already written were placed by them.
func TestShardFirstDigit(t *testing.T) {
	tests := []struct {
		n         int
		zeros, fs [16]int
	}{
		{n: 1, zeros: [16]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, fs: [16]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{n: 2, zeros: [16]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, fs: [16]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}},
		{n: 3, zeros: [16]int{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2}, fs: [16]int{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}},
		{n: 4, zeros: [16]int{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, fs: [16]int{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}},
		{n: 5, zeros: [16]int{0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}, fs: [16]int{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4}},
		{n: 6, zeros: [16]int{0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5}, fs: [16]int{0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5}},
		{n: 7, zeros: [16]int{0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6}, fs: [16]int{0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6, 6}},
		{n: 8, zeros: [16]int{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}, fs: [16]int{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7}},
		{n: 9, zeros: [16]int{0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 8}, fs: [16]int{0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8}},
		{n: 10, zeros: [16]int{0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9}, fs: [16]int{0, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 9}},
		{n: 11, zeros: [16]int{0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 10}, fs: [16]int{0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 10, 10}},
		{n: 12, zeros: [16]int{0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11}, fs: [16]int{0, 1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11}},
		{n: 13, zeros: [16]int{0, 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12}, fs: [16]int{0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12, 12}},
		{n: 14, zeros: [16]int{0, 0, 1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 13}, fs: [16]int{0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10, 11, 12, 13, 13}},
		{n: 15, zeros: [16]int{0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, fs: [16]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14}},
		{n: 16, zeros: [16]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, fs: [16]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
		{n: 17, zeros: [16]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, fs: [16]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
	}
	const digits = "0123456789abcdef"
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d", tt.n), func(t *testing.T) {
			for d := range 16 {
				for _, c := range []struct {
					fill string
					want int
				}{{"0", tt.zeros[d]}, {"f", tt.fs[d]}, {"F", tt.fs[d]}} {
					h := digits[d:d+1] + strings.Repeat(c.fill, 63)
					got, err := Shard(h, tt.n)
					if err != nil {
						t.Fatalf("Shard(%s, %d): %v", h, tt.n, err)
					}
					if got != c.want {
						t.Errorf("Shard(%s, %d) = %d, want %d", h, tt.n, got, c.want)
					}
				}
			}
		})
	}
}

func TestShardErrors(t *testing.T) {
	valid := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		hash string
		n    int
		want error
	}{
		{"zero servers", valid, 0, ErrInvalidServerCount},
		{"negative servers", valid, -3, ErrInvalidServerCount},
		{"too many servers", valid, MaxServers + 1, ErrInvalidServerCount},
		{"empty", "", 4, ErrInvalidSHA256},
		{"short", valid[:63], 4, ErrInvalidSHA256},
		{"long", valid + "0", 4, ErrInvalidSHA256},
		{"prefix only", "deadbeef", 4, ErrInvalidSHA256},
		{"non-hex in prefix", "g" + valid[1:], 4, ErrInvalidSHA256},
		{"non-hex after prefix", valid[:40] + "z" + valid[41:], 4, ErrInvalidSHA256},
		{"sign", "-" + valid[1:], 4, ErrInvalidSHA256},
		{"0x prefix", "0x" + valid[2:], 4, ErrInvalidSHA256},
		{"space", " " + valid[1:], 4, ErrInvalidSHA256},
		{"multibyte", "é" + valid[2:], 4, ErrInvalidSHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Shard(tt.hash, tt.n)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Shard(%q, %d) = %d, %v; want error wrapping %v", tt.hash, tt.n, got, err, tt.want)
			}
		})
	}
}

func TestShardValidInputs(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 16, 17, 100, 1000, MaxServers} {
		for _, h := range []string{strings.Repeat("0", 64), strings.Repeat("f", 64), strings.Repeat("F", 64), "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"} {
			got, err := Shard(h, n)
			if err != nil || got < 0 || got >= n {
				t.Errorf("Shard(%s, %d) = %d, %v; want a shard in [0,%d)", h, n, got, err, n)
			}
		}
	}
}

func TestRangesPinned(t *testing.T) {
	tests := []struct {
		n    int
		want []Range
	}{
		{1, []Range{{0, "00000000", "ffffffff"}}},
		{2, []Range{{0, "00000000", "7fffffff"}, {1, "80000000", "ffffffff"}}},
		{3, []Range{{0, "00000000", "55555555"}, {1, "55555556", "aaaaaaaa"}, {2, "aaaaaaab", "ffffffff"}}},
		{4, []Range{{0, "00000000", "3fffffff"}, {1, "40000000", "7fffffff"}, {2, "80000000", "bfffffff"}, {3, "c0000000", "ffffffff"}}},
		{5, []Range{{0, "00000000", "33333333"}, {1, "33333334", "66666666"}, {2, "66666667", "99999999"}, {3, "9999999a", "cccccccc"}, {4, "cccccccd", "ffffffff"}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d", tt.n), func(t *testing.T) {
			got, err := Ranges(tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Ranges(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestRangesErrors(t *testing.T) {
	for _, n := range []int{-1, 0, MaxServers + 1} {
		if rs, err := Ranges(n); !errors.Is(err, ErrInvalidServerCount) || rs != nil {
			t.Errorf("Ranges(%d) = %v, %v; want nil, ErrInvalidServerCount", n, rs, err)
		}
	}
}

var propertyCounts = []int{1, 2, 3, 4, 5, 6, 7, 16, 17, 31, 100, 255, 1000, 4097, MaxServers}

// TestRangesTile checks that the ranges cover the uint32 prefix space with no
// gap and no overlap, and that their sizes differ by at most one.
func TestRangesTile(t *testing.T) {
	for _, n := range propertyCounts {
		rs, err := Ranges(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != n {
			t.Fatalf("Ranges(%d) has %d ranges", n, len(rs))
		}
		var next uint64 // first prefix not yet covered
		minSize, maxSize := uint64(1<<32), uint64(0)
		for i, r := range rs {
			f, l := mustParse(t, r.First), mustParse(t, r.Last)
			if r.Index != i {
				t.Fatalf("n=%d: range %d has Index %d", n, i, r.Index)
			}
			if f != next {
				t.Fatalf("n=%d: range %d starts at %08x, want %08x", n, i, f, next)
			}
			if l < f {
				t.Fatalf("n=%d: range %d is empty: %v", n, i, r)
			}
			size := l - f + 1
			minSize, maxSize = min(minSize, size), max(maxSize, size)
			next = l + 1
		}
		if next != 1<<32 {
			t.Fatalf("n=%d: ranges end at %08x, want ffffffff", n, next-1)
		}
		if maxSize-minSize > 1 {
			t.Errorf("n=%d: range sizes from %d to %d, want a difference of at most 1", n, minSize, maxSize)
		}
	}
}

// TestShardMatchesRanges checks that random hashes, and the hashes at both
// edges of every range, land in the shard whose range holds their prefix.
func TestShardMatchesRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range propertyCounts {
		rs, err := Ranges(n)
		if err != nil {
			t.Fatal(err)
		}
		check := func(h string) {
			t.Helper()
			got, err := Shard(h, n)
			if err != nil {
				t.Fatalf("Shard(%s, %d): %v", h, n, err)
			}
			if got < 0 || got >= n {
				t.Fatalf("Shard(%s, %d) = %d, out of range", h, n, got)
			}
			p := strings.ToLower(h[:8])
			inside := 0
			for _, r := range rs {
				if r.First <= p && p <= r.Last {
					inside++
					if r.Index != got {
						t.Fatalf("Shard(%s, %d) = %d, but prefix is in %v", h, n, got, r)
					}
				}
			}
			if inside != 1 {
				t.Fatalf("prefix of %s is in %d ranges for n=%d, want 1", h, inside, n)
			}
		}
		for range 2000 {
			check(randomHash(rng))
		}
		if n <= 1000 {
			for _, r := range rs {
				check(r.First + randomHash(rng)[8:])
				check(r.Last + randomHash(rng)[8:])
			}
		}
	}
}

// TestShardMonotonic checks that a larger prefix never maps to a smaller shard.
func TestShardMonotonic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range propertyCounts {
		for range 2000 {
			a, b := rng.Uint32(), rng.Uint32()
			if a > b {
				a, b = b, a
			}
			tail := randomHash(rng)[8:]
			sa, err := Shard(fmt.Sprintf("%08x", a)+tail, n)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := Shard(fmt.Sprintf("%08X", b)+tail, n)
			if err != nil {
				t.Fatal(err)
			}
			if sa > sb {
				t.Fatalf("n=%d: prefix %08x -> shard %d but larger prefix %08x -> shard %d", n, a, sa, b, sb)
			}
		}
	}
}

// TestShardIgnoresTail checks that only the prefix decides the shard.
func TestShardIgnoresTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		h1, h2 := randomHash(rng), randomHash(rng)
		h2 = h1[:8] + h2[8:]
		for _, n := range []int{3, 5, 17} {
			s1, _ := Shard(h1, n)
			s2, _ := Shard(h2, n)
			if s1 != s2 {
				t.Fatalf("n=%d: %s -> %d but %s -> %d", n, h1, s1, h2, s2)
			}
		}
	}
}

func FuzzShard(f *testing.F) {
	f.Add(strings.Repeat("0", 64), 1)
	f.Add(strings.Repeat("f", 64), 17)
	f.Add(strings.Repeat("F", 64), 5)
	f.Add("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 4)
	f.Add("", 0)
	f.Add("xyz", -1)
	f.Add(strings.Repeat("g", 64), 3)
	f.Fuzz(func(t *testing.T, h string, n int) {
		got, err := Shard(h, n)
		if err != nil {
			if !errors.Is(err, ErrInvalidSHA256) && !errors.Is(err, ErrInvalidServerCount) {
				t.Fatalf("Shard(%q, %d): unexpected error type: %v", h, n, err)
			}
			return
		}
		if got < 0 || got >= n {
			t.Fatalf("Shard(%q, %d) = %d, out of range", h, n, got)
		}
		if len(h) != 64 {
			t.Fatalf("Shard(%q, %d) accepted a hash of length %d", h, n, len(h))
		}
		// The same hash in the other case lands on the same shard.
		if other, err := Shard(strings.ToUpper(h), n); err != nil || other != got {
			t.Fatalf("Shard(upper %q, %d) = %d, %v; want %d", h, n, other, err, got)
		}
	})
}

func ExampleRanges() {
	rs, err := Ranges(5)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rs {
		fmt.Printf("server %d: %s-%s\n", r.Index, r.First, r.Last)
	}
	// Output:
	// server 0: 00000000-33333333
	// server 1: 33333334-66666666
	// server 2: 66666667-99999999
	// server 3: 9999999a-cccccccc
	// server 4: cccccccd-ffffffff
}

func ExampleShard() {
	s, err := Shard("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 5)
	fmt.Println(s, err)
	// Output: 4 <nil>
}

func randomHash(rng *rand.Rand) string {
	var b strings.Builder
	for range 4 {
		fmt.Fprintf(&b, "%016x", rng.Uint64())
	}
	return b.String()
}

func mustParse(t *testing.T, s string) uint64 {
	t.Helper()
	var v uint64
	if _, err := fmt.Sscanf(s, "%08x", &v); err != nil || len(s) != 8 {
		t.Fatalf("bad range bound %q: %v", s, err)
	}
	return v
}
