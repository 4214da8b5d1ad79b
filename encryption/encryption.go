package encryption

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"filippo.io/age"
)

// Suffix is appended to the name of an encrypted object or file.
const Suffix = ".age"

// maxIdentityFileSize bounds how much of an identity file LoadIdentity reads.
const maxIdentityFileSize = 1 << 20

// ErrInsecureIdentityFile is wrapped by the error LoadIdentity returns when
// the identity file is readable by every user.
var ErrInsecureIdentityFile = errors.New("identity file is world-readable")

// ErrNoIdentity is wrapped by the error LoadIdentity returns when the file
// holds no X25519 identity.
var ErrNoIdentity = errors.New("no age identity found")

// LoadIdentity reads the age X25519 identity stored in the file at path.
//
// The file is in age-keygen(1) format: blank lines and lines starting with
// '#' are skipped, and the first line that starts with "AGE-SECRET-KEY-1" is
// parsed; later lines are ignored. Any other line before it is an error
// (post-quantum "AGE-SECRET-KEY-PQ-1" identities are not supported, see the
// package documentation).
//
// LoadIdentity refuses (with an error wrapping ErrInsecureIdentityFile and a
// chmod hint) a file whose permissions let every user read it. Group
// readability is allowed, so that a backup group can share the key. Errors
// never contain key material.
func LoadIdentity(path string) (*age.X25519Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load age identity: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load age identity: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load age identity %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("load age identity %s: %w (mode %04o); restrict it with: chmod 600 %s",
			path, ErrInsecureIdentityFile, fi.Mode().Perm(), path)
	}

	sc := bufio.NewScanner(io.LimitReader(f, maxIdentityFileSize))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
			continue
		case strings.HasPrefix(text, "AGE-SECRET-KEY-PQ-1"):
			return nil, fmt.Errorf("load age identity %s: line %d: post-quantum identities are not supported, use an X25519 key from age-keygen without -pq", path, line)
		case strings.HasPrefix(text, "AGE-SECRET-KEY-1"):
			id, err := age.ParseX25519Identity(text)
			if err != nil {
				// age's parse errors do not include the key.
				return nil, fmt.Errorf("load age identity %s: line %d: %w", path, line, err)
			}
			return id, nil
		default:
			// Do not quote the line: it may be a mangled secret key.
			return nil, fmt.Errorf("load age identity %s: line %d: not an age X25519 identity (want AGE-SECRET-KEY-1...)", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("load age identity %s: line %d: %w", path, line+1, err)
	}
	return nil, fmt.Errorf("load age identity %s: %w; create one with: age-keygen -o %s", path, ErrNoIdentity, path)
}

// ParseRecipients parses age X25519 public keys ("age1..."), one per element.
// Surrounding white space is ignored.
//
// It returns an error naming the first bad element (public keys are not
// secret; a secret key given by mistake is not echoed), including a
// post-quantum "age1pq1..." key, and an error if list is empty.
func ParseRecipients(list []string) ([]age.Recipient, error) {
	if len(list) == 0 {
		return nil, errors.New("parse age recipients: no recipients given")
	}
	rs := make([]age.Recipient, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-") {
			// Do not echo it: it is a private key given by mistake.
			return nil, fmt.Errorf("parse age recipient %d: it is a secret key, not a public one; give its recipient instead (age-keygen -y <keyfile>)", i+1)
		}
		if strings.HasPrefix(s, "age1pq1") {
			return nil, fmt.Errorf("parse age recipient %d %q: post-quantum recipients are not supported (age 1.1.1 cannot decrypt them)", i+1, s)
		}
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("parse age recipient %d %q: %w", i+1, s, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// Encrypt returns a WriteCloser that encrypts what is written to it to all
// recipients and writes the age file to dst.
//
// The caller must call Close to encrypt and flush the last chunk; Close does
// not close dst. Without Close the output is truncated and will fail to
// decrypt. Encrypt returns an error if recipients is empty or if writing the
// header to dst fails.
func Encrypt(dst io.Writer, recipients ...age.Recipient) (io.WriteCloser, error) {
	w, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("start age encryption: %w", err)
	}
	return w, nil
}

// EncryptReader returns a reader of the age file that encrypts src to all
// recipients. It reads src on demand, one 64 KiB chunk ahead, so it holds
// little memory and starts no goroutine.
//
// The reader returns io.EOF only after the complete age file, i.e. after src
// returned io.EOF. An error from src, or a setup error such as an empty
// recipients list, is returned (wrapped) by Read instead, and the ciphertext
// read so far is an incomplete age file that will fail to decrypt.
//
// Close makes later Reads fail. It does not close src and does not
// interrupt a Read that is blocked in src (cancel src for that). Close may be
// called more than once, and concurrently with Read; Read itself must not be
// called concurrently.
func EncryptReader(src io.Reader, recipients ...age.Recipient) io.ReadCloser {
	r, err := age.EncryptReader(&annotatedReader{r: src}, recipients...)
	if err != nil {
		return &encryptReader{err: fmt.Errorf("start age encryption: %w", err)}
	}
	return &encryptReader{r: r}
}

var _ io.ReadCloser = (*encryptReader)(nil)

type encryptReader struct {
	r      io.Reader
	err    error // sticky error, returned by every later Read
	closed atomic.Bool
}

// ErrClosed is returned by Read on a reader from EncryptReader after Close.
var ErrClosed = errors.New("read from closed encryption reader")

func (e *encryptReader) Read(p []byte) (int, error) {
	if e.closed.Load() {
		return 0, ErrClosed
	}
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = fmt.Errorf("age encrypt: %w", err)
		return n, e.err
	}
	return n, err
}

func (e *encryptReader) Close() error {
	e.closed.Store(true)
	return nil
}

// annotatedReader says which side of the encryption an error came from.
type annotatedReader struct{ r io.Reader }

func (a *annotatedReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read plaintext: %w", err)
	}
	return n, err
}

// Decrypt returns a reader of the plaintext of the age file read from src.
//
// Decrypt reads and checks the header before it returns. If no identity
// matches a recipient of the file the error wraps *age.NoIdentityMatchError
// (and age.ErrIncorrectIdentity for X25519), so errors.As/errors.Is tell a
// wrong key apart from a damaged file.
//
// The returned reader authenticates each 64 KiB chunk before returning it and
// reports truncation, tampering or a read error from src as an error instead
// of io.EOF: the plaintext is only known to be complete and genuine once Read
// has returned io.EOF. Callers writing it to disk must discard it on error.
func Decrypt(src io.Reader, identities ...age.Identity) (io.Reader, error) {
	r, err := age.Decrypt(src, identities...)
	if err != nil {
		return nil, fmt.Errorf("age decrypt: %w", err)
	}
	return r, nil
}
