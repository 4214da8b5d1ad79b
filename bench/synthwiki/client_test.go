package synthwiki

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
)

// This file runs the real API client (package mediawiki) against the
// synthetic wiki, which stands in for a wiki too big to run here, and
// checks that it lists exactly what the model holds. HighLimit is small so
// that every listing continues many times and files with more versions
// than iilimit take the client's "ask for that file alone" path.

func newTestModel(t testing.TB, files, tail int64, highLimit int) (*Model, *httptest.Server) {
	t.Helper()
	m, err := New(Config{Seed: 42, Files: files, Tail: tail, HighLimit: highLimit})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return m, srv
}

func client(t testing.TB, api string) *mediawiki.Client {
	t.Helper()
	c, err := mediawiki.New(mediawiki.Config{APIURL: api, UserAgent: "synthwiki-test/1.0", User: "Bench@synth", Password: "x", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func versionKey(title string, ts time.Time, sha1 string) string {
	return fmt.Sprintf("%s|%s|%s", title, ts.UTC().Format(time.RFC3339), sha1)
}

// expected lists what the model holds after k tail events: visible
// versions (hidden ones with an empty sha1) and deleted rows, as keys.
func expected(m *Model, k int64) (visible, deleted []string) {
	for i := int64(0); i < m.end(k); i++ {
		f := m.file(i, k)
		if !f.exists {
			continue
		}
		for v := range f.vs {
			ver := f.vs[v]
			switch {
			case ver.deleted != 0:
				deleted = append(deleted, versionKey(m.name(i, ver.faGen), time.Unix(ver.up, 0), hex.EncodeToString(ver.c.sha1[:])))
			case ver.hidden:
				visible = append(visible, versionKey(m.name(i, f.gen), time.Unix(ver.up, 0), ""))
			default:
				visible = append(visible, versionKey(m.name(i, f.gen), time.Unix(ver.up, 0), hex.EncodeToString(ver.c.sha1[:])))
			}
		}
	}
	slices.Sort(visible)
	slices.Sort(deleted)
	return visible, deleted
}

func TestClientListsTheModel(t *testing.T) {
	const files, tail = 2000, 600
	m, srv := newTestModel(t, files, tail, 7)
	ctx := context.Background()
	for _, k := range []int64{0, 120, tail} {
		t.Run(fmt.Sprintf("after %d tail events", k), func(t *testing.T) {
			c := client(t, fmt.Sprintf("%s/tail/%d/api.php", srv.URL, k))
			wantVisible, wantDeleted := expected(m, k)
			var got []string
			hidden := 0
			err := c.AllVersions(ctx, func(v mediawiki.FileVersion) error {
				if v.Hidden {
					hidden++
				}
				got = append(got, versionKey(v.Title, v.Timestamp, v.SHA1))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, wantVisible) {
				t.Errorf("AllVersions: %d versions, want %d\n%s", len(got), len(wantVisible), diff(got, wantVisible))
			}
			if hidden == 0 {
				t.Errorf("no hidden version listed: the model should have some at %d files", files)
			}
			got = got[:0]
			err = c.DeletedVersions(ctx, func(d mediawiki.DeletedVersion) error {
				got = append(got, versionKey(d.Title, d.Timestamp, d.SHA1))
				if d.StorageKey == "" {
					t.Errorf("deleted %s has no storage key", d.Title)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, wantDeleted) || len(got) == 0 {
				t.Errorf("DeletedVersions: %d rows, want %d\n%s", len(got), len(wantDeleted), diff(got, wantDeleted))
			}
			if n := m.Versions(k); n != int64(len(wantVisible)-hidden+len(wantDeleted)) {
				t.Errorf("Versions(%d) = %d, want %d", k, n, len(wantVisible)-hidden+len(wantDeleted))
			}

			events := 0
			var last int64
			err = c.LogEvents(ctx, time.Time{}, func(e mediawiki.LogEvent) error {
				if e.ID <= last {
					t.Errorf("log id %d after %d", e.ID, last)
				}
				last = e.ID
				events++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := m.FileEvents(k); int64(events) != want {
				t.Errorf("LogEvents from the start: %d events, want %d", events, want)
			}
			events = 0
			err = c.LogEvents(ctx, m.T0(), func(e mediawiki.LogEvent) error {
				events++
				return nil
			})
			if err != nil || int64(events) != k {
				t.Errorf("LogEvents since T0: %d events, %v; want %d", events, err, k)
			}
		})
	}
}

// TestVersionsOfTitles asks, as `update` does, for the versions and the
// deleted rows of single titles: current names, old names of renamed
// files (redirects), deleted files, and names that never existed.
func TestVersionsOfTitles(t *testing.T) {
	m, srv := newTestModel(t, 300, 200, 3)
	c := client(t, srv.URL+"/api.php")
	ctx := context.Background()
	k := m.cfg.Tail
	kinds := map[string]int{}
	for i := int64(0); i < m.end(k); i++ {
		f := m.file(i, k)
		if !f.exists {
			continue
		}
		for gen := 0; gen <= f.gen; gen++ {
			name := m.name(i, gen)
			got, err := c.Versions(ctx, []string{name})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case f.deleted:
				kinds["deleted"]++
				if len(got) != 0 {
					t.Errorf("%s is deleted, Versions = %v", name, got)
				}
			case gen < f.gen:
				kinds["redirect"]++
				if _, ok := got[name]; ok || len(got[m.name(i, f.gen)]) == 0 {
					t.Errorf("%s is a redirect to %s; Versions = %v", name, m.name(i, f.gen), got)
				}
			default:
				kinds["file"]++
				live := 0
				for _, v := range f.vs {
					if v.deleted == 0 {
						live++
					}
				}
				if len(got[name]) != live {
					t.Errorf("%s: %d versions, want %d", name, len(got[name]), live)
				}
				if live > 3 {
					kinds["more than iilimit"]++
				}
			}
			ds, err := c.DeletedVersionsOf(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, v := range f.vs {
				if v.deleted != 0 && v.faGen == gen {
					want++
				}
			}
			if len(ds) != want {
				t.Errorf("DeletedVersionsOf(%s) = %d rows, want %d", name, len(ds), want)
			}
		}
	}
	got, err := c.Versions(ctx, []string{"Never_existed.png", m.name(m.end(k)+5, 0)})
	if err != nil || len(got) != 0 {
		t.Errorf("Versions of names that never existed = %v, %v", got, err)
	}
	for _, kind := range []string{"deleted", "redirect", "file", "more than iilimit"} {
		if kinds[kind] == 0 {
			t.Errorf("no title of kind %q was checked: %v", kind, kinds)
		}
	}
}

func diff(got, want []string) string {
	var out string
	n := 0
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok && n < 5 {
			out += "  unexpected " + g + "\n"
			n++
		}
	}
	n = 0
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok && n < 5 {
			out += "  missing    " + w + "\n"
			n++
		}
	}
	return out
}
