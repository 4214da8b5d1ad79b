package encryption

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// ageTool returns the path of the age command-line tool named name, skipping
// the test when it is missing, except in CI where a missing tool is a failure.
func ageTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testsvc.SkipOrFail(t, "%s not found (apt-get install age): %v", name, err)
	}
	return p
}

// TestCLIDecryptsOurFiles checks that the age command-line tool decrypts what
// Encrypt and EncryptReader write, so that backups can be restored without
// this tool.
func TestCLIDecryptsOurFiles(t *testing.T) {
	ageBin := ageTool(t, "age")
	id, other := newIdentity(t), newIdentity(t)
	keyFile := writeFile(t, "key.txt", "# test key\n"+id.String()+"\n", 0o600)
	for _, sz := range roundTripSizes {
		plain := randomBytes(t, sz.size)
		for name, ct := range map[string][]byte{
			"Encrypt":       encryptWithWriter(t, plain, other.Recipient(), id.Recipient()),
			"EncryptReader": encryptWithReader(t, plain, id.Recipient(), other.Recipient()),
		} {
			t.Run(sz.name+"/"+name, func(t *testing.T) {
				in := filepath.Join(t.TempDir(), "file"+Suffix)
				if err := os.WriteFile(in, ct, 0o600); err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd := exec.Command(ageBin, "-d", "-i", keyFile, in)
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("age -d: %v: %s", err, stderr.String())
				}
				if !bytes.Equal(out, plain) {
					t.Fatalf("age -d returned %d bytes that differ from the %d plaintext bytes", len(out), len(plain))
				}
			})
		}
	}
}

// TestWeDecryptCLIFiles checks the other direction, with a key made by
// age-keygen and loaded by LoadIdentity.
func TestWeDecryptCLIFiles(t *testing.T) {
	ageBin, keygen := ageTool(t, "age"), ageTool(t, "age-keygen")
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	if out, err := exec.Command(keygen, "-o", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v: %s", err, out)
	}
	pub, err := exec.Command(keygen, "-y", keyFile).Output()
	if err != nil {
		t.Fatalf("age-keygen -y: %v", err)
	}
	id, err := LoadIdentity(keyFile)
	if err != nil {
		t.Fatalf("LoadIdentity of an age-keygen file: %v", err)
	}
	rs, err := ParseRecipients([]string{string(pub)})
	if err != nil {
		t.Fatalf("ParseRecipients of age-keygen -y output: %v", err)
	}
	if rs[0].(*age.X25519Recipient).String() != id.Recipient().String() {
		t.Fatal("age-keygen -y and LoadIdentity disagree about the public key")
	}
	plain := randomBytes(t, 2*chunk+3)
	cmd := exec.Command(ageBin, "-r", strings.TrimSpace(string(pub)))
	cmd.Stdin = bytes.NewReader(plain)
	ct, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -r: %v", err)
	}
	r, err := Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypt of age CLI output: %d bytes, %v", len(got), err)
	}
}
