package synthwiki

import (
	"strconv"
	"strings"
)

// end returns one past the highest file index that can exist after the
// first k tail events.
func (m *Model) end(k int64) int64 { return m.cfg.Files + min(k, m.cfg.Tail) }

// seek returns the lowest file index whose names can sort at or after s:
// names are namePrefix, 10 digits of the index, then the rest, so the
// digits decide. The caller still compares each name with s.
func (m *Model) seek(s string) int64 {
	if s <= namePrefix {
		return 0
	}
	if !strings.HasPrefix(s, namePrefix) {
		return m.cfg.Files + m.cfg.Tail // after every name
	}
	r := s[len(namePrefix):]
	n := 0
	for n < len(r) && n < 10 && r[n] >= '0' && r[n] <= '9' {
		n++
	}
	d := r[:n]
	pad := func(c byte) int64 {
		v, _ := strconv.ParseInt(d+strings.Repeat(string(c), 10-n), 10, 64)
		return v
	}
	switch {
	case n == 10 || n == len(r):
		return pad('0')
	case r[n] < '0':
		return pad('0')
	default: // a character above the digits: after every index with this prefix
		return pad('9') + 1
	}
}

// files calls fn, in name order, with every file that exists and is not
// deleted after the first k tail events, from the name from on, until fn
// returns false.
func (m *Model) files(k int64, from string, fn func(f *file, name string) bool) {
	for i, end := m.seek(from), m.end(k); i < end; i++ {
		f := m.file(i, k)
		if !f.exists || f.deleted {
			continue
		}
		name := m.name(i, f.gen)
		if name < from {
			continue
		}
		if !fn(f, name) {
			return
		}
	}
}

// faRow is one row of list=filearchive.
type faRow struct {
	f    *file
	v    int
	name string
}

// key is the row's position in list=filearchive's order (name, then
// timestamp, then id) as its continuation value.
func (r faRow) key() string {
	return r.name + "|" + ts14(r.f.vs[r.v].up) + "|" + strconv.FormatInt(r.f.vs[r.v].faID, 10)
}

// faPos is a parsed facontinue value.
type faPos struct {
	name string
	ts   string // 14 digits
	id   int64
}

func parseFAContinue(s string) (faPos, bool) {
	parts := strings.Split(s, "|")
	if len(parts) != 3 || len(parts[1]) != 14 {
		return faPos{}, false
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return faPos{}, false
	}
	for _, c := range []byte(parts[1]) {
		if c < '0' || c > '9' {
			return faPos{}, false
		}
	}
	return faPos{parts[0], parts[1], id}, true
}

// after reports whether row r sorts before position p (p is after it).
func (p faPos) after(r faRow) bool {
	if r.name != p.name {
		return r.name < p.name
	}
	ts := ts14(r.f.vs[r.v].up)
	if ts != p.ts {
		return ts < p.ts
	}
	return r.f.vs[r.v].faID < p.id
}

// deletedRows calls fn, in list=filearchive order, with every deleted
// version after the first k tail events whose name is at or after from,
// until fn returns false. Only base files are ever deleted.
func (m *Model) deletedRows(k int64, from string, fn func(faRow) bool) {
	for i := m.seek(from); i < m.cfg.Files; i++ {
		f := m.file(i, k)
		for gen := 0; gen <= f.gen; gen++ {
			name := ""
			for v := range f.vs {
				if f.vs[v].deleted == 0 || f.vs[v].faGen != gen {
					continue
				}
				if name == "" {
					name = m.name(i, gen)
				}
				if name < from {
					break
				}
				if !fn(faRow{f, v, name}) {
					return
				}
			}
		}
	}
}

// event is one entry of the log.
type event struct {
	id, ts int64
	kind   kind
	i      int64 // the file
	gen    int   // name generation of the title it is logged under
	v      int   // the version it is about: uploaded, deleted or hidden (-1: none)
}

// baseEvents returns the log entries of base file i, oldest first.
func (m *Model) baseEvents(i int64) []event {
	p := m.profile(i)
	t := baseTime + window*i
	id := window * i
	var out []event
	add := func(ts int64, k kind, gen, v int) {
		id++
		out = append(out, event{id: id, ts: ts, kind: k, i: i, gen: gen, v: v})
	}
	add(t, kUpload, 0, 0)
	add(t, kCreate, 0, -1)
	for v := 1; v < p.versions; v++ {
		add(t+int64(v), kOverwrite, 0, v)
	}
	switch {
	case p.deleteOld:
		add(t+13, kDeleteOld, 0, 0)
	case p.hideOld:
		add(t+13, kHide, 0, 0)
	}
	gen := 0
	if p.moved {
		add(t+14, kMove, 0, -1)
		gen = 1
	}
	if p.deleted {
		add(t+15, kDeleteFile, gen, -1)
	}
	return out
}

// tailID is the log id of tail event j (its create event, after a new
// upload, has the next one).
func (m *Model) tailID(j int64) int64 { return window*m.cfg.Files + 2*j + 1 }

// tailEvents returns the log entries of tail event j: one, or two for an
// upload (upload, then create).
func (m *Model) tailEvents(j int64) []event {
	id, t := m.tailID(j), m.t0+j
	kd := m.kind(j)
	if kd == kUpload {
		i := m.cfg.Files + j
		return []event{{id: id, ts: t, kind: kUpload, i: i, v: 0}, {id: id + 1, ts: t, kind: kCreate, i: i, v: -1}}
	}
	i := m.target(j)
	f := m.file(i, j+1)
	e := event{id: id, ts: t, kind: kd, i: i, gen: f.gen, v: -1}
	switch kd {
	case kOverwrite, kRevert:
		e.v = len(f.vs) - 1
	case kDeleteOld:
		for v := range f.vs {
			if f.vs[v].deleted == t {
				e.v = v
			}
		}
	case kMove:
		e.gen = 0
	}
	return []event{e}
}

// logPos is where a log listing starts: a base file and the first log id
// to list in it, or a tail event.
type logPos struct {
	i    int64 // base file; m.cfg.Files: in the tail
	j    int64 // tail event
	from int64 // lowest log id
}

// seekTime returns the position of the first event at or after unix time t.
func (m *Model) seekTime(t int64) logPos {
	if t < m.t0 {
		i := max(0, (t-baseTime)/window)
		return logPos{i: i, from: window*i + 1}
	}
	return logPos{i: m.cfg.Files, j: t - m.t0}
}

// seekID returns the position of the event with log id id (or the next).
func (m *Model) seekID(id int64) logPos {
	if id <= window*m.cfg.Files {
		i := max(0, (id-1)/window)
		return logPos{i: i, from: id}
	}
	j := (id - m.tailID(0)) / 2
	return logPos{i: m.cfg.Files, j: j, from: id}
}

// events calls fn with every log entry after the first k tail events, from
// pos on, skipping entries before notBefore (unix time), until fn returns
// false.
func (m *Model) events(k int64, pos logPos, notBefore int64, fn func(e event) bool) {
	for i := pos.i; i < m.cfg.Files; i++ {
		for _, e := range m.baseEvents(i) {
			if e.id < pos.from || e.ts < notBefore {
				continue
			}
			if !fn(e) {
				return
			}
		}
	}
	for j := pos.j; j < min(k, m.cfg.Tail); j++ {
		for _, e := range m.tailEvents(j) {
			if e.id < pos.from || e.ts < notBefore {
				continue
			}
			if !fn(e) {
				return
			}
		}
	}
}
