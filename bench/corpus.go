package bench

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Class is a size class of the corpus: Count files of Size bytes each.
type Class struct {
	Count int
	Size  int64
}

// Name is the class's short name, e.g. "64KiB" or "1MiB".
func (c Class) Name() string { return sizeName(c.Size) }

// String is the class as ParseClass reads it, e.g. "2000x64KiB".
func (c Class) String() string { return strconv.Itoa(c.Count) + "x" + c.Name() }

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// ParseClass parses "COUNTxSIZE", e.g. "2000x64KiB", "8x64MiB", "1x4GiB".
// Sizes take the suffixes B, KiB, MiB, GiB (or K, M, G, same meaning).
func ParseClass(s string) (Class, error) {
	count, size, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		return Class{}, fmt.Errorf("size class %q: want COUNTxSIZE, e.g. 2000x64KiB", s)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		return Class{}, fmt.Errorf("size class %q: count must be a positive number", s)
	}
	bytes, err := ParseSize(size)
	if err != nil {
		return Class{}, fmt.Errorf("size class %q: %w", s, err)
	}
	return Class{Count: n, Size: bytes}, nil
}

// ParseSize parses a byte size such as "64KiB", "1MiB", "4GiB" or "100".
func ParseSize(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("size %q: want a positive number of bytes with an optional KiB, MiB or GiB suffix", s)
	}
	return n * mult, nil
}

// CorpusFile is one generated file.
type CorpusFile struct {
	Class string `json:"class"`
	Path  string `json:"path"` // relative to the corpus directory, slash-separated
	Size  int64  `json:"size"`
	SHA1  string `json:"sha1"`
}

// Corpus is a generated set of files under Dir.
type Corpus struct {
	Dir   string       `json:"-"`
	Files []CorpusFile `json:"files"`
}

// ByClass returns the files of one class, in generation order.
func (c *Corpus) ByClass(name string) []CorpusFile {
	var out []CorpusFile
	for _, f := range c.Files {
		if f.Class == name {
			out = append(out, f)
		}
	}
	return out
}

const manifestName = "manifest.json"

// GenerateCorpus writes the files of classes under dir, named
// "<class>/<i>.bin", with content from a seeded ChaCha8 stream, so every file
// is distinct (no dedup) and incompressible, and writes a manifest of their
// sizes and sha1s. seed makes the content differ between runs that share
// servers. If dir already holds a manifest with exactly those classes and
// seed, it is reused without writing anything.
func GenerateCorpus(ctx context.Context, dir string, classes []Class, seed uint64) (*Corpus, error) {
	key := corpusKey(classes, seed)
	if c, err := loadCorpus(dir); err == nil && c.key == key {
		return &c.Corpus, nil
	}
	c := &Corpus{Dir: dir}
	for ci, cl := range classes {
		sub := filepath.Join(dir, cl.Name())
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return nil, fmt.Errorf("generate corpus: %w", err)
		}
		for i := range cl.Count {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rel := cl.Name() + "/" + strconv.Itoa(i) + ".bin"
			var s [32]byte
			binary.LittleEndian.PutUint64(s[0:], seed)
			binary.LittleEndian.PutUint64(s[8:], uint64(ci))
			binary.LittleEndian.PutUint64(s[16:], uint64(i))
			sum, err := writeRandom(ctx, filepath.Join(dir, filepath.FromSlash(rel)), cl.Size, s)
			if err != nil {
				return nil, fmt.Errorf("generate corpus: %w", err)
			}
			c.Files = append(c.Files, CorpusFile{Class: cl.Name(), Path: rel, Size: cl.Size, SHA1: sum})
		}
	}
	b, err := json.Marshal(manifest{Key: key, Corpus: *c})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), b, 0o644); err != nil {
		return nil, fmt.Errorf("generate corpus: %w", err)
	}
	return c, nil
}

type manifest struct {
	Key string `json:"key"`
	Corpus
}

type loaded struct {
	Corpus
	key string
}

func corpusKey(classes []Class, seed uint64) string {
	parts := []string{strconv.FormatUint(seed, 16)}
	for _, c := range classes {
		parts = append(parts, fmt.Sprintf("%dx%d", c.Count, c.Size))
	}
	return strings.Join(parts, ",")
}

// loadCorpus reads the manifest GenerateCorpus wrote in dir.
func loadCorpus(dir string) (*loaded, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("read corpus manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read corpus manifest %s: %w", filepath.Join(dir, manifestName), err)
	}
	if len(m.Files) == 0 {
		return nil, errors.New("read corpus manifest: no files")
	}
	m.Corpus.Dir = dir
	return &loaded{Corpus: m.Corpus, key: m.Key}, nil
}

// writeRandom writes size bytes of the ChaCha8 stream of seed to path and
// returns their sha1.
func writeRandom(ctx context.Context, path string, size int64, seed [32]byte) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha1.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	_, err = io.CopyN(w, ctxReader{ctx, rand.NewChaCha8(seed)}, size)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops reading once ctx is done, so a multi-GiB file does not
// outlive an interrupt.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
