package restore

import (
	"context"
	"os"
	"sync"

	"github.com/mediabackups/mediabackups/metadata"
)

// Dir is the Target of a restore into a local directory. Each version is
// written under its production name (ProductionName, made safe by
// SafeName); a name already taken gets "~" appended until it is free, and
// nothing is ever replaced. Bytes stream into a file inside the directory
// that has no name (or a temporary one) until they are checked. Nothing is
// reported as written before the directory's filesystem has been synced,
// at the end of each Restore (Finish); if that fails, every file written
// since the last successful Finish is removed again. So one Dir can take
// a restore in several Restore calls (a page of matches at a time): what
// an earlier call reported written stays.
type Dir struct {
	t *target

	mu        sync.Mutex
	published []string
}

var _ Target = (*Dir)(nil)

// NewDir returns the Target of the directory root. Nothing is written
// outside it (see target). Close it when the restore is over.
func NewDir(root *os.Root) (*Dir, error) {
	t, err := openTarget(root)
	if err != nil {
		return nil, err
	}
	return &Dir{t: t}, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.t.Close() }

// Prepare implements Target: it reserves the version's name.
func (d *Dir) Prepare(f metadata.File) (string, error) {
	name, err := d.t.reserve(SafeName(ProductionName(f)))
	if err != nil {
		return "", stepErr(StepName, err)
	}
	return name, nil
}

// Stage implements Target: a new file in the directory, without a name
// (or with a temporary one, see target) until Commit.
func (d *Dir) Stage(_ context.Context, f metadata.File, name string) (Stage, error) {
	// Restored content of non-public wikis stays readable by its owner only.
	mode := uint32(0o644)
	if f.Backup != nil && f.Backup.Encrypted {
		mode = 0o600
	}
	out, err := d.t.stage(mode)
	if err != nil {
		return nil, stepErr(StepWrite, err)
	}
	return &dirStage{d: d, f: f, name: name, out: out}, nil
}

// Finish implements Target: it syncs the directory's filesystem, and
// removes every file written since the last successful Finish if that
// fails.
func (d *Dir) Finish(context.Context) error {
	err := d.t.sync()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		for _, name := range d.published {
			d.t.remove(name)
		}
	}
	// Synced files are durable: a later failure does not take them back.
	d.published = nil
	return err
}

type dirStage struct {
	d    *Dir
	f    metadata.File
	name string
	out  *staged
}

func (s *dirStage) Write(p []byte) (int, error) { return s.out.Write(p) }

func (s *dirStage) Discard() { s.d.t.discard(s.out) }

// Commit gives the checked file its name, or the name with more "~" if
// something took it meanwhile.
func (s *dirStage) Commit(_ context.Context, sums Sums, _ Opener) (Restored, error) {
	// No fsync per file: Finish syncs the filesystem once, after every
	// file is written, which costs one flush per run instead of one per
	// file. A large file starts on its way to disk now.
	s.d.t.startWriteback(s.out, sums.Size)
	final, err := s.d.t.publish(s.out, s.name)
	if err != nil {
		if final != "" {
			// Linked under its name, but its temporary name could not be
			// removed (the link-and-unlink fallback): take the name back,
			// so that a file reported failed is not there under its name,
			// where a later run would not replace it.
			s.d.t.remove(final)
		}
		s.d.t.discard(s.out)
		return Restored{}, stepErr(StepName, err)
	}
	if err := s.out.Close(); err != nil {
		s.d.t.remove(final)
		return Restored{}, stepErr(StepWrite, err)
	}
	s.d.mu.Lock()
	s.d.published = append(s.d.published, final)
	s.d.mu.Unlock()
	return Restored{File: s.f, Name: final, Action: Written}, nil
}
