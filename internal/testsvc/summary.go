package testsvc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Summary is a test wiki's populate-summary.json: every file version that
// testenv/testwiki/populate.sh made, and where its bytes are.
type Summary struct {
	Files []SummaryFile `json:"files"`
}

// SummaryFile is one file name and its versions.
type SummaryFile struct {
	Title    string           `json:"title"` // "File:Simple.png"
	Name     string           `json:"name"`  // "Simple.png"
	Versions []SummaryVersion `json:"versions"`
}

// SummaryVersion is one version of a file.
type SummaryVersion struct {
	Title       string `json:"-"` // the file's, filled in by Versions
	Status      string `json:"status"`
	Timestamp   string `json:"timestamp"`
	SHA1        string `json:"sha1"`
	SHA1Base36  string `json:"sha1_base36"`
	Size        int64  `json:"size"`
	MIME        string `json:"mime"`
	ArchiveName string `json:"archive_name"`
	StorageKey  string `json:"storage_key"`
	Hidden      bool   `json:"hidden"`
	// Path is relative to a disk wiki's images/: "2/2e/Simple.png",
	// "archive/…", "deleted/r/j/r/…".
	Path string `json:"path"`
	// Swift is where a Swift-backed wiki keeps it, as MediaWiki resolved it.
	Swift *struct {
		Container string `json:"container"`
		Object    string `json:"object"`
	} `json:"swift"`
}

// Summary reads the wiki's populate-summary.json.
func (w Wiki) Summary(t testing.TB) Summary {
	t.Helper()
	p := filepath.Join(w.Dir, "populate-summary.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read the test wiki's summary: %v", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if len(s.Files) == 0 {
		t.Fatalf("%s lists no files", p)
	}
	return s
}

// Versions returns every version of every file, each with its file's title.
func (s Summary) Versions() []SummaryVersion {
	var out []SummaryVersion
	for _, f := range s.Files {
		for _, v := range f.Versions {
			v.Title = f.Title
			out = append(out, v)
		}
	}
	return out
}
