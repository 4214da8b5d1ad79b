package eraselog

import (
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const simpleKey = "rjrzta2uecby71eo37q33rfc4bdtzyv.png"
	const simpleHex = "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"
	for _, tc := range []struct {
		name string
		log  string
		want string // entries as wiki|title|sha1|date|line, joined by ";"
		err  string
	}{
		{"real output", `mwscript eraseArchivedFile.php --wiki=testwiki --filekey '*' --filename Deleted_copy.png --delete
Purging all thumbnails for file 'Deleted_copy.png'...done.
Finding deleted versions of file 'Deleted_copy.png'...
Deleted version '` + simpleKey + `' (20250101120000) of file 'Deleted_copy.png'
Done
`, "testwiki|Deleted_copy.png|" + simpleHex + "|20250101120000|4", ""},
		{"--wiki NAME, quoted, extra white space", "  mwscript   eraseArchivedFile.php  --wiki   'commonswiki' --delete \n\n   Deleted   version  '" + simpleKey + "'   (20250101120000)  of file  'O'Brien's photo.jpg'  \n",
			"commonswiki|O'Brien's_photo.jpg|" + simpleHex + "|20250101120000|3", ""},
		{"double quotes, several wikis", `mwscript eraseArchivedFile.php --wiki "a"
Deleted version '` + simpleKey + `' (20250101120000) of file 'A.png'
mwscript eraseArchivedFile.php --wiki=b
Deleted version '1.png' (20250101120001) of file 'B.png'`,
			"a|A.png|" + simpleHex + "|20250101120000|2;b|B.png|" + strings.Repeat("0", 39) + "1|20250101120001|4", ""},
		{"no wiki line", "Deleted version '" + simpleKey + "' (20250101120000) of file 'A.png'", "|A.png|" + simpleHex + "|20250101120000|1", ""},
		{"would-delete and failed lines are ignored", "Would delete version '" + simpleKey + "' (20250101120000) of file 'A.png'\nFailed to delete version '" + simpleKey + "' (20250101120000) of file 'A.png'\nArray\n(\n)\n", "", ""},
		{"other scripts do not set the wiki", "mwscript deleteBatch.php --wiki=x\nDeleted version '" + simpleKey + "' (20250101120000) of file 'A.png'", "|A.png|" + simpleHex + "|20250101120000|2", ""},
		{"bad key", "Deleted version 'not-base36!.png' (20250101120000) of file 'A.png'", "", "line 1"},
		{"bad date", "mwscript eraseArchivedFile.php --wiki=x\nDeleted version '" + simpleKey + "' (20251340120000) of file 'A.png'", "", "line 2"},
		{"mwscript without --wiki", "mwscript eraseArchivedFile.php --filename=A.png", "", "without --wiki"},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.log))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, e := range got {
				parts = append(parts, fmt.Sprintf("%s|%s|%s|%s|%d", e.Wiki, e.Title, e.SHA1, e.UploadDate.Format("20060102150405"), e.Line))
			}
			if g := strings.Join(parts, ";"); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("mwscript eraseArchivedFile.php --wiki=testwiki\nDeleted version 'rjrzta2uecby71eo37q33rfc4bdtzyv.png' (20250101120000) of file 'A.png'\n")
	f.Add("Deleted version 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.png' (20250101120000) of file ''''")
	f.Add("mwscript eraseArchivedFile.php --wiki '' x")
	f.Fuzz(func(t *testing.T, log string) {
		entries, err := Parse(strings.NewReader(log))
		if err != nil {
			return
		}
		for _, e := range entries {
			if len(e.SHA1) != 40 || e.Title == "" || e.UploadDate.IsZero() || e.Line < 1 {
				t.Fatalf("bad entry %+v from %q", e, log)
			}
			if strings.ContainsAny(e.Wiki, " \t'\"") {
				t.Fatalf("wiki %q from %q", e.Wiki, log)
			}
		}
	})
}
