// Package verify holds back the end of a stream until its bytes are proven
// to be the ones their metadata describes. Both production stores write
// through it, so that a wrong object never becomes visible: Swift gets a
// PUT with a Content-Length, which it discards when the body ends short; a
// file is renamed into place only after the copy ended without error.
package verify

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/mediabackups/mediabackups/production"
)

// Reader passes the bytes of an underlying reader through and checks them
// against a production.Meta. It never returns the last byte before it has
// read the whole stream, checked that it ends there and that its size, md5
// and sha1 are the expected ones; otherwise Read returns a
// *production.MismatchError (or the underlying reader's error, or the
// context's) instead, and keeps returning it.
type Reader struct {
	ctx       context.Context
	r         io.Reader
	m         production.Meta
	n         int64
	md5, sha1 hash.Hash
	done      bool
	err       error
}

// NewReader checks r against m. ctx is checked before every read, so a
// cancelled context stops the stream (with ctx.Err()) even when r itself
// does not watch it.
func NewReader(ctx context.Context, r io.Reader, m production.Meta) *Reader {
	return &Reader{ctx: ctx, r: r, m: m, md5: md5.New(), sha1: sha1.New()}
}

// Err returns the error that stopped the stream, if any. A store returns it
// in preference to what its transport made of it.
func (v *Reader) Err() error { return v.err }

// Started reports whether anything was read (or tried): until then the
// stream can be sent again from its start by a new Reader.
func (v *Reader) Started() bool { return v.n > 0 || v.done || v.err != nil }

// Done reports whether the whole stream was read and proven.
func (v *Reader) Done() bool { return v.done }

// Read implements io.Reader.
func (v *Reader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := v.ctx.Err(); err != nil {
		return 0, v.fail(err)
	}
	remaining := v.m.Size - v.n
	if remaining > 1 {
		// All but the last byte pass straight through.
		if int64(len(p)) > remaining-1 {
			p = p[:remaining-1]
		}
		k, err := v.r.Read(p)
		v.n += int64(k)
		v.md5.Write(p[:k])
		v.sha1.Write(p[:k])
		switch {
		case errors.Is(err, io.EOF):
			return 0, v.fail(v.short())
		case err != nil:
			return 0, v.fail(err)
		}
		return k, nil
	}
	// The last byte (none when Size is 0) is returned only once the end of
	// the stream is proven and the sums match.
	var last [1]byte
	if remaining == 1 {
		if _, err := io.ReadFull(v.r, last[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = v.short()
			}
			return 0, v.fail(err)
		}
		v.n++
		v.md5.Write(last[:])
		v.sha1.Write(last[:])
	}
	var extra [1]byte
	for {
		k, err := v.r.Read(extra[:])
		if k > 0 {
			return 0, v.fail(&production.MismatchError{Field: "size", Want: strconv.FormatInt(v.m.Size, 10),
				Got: "more than " + strconv.FormatInt(v.m.Size, 10)})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, v.fail(err)
		}
	}
	if got := hex.EncodeToString(v.md5.Sum(nil)); got != strings.ToLower(v.m.MD5) {
		return 0, v.fail(&production.MismatchError{Field: "md5", Want: strings.ToLower(v.m.MD5), Got: got})
	}
	if got := hex.EncodeToString(v.sha1.Sum(nil)); got != strings.ToLower(v.m.SHA1) {
		return 0, v.fail(&production.MismatchError{Field: "sha1", Want: strings.ToLower(v.m.SHA1), Got: got})
	}
	v.done = true
	if remaining == 1 {
		p[0] = last[0]
		return 1, nil
	}
	return 0, io.EOF
}

func (v *Reader) short() error {
	return &production.MismatchError{Field: "size", Want: strconv.FormatInt(v.m.Size, 10), Got: strconv.FormatInt(v.n, 10)}
}

func (v *Reader) fail(err error) error {
	v.err = err
	return err
}

// Seek lets an HTTP client send the body again after a redirect or a
// re-authentication, as long as none of it was read: only Seek(0,
// io.SeekStart) before the first byte works.
func (v *Reader) Seek(offset int64, whence int) (int64, error) {
	if offset == 0 && whence == io.SeekStart && v.n == 0 && v.err == nil && !v.done {
		return 0, nil
	}
	return 0, fmt.Errorf("cannot rewind a stream that is being verified (%d bytes read)", v.n)
}
