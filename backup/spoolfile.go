package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Spool files never outlive the process that writes them, and for
// non-public wikis they never hold plaintext.
//
//   - A spool file has no name: on Linux it is opened with O_TMPFILE, an
//     inode with no directory entry that the kernel frees when the process
//     ends, however it ends (kill -9 included). Where the filesystem of
//     tmpdir does not support that, the file is created under a
//     mediabackups-*.part name and unlinked at once, before anything is
//     written to it; only a process killed between the two system calls
//     leaves an empty file, which CleanSpool removes at the next start.
//   - The spool of a non-public wiki is sealed: encrypted with AES-256-CTR
//     under a key that exists only in the memory of the process, so that
//     what reaches the disk is unreadable once the process is gone, even
//     from the free blocks of the filesystem.

// spoolPattern names the spool files of the named fallback, and of older
// versions, which left them behind when killed.
const spoolPattern = "mediabackups-*.part"

// spoolFile is where a spool spills: written once, in order, and read at
// any offset.
type spoolFile interface {
	io.Writer
	io.ReaderAt
	Close() error
}

// createSpoolFile opens a new, nameless temporary file in dir (see above).
func createSpoolFile(dir string) (*os.File, error) {
	f, err := openUnnamed(dir)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, errUnnamedUnsupported) {
		return nil, fmt.Errorf("spool to a temporary file in %s: %w", dir, err)
	}
	return createUnlinked(dir)
}

// createUnlinked is the fallback of createSpoolFile: a named file,
// unlinked before it is written to.
func createUnlinked(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("spool to a temporary file in %s: %w", dir, err)
	}
	// A concurrent CleanSpool may have removed it already: that is fine.
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.Close()
		return nil, fmt.Errorf("spool to a temporary file in %s: unlink %s: %w", dir, f.Name(), err)
	}
	return f, nil
}

// errUnnamedUnsupported is returned by openUnnamed when the system or the
// filesystem cannot make nameless files.
var errUnnamedUnsupported = errors.New("nameless temporary files are not supported here")

// CleanSpool removes the spool files that backups killed before this
// version left in dir (they may hold downloaded bytes in plaintext) and the
// empty ones a kill at the wrong instant can leave, and returns how many
// it removed. Removing the file of a backup that still runs does not
// disturb it: it keeps its open file. A missing dir is not an error.
func CleanSpool(dir string) (int, error) {
	names, err := filepath.Glob(filepath.Join(dir, spoolPattern))
	if err != nil {
		return 0, fmt.Errorf("clean the spool in %s: %w", dir, err)
	}
	n := 0
	var errs []error
	for _, name := range names {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("clean the spool in %s: %w", dir, errors.Join(errs...))
	}
	return n, nil
}

// sealedFile encrypts what is written to f with AES-256-CTR under a key
// that only this value holds, and decrypts what is read back. CTR lets a
// read start at any offset, so the spool keeps io.ReaderAt. It is not
// authenticated: it guards the bytes at rest against whoever finds them
// after the process, not against a writer of the disk while it runs (the
// content is verified against its sha256 when it is uploaded).
type sealedFile struct {
	f     *os.File
	block cipher.Block
	iv    [aes.BlockSize]byte
	enc   cipher.Stream // at the write offset
}

func newSealedFile(f *os.File) (*sealedFile, error) {
	key := make([]byte, 32)
	s := &sealedFile{f: f}
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.iv[:]); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	s.block = block
	s.enc = cipher.NewCTR(block, s.iv[:])
	return s, nil
}

// sealBuffers holds the scratch buffers of Write.
var sealBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (s *sealedFile) Write(p []byte) (int, error) {
	bp := sealBuffers.Get().(*[]byte)
	defer sealBuffers.Put(bp)
	buf := *bp
	n := 0
	for n < len(p) {
		c := min(len(p)-n, len(buf))
		s.enc.XORKeyStream(buf[:c], p[n:n+c])
		w, err := s.f.Write(buf[:c])
		n += w
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *sealedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
	if n > 0 {
		s.streamAt(off).XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

// streamAt returns the key stream from byte off on.
func (s *sealedFile) streamAt(off int64) cipher.Stream {
	var iv [aes.BlockSize]byte
	copy(iv[:], s.iv[:])
	// iv + off/16 as a 128-bit big-endian number, as CTR counts.
	carry := uint64(off / aes.BlockSize)
	for i := len(iv) - 1; i >= 0 && carry > 0; i-- {
		sum := uint64(iv[i]) + carry&0xff
		iv[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	st := cipher.NewCTR(s.block, iv[:])
	if skip := off % aes.BlockSize; skip > 0 {
		var junk [aes.BlockSize]byte
		st.XORKeyStream(junk[:skip], junk[:skip])
	}
	return st
}

func (s *sealedFile) Close() error { return s.f.Close() }
