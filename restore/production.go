package restore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/production"
)

// ProductionStore is what a restore into production uses of a
// production.Store.
type ProductionStore interface {
	Stat(ctx context.Context, container, name string) (production.Object, error)
	Open(ctx context.Context, container, name string) (io.ReadCloser, production.Object, error)
	Put(ctx context.Context, container, name string, r io.Reader, m production.Meta) error
	PutNew(ctx context.Context, container, name string, r io.Reader, m production.Meta) error
	CreateContainer(ctx context.Context, container string) error
	String() string
}

var _ ProductionStore = production.Store(nil)

// Journal records a step before it is taken: when Record returns nil, the
// line is on disk (the session log), so that no write into production
// happens that the log does not show.
type Journal interface {
	Record(msg string, args ...any) error
}

// DefaultMemoryLimit is Production.MemoryLimit's default.
const DefaultMemoryLimit = 8 << 20

// UnknownContentType is what MediaWiki's SwiftFileBackend gives an object
// whose MIME type it cannot tell, and what a restore writes for a version
// whose MIME type the metadata does not know.
const UnknownContentType = "unknown/unknown"

// Production is the Target of a restore into production: each version goes
// back to its own production container and path (metadata.File.Container
// and Path, checked by production.CheckPlace), in the wiki's production
// store, with MediaWiki's own metadata, so that MediaWiki serves it again
// and cannot tell it from an object it wrote itself.
//
// # Rules
//
//   - Only versions whose production status is public, archived or deleted
//     are taken; a hard-deleted version (erased on purpose) is refused at
//     StepStatus, and so is any other status.
//   - It writes where no object is (Written), with the store's PutNew, so
//     that the check and the write are one atomic step and an object that
//     is there, or appears meanwhile, is never replaced by it. Where one is,
//     it looks at it: an object with the version's bytes (size and md5,
//     and sha1 where the store cannot give an md5 without reading) is left
//     alone (Skipped); one with other bytes is damaged, and is replaced
//     only with ReplaceDamaged (Replaced), else left as it is
//     (KeptDamaged).
//   - A missing container fails the version at StepContainer unless
//     CreateContainers; then it is created as MediaWiki would create it
//     (production.Store.CreateContainer), once.
//   - With DryRun, everything is checked (the backup is read, decrypted and
//     verified, production is looked at) and nothing is written: the
//     actions are WouldWrite and WouldReplace.
//   - Every write is recorded in the Journal first, and read back after:
//     size and md5 of what the store now holds (Swift's ETag, which Swift
//     computes from the bytes it stored; a store without md5 is read in
//     full and hashed), and on Swift the Content-Type and
//     X-Object-Meta-Sha1base36 that MediaWiki reads. A difference fails
//     the version at StepReadBack.
//
// # Bytes
//
// The production stores want the md5 before the first byte (Swift checks
// the body against the ETag sent with it), so the bytes are checked in full
// before the write starts: files up to MemoryLimit are held in memory, and
// larger ones are read from the backup a second time for the write, through
// the store's check of size, md5 and sha1 (production.Store.Put), so that
// nothing else than the bytes checked the first time can be stored. No
// plaintext of a restored file ever goes to a local disk.
type Production struct {
	// Stores are the production stores, by wiki name.
	Stores map[string]ProductionStore
	// DryRun checks everything and writes nothing.
	DryRun bool
	// ReplaceDamaged replaces objects that hold other bytes.
	ReplaceDamaged bool
	// CreateContainers creates missing containers.
	CreateContainers bool
	// Journal records each write (and container creation) before it
	// happens; nil writes them to Log only.
	Journal Journal
	// Log receives every step; nil discards.
	Log *slog.Logger
	// MemoryLimit is the largest file held in memory (default
	// DefaultMemoryLimit); larger ones are read twice.
	MemoryLimit int64

	mu         sync.Mutex
	containers map[string]*containerOnce
}

var _ Target = (*Production)(nil)

type containerOnce struct {
	once sync.Once
	err  error
}

// buffers recycles the memory that holds small files.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (p *Production) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *Production) record(msg string, args ...any) error {
	if p.Journal == nil {
		p.log().Info(msg, args...)
		return nil
	}
	return p.Journal.Record(msg, args...)
}

// Restorable reports whether a version may be restored into production:
// only public, archived and deleted versions are, and the error says why
// another is not.
func Restorable(f metadata.File) error {
	switch f.Status {
	case metadata.Public, metadata.Archived, metadata.Deleted:
		return nil
	case metadata.HardDeleted:
		return fmt.Errorf("it is hard-deleted: it was erased from production on purpose (for legal reasons) and its backup deleted; it is never put back")
	}
	return fmt.Errorf("its production status is %q; only public, archived and deleted versions are restored into production", f.Status)
}

// Prepare implements Target: the version's status and place are checked,
// and its name is "container/path".
func (p *Production) Prepare(f metadata.File) (string, error) {
	if err := Restorable(f); err != nil {
		return "", stepErr(StepStatus, err)
	}
	if err := production.CheckPlace(f.Container, f.Path); err != nil {
		return "", stepErr(StepPlace, err)
	}
	if _, ok := p.Stores[f.Wiki]; !ok {
		return "", stepErr(StepCheck, fmt.Errorf("no production store is open for wiki %s", f.Wiki))
	}
	return f.Container + "/" + f.Path, nil
}

// Finish implements Target. Every write was durable when Put returned.
func (p *Production) Finish(context.Context) error { return nil }

func (p *Production) memoryLimit() int64 {
	if p.MemoryLimit > 0 {
		return p.MemoryLimit
	}
	return DefaultMemoryLimit
}

// Stage implements Target: it holds the bytes (or only their md5) while
// they are checked. A dry run also looks at what production holds at the
// version's place, to say what it would do.
func (p *Production) Stage(ctx context.Context, f metadata.File, name string) (Stage, error) {
	store := p.Stores[f.Wiki]
	st := &prodStage{p: p, f: f, store: store, name: name, md5: md5.New(),
		log: p.log().With("wiki", f.Wiki, "file", f.Title, "id", f.ID, "container", f.Container, "path", f.Path)}
	if p.DryRun {
		o, err := store.Stat(ctx, f.Container, f.Path)
		switch {
		case err == nil:
			st.found = &o
		case errors.Is(err, production.ErrObjectNotFound):
		case errors.Is(err, production.ErrContainerNotFound) && p.CreateContainers:
			st.noContainer = true
		case errors.Is(err, production.ErrContainerNotFound):
			return nil, stepErr(StepContainer, err)
		default:
			return nil, stepErr(StepCheck, err)
		}
	}
	if size := f.Backup.Size; size <= p.memoryLimit() {
		st.buf = buffers.Get().(*bytes.Buffer)
		st.buf.Reset()
		st.buf.Grow(int(size))
	}
	return st, nil
}

// ensureContainer creates container once per run (or says it would).
func (p *Production) ensureContainer(ctx context.Context, store ProductionStore, container string) error {
	p.mu.Lock()
	if p.containers == nil {
		p.containers = map[string]*containerOnce{}
	}
	c, ok := p.containers[store.String()+"\x00"+container]
	if !ok {
		c = &containerOnce{}
		p.containers[store.String()+"\x00"+container] = c
	}
	p.mu.Unlock()
	c.once.Do(func() {
		if p.DryRun {
			p.log().Info("DRY RUN: would create the container, with MediaWiki's ACLs", "container", container, "store", store.String())
			return
		}
		if c.err = p.record("creating the container, with MediaWiki's ACLs", "container", container, "store", store.String()); c.err != nil {
			c.err = stepErr(StepJournal, c.err)
			return
		}
		if err := store.CreateContainer(ctx, container); err != nil {
			c.err = stepErr(StepContainer, err)
			return
		}
		p.log().Info("container created", "container", container, "store", store.String())
	})
	return c.err
}

// prodStage holds one version on its way into production.
type prodStage struct {
	p     *Production
	f     metadata.File
	store ProductionStore
	name  string
	log   *slog.Logger
	md5   hash.Hash
	buf   *bytes.Buffer // nil: larger than MemoryLimit, read again to write
	// What a dry run found at the version's place: an object, none, or no
	// container (when it may be created).
	found       *production.Object
	noContainer bool
}

func (s *prodStage) Write(b []byte) (int, error) {
	s.md5.Write(b)
	if s.buf != nil && int64(s.buf.Len()+len(b)) > s.p.memoryLimit() {
		// More than the backup's record said: the check will fail, but
		// memory must not grow with a wrong size either.
		s.Discard()
	}
	if s.buf != nil {
		return s.buf.Write(b)
	}
	return len(b), nil
}

func (s *prodStage) Discard() {
	if s.buf != nil {
		if s.buf.Cap() <= 2*int(s.p.memoryLimit()) {
			buffers.Put(s.buf)
		}
		s.buf = nil
	}
}

// contentType is the Content-Type to write for f: its MIME type, or what
// MediaWiki writes when it cannot tell.
func contentType(f metadata.File) string {
	if !production.ValidContentType(f.MIME) {
		return UnknownContentType
	}
	return f.MIME
}

// Commit writes the checked bytes where no object is, or finds out what is
// there and decides (see Production): skip it, keep it, or replace it.
func (s *prodStage) Commit(ctx context.Context, sums Sums, again Opener) (Restored, error) {
	defer s.Discard()
	f, p := s.f, s.p
	res := Restored{File: f, Name: s.name}
	// Restorer.one checked sums against the backup's and the version's
	// sha1 before calling Commit.
	meta := production.Meta{Size: sums.Size, MD5: hex.EncodeToString(s.md5.Sum(nil)), SHA1: f.SHA1, ContentType: contentType(f)}
	if meta.ContentType != f.MIME {
		s.log.Warn("the metadata has no valid MIME type for the version; writing the one MediaWiki uses for an unknown type", "mime", f.MIME, "content_type", meta.ContentType)
	}
	if err := meta.Validate(); err != nil {
		return res, stepErr(StepPut, err)
	}
	if p.DryRun {
		return s.dryRun(ctx, res, meta)
	}
	// Where nothing is, write: the store's PutNew never replaces an object
	// that appears meanwhile.
	if err := p.record("writing into production", "wiki", f.Wiki, "file", f.Title, "id", f.ID, "container", f.Container, "path", f.Path,
		"if", "no object is there", "size", meta.Size, "sha1", meta.SHA1, "md5", meta.MD5, "content_type", meta.ContentType); err != nil {
		return res, stepErr(StepJournal, err)
	}
	res.Action = Written
	cut, err := s.write(ctx, s.store.PutNew, meta, again)
	if errors.Is(err, production.ErrContainerNotFound) && p.CreateContainers {
		if err := p.ensureContainer(ctx, s.store, f.Container); err != nil {
			return res, err
		}
		var cut2 bool
		cut2, err = s.write(ctx, s.store.PutNew, meta, again)
		cut = cut || cut2
	}
	if errors.Is(err, production.ErrObjectExists) {
		o, serr := s.store.Stat(ctx, f.Container, f.Path)
		if serr != nil {
			return res, stepErr(StepCheck, serr)
		}
		same, why, herr := s.holds(ctx, o, meta)
		switch {
		case herr != nil:
			return res, stepErr(StepCheck, herr)
		case same && cut:
			// An attempt cut off on its way landed, its answer lost: the
			// object is this run's own write, read back below like any.
			s.log.Info("an earlier attempt whose answer was lost wrote the object")
			err = nil
		case same:
			res.Action = Skipped
			s.log.Info("production already holds this version's bytes: skipped", "size", meta.Size, "md5", meta.MD5)
			return res, nil
		case !p.ReplaceDamaged:
			res.Action = KeptDamaged
			s.log.Warn("production holds other bytes there (damaged): left as they are; --replace-damaged replaces them", "damage", why)
			return res, nil
		}
		if !same {
			if err := p.record("replacing a damaged object in production", "wiki", f.Wiki, "file", f.Title, "id", f.ID, "container", f.Container, "path", f.Path,
				"damage", why, "size", meta.Size, "sha1", meta.SHA1, "md5", meta.MD5, "content_type", meta.ContentType); err != nil {
				return res, stepErr(StepJournal, err)
			}
			res.Action = Replaced
			_, err = s.write(ctx, s.store.Put, meta, again)
		}
	}
	if err != nil {
		return res, err
	}
	if err := s.readBack(ctx, meta); err != nil {
		return res, err
	}
	s.log.Info(res.Action+" into production, and read back", "size", meta.Size, "md5", meta.MD5, "sha1", meta.SHA1)
	return res, nil
}

// putFunc is Put or PutNew of a ProductionStore.
type putFunc func(ctx context.Context, container, name string, r io.Reader, m production.Meta) error

// write sends the bytes through put: from memory, or read from the backup
// again (and checked again by the store against meta). cut reports that an
// attempt before the last was cut off on its way (see retryable), so that
// it may have written the object although it did not say so.
func (s *prodStage) write(ctx context.Context, put putFunc, meta production.Meta, again Opener) (cut bool, err error) {
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			cut = true
		}
		err = s.writeOnce(ctx, put, meta, again)
		if !retryable(err) || attempt == writeAttempts || ctx.Err() != nil {
			return cut, err
		}
		s.log.Warn("the write into production failed; sending it again", "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
			return cut, err
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

// writeAttempts bounds the tries of one write into production.
const writeAttempts = 3

// retryable says whether a failed write may be sent again: a write that
// failed on its way (a connection the store's proxy closed, a timeout),
// not one the store refused for a reason (an object there, no container,
// bytes that do not match) nor one whose backup could not be read.
// Sending it again is safe: PutNew never replaces an object, and Put
// writes the same checked bytes.
func retryable(err error) bool {
	var se *StepError
	var me *production.MismatchError
	return errors.As(err, &se) && se.Step == StepPut && !errors.As(err, &me)
}

// writeOnce sends the bytes through put once.
func (s *prodStage) writeOnce(ctx context.Context, put putFunc, meta production.Meta, again Opener) error {
	var body io.Reader
	if s.buf != nil {
		body = bytes.NewReader(s.buf.Bytes())
	} else {
		rc, err := again(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		body = rc
	}
	err := put(ctx, s.f.Container, s.f.Path, body, meta)
	var se *StepError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se): // reading the backup again failed
		return err
	case errors.Is(err, production.ErrObjectExists):
		return err
	case errors.Is(err, production.ErrContainerNotFound):
		return stepErr(StepContainer, err)
	}
	return stepErr(StepPut, err)
}

// readBack checks what production holds after a write.
func (s *prodStage) readBack(ctx context.Context, meta production.Meta) error {
	got, err := s.store.Stat(ctx, s.f.Container, s.f.Path)
	if err != nil {
		return stepErr(StepReadBack, fmt.Errorf("look at the object just written: %w", err))
	}
	same, why, err := s.holds(ctx, got, meta)
	switch {
	case err != nil:
		return stepErr(StepReadBack, fmt.Errorf("read the object just written: %w", err))
	case !same:
		return stepErr(StepReadBack, fmt.Errorf("production does not hold what was written: %s", why))
	}
	if why := metaDiff(got, meta); why != "" {
		return stepErr(StepReadBack, fmt.Errorf("production holds the bytes, but not the metadata MediaWiki reads: %s", why))
	}
	return nil
}

// dryRun says what Commit would do, from what Stage found.
func (s *prodStage) dryRun(ctx context.Context, res Restored, meta production.Meta) (Restored, error) {
	res.Action = WouldWrite
	if s.found != nil {
		same, why, err := s.holds(ctx, *s.found, meta)
		switch {
		case err != nil:
			return res, stepErr(StepCheck, err)
		case same:
			res.Action = Skipped
			s.log.Info("production already holds this version's bytes: would skip", "size", meta.Size, "md5", meta.MD5)
			return res, nil
		case !s.p.ReplaceDamaged:
			res.Action = KeptDamaged
			s.log.Warn("production holds other bytes there (damaged): would leave them as they are; --replace-damaged replaces them", "damage", why)
			return res, nil
		}
		res.Action = WouldReplace
		s.log.Info("DRY RUN: would replace the damaged object", "damage", why, "size", meta.Size, "sha1", meta.SHA1, "content_type", meta.ContentType)
		return res, nil
	}
	if s.noContainer {
		s.p.ensureContainer(ctx, s.store, s.f.Container)
	}
	s.log.Info("DRY RUN: would write", "size", meta.Size, "sha1", meta.SHA1, "content_type", meta.ContentType)
	return res, nil
}

// holds reports whether o, an object production holds, has the bytes meta
// describes, and if not, how it differs. A store that lists no md5 (the
// filesystem) is read and hashed.
func (s *prodStage) holds(ctx context.Context, o production.Object, meta production.Meta) (bool, string, error) {
	if o.Size != meta.Size {
		return false, fmt.Sprintf("size %d, want %d", o.Size, meta.Size), nil
	}
	if o.MD5 != "" {
		if o.MD5 != meta.MD5 {
			return false, fmt.Sprintf("md5 %s, want %s", o.MD5, meta.MD5), nil
		}
		return true, "", nil
	}
	_, sums, err := production.Checksum(ctx, s.store, s.f.Container, s.f.Path)
	if err != nil {
		return false, "", err
	}
	switch {
	case sums.Size != meta.Size:
		return false, fmt.Sprintf("size %d, want %d", sums.Size, meta.Size), nil
	case sums.MD5 != meta.MD5:
		return false, fmt.Sprintf("md5 %s, want %s", sums.MD5, meta.MD5), nil
	case sums.SHA1 != meta.SHA1:
		return false, fmt.Sprintf("sha1 %s, want %s", sums.SHA1, meta.SHA1), nil
	}
	return true, "", nil
}

// metaDiff says how the metadata MediaWiki reads from an object differs
// from what was written. Only a store that reports an md5 without reading
// (Swift) reports this metadata; on others it is "".
func metaDiff(o production.Object, meta production.Meta) string {
	if o.MD5 == "" {
		return ""
	}
	b36, err := mediawiki.SHA1HexToBase36(meta.SHA1)
	if err != nil {
		return err.Error()
	}
	switch {
	case o.SHA1Base36 != b36:
		return fmt.Sprintf("X-Object-Meta-Sha1base36 %q, want %q", o.SHA1Base36, b36)
	case o.ContentType != meta.ContentType:
		return fmt.Sprintf("Content-Type %q, want %q", o.ContentType, meta.ContentType)
	}
	return ""
}
