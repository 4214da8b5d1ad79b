package encryption

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/hkdf"
)

// ReadHeader reads the header of the age file at the start of r (the
// recipient stanzas and the MAC line) and returns it exactly as it is in
// the file: the payload (nonce and encrypted chunks) starts right after
// it, at offset len(header). It reads at most maxHeader bytes.
func ReadHeader(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxHeader))
	var hdr bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		hdr.Write(line)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("read age header: the file ends before the header does (not an age file, or cut short)")
			}
			return nil, fmt.Errorf("read age header: %w", err)
		}
		if hdr.Len() == len(line) && string(line) != intro {
			return nil, errors.New("read age header: not an age v1 file")
		}
		if bytes.HasPrefix(line, []byte("--- ")) {
			break
		}
	}
	// Let age parse and re-encode it: a header is canonical, so a header
	// age accepts marshals to the same bytes.
	canon, err := age.ExtractHeader(bytes.NewReader(hdr.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("read age header: %w", err)
	}
	if !bytes.Equal(canon, hdr.Bytes()) {
		return nil, errors.New("read age header: the header is not in canonical form")
	}
	return hdr.Bytes(), nil
}

// maxHeader bounds the header ReadHeader reads: a header names a few
// recipients, each in a couple of hundred bytes.
const maxHeader = 64 << 10

const intro = "age-encryption.org/v1\n"

// Rewrap returns a new header for the age file whose header is header (as
// ReadHeader returns it), addressed to recipients instead of the old ones.
// The file key does not change, so the payload that followed the old
// header decrypts with the new header unchanged: a file is rekeyed by
// writing the new header in front of its old payload, without decrypting
// or encrypting the payload.
//
// One of identities must open the old header (the error then wraps
// *age.NoIdentityMatchError). Once the file is rewritten, only the
// identities of recipients open it. It refuses what encryption.Encrypt
// refuses: no recipient, and recipients of mixed kinds (post-quantum with
// classic).
//
// age has no API to write a header around a given file key, so Rewrap
// writes one itself: the recipient stanzas from each Recipient's own Wrap,
// and the header MAC as the age v1 specification defines it
// (HMAC-SHA-256 keyed by HKDF-SHA-256 of the file key with info "header").
// Rewrap checks its output with age itself before returning it.
func Rewrap(header []byte, identities []age.Identity, recipients ...age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("rewrap age header: no recipients")
	}
	fileKey, err := age.DecryptHeader(header, identities...)
	if err != nil {
		return nil, fmt.Errorf("rewrap age header: open the old header: %w", err)
	}
	var (
		out    bytes.Buffer
		labels []string
	)
	out.WriteString(intro)
	for i, r := range recipients {
		var stanzas []*age.Stanza
		var l []string
		if rl, ok := r.(age.RecipientWithLabels); ok {
			stanzas, l, err = rl.WrapWithLabels(fileKey)
		} else {
			stanzas, err = r.Wrap(fileKey)
		}
		if err != nil {
			return nil, fmt.Errorf("rewrap age header: wrap the file key for recipient #%d: %w", i, err)
		}
		slices.Sort(l)
		if i == 0 {
			labels = l
		} else if !slices.Equal(labels, l) {
			return nil, errors.New("rewrap age header: incompatible recipients: post-quantum and classic recipients cannot be mixed")
		}
		for _, s := range stanzas {
			if err := writeStanza(&out, s); err != nil {
				return nil, fmt.Errorf("rewrap age header: recipient #%d: %w", i, err)
			}
		}
	}
	out.WriteString("---")
	mac, err := headerMAC(fileKey, out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("rewrap age header: %w", err)
	}
	out.WriteString(" " + base64.RawStdEncoding.EncodeToString(mac) + "\n")
	// age must read it back to the same bytes and accept its MAC.
	canon, err := age.ExtractHeader(bytes.NewReader(out.Bytes()))
	if err != nil || !bytes.Equal(canon, out.Bytes()) {
		return nil, fmt.Errorf("rewrap age header: age does not read the new header back as written (%v)", err)
	}
	if _, err := age.DecryptHeader(out.Bytes(), age.NewInjectedFileKeyIdentity(fileKey)); err != nil {
		return nil, fmt.Errorf("rewrap age header: age refuses the new header: %w", err)
	}
	return out.Bytes(), nil
}

// writeStanza writes s as the age v1 format has it: "-> type args...",
// then the body in unpadded standard base64, wrapped at 64 columns, whose
// last line is shorter than 64 columns (possibly empty).
func writeStanza(w *bytes.Buffer, s *age.Stanza) error {
	for _, v := range append([]string{s.Type}, s.Args...) {
		if !validArg(v) {
			return fmt.Errorf("invalid stanza type or argument %q", v)
		}
	}
	w.WriteString("-> " + strings.Join(append([]string{s.Type}, s.Args...), " ") + "\n")
	enc := base64.RawStdEncoding.EncodeToString(s.Body)
	for len(enc) >= 64 {
		w.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	w.WriteString(enc + "\n")
	return nil
}

// validArg reports whether v is a non-empty string of visible ASCII, as
// stanza types and arguments must be.
func validArg(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 33 || v[i] > 126 {
			return false
		}
	}
	return true
}

// headerMAC is the MAC of an age header: HMAC-SHA-256 over the header up to
// and including "---", keyed by HKDF-SHA-256(file key, no salt, "header").
func headerMAC(fileKey, headerWithoutMAC []byte) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, fileKey, nil, []byte("header")), key); err != nil {
		return nil, fmt.Errorf("derive the header MAC key: %w", err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(headerWithoutMAC)
	return h.Sum(nil), nil
}

// FingerprintSize is the length of a Fingerprint.
const FingerprintSize = 8

// Fingerprint identifies a list of recipients, whatever their order: the
// first FingerprintSize bytes of the SHA-256 of their public keys (as
// String gives them), sorted and one per line. `rekey` records it for each
// object whose header it wrote, and rewrites the objects whose recorded
// fingerprint is not that of today's list. It returns an error for a
// recipient that has no textual form, or for an empty list.
func Fingerprint(recipients []age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("fingerprint of recipients: no recipients")
	}
	keys := make([]string, len(recipients))
	for i, r := range recipients {
		s, ok := r.(fmt.Stringer)
		if !ok {
			return nil, fmt.Errorf("fingerprint of recipients: recipient #%d (%T) has no public key string", i, r)
		}
		keys[i] = s.String()
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n") + "\n"))
	return sum[:FingerprintSize], nil
}
