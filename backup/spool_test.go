package backup

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestSpoolHashesAndSpillsToDisk(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		threshold int64
		wantFile  bool
	}{
		{"empty", 0, 16, false},
		{"below threshold", 15, 16, false},
		{"at threshold", 16, 16, false},
		{"one above", 17, 16, true},
		{"large", 1 << 20, 64 << 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := make([]byte, tt.size)
			rand.Read(data)
			s := newSpool(dir, tt.threshold)
			// Write in odd-sized pieces, as a network read would.
			if _, err := io.CopyBuffer(s, bytes.NewReader(data), make([]byte, 7)); err != nil {
				t.Fatal(err)
			}
			s1, s256 := sha1.Sum(data), sha256.Sum256(data)
			if s.SHA1() != hex.EncodeToString(s1[:]) || s.SHA256() != hex.EncodeToString(s256[:]) {
				t.Errorf("hashes differ from crypto/sha1 and crypto/sha256")
			}
			if s.Size() != int64(tt.size) || s.InFile() != tt.wantFile {
				t.Errorf("size %d inFile %v, want %d %v", s.Size(), s.InFile(), tt.size, tt.wantFile)
			}
			for range 2 { // readers are independent and start at 0
				got, err := io.ReadAll(s.Reader())
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			left, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(left) != 0 {
				t.Errorf("temporary files left after Close: %v", left)
			}
		})
	}
}

func TestSpoolReportsUnwritableDir(t *testing.T) {
	s := newSpool(filepath.Join(t.TempDir(), "missing"), 1)
	defer s.Close()
	if _, err := s.Write([]byte("ab")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("write to a spool in a missing dir = %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestCipherSpoolHashesOnlySHA256(t *testing.T) {
	for _, n := range []int{0, 10, 100} {
		s := newCipherSpool(t.TempDir(), 50)
		data := bytes.Repeat([]byte("x"), n)
		if _, err := s.Write(data); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		if s.SHA1() != "" || s.SHA256() != hex.EncodeToString(want[:]) {
			t.Errorf("%d bytes: sha1 %q, sha256 %s; want no sha1 and %x", n, s.SHA1(), s.SHA256(), want)
		}
		got, _ := io.ReadAll(s.Reader())
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d bytes", n, len(got))
		}
		s.Close()
		if got, _ := io.ReadAll(s.Reader()); len(got) != 0 {
			t.Errorf("a closed spool still reads %d bytes", len(got))
		}
	}
}
