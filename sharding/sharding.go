package sharding

import (
	"errors"
	"fmt"
)

// MaxServers is the largest server count Shard and Ranges accept. It keeps
// Ranges' output small and every shard's range non-empty.
const MaxServers = 1 << 16

// PrefixDigits is the number of leading hex digits of a SHA-256 that decide
// its shard.
const PrefixDigits = 8

// ErrInvalidSHA256 is wrapped by the errors Shard returns when its input is
// not 64 hex digits.
var ErrInvalidSHA256 = errors.New("invalid sha256")

// ErrInvalidServerCount is wrapped by the errors Shard and Ranges return when
// n is outside [1, MaxServers].
var ErrInvalidServerCount = errors.New("invalid server count")

// Shard returns the index in [0,n) of the server that holds the object whose
// sha256 (64 hex digits, any case) is given.
//
// Shard is deterministic and depends only on the first PrefixDigits digits
// and on n; all 64 digits are still validated. It returns an error wrapping
// ErrInvalidServerCount if n < 1 or n > MaxServers, and one wrapping
// ErrInvalidSHA256 if sha256hex is not exactly 64 hex digits. It never panics.
func Shard(sha256hex string, n int) (int, error) {
	if err := checkN(n); err != nil {
		return 0, err
	}
	p, err := prefix(sha256hex)
	if err != nil {
		return 0, err
	}
	return shardOf(p, n), nil
}

// shardOf is floor(p * n / 2^32). n <= MaxServers, so the product fits.
func shardOf(p uint32, n int) int {
	return int(uint64(p) * uint64(n) >> 32)
}

// Range is the inclusive range of PrefixDigits-hex-digit prefixes one shard
// holds. First and Last are lower-case, zero-padded to PrefixDigits digits.
type Range struct {
	Index       int
	First, Last string
}

// Ranges returns, for n servers, the prefix range of every shard, in shard
// order: Ranges(n)[i].Index == i. The ranges are non-empty, contiguous, cover
// 00000000 to ffffffff and differ in size by at most one prefix. A SHA-256 h
// with Shard(h, n) == i satisfies First <= h[:8] <= Last (lower-cased).
//
// It returns an error wrapping ErrInvalidServerCount if n < 1 or
// n > MaxServers.
func Ranges(n int) ([]Range, error) {
	if err := checkN(n); err != nil {
		return nil, err
	}
	rs := make([]Range, n)
	for i := range n {
		rs[i] = Range{
			Index: i,
			First: fmt.Sprintf("%08x", first(i, n)),
			Last:  fmt.Sprintf("%08x", first(i+1, n)-1),
		}
	}
	return rs, nil
}

// first returns the smallest prefix of shard i, ceil(i * 2^32 / n), as a
// uint64 so that first(n, n) == 2^32.
func first(i, n int) uint64 {
	return (uint64(i)<<32 + uint64(n) - 1) / uint64(n)
}

func checkN(n int) error {
	if n < 1 || n > MaxServers {
		return fmt.Errorf("%w: %d, want 1 to %d servers", ErrInvalidServerCount, n, MaxServers)
	}
	return nil
}

// prefix validates a 64-hex-digit SHA-256 and returns its first 8 digits as a
// big-endian uint32.
func prefix(s string) (uint32, error) {
	if len(s) != 64 {
		return 0, fmt.Errorf("%w %s: want 64 hex digits, got %d characters", ErrInvalidSHA256, quote(s), len(s))
	}
	var p uint32
	for i := range len(s) {
		v, ok := hexValue(s[i])
		if !ok {
			return 0, fmt.Errorf("%w %s: character %d (%q) is not a hex digit", ErrInvalidSHA256, quote(s), i, s[i])
		}
		if i < PrefixDigits {
			p = p<<4 | uint32(v)
		}
	}
	return p, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// quote quotes s for an error message, shortening absurdly long input.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
