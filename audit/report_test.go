package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestReadReport(t *testing.T) {
	good := Report{Wiki: "testwiki", CheckedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Versions: 47, SizeOnly: 2,
		Problems: []Problem{
			{ID: 28, Wiki: "testwiki", Title: "Simple.png", Status: "public", ProductionContainer: "wikipedia-test-local-public",
				ProductionPath: "2/2e/Simple.png", SHA1: "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", Problem: Missing, BackupOK: true},
			{Wiki: "testwiki", ProductionContainer: "wikipedia-test-local-public", ProductionPath: "x/xy/Stray.png", Problem: Unexpected},
		},
		Counts: map[string]int64{Missing: 1, Unexpected: 1}}
	enc := func(r Report) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, in, err string
	}{
		{"good", enc(good), ""},
		{"empty", "", "EOF"},
		{"not JSON", "hello", "invalid character"},
		{"unknown field", strings.Replace(enc(good), `"versions"`, `"versionz"`, 1), "unknown field"},
		{"two documents", enc(good) + enc(good), "more than one"},
		{"no wiki", strings.Replace(enc(good), `"wiki":"testwiki","checked_at"`, `"wiki":"","checked_at"`, 1), "names no wiki"},
		{"foreign problem", strings.Replace(enc(good), `"id":28,"wiki":"testwiki"`, `"id":28,"wiki":"otherwiki"`, 1), "otherwiki"},
		{"bad sha1", strings.Replace(enc(good), "ebd86f06", "xbd86f06", 1), "sha1"},
		{"no id", strings.Replace(enc(good), `"id":28`, `"id":0`, 1), "no version id"},
		{"unknown problem", strings.Replace(enc(good), `"missing"`, `"lost"`, 1), "unknown problem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := ReadReport(strings.NewReader(tc.in))
			if tc.err == "" {
				if err != nil || len(rep.Problems) != 2 || rep.SizeOnly != 2 {
					t.Fatalf("ReadReport = %v, %v", rep, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ReadReport error = %v, want %q", err, tc.err)
			}
		})
	}
}

func FuzzReadReport(f *testing.F) {
	f.Add([]byte(`{"wiki":"w","checked_at":"2026-12-01T10:00:00Z","versions":1,"problems":[],"counts":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := ReadReport(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range rep.Problems {
			if p.Wiki != rep.Wiki || p.ProductionContainer == "" {
				t.Fatalf("accepted %+v", p)
			}
		}
	})
}
