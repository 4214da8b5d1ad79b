// Package rekey rewrites the age header of every encrypted object for
// today's recipients (encryption.recipients), without decrypting the
// payload, and without uploading it again.
//
// # How an object is rewritten
//
// An age file is a header, which wraps the file key once per recipient,
// followed by the payload, encrypted with the file key. [Run] reads an
// object's header (a range GET of its first bytes), opens it with the
// configured identities and writes a new header for the new recipients
// around the same file key (encryption.Rewrap). The new object is the new
// header followed by the old payload byte for byte, and it is built on the
// server, under a new key (storage.RekeyedKey), with one multipart upload
// (storage.Composer):
//
//   - part 1, uploaded: the new header and the first bytes of the payload,
//     5 MiB in all (S3's minimum size of a part that is not the last),
//     read with a range GET from the old object;
//   - part 2, copied by the server from the old object (UploadPartCopy):
//     the rest of the payload, however large.
//
// So at most 5 MiB is uploaded per object, whatever its size; an object
// of at most 5 MiB is rewritten whole in one part (its ciphertext read and
// uploaded again, never decrypted). Every object's bytes uploaded, copied
// server-side and read back to verify are logged, and added up in the
// [Report].
//
// # Verification and atomicity
//
// The new object is verified on the server before anything points at it:
// its size; its header, read back, is the one written and opens with the
// object's file key (its MAC checks); its payload, read back, equals the
// old object's payload byte for byte. Then the metadata is pointed at the
// new key, with the fingerprint of the recipients (encryption.Fingerprint)
// it is now written for, and the old object is removed. Each rewrite goes
// through package relocate: a rekey killed at any point leaves every
// object readable where the metadata records it, and the next run cleans
// what it left; objects already written for today's recipients are skipped,
// so a run resumes where the last one stopped.
//
// Objects on a server that is not active are left for a later run:
// nothing may be written to a readonly server, and a down one is not
// contacted.
package rekey

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/relocate"
	"github.com/mediabackups/mediabackups/storage"
)

// Store is what a rekey needs of the metadata.
type Store interface {
	relocate.Journal
	EncryptedObjects(ctx context.Context, fp []byte, after int64, limit int) ([]metadata.StoredObject, error)
}

var _ Store = (*metadata.Store)(nil)

// Options configures a Run.
type Options struct {
	// Servers are the configured servers with their states.
	Servers *storage.Sharded
	// Identities open the objects' current headers: the operator's key,
	// or the escrow key, of the recipients the objects were written for.
	Identities []age.Identity
	// Recipients are who the new headers are for.
	Recipients []age.Recipient
	// Execute rewrites; without it Run only counts.
	Execute bool
	// Parallel is how many objects are rewritten at once (default 4).
	Parallel int
	// Host names this process in the journal of moves.
	Host string
	// Log receives a line per rewritten object, with its byte counts,
	// progress, and one line per failure; nil discards.
	Log *slog.Logger
	// ProgressEvery is how often progress is logged (default 10 s).
	ProgressEvery time.Duration
}

// Bytes counts what rewriting objects moved.
type Bytes struct {
	// Uploaded is what was sent to the servers: the new header and the
	// first bytes of each payload (whole objects up to 5 MiB).
	Uploaded int64 `json:"uploaded"`
	// Copied is what the servers copied from the old objects themselves.
	Copied int64 `json:"copied_server_side"`
	// Read is what was downloaded: the old headers and first payload
	// bytes, and both objects' payloads read back to verify the new one.
	Read int64 `json:"read"`
}

func (b *Bytes) add(o Bytes) {
	b.Uploaded += o.Uploaded
	b.Copied += o.Copied
	b.Read += o.Read
}

// Failure is an object that could not be rewritten; it stays as it is.
type Failure struct {
	ObjectID int64  `json:"object_id"`
	Wiki     string `json:"wiki"`
	Key      string `json:"key"`
	Location string `json:"location"`
	Error    string `json:"error"`
}

// Report is what a Run found and did.
type Report struct {
	DryRun bool `json:"dry_run"`
	// Fingerprint is that of the recipients (encryption.Fingerprint).
	Fingerprint string            `json:"recipients_fingerprint"`
	Recovered   relocate.Recovery `json:"recovered"`
	// ToRewrite counts the encrypted objects not written for the
	// recipients yet, on active servers, and their stored bytes.
	ToRewrite      int   `json:"to_rewrite"`
	ToRewriteBytes int64 `json:"to_rewrite_bytes"`
	// Rewritten counts the objects rewritten: Whole ones (up to 5 MiB,
	// uploaded again) and Composed ones (5 MiB uploaded, the rest copied
	// by the server).
	Rewritten int   `json:"rewritten"`
	Whole     int   `json:"whole"`
	Composed  int   `json:"composed"`
	Bytes     Bytes `json:"bytes"`
	// Waiting counts objects per server that is not active: left for a
	// run once it is.
	Waiting map[string]int `json:"waiting"`
	Failed  []Failure      `json:"failed"`
	// SourcesLeft counts rewrites whose old object could not be removed:
	// the next run removes them.
	SourcesLeft int `json:"sources_left"`
}

const pageSize = 500

// Run counts the objects to rewrite and, with Execute, rewrites them (see
// the package documentation). Per-object failures are reported, not
// returned; the error is for what stops the run. With Execute the caller
// must hold the moves lock (metadata.Store.LockMoves).
func Run(ctx context.Context, store Store, o Options) (*Report, error) {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	fp, err := encryption.Fingerprint(o.Recipients)
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: !o.Execute, Fingerprint: hex.EncodeToString(fp), Waiting: map[string]int{}, Failed: []Failure{}}
	r := &runner{store: store, o: o, fp: fp, rep: rep,
		mover: &relocate.Mover{Journal: store, Locate: o.Servers.ByEndpoint, Host: o.Host, Log: o.Log}}
	err = r.run(ctx)
	sort.Slice(rep.Failed, func(i, j int) bool { return rep.Failed[i].ObjectID < rep.Failed[j].ObjectID })
	return rep, err
}

type runner struct {
	store Store
	o     Options
	fp    []byte
	mover *relocate.Mover

	mu  sync.Mutex
	rep *Report
}

func (r *runner) run(ctx context.Context) error {
	if r.o.Execute {
		rec, err := r.mover.Recover(ctx)
		r.rep.Recovered = rec
		if err != nil {
			return err
		}
	}
	state := map[string]storage.Member{}
	for _, m := range r.o.Servers.Members() {
		state[m.Backend.Endpoint()] = m
	}
	jobs := make(chan metadata.StoredObject)
	var wg sync.WaitGroup
	if r.o.Execute {
		for range r.o.Parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for obj := range jobs {
					r.one(ctx, obj)
				}
			}()
		}
	}
	stop := r.progress(ctx)
	err := r.walk(ctx, state, jobs)
	close(jobs)
	wg.Wait()
	stop()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (r *runner) walk(ctx context.Context, state map[string]storage.Member, jobs chan<- metadata.StoredObject) error {
	var after int64
	for {
		page, err := r.store.EncryptedObjects(ctx, r.fp, after, pageSize)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].ID
		for _, obj := range page {
			m, ok := state[obj.Location]
			if !ok || !m.State.Writable() {
				r.mu.Lock()
				r.rep.Waiting[obj.Location]++
				r.mu.Unlock()
				continue
			}
			r.mu.Lock()
			r.rep.ToRewrite++
			r.rep.ToRewriteBytes += obj.StoredSize
			r.mu.Unlock()
			if !r.o.Execute {
				continue
			}
			select {
			case jobs <- obj:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// one rewrites obj under its next key and records it.
func (r *runner) one(ctx context.Context, obj metadata.StoredObject) {
	fail := func(err error) {
		if ctx.Err() != nil {
			return
		}
		r.o.Log.Error("rekey failed; the object stays as it is", "object", obj.ID, "wiki", obj.Wiki, "key", obj.ObjectKey,
			"location", obj.Location, "err", err.Error())
		r.mu.Lock()
		r.rep.Failed = append(r.rep.Failed, Failure{ObjectID: obj.ID, Wiki: obj.Wiki, Key: obj.ObjectKey, Location: obj.Location, Error: err.Error()})
		r.mu.Unlock()
	}
	b, ok := r.o.Servers.ByEndpoint(obj.Location)
	if !ok {
		fail(fmt.Errorf("server %s is not in storage.endpoints", obj.Location))
		return
	}
	srv, ok := storage.AsComposer(b)
	if !ok {
		fail(fmt.Errorf("server %s cannot compose objects (%T)", obj.Location, b))
		return
	}
	newKey, err := storage.RekeyedKey(obj.ObjectKey)
	if err != nil {
		fail(err)
		return
	}
	var (
		moved Bytes
		whole bool
	)
	to := metadata.Place{LocationID: obj.LocationID, Endpoint: obj.Location, Key: newKey}
	res, err := r.mover.Move(ctx, obj, metadata.MoveRekey, to, func(ctx context.Context, _ storage.Backend, key string) (metadata.MovedObject, error) {
		size, w, n, err := Rewrite(ctx, srv, obj, key, r.o.Identities, r.o.Recipients)
		moved, whole = n, w
		return metadata.MovedObject{StoredSize: size, RecipientsFP: r.fp}, err
	})
	r.mu.Lock()
	r.rep.Bytes.add(moved) // what a failed rewrite moved counts too
	r.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	r.mu.Lock()
	r.rep.Rewritten++
	if whole {
		r.rep.Whole++
	} else {
		r.rep.Composed++
	}
	if res.SourceLeft != nil {
		r.rep.SourcesLeft++
	}
	r.mu.Unlock()
	how := "composed"
	if whole {
		how = "whole"
	}
	r.o.Log.Info("rekeyed", "object", obj.ID, "wiki", obj.Wiki, "location", obj.Location, "key", obj.ObjectKey, "new_key", newKey,
		"size", res.Object.StoredSize, "how", how, "bytes_uploaded", moved.Uploaded, "bytes_copied_server_side", moved.Copied, "bytes_read", moved.Read)
	if res.SourceLeft != nil {
		r.o.Log.Warn("rekeyed, but the old object is left for the next run", "object", obj.ID, "err", res.SourceLeft.Error())
	}
}

func (r *runner) progress(ctx context.Context) (stop func()) {
	if !r.o.Execute {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.mu.Lock()
				n, b, failed := r.rep.Rewritten, r.rep.Bytes, len(r.rep.Failed)
				r.mu.Unlock()
				r.o.Log.Info("rekey progress", "rewritten", n, "bytes_uploaded", b.Uploaded, "bytes_copied_server_side", b.Copied, "failed", failed)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// maxHeader bounds the bytes read to find an object's header (as
// encryption.ReadHeader does).
const maxHeader = 64 << 10

// compareChunk is how much of two payloads is compared at a time.
const compareChunk = 1 << 20

// ErrVerify is wrapped by Rewrite's error when the new object read back
// from the server is not what it must be.
var ErrVerify = errors.New("the rewritten object does not verify")

// Rewrite writes obj's content with its header rewrapped for recipients
// as newKey on srv (see the package documentation) and verifies it there.
// It returns the new object's size, whether it was uploaded whole (not
// composed), and the bytes it moved. A failed Rewrite may leave an object
// at newKey; the caller removes it.
func Rewrite(ctx context.Context, srv storage.Composer, obj metadata.StoredObject, newKey string,
	ids []age.Identity, recipients []age.Recipient) (size int64, whole bool, moved Bytes, err error) {
	key, stored := obj.ObjectKey, obj.StoredSize
	rc, err := srv.GetRange(ctx, key, 0, min(stored, maxHeader))
	if err != nil {
		return 0, false, moved, err
	}
	// The errors below name neither key nor server: the move around
	// Rewrite does.
	hdr, err := encryption.ReadHeader(rc)
	rc.Close()
	moved.Read += min(stored, maxHeader)
	if err != nil {
		return 0, false, moved, err
	}
	fileKey, err := age.DecryptHeader(hdr, ids...)
	if err != nil {
		return 0, false, moved, fmt.Errorf("open the header: %w (give an identity of the recipients it was written for: encryption.identity_file or --identity FILE)", err)
	}
	newHdr, err := encryption.Rewrap(hdr, ids, recipients...)
	if err != nil {
		return 0, false, moved, err
	}
	h, payload := int64(len(hdr)), stored-int64(len(hdr))
	size = int64(len(newHdr)) + payload
	first := min(payload, storage.MinPartSize-int64(len(newHdr)))
	whole = first == payload
	head := make([]byte, len(newHdr), int64(len(newHdr))+first)
	copy(head, newHdr)
	if first > 0 {
		rc, err := srv.GetRange(ctx, key, h, first)
		if err != nil {
			return 0, false, moved, err
		}
		head, err = readN(rc, head, first)
		rc.Close()
		moved.Read += first
		if err != nil {
			return 0, false, moved, fmt.Errorf("read the payload's first bytes: %w", err)
		}
	}
	parts := []storage.Part{{Data: head}}
	if !whole {
		parts = append(parts, storage.Part{CopyKey: key, Offset: h + first, Length: payload - first})
	}
	st, err := srv.Compose(ctx, newKey, parts)
	moved.Uploaded += st.Uploaded
	moved.Copied += st.Copied
	if err != nil {
		return 0, whole, moved, err
	}
	n, err := verify(ctx, srv, key, h, newKey, newHdr, fileKey, payload, size, head[len(newHdr):], whole)
	moved.Read += n
	if err != nil {
		return 0, whole, moved, err
	}
	return size, whole, moved, nil
}

// verify checks the new object on the server: its size, its header (the
// one written, which opens with the file key), and its payload against
// the old object's (or, for a whole rewrite, against the payload that was
// uploaded, which was read from the old object). It returns the bytes it
// read.
func verify(ctx context.Context, srv storage.Composer, oldKey string, oldHdrLen int64, newKey string, newHdr, fileKey []byte,
	payload, size int64, uploaded []byte, whole bool) (int64, error) {
	var read int64
	info, err := srv.Stat(ctx, newKey)
	if err != nil {
		return read, fmt.Errorf("verify %s: %w", newKey, err)
	}
	if info.Size != size {
		return read, fmt.Errorf("%w: %s on %s has %d bytes, want %d", ErrVerify, newKey, srv.Endpoint(), info.Size, size)
	}
	rc, err := srv.GetRange(ctx, newKey, 0, int64(len(newHdr)))
	if err != nil {
		return read, fmt.Errorf("verify %s: %w", newKey, err)
	}
	got, err := readN(rc, nil, int64(len(newHdr)))
	rc.Close()
	read += int64(len(got))
	if err != nil {
		return read, fmt.Errorf("verify %s: %w", newKey, err)
	}
	if !bytes.Equal(got, newHdr) {
		return read, fmt.Errorf("%w: %s on %s: the header read back is not the one written", ErrVerify, newKey, srv.Endpoint())
	}
	if _, err := age.DecryptHeader(got, age.NewInjectedFileKeyIdentity(fileKey)); err != nil {
		return read, fmt.Errorf("%w: %s on %s: the new header does not open with the file key: %v", ErrVerify, newKey, srv.Endpoint(), err)
	}
	newPayload, err := srv.GetRange(ctx, newKey, int64(len(newHdr)), payload)
	if err != nil {
		return read, fmt.Errorf("verify %s: %w", newKey, err)
	}
	defer newPayload.Close()
	var oldPayload io.Reader = bytes.NewReader(uploaded)
	if !whole {
		rc, err := srv.GetRange(ctx, oldKey, oldHdrLen, payload)
		if err != nil {
			return read, fmt.Errorf("verify %s against %s: %w", newKey, oldKey, err)
		}
		defer rc.Close()
		oldPayload = rc
	}
	a, b := make([]byte, compareChunk), make([]byte, compareChunk)
	for off := int64(0); off < payload; {
		n := min(int64(compareChunk), payload-off)
		if _, err := io.ReadFull(newPayload, a[:n]); err != nil {
			return read, fmt.Errorf("verify %s: read its payload back: %w", newKey, err)
		}
		read += n
		if _, err := io.ReadFull(oldPayload, b[:n]); err != nil {
			return read, fmt.Errorf("verify %s: read the payload of %s: %w", newKey, oldKey, err)
		}
		if !whole {
			read += n
		}
		if !bytes.Equal(a[:n], b[:n]) {
			return read, fmt.Errorf("%w: %s on %s: its payload differs from %s's at offset %d", ErrVerify, newKey, srv.Endpoint(), oldKey, off)
		}
		off += n
	}
	return read, nil
}

// readN appends exactly n bytes of r to buf.
func readN(r io.Reader, buf []byte, n int64) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	if _, err := io.ReadFull(r, buf[start:]); err != nil {
		return nil, err
	}
	return buf, nil
}
