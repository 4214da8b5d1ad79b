package backup

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// buffers recycles the in-memory part of spools: at a few hundred small
// files a second, allocating a new buffer for each was a visible share of
// the backup's CPU (allocation and garbage collection).
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// spool holds downloaded bytes: in memory up to a threshold, then in a
// temporary file under a directory, which has no name and so vanishes with
// the process (see spoolfile.go). It hashes everything written to it with
// sha1, sha256 and md5 in the same pass (md5 is what Swift lists objects
// with, so that an audit can compare production by listing alone). A sealed spool encrypts what it puts
// in its file. Close releases the memory and the file.
type spool struct {
	dir       string
	threshold int64
	sealed    bool
	buf       *bytes.Buffer
	file      spoolFile
	size      int64
	sha1      hash.Hash
	sha256    hash.Hash
	md5       hash.Hash
}

func newSpool(dir string, threshold int64) *spool {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	return &spool{dir: dir, threshold: threshold, buf: b, sha1: sha1.New(), sha256: sha256.New(), md5: md5.New()}
}

// newSealedSpool is newSpool for the plaintext of a non-public wiki: what
// spills to disk is encrypted with a key only this process holds.
func newSealedSpool(dir string, threshold int64) *spool {
	s := newSpool(dir, threshold)
	s.sealed = true
	return s
}

// newCipherSpool is newSpool for encrypted bytes: only their sha256 (the
// upload's checksum) is needed, not a sha1 or an md5.
func newCipherSpool(dir string, threshold int64) *spool {
	s := newSpool(dir, threshold)
	s.sha1, s.md5 = nil, nil
	return s
}

// expect reserves memory for n bytes about to be written, when they will
// stay in memory.
func (s *spool) expect(n int64) {
	if n > 0 && n <= s.threshold && s.file == nil {
		s.buf.Grow(int(n))
	}
}

// Write implements io.Writer.
func (s *spool) Write(p []byte) (int, error) {
	if s.sha1 != nil {
		s.sha1.Write(p)
		s.md5.Write(p)
	}
	s.sha256.Write(p)
	s.size += int64(len(p))
	if s.file == nil && int64(s.buf.Len()+len(p)) > s.threshold {
		f, err := createSpoolFile(s.dir)
		if err != nil {
			return 0, err
		}
		s.file = f
		if s.sealed {
			if s.file, err = newSealedFile(f); err != nil {
				f.Close()
				s.file = nil
				return 0, fmt.Errorf("seal the spool file: %w", err)
			}
		}
		if _, err := s.file.Write(s.buf.Bytes()); err != nil {
			return 0, fmt.Errorf("spool to a temporary file in %s: %w", s.dir, err)
		}
		s.release()
	}
	if s.file != nil {
		if _, err := s.file.Write(p); err != nil {
			return 0, fmt.Errorf("spool to a temporary file in %s: %w", s.dir, err)
		}
		return len(p), nil
	}
	return s.buf.Write(p)
}

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// SHA1, MD5 and SHA256 return the lower-case hex digests of what was
// written; SHA1 and MD5 are empty for a spool made by newCipherSpool.
func (s *spool) SHA1() string {
	if s.sha1 == nil {
		return ""
	}
	return hex.EncodeToString(s.sha1.Sum(nil))
}
func (s *spool) MD5() string {
	if s.md5 == nil {
		return ""
	}
	return hex.EncodeToString(s.md5.Sum(nil))
}
func (s *spool) SHA256() string { return hex.EncodeToString(s.sha256.Sum(nil)) }

// SHA256Raw returns the raw sha256 digest.
func (s *spool) SHA256Raw() []byte { return s.sha256.Sum(nil) }

// InFile reports whether the bytes went to a temporary file.
func (s *spool) InFile() bool { return s.file != nil }

// Reader returns a reader of everything written, from the start. Each call
// returns an independent reader.
func (s *spool) Reader() io.Reader {
	if s.file != nil {
		return io.NewSectionReader(s.file, 0, s.size)
	}
	if s.buf == nil { // closed
		return bytes.NewReader(nil)
	}
	return bytes.NewReader(s.buf.Bytes())
}

// release gives the memory buffer back to the pool.
func (s *spool) release() {
	if s.buf != nil {
		if int64(s.buf.Cap()) <= 2*s.threshold {
			buffers.Put(s.buf)
		}
		s.buf = nil
	}
}

// Close releases the memory and the temporary file, if any (it has no
// name: closing it frees it). No reader returned by Reader may be used
// after it.
func (s *spool) Close() error {
	s.release()
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}
