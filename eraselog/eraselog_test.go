package eraselog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

const (
	simpleKey = "rjrzta2uecby71eo37q33rfc4bdtzyv.png"
	simpleHex = "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457"
	deleted   = "Deleted version '" + simpleKey + "' (20250101120000) of file 'A.png'"
	wantA     = "|A.png|" + simpleHex + "|20250101120000|"
)

// describe renders entries as wiki|title|sha1|date|line, joined by ";".
func describe(entries []Entry) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, fmt.Sprintf("%s|%s|%s|%s|%d", e.Wiki, e.Title, e.SHA1, e.UploadDate.Format("20060102150405"), e.Line))
	}
	return strings.Join(parts, ";")
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  string
		want string
		err  string
	}{
		{"real output", `mwscript eraseArchivedFile.php --wiki=testwiki --filekey '*' --filename Deleted_copy.png --delete
Purging all thumbnails for file 'Deleted_copy.png'...done.
Finding deleted versions of file 'Deleted_copy.png'...
Deleted version '` + simpleKey + `' (20250101120000) of file 'Deleted_copy.png'
Done
`, "testwiki|Deleted_copy.png|" + simpleHex + "|20250101120000|4", ""},
		{"pasted from a terminal, as in the operators' documentation",
			`user@mwmaint2002:~$ mwscript eraseArchivedFile.php --wiki commonswiki --filename "X.jpg" --filekey "*" --delete
Purging all thumbnails for file 'X.jpg'...done.
Finding deleted versions of file 'X.jpg'...
Deleted version '` + simpleKey + `' (20250101120000) of file 'X.jpg'
Done
user@mwmaint2002:~$ `, "commonswiki|X.jpg|" + simpleHex + "|20250101120000|4", ""},
		{"CRLF line endings and a byte order mark",
			"\ufeffuser@mwmaint2002:~$ mwscript eraseArchivedFile.php --wiki commonswiki --filekey \"*\" --filename X.jpg --delete\r\n" + deleted + "\r\nDone\r\n",
			"commonswiki" + wantA + "2", ""},
		{"tabs between words", "\tmwscript\teraseArchivedFile.php\t--wiki\tcommonswiki\n\tDeleted\tversion\t'" + simpleKey + "'\t(20250101120000)\tof file\t'A.png'\t\n",
			"commonswiki" + wantA + "2", ""},
		{"sudo -u www-data php with the script's path",
			"root@mwmaint2002:/srv/mediawiki# sudo -u www-data php /srv/mediawiki/php-1.39/maintenance/eraseArchivedFile.php --wiki=enwiki --filekey '*' --filename A.png --delete\n" + deleted,
			"enwiki" + wantA + "2", ""},
		{"php with a version and a relative path", "$ php8.1 maintenance/eraseArchivedFile.php --wiki 'dewiki' --filekey '*' --filename A.png --delete\n" + deleted,
			"dewiki" + wantA + "2", ""},
		{"maintenance/run.php", "$ php maintenance/run.php eraseArchivedFile --wiki=frwiki --filekey '*' --filename A.png --delete\n" + deleted,
			"frwiki" + wantA + "2", ""},
		{"mwscript-k8s and a prompt with a virtualenv and brackets", "(venv) [user@deploy1002 ~]$ mwscript-k8s -- eraseArchivedFile.php --wiki=\"itwiki\" --filekey '*' --filename A.png\n" + deleted,
			"itwiki" + wantA + "2", ""},
		{"terminal colour codes", "\x1b[01;32muser@mwmaint2002\x1b[00m:\x1b[01;34m~\x1b[00m$ mwscript eraseArchivedFile.php --wiki=eswiki\n\x1b[0m" + deleted + "\x1b[0m\n",
			"eswiki" + wantA + "2", ""},
		{"a command line without --wiki keeps the current wiki",
			"mwscript eraseArchivedFile.php --wiki=a\n" + deleted + "\nmwscript eraseArchivedFile.php --filekey '*' --filename A.png --delete\n" + deleted,
			"a" + wantA + "2;a" + wantA + "4", ""},
		{"--wiki NAME, quoted, extra white space", "  mwscript   eraseArchivedFile.php  --wiki   'commonswiki' --delete \n\n   Deleted   version  '" + simpleKey + "'   (20250101120000)  of file  'O'Brien's photo.jpg'  \n",
			"commonswiki|O'Brien's_photo.jpg|" + simpleHex + "|20250101120000|3", ""},
		{"double quotes, several wikis", `mwscript eraseArchivedFile.php --wiki "a"
Deleted version '` + simpleKey + `' (20250101120000) of file 'A.png'
mwscript eraseArchivedFile.php --wiki=b
Deleted version '1.png' (20250101120001) of file 'B.png'`,
			"a|A.png|" + simpleHex + "|20250101120000|2;b|B.png|" + strings.Repeat("0", 39) + "1|20250101120001|4", ""},
		{"no wiki line", deleted, wantA + "1", ""},
		{"a prefix before the output line", "mwmaint2002.codfw.wmnet: " + deleted, wantA + "1", ""},
		{"would-delete and failed lines are ignored", "Would delete version '" + simpleKey + "' (20250101120000) of file 'A.png'\nFailed to delete version '" + simpleKey + "' (20250101120000) of file 'A.png'\nArray\n(\n)\n", "", ""},
		{"other scripts do not set the wiki", "mwscript deleteBatch.php --wiki=x\n" + deleted, wantA + "2", ""},
		{"the script named without a launcher is not a command", "see eraseArchivedFile.php --wiki=x for details\n" + deleted, wantA + "2", ""},
		{"a line longer than MaxLine is skipped", strings.Repeat("x", MaxLine+10) + "\n" + deleted, wantA + "2", ""},
		{"binary data", "\x00\x01\x02\xff\xfe" + strings.Repeat("\x00", 100), "", ""},
		{"bad key", "Deleted version 'not-base36!.png' (20250101120000) of file 'A.png'", "", "line 1"},
		{"bad date", "mwscript eraseArchivedFile.php --wiki=x\nDeleted version '" + simpleKey + "' (20251340120000) of file 'A.png'", "", "line 2"},
		{"empty title", "Deleted version '" + simpleKey + "' (20250101120000) of file ''", "", "empty file name"},
		{"empty --wiki", "x\nmwscript eraseArchivedFile.php --wiki= --filename=A.png", "", "line 2: --wiki \"\""},
		{"--wiki without a value", "mwscript eraseArchivedFile.php --wiki", "", "without a value"},
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
			if g := describe(got); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
			// Read a byte at a time, the same entries.
			got, err = Parse(iotest.OneByteReader(strings.NewReader(tc.log)))
			if err != nil || describe(got) != tc.want {
				t.Errorf("read one byte at a time: %s, %v", describe(got), err)
			}
		})
	}
}

func TestReaderStreams(t *testing.T) {
	// A log of many entries is read one at a time; an error stays.
	var b bytes.Buffer
	b.WriteString("mwscript eraseArchivedFile.php --wiki=w\n")
	for range 1000 {
		b.WriteString(deleted + "\n")
	}
	b.WriteString("Deleted version 'x!.png' (20250101120000) of file 'A.png'\n")
	r := NewReader(&b)
	n := 0
	var err error
	for {
		var e Entry
		if e, err = r.Next(); err != nil {
			break
		}
		n++
		if e.Line != n+1 || e.Wiki != "w" {
			t.Fatalf("entry %d: %+v", n, e)
		}
	}
	if n != 1000 || err == nil || !strings.Contains(err.Error(), "line 1002") || r.Lines() != 1002 {
		t.Fatalf("%d entries, %d lines, err %v", n, r.Lines(), err)
	}
	if _, again := r.Next(); again == nil || again.Error() != err.Error() {
		t.Errorf("Next after an error = %v, want the same error", again)
	}
	// A read error is reported as such.
	r = NewReader(iotest.ErrReader(errors.New("disk on fire")))
	if _, err := r.Next(); err == nil || err == io.EOF || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string]string{
		`a b  c`:                 "a|b|c",
		`--wiki "a b" 'c d'`:     "--wiki|a b|c d",
		`--wiki="x"`:             "--wiki=x",
		`it\'s "q\"uote"`:        `it's|q"uote`,
		"\tx\t":                  "x",
		`'unclosed quote runs`:   "unclosed quote runs",
		`--filename "X Y.jpg" z`: "--filename|X Y.jpg|z",
	} {
		if got := strings.Join(splitWords(in), "|"); got != want {
			t.Errorf("splitWords(%q) = %q, want %q", in, got, want)
		}
	}
}

// styles are ways operators keep the same log: each turns a plain log
// (LF, no prompt) into another spelling of it.
var styles = map[string]func(plain string) string{
	"CRLF": func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") },
	"BOM":  func(s string) string { return "\ufeff" + s },
	"tabs": func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, " --", "\t--"), "\n", "\t\n") },
	"prompt": func(s string) string {
		return strings.ReplaceAll(s, "mwscript ", "user@mwmaint2002:~$ mwscript ")
	},
	"sudo php": func(s string) string {
		return strings.ReplaceAll(s, "mwscript eraseArchivedFile.php", "sudo -u www-data php /srv/mediawiki/multiversion/MWScript.php /srv/mediawiki/php/maintenance/eraseArchivedFile.php")
	},
}

func FuzzParse(f *testing.F) {
	f.Add("mwscript eraseArchivedFile.php --wiki=testwiki\nDeleted version 'rjrzta2uecby71eo37q33rfc4bdtzyv.png' (20250101120000) of file 'A.png'\n")
	f.Add("Deleted version 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.png' (20250101120000) of file ''''")
	f.Add("mwscript eraseArchivedFile.php --wiki '' x")
	f.Add("\ufeffu@h:~$ sudo -u www-data php8.1 x/eraseArchivedFile.php --wiki \"a\\\"b\"\r\n" + deleted + "\r\n")
	f.Add("php maintenance/run.php eraseArchivedFile --wiki=\x1b[0m\n")
	f.Fuzz(func(t *testing.T, log string) {
		entries, err := Parse(strings.NewReader(log))
		if err != nil {
			return
		}
		for _, e := range entries {
			if len(e.SHA1) != 40 || e.Title == "" || e.UploadDate.IsZero() || e.Line < 1 {
				t.Fatalf("bad entry %+v from %q", e, log)
			}
			if strings.ContainsAny(e.Wiki, " \t") {
				t.Fatalf("wiki %q from %q", e.Wiki, log)
			}
		}
	})
}

// FuzzStyles checks that every way of keeping a log (CRLF, a byte order
// mark, tabs, a shell prompt, sudo php) reads to the same entries as the
// plain log.
func FuzzStyles(f *testing.F) {
	f.Add("commonswiki", "X.jpg", "rjrzta2uecby71eo37q33rfc4bdtzyv.jpg", "20250101120000", true)
	f.Add("enwiki", "O'Brien's photo.jpg", "1.png", "20000101000000", false)
	f.Fuzz(func(t *testing.T, wiki, title, key, date string, named bool) {
		// The styles rewrite text; keep the fields clear of what they
		// rewrite, and the wiki a plain shell word.
		for _, s := range []string{title, key, date} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\x7f\ufeff\\") || strings.Contains(s, "--") || strings.Contains(s, "mwscript") ||
				strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
				return
			}
		}
		if strings.Trim(wiki, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return
		}
		cmd := "mwscript eraseArchivedFile.php --filekey '*' --delete"
		if named {
			cmd += " --wiki=" + wiki
		}
		plain := "mwscript eraseArchivedFile.php --wiki=first\n" + cmd + "\nPurging all thumbnails for file '" + title + "'...done.\n" +
			"Deleted version '" + key + "' (" + date + ") of file '" + title + "'\nDone\n"
		want, err := Parse(strings.NewReader(plain))
		if err != nil || len(want) != 1 {
			return // not a well-formed log to begin with
		}
		if !named && want[0].Wiki != "first" {
			t.Fatalf("a command line without --wiki changed the wiki: %+v", want[0])
		}
		for name, style := range styles {
			got, err := Parse(strings.NewReader(style(plain)))
			if err != nil || describe(got) != describe(want) {
				t.Errorf("%s: %s, %v; want %s\nlog %q", name, describe(got), err, describe(want), style(plain))
			}
		}
	})
}
