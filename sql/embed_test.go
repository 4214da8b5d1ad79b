package sql

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a\n  -- b\n", nil},
		{"one", "CREATE TABLE a (x INT);\n", []string{"CREATE TABLE a (x INT)"}},
		{"multi-line", "CREATE TABLE a (\n  x INT\n);\n-- c\nDROP TABLE b;", []string{"CREATE TABLE a (\n  x INT\n)", "DROP TABLE b"}},
		{"no trailing semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"semicolon inside line kept", "SELECT ';' , 1;\n", []string{"SELECT ';' , 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitStatements(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitStatements(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations = %+v, want version 1 first", ms)
	}
	for i, m := range ms {
		// Numbers are handed out ahead of time, one per change in
		// progress, so a branch may hold 0005 before 0004 has landed:
		// increasing, not contiguous (CheckSchema asks for each one).
		if i > 0 && m.Version <= ms[i-1].Version {
			t.Errorf("migration %d has version %d after %d: versions must increase", i, m.Version, ms[i-1].Version)
		}
		for _, s := range m.Statements {
			if strings.Contains(s, "TIMESTAMP") {
				t.Errorf("migration %d uses TIMESTAMP; use DATETIME (UTC): %.60s", m.Version, s)
			}
		}
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no version": {"migrations/init.sql": {Data: []byte("SELECT 1;")}},
		"duplicate":  {"migrations/0001_a.sql": {Data: []byte("SELECT 1;")}, "migrations/0001_b.sql": {Data: []byte("SELECT 1;")}},
		"empty":      {"migrations/0001_a.sql": {Data: []byte("-- nothing\n")}},
	} {
		if _, err := load(fsys); err == nil {
			t.Errorf("%s: load succeeded, want an error", name)
		}
	}
}

func FuzzSplitStatements(f *testing.F) {
	f.Add("CREATE TABLE a (x INT);\n-- c\nSELECT 1;")
	f.Fuzz(func(t *testing.T, s string) {
		for _, st := range SplitStatements(s) {
			if strings.TrimSpace(st) == "" {
				t.Fatalf("empty statement from %q", s)
			}
		}
	})
}
