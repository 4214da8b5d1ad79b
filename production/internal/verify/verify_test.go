package verify

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mediabackups/mediabackups/production"
)

func metaOf(b []byte) production.Meta {
	m, s := md5.Sum(b), sha1.Sum(b)
	return production.Meta{Size: int64(len(b)), MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s[:]), ContentType: "image/png"}
}

// readAll reads like a consumer that stops at the first error, and returns
// what it received before it.
func readAll(r io.Reader) ([]byte, error) {
	var got []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

func TestReader(t *testing.T) {
	body := []byte("the bytes of a file version, some of them")
	good := metaOf(body)
	boom := errors.New("boom")
	tests := []struct {
		name  string
		r     io.Reader
		m     production.Meta
		field string // the MismatchError's, "" for success
		err   error  // else this error
	}{
		{"exact", bytes.NewReader(body), good, "", nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(body)), good, "", nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(body)), good, "", nil},
		{"empty", strings.NewReader(""), metaOf(nil), "", nil},
		{"one byte", strings.NewReader("x"), metaOf([]byte("x")), "", nil},
		{"upper-case sums", bytes.NewReader(body), production.Meta{Size: good.Size, MD5: strings.ToUpper(good.MD5), SHA1: strings.ToUpper(good.SHA1)}, "", nil},
		{"short", bytes.NewReader(body[:20]), good, "size", nil},
		{"short by the last byte", bytes.NewReader(body[:len(body)-1]), good, "size", nil},
		{"long by one byte", io.MultiReader(bytes.NewReader(body), strings.NewReader("!")), good, "size", nil},
		{"empty but not", strings.NewReader("x"), metaOf(nil), "size", nil},
		{"wrong md5", bytes.NewReader(body), production.Meta{Size: good.Size, MD5: strings.Repeat("0", 32), SHA1: good.SHA1}, "md5", nil},
		{"wrong sha1", bytes.NewReader(body), production.Meta{Size: good.Size, MD5: good.MD5, SHA1: strings.Repeat("0", 40)}, "sha1", nil},
		{"last byte differs", bytes.NewReader(append(append([]byte{}, body[:len(body)-1]...), 'X')), good, "md5", nil},
		{"reader fails", io.MultiReader(bytes.NewReader(body[:10]), iotest.ErrReader(boom)), good, "", boom},
		{"reader fails at the end", io.MultiReader(bytes.NewReader(body), iotest.ErrReader(boom)), good, "", boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewReader(context.Background(), tt.r, tt.m)
			got, err := readAll(v)
			switch {
			case tt.field == "" && tt.err == nil:
				if err != nil || int64(len(got)) != tt.m.Size || !v.Done() {
					t.Fatalf("read %d bytes, %v, done %v; want all %d", len(got), err, v.Done(), tt.m.Size)
				}
			case tt.err != nil:
				if !errors.Is(err, tt.err) || !errors.Is(v.Err(), tt.err) {
					t.Fatalf("error %v (Err %v), want %v", err, v.Err(), tt.err)
				}
			default:
				var me *production.MismatchError
				if !errors.As(err, &me) || me.Field != tt.field || v.Err() != err {
					t.Fatalf("error %v (Err %v), want a mismatch of %s", err, v.Err(), tt.field)
				}
			}
			if err != nil {
				// The point of the reader: a consumer that stops at the
				// error never holds all the bytes a wrong object has.
				if int64(len(got)) >= tt.m.Size && tt.m.Size > 0 {
					t.Errorf("got %d of %d bytes before the error", len(got), tt.m.Size)
				}
				if n, again := v.Read(make([]byte, 10)); n != 0 || again != err {
					t.Errorf("a Read after the error = %d, %v; want 0, the same error", n, again)
				}
				if v.Done() {
					t.Error("Done after an error")
				}
			}
		})
	}
}

func TestReaderCancel(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 100)
	ctx, cancel := context.WithCancel(context.Background())
	v := NewReader(ctx, bytes.NewReader(body), metaOf(body))
	if n, err := v.Read(make([]byte, 10)); n != 10 || err != nil {
		t.Fatalf("first Read = %d, %v", n, err)
	}
	cancel()
	if _, err := readAll(v); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", err)
	}
}

func TestReaderSeek(t *testing.T) {
	body := []byte("abc")
	v := NewReader(context.Background(), bytes.NewReader(body), metaOf(body))
	if _, err := v.Seek(0, io.SeekStart); err != nil {
		t.Errorf("Seek to the start before reading: %v", err)
	}
	v.Read(make([]byte, 1))
	if _, err := v.Seek(0, io.SeekStart); err == nil {
		t.Error("Seek after reading: nil error, want one (the bytes cannot be sent again)")
	}
}
