package synthwiki

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Config describes a synthetic wiki.
type Config struct {
	Seed uint64
	// Files is the number of files of the base history (before T0).
	Files int64
	// Tail is the number of log events after T0.
	Tail int64
	// HighLimit is what limit=max means, and the highest limit accepted:
	// MediaWiki's apihighlimits value, 5000, unless set. Tests lower it to
	// make the real client continue often.
	HighLimit int
}

// Model is a synthetic wiki: every answer is computed from the
// configuration (see the package documentation). It is immutable and safe
// for concurrent use.
type Model struct {
	cfg     Config
	a, ainv uint64 // tail event j acts on base file (a·j + b) mod Files
	b       uint64
	t0      int64 // unix time of tail event 0
}

const (
	// window is the seconds of base history of each file: file i's events
	// happen in [base + window·i, base + window·(i+1)). Log ids follow:
	// window·i + 1 ... (at most 16 events per file).
	window = 32
	// maxVersions bounds the versions of a file: an overwrite beyond it
	// uploads a new file instead. It keeps filearchive ids unique.
	maxVersions = 1000
	// redirectPage is added to a file's index to give the page id of the
	// redirect its old title becomes when it is renamed.
	redirectPage = 1 << 40
	// namePrefix starts every file name; the 10 digits after it are the
	// file's index, so name order is index order.
	namePrefix  = "Synthetic_"
	movedSuffix = "_(moved)"
	user        = "Synthetic uploader"
	// DefaultHighLimit is MediaWiki's limit for accounts with apihighlimits.
	DefaultHighLimit = 5000
)

// baseTime is when the base history starts (the day Commons opened).
var baseTime = time.Date(2004, 9, 7, 0, 0, 0, 0, time.UTC).Unix()

// MeanVersions is the expected number of versions a file of the base
// history gives an inventory (current, archived and deleted; hidden ones are
// not counted): see the distribution in the package documentation.
const MeanVersions = 1.1635

// FilesFor returns how many base files give about versions versions.
func FilesFor(versions int64) int64 {
	return max(1, int64(math.Round(float64(versions)/MeanVersions)))
}

// New checks cfg and returns its model.
func New(cfg Config) (*Model, error) {
	if cfg.Files < 0 || cfg.Tail < 0 {
		return nil, errors.New("synthetic wiki: files and tail must not be negative")
	}
	if cfg.Files+cfg.Tail >= 1e10 {
		return nil, errors.New("synthetic wiki: at most 10^10 files (names have 10 digits)")
	}
	if cfg.Tail > 0 && cfg.Files == 0 {
		return nil, errors.New("synthetic wiki: a tail needs files to act on")
	}
	if cfg.HighLimit <= 0 {
		cfg.HighLimit = DefaultHighLimit
	}
	m := &Model{cfg: cfg, t0: baseTime + window*cfg.Files}
	if n := uint64(cfg.Files); n > 0 {
		// A multiplier coprime with n near n/φ scatters consecutive events
		// over the files; its inverse finds the events of a file.
		a := uint64(float64(n)*0.6180339887) | 1
		for gcd(a, n) != 1 {
			a++
		}
		m.a = a % n
		m.ainv = modInverse(m.a, n)
		m.b = mix(cfg.Seed, 11, 0) % n
	}
	return m, nil
}

// Config returns the model's configuration, with defaults applied.
func (m *Model) Config() Config { return m.cfg }

// T0 is the time of the first tail event: an inventory of state 0 followed
// by `update --since T0` sees every tail event.
func (m *Model) T0() time.Time { return time.Unix(m.t0, 0).UTC() }

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func modInverse(a, n uint64) uint64 {
	if n == 1 {
		return 0
	}
	// Extended Euclid on signed 128-bit-safe values (n < 2^40).
	t, newT := int64(0), int64(1)
	r, newR := int64(n), int64(a)
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if t < 0 {
		t += int64(n)
	}
	return uint64(t)
}

// mulmod returns a·b mod n without overflow.
func mulmod(a, b, n uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, rem := bits.Div64(hi%n, lo, n)
	return rem
}

// mix is the model's hash: splitmix64 over the seed, a salt naming what is
// drawn, and an index.
func mix(seed, salt, i uint64) uint64 {
	z := seed ^ (salt * 0x9e3779b97f4a7c15) ^ (i * 0xbf58476d1ce4e5b9)
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Salts of mix.
const (
	saltProfile = iota + 1
	saltExt
	saltContent
	saltTailKind
	saltTailContent
	saltFlags
)

// extInfo is a file type.
type extInfo struct {
	ext, mime, mediaType string
	weight               int // in percent
	dimensions           bool
}

var exts = []extInfo{
	{"jpg", "image/jpeg", "BITMAP", 60, true},
	{"jpeg", "image/jpeg", "BITMAP", 5, true},
	{"png", "image/png", "BITMAP", 17, true},
	{"svg", "image/svg+xml", "DRAWING", 6, true},
	{"gif", "image/gif", "BITMAP", 3, true},
	{"pdf", "application/pdf", "OFFICE", 4, false},
	{"tif", "image/tiff", "BITMAP", 5, true},
}

func (m *Model) ext(i int64) *extInfo {
	u := int(mix(m.cfg.Seed, saltExt, uint64(i)) % 100)
	for k := range exts {
		if u < exts[k].weight {
			return &exts[k]
		}
		u -= exts[k].weight
	}
	return &exts[0]
}

// name returns the DB key of file i under name generation gen (0: as
// uploaded, 1: renamed).
func (m *Model) name(i int64, gen int) string {
	var b strings.Builder
	b.Grow(40)
	b.WriteString(namePrefix)
	s := strconv.FormatInt(i, 10)
	for range 10 - len(s) {
		b.WriteByte('0')
	}
	b.WriteString(s)
	if gen > 0 {
		b.WriteString(movedSuffix)
	}
	b.WriteByte('.')
	b.WriteString(m.ext(i).ext)
	return b.String()
}

// parseName returns the file index and name generation of a DB key, and
// whether it names a file of the model (existing or not at any state).
func (m *Model) parseName(key string) (i int64, gen int, ok bool) {
	if len(key) < len(namePrefix)+12 || !strings.HasPrefix(key, namePrefix) {
		return 0, 0, false
	}
	digits := key[len(namePrefix) : len(namePrefix)+10]
	for k := 0; k < len(digits); k++ {
		if digits[k] < '0' || digits[k] > '9' {
			return 0, 0, false
		}
	}
	i, _ = strconv.ParseInt(digits, 10, 64)
	if i >= m.cfg.Files+m.cfg.Tail {
		return 0, 0, false
	}
	rest := key[len(namePrefix)+10:]
	if strings.HasPrefix(rest, movedSuffix) {
		gen, rest = 1, rest[len(movedSuffix):]
	}
	if rest != "."+m.ext(i).ext {
		return 0, 0, false
	}
	return i, gen, true
}

// title is the display form of a DB key, with its namespace.
func title(key string) string { return "File:" + strings.ReplaceAll(key, "_", " ") }

// content is a file version's bytes, as far as the API tells them.
type content struct {
	sha1          [20]byte
	size          int64
	width, height int
}

func makeContent(seed, salt, i uint64) content {
	var c content
	for k := 0; k < 3; k++ {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], mix(seed, salt, i*3+uint64(k)))
		copy(c.sha1[k*8:], b[:])
	}
	u := mix(seed, salt+100, i)
	scale := 10 + u%16 // 1 KiB .. 32 MiB, mostly small
	c.size = 1<<scale + int64((u>>8)%(1<<scale))
	c.width = 1 + int((u>>40)%6000)
	c.height = 1 + int((u>>20)%6000)
	return c
}

// profile is what the base history does to a file.
type profile struct {
	versions  int
	deleteOld bool // the oldest version is deleted alone
	hideOld   bool // the oldest version is revision-deleted
	moved     bool
	deleted   bool
	duplicate bool // version 0 has the content of file i-1's version 0
}

func (m *Model) profile(i int64) profile {
	u := mix(m.cfg.Seed, saltProfile, uint64(i))
	f := mix(m.cfg.Seed, saltFlags, uint64(i))
	var p profile
	switch v := u % 10000; {
	case v < 9000:
		p.versions = 1
	case v < 9700:
		p.versions = 2
	case v < 9900:
		p.versions = 3
	case v < 9990:
		p.versions = 4 + int(u>>16)%5
	default:
		p.versions = 9 + int(u>>16)%4
	}
	p.deleted = f%10000 < 400
	if p.versions > 1 {
		switch g := (f >> 16) % 1000; {
		case g < 50:
			p.deleteOld = true
		case g < 60 && !p.deleted:
			p.hideOld = true
		}
	}
	p.moved = (f>>32)%1000 < 20
	p.duplicate = i > 0 && (f>>48)%100 == 0
	return p
}

func (m *Model) baseContent(i int64, v int) content {
	for v == 0 && m.profile(i).duplicate {
		i--
	}
	return makeContent(m.cfg.Seed, saltContent, uint64(i)*64+uint64(v))
}

// version is one version of a file at some state.
type version struct {
	up       int64 // upload time
	c        content
	archived int64 // when it stopped being current (its archive name's time); 0 while current
	hidden   bool  // revision-deleted
	deleted  int64 // when it went to filearchive; 0 if it did not
	faGen    int   // name generation it was deleted under
	faID     int64
}

// file is one file at some state.
type file struct {
	i       int64
	ext     *extInfo
	gen     int  // current name generation
	deleted bool // the page is gone: every version is in filearchive
	vs      []version
	hidden  bool // has a hidden version
	exists  bool // false: a tail file not uploaded yet at this state
}

func (f *file) pageID() int64 { return f.i + 1 }

// current returns the index of the current version, -1 when deleted.
func (f *file) current() int {
	if f.deleted || len(f.vs) == 0 {
		return -1
	}
	return len(f.vs) - 1
}

// tail event kinds before they are checked against their file.
type kind int

const (
	kUpload kind = iota // a new file
	kOverwrite
	kRevert
	kDeleteFile
	kDeleteOld
	kMove
	// Base-only kinds.
	kCreate
	kHide
)

func (m *Model) rawKind(j int64) kind {
	u := mix(m.cfg.Seed, saltTailKind, uint64(j))
	switch v := u % 100; {
	case v < 40:
		return kUpload
	case v < 70:
		if (u>>16)%10 == 0 {
			return kRevert
		}
		return kOverwrite
	case v < 82:
		return kDeleteFile
	case v < 85:
		return kDeleteOld
	default:
		return kMove
	}
}

// target is the base file tail event j acts on (when it is not an upload).
func (m *Model) target(j int64) int64 {
	n := uint64(m.cfg.Files)
	return int64((mulmod(m.a, uint64(j), n) + m.b) % n)
}

// tailEventsOf calls fn with every tail event j < k aimed at base file i,
// in order.
func (m *Model) tailEventsOf(i, k int64, fn func(j int64)) {
	n := m.cfg.Files
	k = min(k, m.cfg.Tail)
	if n == 0 || k <= 0 {
		return
	}
	d := (uint64(i) + uint64(n) - m.b) % uint64(n)
	for j := int64(mulmod(m.ainv, d, uint64(n))); j < k; j += n {
		fn(j)
	}
}

// oldestLiveArchived returns the index of the oldest archived version
// still in place (not deleted, not hidden), -1 if none.
func (f *file) oldestLiveArchived() int {
	for v := range f.vs {
		if f.vs[v].archived != 0 && f.vs[v].deleted == 0 && !f.vs[v].hidden {
			return v
		}
	}
	return -1
}

// applies reports whether tail event kind k can act on f.
func (f *file) applies(k kind) bool {
	if f.deleted || f.hidden {
		return false
	}
	switch k {
	case kOverwrite, kRevert:
		return len(f.vs) < maxVersions
	case kDeleteOld:
		return f.oldestLiveArchived() >= 0
	case kMove:
		return f.gen == 0
	case kDeleteFile:
		return true
	}
	return false
}

// file returns file i as it is after the first k tail events.
func (m *Model) file(i, k int64) *file {
	f := &file{i: i, ext: m.ext(i)}
	if i >= m.cfg.Files {
		j := i - m.cfg.Files
		if j >= min(k, m.cfg.Tail) || m.kind(j) != kUpload {
			return f
		}
		f.exists = true
		f.vs = []version{{up: m.t0 + j, c: makeContent(m.cfg.Seed, saltTailContent, uint64(j))}}
		return f
	}
	f.exists = true
	p := m.profile(i)
	t := baseTime + window*i
	for v := range p.versions {
		f.vs = append(f.vs, version{up: t + int64(v), c: m.baseContent(i, v)})
		if v > 0 {
			f.vs[v-1].archived = t + int64(v)
		}
	}
	switch {
	case p.deleteOld:
		f.del(0, t+13)
	case p.hideOld:
		f.vs[0].hidden, f.hidden = true, true
	}
	if p.moved {
		f.gen = 1
	}
	if p.deleted {
		f.deleteAll(t + 15)
	}
	m.tailEventsOf(i, k, func(j int64) {
		if kd := m.rawKind(j); kd != kUpload && f.applies(kd) {
			m.apply(f, kd, j)
		}
	})
	return f
}

// kind returns what tail event j does, after checking it against its file.
func (m *Model) kind(j int64) kind {
	kd := m.rawKind(j)
	if kd == kUpload {
		return kUpload
	}
	f := m.file(m.target(j), j)
	if !f.applies(kd) {
		return kUpload
	}
	return kd
}

func (f *file) del(v int, at int64) {
	f.vs[v].deleted, f.vs[v].faGen = at, f.gen
	f.vs[v].faID = f.i*1024 + int64(v) + 1
}

func (f *file) deleteAll(at int64) {
	for v := range f.vs {
		if f.vs[v].deleted == 0 {
			f.del(v, at)
		}
	}
	f.deleted = true
}

// apply makes tail event j of kind kd (which applies) happen to f.
func (m *Model) apply(f *file, kd kind, j int64) {
	t := m.t0 + j
	switch kd {
	case kOverwrite, kRevert:
		c := makeContent(m.cfg.Seed, saltTailContent, uint64(j))
		if kd == kRevert {
			if v := f.oldestLiveArchived(); v >= 0 {
				c = f.vs[v].c
			}
		}
		f.vs[len(f.vs)-1].archived = t
		f.vs = append(f.vs, version{up: t, c: c})
	case kDeleteFile:
		f.deleteAll(t)
	case kDeleteOld:
		f.del(f.oldestLiveArchived(), t)
	case kMove:
		f.gen = 1
	}
}

// Versions returns how many versions an inventory of the wiki after the
// first k tail events records: every current, archived and deleted version
// that has a sha1 (hidden ones have none). It walks every file: O(Files+k).
func (m *Model) Versions(k int64) int64 {
	var n int64
	if k <= 0 { // the base history alone: from the profiles, without replaying files
		for i := int64(0); i < m.cfg.Files; i++ {
			p := m.profile(i)
			n += int64(p.versions)
			if p.hideOld {
				n--
			}
		}
		return n
	}
	for i := int64(0); i < m.cfg.Files+min(k, m.cfg.Tail); i++ {
		f := m.file(i, k)
		for _, v := range f.vs {
			if !v.hidden {
				n++
			}
		}
	}
	return n
}

// FileEvents returns how many events of types upload, delete and move the
// log holds after the first k tail events (create events not counted):
// what `update` reads from T0 is FileEvents(k) - FileEvents(0).
func (m *Model) FileEvents(k int64) int64 {
	var n int64
	for i := int64(0); i < m.cfg.Files; i++ {
		for _, e := range m.baseEvents(i) {
			if e.kind != kCreate {
				n++
			}
		}
	}
	return n + min(k, m.cfg.Tail)
}

// ts14 formats a unix time as MediaWiki's 14 digits.
func ts14(t int64) string { return time.Unix(t, 0).UTC().Format("20060102150405") }

// iso formats a unix time as the API's ISO 8601.
func iso(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

func (m *Model) archiveName(f *file, v int, gen int) string {
	return ts14(f.vs[v].archived) + "!" + m.name(f.i, gen)
}

// String describes the model.
func (m *Model) String() string {
	return fmt.Sprintf("synthetic wiki (seed %d, %d files, %d tail events)", m.cfg.Seed, m.cfg.Files, m.cfg.Tail)
}
