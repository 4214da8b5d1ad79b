package verify

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/time/rate"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// check reads b from its recorded server and returns what it found
// (ok, missing or damaged), what was wrong, and the bytes read from the
// server. An error means the check could not be made: nothing is known
// about the object.
func (r *runner) check(ctx context.Context, b metadata.Backup) (metadata.VerifyResult, string, int64, error) {
	srv, ok := r.opts.Locate(b.Location)
	if !ok {
		return "", "", 0, fmt.Errorf("object %s is recorded on %s, which is not in storage.endpoints of the config", b.ObjectKey, b.Location)
	}
	if b.Encrypted && len(r.opts.Identities) == 0 {
		return "", "", 0, errors.New("the object is encrypted and no identity is configured (encryption.identity_file)")
	}
	rc, size, err := srv.Get(ctx, b.ObjectKey)
	if errors.Is(err, storage.ErrNotFound) {
		return metadata.VerifyMissing, fmt.Sprintf("%s has no object %s", b.Location, b.ObjectKey), 0, nil
	}
	if err != nil {
		return "", "", 0, err
	}
	defer rc.Close()
	if b.StoredSize > 0 && size != b.StoredSize {
		// No need to read it: it is not what was stored.
		return metadata.VerifyDamaged, fmt.Sprintf("the object has %d bytes, %d were stored", size, b.StoredSize), 0, nil
	}
	src := &meteredReader{ctx: ctx, r: rc, lim: r.opts.Limiter}
	var plain io.Reader = src
	if b.Encrypted {
		if plain, err = encryption.Decrypt(src, r.opts.Identities...); err != nil {
			if src.err != nil {
				return "", "", src.n, fmt.Errorf("read %s from %s: %w", b.ObjectKey, b.Location, src.err)
			}
			return metadata.VerifyDamaged, fmt.Sprintf("its age header does not open with the configured identity (damaged, or encrypted to another key): %v", err), src.n, nil
		}
	}
	h256, h1 := sha256.New(), sha1.New()
	n, err := io.Copy(io.MultiWriter(h256, h1), plain)
	if err != nil {
		if src.err != nil {
			return "", "", src.n, fmt.Errorf("read %s from %s: %w", b.ObjectKey, b.Location, src.err)
		}
		return metadata.VerifyDamaged, fmt.Sprintf("decrypting it failed after %d bytes: %v", n, err), src.n, nil
	}
	got256, got1 := hex.EncodeToString(h256.Sum(nil)), hex.EncodeToString(h1.Sum(nil))
	switch {
	case n != b.Size:
		return metadata.VerifyDamaged, fmt.Sprintf("its content has %d bytes (sha256 %s), the backup records %d", n, got256, b.Size), src.n, nil
	case got256 != b.SHA256:
		return metadata.VerifyDamaged, fmt.Sprintf("its content has sha256 %s, the backup records %s", got256, b.SHA256), src.n, nil
	case b.SHA1 != "" && got1 != b.SHA1:
		return metadata.VerifyDamaged, fmt.Sprintf("its content has sha1 %s, the backup records %s", got1, b.SHA1), src.n, nil
	}
	return metadata.VerifyOK, "", src.n, nil
}

// meteredReader counts what is read from an object server, takes the
// bytes from the rate limiter, and keeps the error of the read itself, so
// that a broken connection is told apart from damaged content.
type meteredReader struct {
	ctx context.Context
	r   io.Reader
	lim *rate.Limiter
	n   int64
	err error // the first error other than io.EOF
}

func (m *meteredReader) Read(p []byte) (int, error) {
	if m.lim != nil && len(p) > m.lim.Burst() {
		p = p[:m.lim.Burst()]
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	if n > 0 && m.lim != nil {
		if werr := m.lim.WaitN(m.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil && err != io.EOF && m.err == nil {
		m.err = err
	}
	return n, err
}

// NewLimiter returns a limiter of bytesPerSec bytes per second for
// Options.Limiter, or nil (no limit) when bytesPerSec is 0 or less. Its
// burst is a tenth of a second's worth, at least 32 KiB and at most
// 1 MiB, so the rate holds over any second.
func NewLimiter(bytesPerSec float64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := int(min(max(bytesPerSec/10, 32<<10), 1<<20))
	return rate.NewLimiter(rate.Limit(bytesPerSec), burst)
}
