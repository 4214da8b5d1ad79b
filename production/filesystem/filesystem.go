// Package filesystem is the production.Store of a wiki whose files are on
// disk, as MediaWiki's FSFileBackend keeps them: the public zone (current
// versions and archive/) in $wgUploadDirectory, the deleted zone in
// $wgDeletedDirectory (by default $wgUploadDirectory/deleted).
//
// # Names and paths
//
// The store speaks Swift's names, as the metadata records them, and maps
// each container to a directory (Config.Dirs; WikiConfig builds it for a
// wiki). An object's path is its name under its container's directory:
// "wikipedia-test-local-public" + "2/2e/Simple.png" →
// $wgUploadDirectory/2/2e/Simple.png; "…-local-deleted" +
// "r/j/r/rjrz….png" → $wgDeletedDirectory/r/j/r/rjrz….png. A container is
// not sharded on disk. Every path is opened through an os.Root of its
// container's directory, so no name and no symbolic link can lead outside
// it.
//
// # What belongs to a container
//
// The upload directory holds more than the public zone: thumb/, temp/,
// transcoded/, lockdir/, deleted/ and other extensions' directories are
// other containers. A container holds only what MediaWiki puts there with
// hashLevels 2 (its default, $wgHashedUploadDirectory): the public zone is
// the hash directories 0-f and archive/, the deleted zone the hash
// directories 0-9a-z. Names outside them are refused by Put, Stat and Open,
// and not listed. Inside them everything is an object, except three kinds
// of files MediaWiki and this store make that are not: the empty
// index.html that FSFileBackend puts into the directories of a private
// zone, FSFileBackend's half-written ".<hex>_<hash>_<id>.tmpfsfile" and this
// store's own ".mbtmp-<id>" files.
//
// # How a file is written
//
// Put writes into ".mbtmp-<random>" in the object's directory, checks the
// bytes (size, md5, sha1), fsyncs, sets MediaWiki's mode (Config.FileMode,
// FSFileBackend's fileMode, 0644 by default) and the owner and group of the
// directory (when running as root), renames it over the name (PutNew: links
// it under the name, which fails if the name exists, and removes the
// temporary name) and fsyncs the directory: the object appears complete or
// not at all. After a kill -9 a
// ".mbtmp-*" file may be left behind; it is never listed, and no reader of
// the name ever sees it. Missing directories are made as FSFileBackend makes
// them: with their parent's mode and owner, and, in a private zone (deleted,
// temp), an empty index.html in the last one.
package filesystem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/internal/verify"
)

// DefaultFileMode is FSFileBackend's default fileMode.
const DefaultFileMode fs.FileMode = 0o644

// Config says where each container's directory is.
type Config struct {
	// Dirs maps each container the store holds to its directory, an
	// absolute path. The directory of a container that does not exist yet
	// (often the deleted zone of a wiki that never deleted a file) is made
	// by CreateContainer.
	Dirs map[string]string
	// FileMode is the mode of the files Put writes (default DefaultFileMode).
	FileMode fs.FileMode
}

// WikiConfig is the Config of a wiki's upload directories: root
// ($wgUploadDirectory) for the public zone and deletedRoot
// ($wgDeletedDirectory; "" means root/deleted) for the deleted one. The
// containers are named as c names them, so the metadata's names map here;
// they must not be sharded.
func WikiConfig(c mediawiki.Containers, root, deletedRoot string) (Config, error) {
	if c.PublicShards || c.DeletedShards {
		return Config{}, errors.New("a wiki on a file system has no sharded containers: set public_shards and deleted_shards to false")
	}
	if deletedRoot == "" {
		deletedRoot = filepath.Join(root, "deleted")
	}
	pub, _ := c.Public("X")
	del, _ := c.Deleted("x")
	return Config{Dirs: map[string]string{pub: root, del: deletedRoot}}, nil
}

// Store is a production.Store on a file system. It is safe for concurrent use.
type Store struct {
	zones map[string]zone
	mode  fs.FileMode
	name  string
}

type zone struct {
	dir     string
	name    production.ContainerName
	private bool
}

var _ production.Store = (*Store)(nil)

// New checks cfg and returns the store. The directories need not exist yet.
func New(cfg Config) (*Store, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("filesystem store: no containers configured")
	}
	s := &Store{zones: map[string]zone{}, mode: cfg.FileMode}
	if s.mode == 0 {
		s.mode = DefaultFileMode
	}
	if s.mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("filesystem store: file mode %v has more than permission bits", cfg.FileMode)
	}
	var dirs []string
	for c, dir := range cfg.Dirs {
		cn, err := production.ParseContainer(c)
		if err != nil {
			return nil, fmt.Errorf("filesystem store: %w", err)
		}
		if cn.Shard != "" {
			return nil, fmt.Errorf("filesystem store: container %s is a shard; directories are not sharded", c)
		}
		if cn.Zone != "public" && cn.Zone != "deleted" {
			return nil, fmt.Errorf("filesystem store: container %s: only the public and deleted zones are supported", c)
		}
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("filesystem store: directory %q of %s is not an absolute path", dir, c)
		}
		s.zones[c] = zone{dir: filepath.Clean(dir), name: cn, private: cn.Private()}
		dirs = append(dirs, filepath.Clean(dir))
	}
	sort.Strings(dirs)
	s.name = "filesystem " + strings.Join(dirs, ", ")
	return s, nil
}

// String names the store: "filesystem <dir>, <dir>".
func (s *Store) String() string { return s.name }

// Path returns the file that holds container/name. The error wraps
// production.ErrInvalidName for a container the store does not hold or a
// name outside the container's directories.
func (s *Store) Path(container, name string) (string, error) {
	z, err := s.zone(container)
	if err != nil {
		return "", err
	}
	if err := z.check(name); err != nil {
		return "", err
	}
	return filepath.Join(z.dir, filepath.FromSlash(name)), nil
}

func (s *Store) zone(container string) (zone, error) {
	z, ok := s.zones[container]
	if !ok {
		var have []string
		for c := range s.zones {
			have = append(have, c)
		}
		sort.Strings(have)
		return zone{}, fmt.Errorf("container %q: %w: %s holds only %s", container, production.ErrInvalidName, s.name, strings.Join(have, ", "))
	}
	return z, nil
}

// topLevel reports whether a directory right under the zone's directory is
// one of the zone's own (see the package comment).
func (z zone) topLevel(name string) bool {
	if z.name.Zone == "public" && name == "archive" {
		return true
	}
	if len(name) != 1 {
		return false
	}
	c := name[0]
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || z.name.Zone == "deleted" && 'a' <= c && c <= 'z'
}

// check refuses names that are not valid or not in the zone's directories,
// and names of files that are never objects.
func (z zone) check(name string) error {
	if err := production.CheckName(name); err != nil {
		return err
	}
	top, _, _ := strings.Cut(name, "/")
	if !strings.Contains(name, "/") || !z.topLevel(top) {
		return fmt.Errorf("object name %q: %w: not in a hash directory of the %s zone (%s)", name, production.ErrInvalidName, z.name.Zone, z.dir)
	}
	if notObject(path.Base(name)) {
		return fmt.Errorf("object name %q: %w: a name MediaWiki and mediabackups use for files that are not objects", name, production.ErrInvalidName)
	}
	return nil
}

// tmpPrefix starts the names of the files Put writes before renaming them.
const tmpPrefix = ".mbtmp-"

// notObject reports the names of files that are never objects: this store's
// and FSFileBackend's temporary files. (index.html is one only when empty,
// which the listing checks.)
func notObject(base string) bool {
	return strings.HasPrefix(base, tmpPrefix) || strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".tmpfsfile")
}

// openRoot opens the container's directory; a missing one is a
// *production.ContainerNotFoundError.
func (s *Store) openRoot(container string, z zone) (*os.Root, error) {
	r, err := os.OpenRoot(z.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &production.ContainerNotFoundError{Store: s.name, Container: container}
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("open %s (container %s): %w: %v", z.dir, container, production.ErrAccessDenied, err)
	case err != nil:
		return nil, fmt.Errorf("open %s (container %s): %w", z.dir, container, err)
	}
	return r, nil
}

// Containers implements production.Store: the configured containers whose
// directory exists.
func (s *Store) Containers(ctx context.Context, prefix string, fn func(string) error) error {
	var names []string
	for c, z := range s.zones {
		if !strings.HasPrefix(c, prefix) {
			continue
		}
		fi, err := os.Stat(z.dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return fmt.Errorf("list the containers %s*: %w", prefix, err)
		case !fi.IsDir():
			return fmt.Errorf("list the containers %s*: %s (container %s) is not a directory", prefix, z.dir, c)
		}
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// Objects implements production.Store. It walks the container's directories
// depth first, one directory in memory at a time, in the byte order of the
// names (a directory "a" sorts as "a/").
func (s *Store) Objects(ctx context.Context, container, after string, fn func(production.Object) error) error {
	z, err := s.zone(container)
	if err != nil {
		return err
	}
	root, err := s.openRoot(container, z)
	if err != nil {
		return err
	}
	defer root.Close()
	err = s.walk(ctx, root, z, "", after, fn)
	var stop stopError
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("list the objects of %s (%s): %w", container, z.dir, err)
	}
	return nil
}

// stopError carries the callback's error through the walk unchanged.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

func (s *Store) walk(ctx context.Context, root *os.Root, z zone, dir, after string, fn func(production.Object) error) error {
	if err := ctx.Err(); err != nil {
		return stopError{err}
	}
	name := dir
	if name == "" {
		name = "."
	}
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	type entry struct {
		key  string // the full name; directories end in "/"
		base string
		dir  bool
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		full := e.Name()
		if dir != "" {
			full = dir + "/" + full
		}
		switch {
		case e.IsDir():
			if dir == "" && !z.topLevel(e.Name()) {
				continue
			}
			list = append(list, entry{key: full + "/", base: e.Name(), dir: true})
		case e.Type().IsRegular():
			if dir == "" || notObject(e.Name()) {
				continue
			}
			list = append(list, entry{key: full, base: e.Name()})
		}
		// Symbolic links and other special files are not objects.
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	for _, e := range list {
		if e.dir {
			// Everything under e sorts between e.key and e.key with its "/"
			// replaced by "0": skip it when after is past all of it.
			if after >= e.key && !strings.HasPrefix(after, e.key) {
				continue
			}
			if err := s.walk(ctx, root, z, strings.TrimSuffix(e.key, "/"), after, fn); err != nil {
				return err
			}
			continue
		}
		if e.key <= after {
			continue
		}
		fi, err := root.Lstat(e.key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return err
		}
		if e.base == "index.html" && fi.Size() == 0 {
			continue // FSFileBackend's noListing seed
		}
		if err := fn(production.Object{Name: e.key, Size: fi.Size(), Modified: fi.ModTime().UTC()}); err != nil {
			return stopError{err}
		}
	}
	return nil
}

func (s *Store) prepare(container, name string) (zone, *os.Root, error) {
	z, err := s.zone(container)
	if err != nil {
		return zone{}, nil, err
	}
	if err := z.check(name); err != nil {
		return zone{}, nil, err
	}
	root, err := s.openRoot(container, z)
	return z, root, err
}

func objectOf(name string, fi fs.FileInfo) (production.Object, error) {
	if !fi.Mode().IsRegular() {
		return production.Object{}, fmt.Errorf("%s is a %v, not a file: %w", name, fi.Mode().Type(), production.ErrObjectNotFound)
	}
	return production.Object{Name: name, Size: fi.Size(), Modified: fi.ModTime().UTC()}, nil
}

// Stat implements production.Store.
func (s *Store) Stat(ctx context.Context, container, name string) (production.Object, error) {
	op := fmt.Sprintf("stat %s/%s", container, name)
	_, root, err := s.prepare(container, name)
	if err != nil {
		return production.Object{}, fmt.Errorf("%s: %w", op, err)
	}
	defer root.Close()
	fi, err := root.Lstat(name)
	if err != nil {
		return production.Object{}, fmt.Errorf("%s: %w", op, fsError(err))
	}
	o, err := objectOf(name, fi)
	if err != nil {
		return production.Object{}, fmt.Errorf("%s: %w", op, err)
	}
	return o, nil
}

// fsError maps "no such file" (also of a directory on the way, or a file
// where a directory should be) to ErrObjectNotFound and EACCES to
// ErrAccessDenied.
func fsError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w (%v)", production.ErrObjectNotFound, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %v", production.ErrAccessDenied, err)
	}
	return err
}

// Open implements production.Store.
func (s *Store) Open(ctx context.Context, container, name string) (io.ReadCloser, production.Object, error) {
	op := fmt.Sprintf("read %s/%s", container, name)
	_, root, err := s.prepare(container, name)
	if err != nil {
		return nil, production.Object{}, fmt.Errorf("%s: %w", op, err)
	}
	defer root.Close()
	fi, err := root.Lstat(name) // no symbolic links: Open would follow one
	if err != nil {
		return nil, production.Object{}, fmt.Errorf("%s: %w", op, fsError(err))
	}
	if _, err := objectOf(name, fi); err != nil {
		return nil, production.Object{}, fmt.Errorf("%s: %w", op, err)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, production.Object{}, fmt.Errorf("%s: %w", op, fsError(err))
	}
	fi, err = f.Stat()
	if err == nil {
		var o production.Object
		if o, err = objectOf(name, fi); err == nil {
			return f, o, nil
		}
	}
	f.Close()
	return nil, production.Object{}, fmt.Errorf("%s: %w", op, err)
}

// Put implements production.Store.
func (s *Store) Put(ctx context.Context, container, name string, r io.Reader, m production.Meta) error {
	return s.put(ctx, container, name, r, m, false)
}

// PutNew implements production.Store: the checked file is linked under its
// name, which fails when the name exists, instead of renamed over it.
func (s *Store) PutNew(ctx context.Context, container, name string, r io.Reader, m production.Meta) error {
	return s.put(ctx, container, name, r, m, true)
}

func (s *Store) put(ctx context.Context, container, name string, r io.Reader, m production.Meta, onlyNew bool) (err error) {
	op := fmt.Sprintf("write %s/%s", container, name)
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s: %w", op, err)
		}
	}()
	if err := m.Validate(); err != nil {
		return err
	}
	z, root, err := s.prepare(container, name)
	if err != nil {
		return err
	}
	defer root.Close()
	exists := func() error {
		return fmt.Errorf("%w (%s)", production.ErrObjectExists, filepath.Join(z.dir, filepath.FromSlash(name)))
	}
	if onlyNew {
		if _, err := root.Lstat(name); err == nil {
			return exists()
		}
	}
	dir := path.Dir(name)
	owner, err := s.mkdirs(root, z, dir)
	if err != nil {
		return err
	}
	tmp, f, err := createTemp(root, dir)
	if err != nil {
		return fsError(err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			root.Remove(tmp)
		}
	}()
	body := verify.NewReader(ctx, r, m)
	if _, err := io.Copy(f, body); err != nil {
		if body.Err() != nil {
			return body.Err()
		}
		return fsError(err)
	}
	if !body.Done() {
		return errors.New("the bytes ended before they were checked") // cannot happen: io.Copy reads to EOF
	}
	if err := finishFile(f, s.mode, owner); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if onlyNew {
		// link(2) fails when the name exists: the check and the write are
		// one step. The temporary name goes once the link is made.
		if err := root.Link(tmp, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return exists()
			}
			return fsError(err)
		}
		renamed = true
		// The object is in place; a temporary name left behind is never
		// listed.
		root.Remove(tmp)
		return syncDir(root, dir)
	}
	if err := root.Rename(tmp, name); err != nil {
		return fsError(err)
	}
	renamed = true
	return syncDir(root, dir)
}

// ownerOf is the owner and group of a file.
type ownerOf struct{ uid, gid int }

func ownerFrom(fi fs.FileInfo) (ownerOf, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ownerOf{}, false
	}
	return ownerOf{int(st.Uid), int(st.Gid)}, true
}

// mkdirs makes the missing directories of dir (slash-separated, inside the
// root) as FSFileBackend does, and returns the owner of dir, which the new
// file gets.
func (s *Store) mkdirs(root *os.Root, z zone, dir string) (ownerOf, error) {
	fi, err := root.Stat(".")
	if err != nil {
		return ownerOf{}, fsError(err)
	}
	parts := strings.Split(dir, "/")
	made := ""
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		sub, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			err = root.Mkdir(p, fi.Mode().Perm())
			if err == nil {
				if err = root.Chmod(p, fi.Mode().Perm()); err == nil { // not subject to umask
					err = chown(root, p, fi)
				}
				made = p
			} else if errors.Is(err, fs.ErrExist) {
				err = nil // made by someone else meanwhile
			}
			if err == nil {
				sub, err = root.Lstat(p)
			}
		}
		if err != nil {
			return ownerOf{}, fsError(err)
		}
		if !sub.IsDir() {
			return ownerOf{}, fmt.Errorf("%s is not a directory", filepath.Join(z.dir, p))
		}
		fi = sub
	}
	if made != "" {
		if z.private {
			// FSFileBackend::doSecureInternal: an empty index.html in the
			// directory it prepared, against directory listings.
			if err := writeSeed(root, made+"/index.html", s.mode, fi); err != nil {
				return ownerOf{}, err
			}
		}
		if err := syncDir(root, path.Dir(made)); err != nil {
			return ownerOf{}, err
		}
	}
	o, _ := ownerFrom(fi)
	return o, nil
}

// chown gives name the owner and group of like, when running as root (only
// root can give files away; otherwise they stay the writer's).
func chown(root *os.Root, name string, like fs.FileInfo) error {
	o, ok := ownerFrom(like)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	return root.Lchown(name, o.uid, o.gid)
}

// writeSeed writes an empty file unless one is there.
func writeSeed(root *os.Root, name string, mode fs.FileMode, like fs.FileInfo) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := root.Chmod(name, mode); err != nil {
		return err
	}
	return chown(root, name, like)
}

func createTemp(root *os.Root, dir string) (string, *os.File, error) {
	for range 10 {
		var b [8]byte
		rand.Read(b[:])
		name := dir + "/" + tmpPrefix + hex.EncodeToString(b[:])
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
	return "", nil, errors.New("cannot make a temporary file name")
}

// finishFile makes the written file durable and gives it its final mode
// and owner, before it is renamed into place.
func finishFile(f *os.File, mode fs.FileMode, owner ownerOf) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := f.Chown(owner.uid, owner.gid); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes the entries of a directory (a rename, a new file) durable.
func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CreateContainer implements production.Store: it makes the container's
// directory (not its parents) with the parent's mode and owner and, for a
// private zone, FSFileBackend's .htaccess and index.html in it. An
// existing directory is left alone.
func (s *Store) CreateContainer(ctx context.Context, container string) error {
	op := "create container " + container
	z, err := s.zone(container)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	fi, err := os.Lstat(z.dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: %s exists and is not a directory", op, z.dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", op, fsError(err))
	}
	parent := filepath.Dir(z.dir)
	proot, err := os.OpenRoot(parent)
	if err != nil {
		return fmt.Errorf("%s: the parent directory of %s: %w", op, z.dir, fsError(err))
	}
	defer proot.Close()
	pfi, err := proot.Stat(".")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	base := filepath.Base(z.dir)
	if err := proot.Mkdir(base, pfi.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", op, fsError(err))
	}
	if err := proot.Chmod(base, pfi.Mode().Perm()); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := chown(proot, base, pfi); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if z.private {
		// FSFileBackend::doSecureInternal for a noAccess, noListing zone.
		if err := writeFile(proot, base+"/.htaccess", []byte(htaccessPrivate), s.mode, pfi); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := writeSeed(proot, base+"/index.html", s.mode, pfi); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	if err := syncDir(proot, "."); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// htaccessPrivate is FSFileBackend::htaccessPrivate().
const htaccessPrivate = "Require all denied\nSatisfy All\n"

func writeFile(root *os.Root, name string, data []byte, mode fs.FileMode, like fs.FileInfo) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := root.Chmod(name, mode); err != nil {
		return err
	}
	return chown(root, name, like)
}
