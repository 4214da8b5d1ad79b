package backup

import (
	"bytes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
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
			s1, s256, m5 := sha1.Sum(data), sha256.Sum256(data), md5.Sum(data)
			if s.SHA1() != hex.EncodeToString(s1[:]) || s.SHA256() != hex.EncodeToString(s256[:]) || s.MD5() != hex.EncodeToString(m5[:]) {
				t.Errorf("hashes differ from crypto/sha1, crypto/sha256 and crypto/md5")
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
		if s.SHA1() != "" || s.MD5() != "" || s.SHA256() != hex.EncodeToString(want[:]) {
			t.Errorf("%d bytes: sha1 %q, md5 %q, sha256 %s; want no sha1, no md5 and %x", n, s.SHA1(), s.MD5(), s.SHA256(), want)
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

// TestSpoolFilesHaveNoName: a spool that spills to disk leaves no entry in
// its directory at any time, through the O_TMPFILE path and through the
// unlink-at-once fallback, so nothing can outlive the process.
func TestSpoolFilesHaveNoName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create func(dir string) (*os.File, error)
	}{
		{"default", createSpoolFile},
		{"fallback", createUnlinked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, err := tc.create(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data := bytes.Repeat([]byte("spooled "), 1000)
			if _, err := f.Write(data); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("entries in the spool directory while the file is open: %v", left)
			}
			got := make([]byte, len(data))
			if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read back %v", err)
			}
		})
	}
	// On Linux the default is the nameless O_TMPFILE (this test's tmpdir
	// supports it), not the fallback.
	if f, err := openUnnamed(t.TempDir()); err != nil && !errors.Is(err, errUnnamedUnsupported) {
		t.Errorf("openUnnamed: %v", err)
	} else if err == nil {
		f.Close()
	} else if runtime.GOOS == "linux" {
		t.Logf("O_TMPFILE is not supported on %s: the fallback is used", os.TempDir())
	}
}

// TestSealedSpool: a sealed spool reads back what was written, from any
// offset, while its file holds none of the plaintext.
func TestSealedSpool(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20+123)
	for i := range data {
		data[i] = "PLAINTEXT-MARKER "[i%17]
	}
	s := newSealedSpool(dir, 1<<20)
	defer s.Close()
	if _, err := io.CopyBuffer(s, bytes.NewReader(data), make([]byte, 70000)); err != nil {
		t.Fatal(err)
	}
	sf, ok := s.file.(*sealedFile)
	if !ok {
		t.Fatalf("the spool file is a %T, want a sealed one", s.file)
	}
	raw := make([]byte, len(data))
	if _, err := sf.f.ReadAt(raw, 0); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("PLAINTEXT-MARKER")) {
		t.Fatal("the sealed spool file holds plaintext")
	}
	got, err := io.ReadAll(s.Reader())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
	}
	for _, off := range []int64{0, 1, 15, 16, 17, 4095, 1 << 20, 3<<20 + 100} {
		buf := make([]byte, 1000)
		n, err := sf.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
			t.Errorf("ReadAt(%d) differs from what was written", off)
		}
	}
}

// TestSealedCounterCarry: the key stream at an offset matches the
// sequential one even when the counter carries across bytes of the IV.
func TestSealedCounterCarry(t *testing.T) {
	f, err := createSpoolFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSealedFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range s.iv {
		s.iv[i] = 0xff
	}
	s.iv[0], s.iv[15] = 0x7f, 0xf0 // carries after 16 blocks, through every byte
	s.enc = cipher.NewCTR(s.block, s.iv[:])
	data := make([]byte, 64<<10)
	rand.Read(data)
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 255, 256, 257, 16*16 - 1, 16 * 16, 16*16 + 5, 40000} {
		buf := make([]byte, 777)
		n, _ := s.ReadAt(buf, off)
		if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
			t.Errorf("ReadAt(%d) differs across the counter carry", off)
		}
	}
}

func TestCleanSpool(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"mediabackups-123.part", "mediabackups-x.part", "keep.txt", "mediabackups.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("left over"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := CleanSpool(dir)
	if err != nil || n != 2 {
		t.Fatalf("CleanSpool = %d, %v; want the 2 spool files", n, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 {
		t.Errorf("left %v, want keep.txt and mediabackups.yaml", left)
	}
	if n, err := CleanSpool(filepath.Join(dir, "missing")); n != 0 || err != nil {
		t.Errorf("CleanSpool of a missing dir = %d, %v", n, err)
	}
}
