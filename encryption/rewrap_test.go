package encryption

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"filippo.io/age"
)

// rekey rewrites ct (an age file) for recipients with Rewrap, as `rekey`
// does: the new header, then the old payload byte for byte.
func rekey(t *testing.T, ct []byte, ids []age.Identity, recipients ...age.Recipient) []byte {
	t.Helper()
	hdr, err := ReadHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ct, hdr) {
		t.Fatal("ReadHeader did not return the file's own first bytes")
	}
	nh, err := Rewrap(hdr, ids, recipients...)
	if err != nil {
		t.Fatal(err)
	}
	return append(nh, ct[len(hdr):]...)
}

func TestRewrap(t *testing.T) {
	ageBin := ageTool(t, "age")
	oldID, escrow, newID, other := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	for _, sz := range roundTripSizes {
		t.Run(sz.name, func(t *testing.T) {
			plain := randomBytes(t, sz.size)
			ct := encryptWithReader(t, plain, oldID.Recipient(), escrow.Recipient())
			// From one operator key plus escrow to another operator key plus
			// the same escrow, and a third recipient.
			re := rekey(t, ct, []age.Identity{oldID}, newID.Recipient(), escrow.Recipient(), other.Recipient())
			for name, id := range map[string]age.Identity{"new": newID, "escrow": escrow, "other": other} {
				r, err := Decrypt(bytes.NewReader(re), id)
				if err != nil {
					t.Fatalf("%s identity: %v", name, err)
				}
				if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%s identity: %d bytes, %v", name, len(got), err)
				}
			}
			// The identity the recipients no longer name is refused.
			if _, err := Decrypt(bytes.NewReader(re), oldID); err == nil {
				t.Fatal("the old identity still decrypts the rekeyed file")
			} else if _, ok := errors.AsType[*age.NoIdentityMatchError](err); !ok {
				t.Errorf("old identity: %v, want a NoIdentityMatchError", err)
			}
			// The reference tool agrees.
			in := writeFile(t, "file.age", string(re), 0o600)
			for name, id := range map[string]*age.X25519Identity{"new": newID, "old": oldID} {
				key := writeFile(t, name+".txt", id.String()+"\n", 0o600)
				var stderr bytes.Buffer
				cmd := exec.Command(ageBin, "-d", "-i", key, in)
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				switch {
				case name == "new" && (err != nil || !bytes.Equal(out, plain)):
					t.Fatalf("age -d with the new key: %v: %s", err, stderr.String())
				case name == "old" && err == nil:
					t.Fatal("age -d with the old key decrypted the rekeyed file")
				case name == "old" && !strings.Contains(stderr.String(), "no identity matched"):
					t.Errorf("age -d with the old key: %s", stderr.String())
				}
			}
		})
	}
}

func TestRewrapErrors(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	ct := encryptWithReader(t, randomBytes(t, 100), a.Recipient())
	hdr, err := ReadHeader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrap(hdr, []age.Identity{b}, b.Recipient()); err == nil {
		t.Error("Rewrap opened a header with the wrong identity")
	}
	if _, err := Rewrap(hdr, []age.Identity{a}); err == nil {
		t.Error("Rewrap without recipients succeeded")
	}
	bad := bytes.Clone(hdr)
	bad[len(bad)-5] ^= 1 // the MAC
	if _, err := Rewrap(bad, []age.Identity{a}, b.Recipient()); err == nil {
		t.Error("Rewrap accepted a header with a wrong MAC")
	}
	for name, in := range map[string][]byte{
		"empty":     nil,
		"not age":   []byte("hello world\n--- x\n"),
		"cut short": ct[:len(hdr)/2],
		"armored":   []byte("-----BEGIN AGE ENCRYPTED FILE-----\n"),
	} {
		if _, err := ReadHeader(bytes.NewReader(in)); err == nil {
			t.Errorf("ReadHeader(%s) succeeded", name)
		}
	}
}

func FuzzRewrap(f *testing.F) {
	id := newIdentity(f)
	ct := encryptWithReader(f, randomBytes(f, 10), id.Recipient())
	f.Add(ct)
	f.Add([]byte(intro + "-> X25519 abc\n\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, err := ReadHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, hdr) {
			t.Fatal("ReadHeader returned bytes that are not the input's prefix")
		}
		nh, err := Rewrap(hdr, []age.Identity{id}, id.Recipient())
		if err != nil {
			return
		}
		if _, err := age.DecryptHeader(nh, id); err != nil {
			t.Fatalf("Rewrap made a header its own recipient cannot open: %v", err)
		}
	})
}

func TestFingerprint(t *testing.T) {
	a, b, c := newIdentity(t).Recipient(), newIdentity(t).Recipient(), newIdentity(t).Recipient()
	fp := func(rs ...age.Recipient) string {
		t.Helper()
		f, err := Fingerprint(rs)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != FingerprintSize {
			t.Fatalf("fingerprint of %d bytes", len(f))
		}
		return string(f)
	}
	if fp(a, b) != fp(b, a) || fp(a, b) != fp(a, b, a) {
		t.Error("the fingerprint depends on the order or on repeats")
	}
	if fp(a, b) == fp(a, c) || fp(a) == fp(a, b) {
		t.Error("different lists have the same fingerprint")
	}
	// The same keys parsed again: the same fingerprint.
	again, err := ParseRecipients([]string{b.String(), a.String()})
	if err != nil {
		t.Fatal(err)
	}
	if fp(again...) != fp(a, b) {
		t.Error("parsed recipients have another fingerprint")
	}
	if _, err := Fingerprint(nil); err == nil {
		t.Error("Fingerprint of no recipients succeeded")
	}
}
