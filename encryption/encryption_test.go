package encryption

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"filippo.io/age"
)

const chunk = 64 << 10 // age's STREAM chunk size

var roundTripSizes = []struct {
	name string
	size int
}{
	{"empty", 0},
	{"one byte", 1},
	{"chunk-1", chunk - 1},
	{"chunk", chunk},
	{"chunk+1", chunk + 1},
	{"two chunks", 2 * chunk},
	{"5 MiB", 5 << 20},
}

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func encryptWithWriter(t testing.TB, plain []byte, rs ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encryptWithReader(t testing.TB, plain []byte, rs ...age.Recipient) []byte {
	t.Helper()
	r := EncryptReader(bytes.NewReader(plain), rs...)
	defer r.Close()
	// OneByteReader-style small reads exercise the buffering; use a
	// half-reader so both short and long reads happen.
	ct, err := io.ReadAll(iotest.HalfReader(r))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func decrypt(t testing.TB, ct []byte, ids ...age.Identity) ([]byte, error) {
	t.Helper()
	r, err := Decrypt(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	id := newIdentity(t)
	encrypters := []struct {
		name string
		fn   func(testing.TB, []byte, ...age.Recipient) []byte
	}{
		{"Encrypt", encryptWithWriter},
		{"EncryptReader", encryptWithReader},
	}
	for _, sz := range roundTripSizes {
		plain := randomBytes(t, sz.size)
		for _, enc := range encrypters {
			t.Run(sz.name+"/"+enc.name, func(t *testing.T) {
				ct := enc.fn(t, plain, id.Recipient())
				got, err := decrypt(t, ct, id)
				if err != nil {
					t.Fatalf("decrypt: %v", err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("round trip of %d bytes returned %d different bytes", len(plain), len(got))
				}
			})
		}
	}
}

// TestEncryptReaderMatchesFormat checks that both encrypters produce files of
// the same length (same format, same chunking) for every size.
func TestEncryptReaderMatchesFormat(t *testing.T) {
	id := newIdentity(t)
	for _, sz := range roundTripSizes {
		plain := randomBytes(t, sz.size)
		a := encryptWithWriter(t, plain, id.Recipient())
		b := encryptWithReader(t, plain, id.Recipient())
		if len(a) != len(b) {
			t.Errorf("%s: Encrypt wrote %d bytes, EncryptReader %d", sz.name, len(a), len(b))
		}
	}
}

func TestSeveralRecipients(t *testing.T) {
	ids := []*age.X25519Identity{newIdentity(t), newIdentity(t), newIdentity(t)}
	var rs []age.Recipient
	for _, id := range ids {
		rs = append(rs, id.Recipient())
	}
	plain := randomBytes(t, 3*chunk+7)
	for _, ct := range [][]byte{encryptWithWriter(t, plain, rs...), encryptWithReader(t, plain, rs...)} {
		for i, id := range ids {
			got, err := decrypt(t, ct, id)
			if err != nil {
				t.Fatalf("identity %d: %v", i, err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("identity %d: wrong plaintext", i)
			}
		}
	}
}

func TestWrongIdentity(t *testing.T) {
	right, wrong := newIdentity(t), newIdentity(t)
	ct := encryptWithReader(t, []byte("secret media"), right.Recipient())
	_, err := decrypt(t, ct, wrong)
	var noMatch *age.NoIdentityMatchError
	if !errors.As(err, &noMatch) {
		t.Fatalf("decrypt with wrong identity: %v, want *age.NoIdentityMatchError", err)
	}
	if !errors.Is(err, age.ErrIncorrectIdentity) {
		t.Errorf("decrypt with wrong identity: %v, want it to wrap age.ErrIncorrectIdentity", err)
	}
}

func TestDecryptDamaged(t *testing.T) {
	id := newIdentity(t)
	plain := randomBytes(t, 2*chunk+100)
	ct := encryptWithReader(t, plain, id.Recipient())
	tests := []struct {
		name string
		ct   []byte
	}{
		{"truncated at chunk boundary", ct[:len(ct)-(100+16)]},
		{"last byte dropped", ct[:len(ct)-1]},
		{"bit flipped in body", flip(ct, len(ct)-50)},
		{"empty", nil},
		{"not age", []byte("hello world\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decrypt(t, tt.ct, id); err == nil {
				t.Fatal("damaged file decrypted without error")
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestEncryptNoRecipients(t *testing.T) {
	if _, err := Encrypt(io.Discard); err == nil {
		t.Error("Encrypt with no recipients succeeded")
	}
	r := EncryptReader(strings.NewReader("x"))
	defer r.Close()
	if _, err := io.ReadAll(r); err == nil {
		t.Error("EncryptReader with no recipients produced a file")
	}
}

func TestEncryptReaderSourceError(t *testing.T) {
	id := newIdentity(t)
	errSource := errors.New("disk on fire")
	tests := []struct {
		name string
		src  io.Reader
	}{
		{"immediately", iotest.ErrReader(errSource)},
		{"after a partial chunk", io.MultiReader(bytes.NewReader(randomBytes(t, 1000)), iotest.ErrReader(errSource))},
		{"after exactly one chunk", io.MultiReader(bytes.NewReader(randomBytes(t, chunk)), iotest.ErrReader(errSource))},
		{"after several chunks", io.MultiReader(bytes.NewReader(randomBytes(t, 3*chunk+5)), iotest.ErrReader(errSource))},
		{"together with data", iotest.DataErrReader(io.MultiReader(bytes.NewReader(randomBytes(t, 10)), iotest.ErrReader(errSource)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := EncryptReader(tt.src, id.Recipient())
			defer r.Close()
			ct, err := io.ReadAll(r)
			if !errors.Is(err, errSource) {
				t.Fatalf("ReadAll = %v, want the source error", err)
			}
			if !strings.Contains(err.Error(), "read plaintext") {
				t.Errorf("error %q does not say it came from the plaintext", err)
			}
			// The error is sticky.
			if _, err := r.Read(make([]byte, 10)); !errors.Is(err, errSource) {
				t.Errorf("Read after error = %v, want the source error again", err)
			}
			// Whatever came out is not a valid age file.
			if _, err := decrypt(t, ct, id); err == nil {
				t.Error("partial ciphertext decrypted without error")
			}
		})
	}
}

// endless is a source that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestEncryptReaderCloseMidStream(t *testing.T) {
	id := newIdentity(t)
	settle := func() int {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()
	for range 50 {
		r := EncryptReader(endless{}, id.Recipient())
		if _, err := io.ReadFull(r, make([]byte, 3*chunk+1)); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close = %v, want ErrClosed", err)
		}
	}
	var after int
	for range 100 { // allow unrelated runtime goroutines to settle
		if after = settle(); after <= before {
			return
		}
	}
	t.Fatalf("%d goroutines before, %d after closing 50 readers mid-stream", before, after)
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadIdentity(t *testing.T) {
	id1, id2 := newIdentity(t), newIdentity(t)
	k1, k2 := id1.String(), id2.String()
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    *age.X25519Identity // nil: an error is expected
		wantErr error               // checked with errors.Is when non-nil
		errHas  string              // substring the error must contain
	}{
		{name: "bare key", content: k1 + "\n", mode: 0o600, want: id1},
		{name: "no final newline", content: k1, mode: 0o600, want: id1},
		{name: "age-keygen format", content: "# created: 2024-01-01T00:00:00Z\n# public key: " + id1.Recipient().String() + "\n" + k1 + "\n", mode: 0o600, want: id1},
		{name: "blank lines and CRLF", content: "\r\n\n# comment\r\n" + k1 + "\r\n", mode: 0o400, want: id1},
		{name: "first of two keys", content: k1 + "\n" + k2 + "\n", mode: 0o600, want: id1},
		{name: "group readable is allowed", content: k1, mode: 0o640, want: id1},
		{name: "world readable", content: k1, mode: 0o644, wantErr: ErrInsecureIdentityFile, errHas: "chmod 600 "},
		{name: "world readable only", content: k1, mode: 0o604, wantErr: ErrInsecureIdentityFile, errHas: "chmod 600 "},
		{name: "empty", content: "", mode: 0o600, wantErr: ErrNoIdentity},
		{name: "only comments", content: "# nothing\n\n# here\n", mode: 0o600, wantErr: ErrNoIdentity},
		{name: "public key instead", content: id1.Recipient().String() + "\n", mode: 0o600, errHas: "line 1: not an age X25519 identity"},
		{name: "garbage before key", content: "# c\nSECRETGARBAGE\n" + k1, mode: 0o600, errHas: "line 2"},
		{name: "corrupt key", content: corrupt(k1), mode: 0o600, errHas: "malformed secret key"},
		{name: "post-quantum key", content: "AGE-SECRET-KEY-PQ-1XYZ\n", mode: 0o600, errHas: "post-quantum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "key.txt", tt.content, tt.mode)
			got, err := LoadIdentity(p)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("LoadIdentity: %v", err)
				}
				if got.String() != tt.want.String() {
					t.Fatal("LoadIdentity returned a different key")
				}
				return
			}
			if err == nil {
				t.Fatal("LoadIdentity succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if tt.errHas == "chmod 600 " && !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Errorf("error %q does not give the chmod command for %s", err, p)
			}
			for _, secret := range []string{k1, k2, "SECRETGARBAGE", k1[16 : len(k1)-1]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks secret material", err)
				}
			}
		})
	}
}

// corrupt changes the last character of a bech32 string, breaking its checksum.
func corrupt(s string) string {
	last := "q"
	if strings.HasSuffix(strings.ToLower(s), last) {
		last = "p"
	}
	if s != strings.ToLower(s) {
		last = strings.ToUpper(last)
	}
	return s[:len(s)-1] + last
}

func TestLoadIdentityNotAFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadIdentity(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(dir); err == nil {
		t.Error("LoadIdentity of a directory succeeded")
	}
}

func TestParseRecipients(t *testing.T) {
	id1, id2 := newIdentity(t), newIdentity(t)
	r1, r2 := id1.Recipient().String(), id2.Recipient().String()
	tests := []struct {
		name    string
		list    []string
		want    int    // number of recipients; 0 means an error is expected
		errHas  string // substring the error must contain
		errLack string // substring the error must not contain
	}{
		{name: "one", list: []string{r1}, want: 1},
		{name: "two", list: []string{r1, r2}, want: 2},
		{name: "surrounding space", list: []string{" " + r1 + "\n"}, want: 1},
		{name: "none", list: nil, errHas: "no recipients"},
		{name: "empty string", list: []string{r1, ""}, errHas: "recipient 2"},
		{name: "bad one is named", list: []string{r1, "age1notakey"}, errHas: `recipient 2 "age1notakey"`},
		{name: "corrupt checksum", list: []string{corrupt(r1)}, errHas: "recipient 1"},
		{name: "ssh key", list: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH"}, errHas: "ssh-ed25519"},
		{name: "post-quantum", list: []string{"age1pq1abcdef"}, errHas: "post-quantum"},
		{name: "secret key by mistake", list: []string{r1, id2.String()}, errHas: "recipient 2: it is a secret key", errLack: id2.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseRecipients(tt.list)
			if tt.want > 0 {
				if err != nil || len(rs) != tt.want {
					t.Fatalf("ParseRecipients = %d recipients, %v; want %d", len(rs), err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseRecipients succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if tt.errLack != "" && strings.Contains(err.Error(), tt.errLack) {
				t.Errorf("error %q contains %q", err, tt.errLack)
			}
		})
	}
	// Parsed recipients encrypt to the right keys.
	rs, err := ParseRecipients([]string{r1, r2})
	if err != nil {
		t.Fatal(err)
	}
	ct := encryptWithReader(t, []byte("x"), rs...)
	for _, id := range []*age.X25519Identity{id1, id2} {
		if got, err := decrypt(t, ct, id); err != nil || string(got) != "x" {
			t.Errorf("decrypt = %q, %v", got, err)
		}
	}
}

func FuzzParseRecipients(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(id.Recipient().String())
	f.Add(id.String())
	f.Add("age1pq1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRecipients([]string{s})
		if err == nil && len(rs) != 1 {
			t.Fatalf("ParseRecipients(%q) = %d recipients, no error", s, len(rs))
		}
	})
}

func FuzzLoadIdentity(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("# comment\n\n" + id.String() + "\n")
	f.Add("AGE-SECRET-KEY-PQ-1\n")
	f.Add("\n\n\n")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadIdentity(p)
		if err == nil && got == nil {
			t.Fatal("LoadIdentity returned nil, nil")
		}
	})
}

func Example() {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		fmt.Println(err)
		return
	}
	ct, err := io.ReadAll(EncryptReader(strings.NewReader("a media file"), id.Recipient()))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		fmt.Println(err)
		return
	}
	plain, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", plain, err)
	// Output: a media file <nil>
}
