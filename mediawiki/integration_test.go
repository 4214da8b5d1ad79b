package mediawiki

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http/cookiejar"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

const testUA = "mediabackups-test/0 (mediawiki package tests)"

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.UserAgent == "" {
		cfg.UserAgent = testUA
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.backoffBase = 10 * time.Millisecond
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// versionKey identifies a version for comparisons with the summary.
func versionKey(title, ts, archiveName, sha1 string, hidden bool) string {
	if hidden {
		return fmt.Sprintf("%s|%s|hidden", title, ts)
	}
	return fmt.Sprintf("%s|%s|%s|%s", title, ts, archiveName, sha1)
}

// expectedVersions lists what AllVersions must report according to the
// summary: public and archived versions (a hidden one without its sha1
// and archive name).
func expectedVersions(s summary) (keys []string, visible, hidden int) {
	for _, f := range s.Files {
		for _, v := range f.Versions {
			switch v.Status {
			case "public":
				keys = append(keys, versionKey(f.Name, v.Timestamp, "", v.SHA1, false))
				visible++
			case "archived":
				an := ""
				if v.ArchiveName != nil {
					an = *v.ArchiveName
				}
				keys = append(keys, versionKey(f.Name, v.Timestamp, an, v.SHA1, v.Hidden))
				if v.Hidden {
					hidden++
				} else {
					visible++
				}
			}
		}
	}
	sort.Strings(keys)
	return keys, visible, hidden
}

func allVersions(t *testing.T, c *Client) []FileVersion {
	t.Helper()
	var vs []FileVersion
	if err := c.AllVersions(testCtx(t), func(v FileVersion) error { vs = append(vs, v); return nil }); err != nil {
		t.Fatal(err)
	}
	return vs
}

func keysOf(vs []FileVersion) []string {
	var keys []string
	for _, v := range vs {
		keys = append(keys, versionKey(v.Title, v.Timestamp.Format(time.RFC3339), v.ArchiveName, v.SHA1, v.Hidden))
	}
	sort.Strings(keys)
	return keys
}

// checkDownload downloads u with c and compares the bytes with sha1hex.
func checkDownload(t *testing.T, what string, body io.ReadCloser, size int64, err error, sha1hex string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	defer body.Close()
	h := sha1.New()
	n, err := io.Copy(h, body)
	if err != nil {
		t.Errorf("%s: read: %v", what, err)
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha1hex {
		t.Errorf("%s: sha1 %s, want %s", what, got, sha1hex)
	}
	if size >= 0 && size != n {
		t.Errorf("%s: Content-Length %d, read %d bytes", what, size, n)
	}
}

func TestIntegrationPublicAllVersions(t *testing.T) {
	w := requireTestWiki(t)
	s := readSummary(t, w.PublicDir)
	want, visible, hidden := expectedVersions(s)
	if visible != 38 || hidden != 1 {
		t.Errorf("summary has %d visible and %d hidden versions; the tests expect 38 and 1", visible, hidden)
	}

	c := newTestClient(t, Config{APIURL: w.PublicAPI})
	vs := allVersions(t, c)
	if got := keysOf(vs); !reflect.DeepEqual(got, want) {
		t.Fatalf("AllVersions:\n got %q\nwant %q", got, want)
	}

	// Every visible version downloads with the listed sha1 and size.
	ctx := testCtx(t)
	for _, v := range vs {
		if v.Hidden {
			continue
		}
		body, n, err := c.Download(ctx, v.URL)
		checkDownload(t, v.URL, body, n, err, v.SHA1)
		if n >= 0 && n != v.Size {
			t.Errorf("%s: Content-Length %d, imageinfo size %d", v.URL, n, v.Size)
		}
	}

	// Small limits force generator continuation and MediaWiki's silent
	// truncation of per-file history in multi-file batches: the result
	// must be the same.
	for _, lim := range []struct{ ii, gai string }{{"1", "3"}, {"2", "7"}, {"max", "1"}} {
		t.Run("iilimit="+lim.ii+",gailimit="+lim.gai, func(t *testing.T) {
			c := newTestClient(t, Config{APIURL: w.PublicAPI})
			c.iiLimit, c.gaiLimit = lim.ii, lim.gai
			if got := keysOf(allVersions(t, c)); !reflect.DeepEqual(got, want) {
				t.Errorf("AllVersions:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestIntegrationVersions(t *testing.T) {
	w := requireTestWiki(t)
	for _, cfg := range []struct {
		name    string
		iiLimit string
		per     int
	}{{"defaults", "max", 50}, {"small limits", "1", 2}} {
		t.Run(cfg.name, func(t *testing.T) {
			c := newTestClient(t, Config{APIURL: w.PublicAPI})
			c.iiLimit, c.titlesPerQuery = cfg.iiLimit, cfg.per
			got, err := c.Versions(testCtx(t), []string{"Diagram.svg", "File:Wow!Amazing.png", "Move source.png",
				"Never existed.png", "File:Revdel old version.png", "To_be_deleted.png", "Simple.png", "Diagram.svg"})
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			for k, vs := range got {
				counts[k] = len(vs)
				for _, v := range vs {
					if v.Title != k {
						t.Errorf("version of %q has title %q", k, v.Title)
					}
				}
				for i := 1; i < len(vs); i++ {
					if vs[i].Timestamp.After(vs[i-1].Timestamp) {
						t.Errorf("%s: versions not newest first", k)
					}
				}
			}
			want := map[string]int{"Diagram.svg": 4, "Wow!Amazing.png": 2, "Move_target.png": 2,
				"Revdel_old_version.png": 2, "Simple.png": 1}
			if !reflect.DeepEqual(counts, want) {
				t.Errorf("version counts %v, want %v", counts, want)
			}
			if vs := got["Revdel_old_version.png"]; len(vs) == 2 && (!vs[1].Hidden || vs[0].Hidden) {
				t.Errorf("Revdel_old_version.png: %+v", vs)
			}
			// A URL that serves nothing (a file moved or deleted since
			// its URL was read) is ErrNotFound.
			if vs := got["Simple.png"]; len(vs) == 1 {
				gone := strings.Replace(vs[0].URL, "Simple.png", "Never_existed.png", 1)
				if _, _, err := c.Download(testCtx(t), gone); !errors.Is(err, ErrNotFound) {
					t.Errorf("Download(%s) = %v, want ErrNotFound", gone, err)
				}
			}
		})
	}
}

func TestIntegrationPrivate(t *testing.T) {
	w := requireTestWiki(t)
	s := readSummary(t, w.PrivateDir)
	want, _, _ := expectedVersions(s)

	t.Run("anonymous is refused", func(t *testing.T) {
		c := newTestClient(t, Config{APIURL: w.PrivateAPI})
		err := c.AllVersions(testCtx(t), func(FileVersion) error { return nil })
		if !errors.Is(err, ErrPermission) {
			t.Errorf("AllVersions: %v, want ErrPermission", err)
		}
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "readapidenied" {
			t.Errorf("AllVersions: %v, want APIError readapidenied", err)
		}
		u := strings.TrimSuffix(w.PrivateAPI, "api.php") + "img_auth.php/2/2e/Simple.png"
		if _, _, err := c.Download(testCtx(t), u); !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "403") {
			t.Errorf("Download: %v, want 403 ErrPermission", err)
		}
	})

	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"main account", Config{User: w.AdminUser, Password: w.AdminPassword}},
		{"bot password with web user", Config{User: w.BotUser, Password: w.BotPassword, WebUser: w.AdminUser, WebPassword: w.AdminPassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.APIURL = w.PrivateAPI
			c := newTestClient(t, cfg)
			vs := allVersions(t, c)
			if got := keysOf(vs); !reflect.DeepEqual(got, want) {
				t.Fatalf("AllVersions:\n got %q\nwant %q", got, want)
			}
			ctx := testCtx(t)
			for _, v := range vs {
				if v.Hidden {
					continue
				}
				if !strings.Contains(v.URL, "/img_auth.php/") {
					t.Errorf("URL %s does not go through img_auth.php", v.URL)
				}
				body, n, err := c.Download(ctx, v.URL)
				checkDownload(t, v.URL, body, n, err, v.SHA1)
			}
			n := 0
			if err := c.DeletedVersions(ctx, func(DeletedVersion) error { n++; return nil }); err != nil || n != 8 {
				t.Errorf("DeletedVersions: %d rows, %v", n, err)
			}
		})
	}

	t.Run("bot password alone cannot download", func(t *testing.T) {
		c := newTestClient(t, Config{APIURL: w.PrivateAPI, User: w.BotUser, Password: w.BotPassword})
		vs, err := c.Versions(testCtx(t), []string{"Simple.png"})
		if err != nil || len(vs["Simple.png"]) != 1 {
			t.Fatalf("Versions: %v, %v", vs, err)
		}
		if _, _, err := c.Download(testCtx(t), vs["Simple.png"][0].URL); !errors.Is(err, ErrPermission) {
			t.Errorf("Download: %v, want ErrPermission", err)
		}
		if _, _, err := c.DownloadDeleted(testCtx(t), "Deleted_copy.png", "rjrzta2uecby71eo37q33rfc4bdtzyv.png"); !errors.Is(err, ErrPermission) {
			t.Errorf("DownloadDeleted: %v, want ErrPermission", err)
		}
	})
}

func TestIntegrationDeleted(t *testing.T) {
	w := requireTestWiki(t)
	for _, tc := range []struct {
		name, api, dir string
		cfg            Config
	}{
		{"public wiki, main account", w.PublicAPI, w.PublicDir, Config{User: w.AdminUser, Password: w.AdminPassword}},
		{"private wiki, bot password and web user", w.PrivateAPI, w.PrivateDir,
			Config{User: w.BotUser, Password: w.BotPassword, WebUser: w.AdminUser, WebPassword: w.AdminPassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := readSummary(t, tc.dir)
			want := map[int64]string{} // fa_id -> storage key
			sha := map[int64]string{}
			for _, f := range s.Files {
				for _, v := range f.Versions {
					if v.Status == "deleted" {
						want[v.FaID] = v.StorageKey
						sha[v.FaID] = v.SHA1
					}
				}
			}
			cfg := tc.cfg
			cfg.APIURL = tc.api
			c := newTestClient(t, cfg)
			ctx := testCtx(t)
			var rows []DeletedVersion
			if err := c.DeletedVersions(ctx, func(d DeletedVersion) error { rows = append(rows, d); return nil }); err != nil {
				t.Fatal(err)
			}
			got := map[int64]string{}
			for _, d := range rows {
				got[d.ID] = d.StorageKey
				if d.SHA1 != sha[d.ID] {
					t.Errorf("row %d: sha1 %s, want %s", d.ID, d.SHA1, sha[d.ID])
				}
			}
			if len(rows) != 8 || !reflect.DeepEqual(got, want) {
				t.Fatalf("storage keys %v, want %v", got, want)
			}
			for _, d := range rows {
				body, n, err := c.DownloadDeleted(ctx, d.Title, d.StorageKey)
				checkDownload(t, "deleted "+d.StorageKey, body, n, err, d.SHA1)
			}
			body, n, err := c.DownloadHidden(ctx, "Revdel old version.png", "20250102090000!Revdel_old_version.png")
			checkDownload(t, "hidden version", body, n, err, "97f01a3c9dfe50355f0585da5b8aea3fc1def898")

			// By content: Deleted_copy.png holds the bytes of Simple.png.
			bySHA, err := c.DeletedVersionsBySHA1(ctx, "EBD86F06D1C6B7DFE02A6E4A5DFC11DFCDF9D457")
			if err != nil {
				t.Fatal(err)
			}
			if len(bySHA) != 1 || bySHA[0].Title != "Deleted_copy.png" || bySHA[0].StorageKey != "rjrzta2uecby71eo37q33rfc4bdtzyv.png" {
				t.Errorf("deleted versions with the sha1 of Simple.png: %+v, want Deleted_copy.png alone", bySHA)
			}
			if none, err := c.DeletedVersionsBySHA1(ctx, strings.Repeat("0", 40)); err != nil || len(none) != 0 {
				t.Errorf("deleted versions with sha1 000…: %+v, %v; want none", none, err)
			}
			if _, err := c.DeletedVersionsBySHA1(ctx, "not a sha1"); err == nil {
				t.Error("DeletedVersionsBySHA1 of a bad sha1: no error")
			}

			// A wrong target is an HTML page, not bytes.
			if _, _, err := c.DownloadDeleted(ctx, "Simple.png", "rjrzta2uecby71eo37q33rfc4bdtzyv.png"); err == nil {
				t.Error("DownloadDeleted with the wrong title: no error")
			}
		})
	}

	t.Run("anonymous and bot sessions are refused", func(t *testing.T) {
		for _, cfg := range []Config{{}, {User: w.BotUser, Password: w.BotPassword}} {
			cfg.APIURL = w.PublicAPI
			c := newTestClient(t, cfg)
			if _, _, err := c.DownloadDeleted(testCtx(t), "Deleted_copy.png", "rjrzta2uecby71eo37q33rfc4bdtzyv.png"); !errors.Is(err, ErrPermission) {
				t.Errorf("user %q: %v, want ErrPermission", cfg.User, err)
			}
		}
	})
}

func TestIntegrationLogEvents(t *testing.T) {
	w := requireTestWiki(t)
	s := readSummary(t, w.PublicDir)
	c := newTestClient(t, Config{APIURL: w.PublicAPI})

	var all []LogEvent
	if err := c.LogEvents(testCtx(t), time.Time{}, func(e LogEvent) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range all {
		got = append(got, fmt.Sprintf("%d %s/%s %s %s", e.ID, e.Type, e.Action, e.Timestamp.Format(time.RFC3339), e.Title))
	}
	for _, e := range s.Log {
		want = append(want, fmt.Sprintf("%d %s/%s %s %s", e.LogID, e.Type, e.Action, e.Timestamp, DBKey(e.Title)))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LogEvents from the start:\n got %q\nwant %q", got, want)
	}

	var since []LogEvent
	start := time.Date(2025, 1, 5, 12, 0, 0, 0, time.UTC)
	if err := c.LogEvents(testCtx(t), start, func(e LogEvent) error { since = append(since, e); return nil }); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range since {
		counts[e.Type+"/"+e.Action]++
	}
	wantCounts := map[string]int{"move/move": 1, "delete/delete": 1, "delete/restore": 1, "upload/revert": 1, "upload/upload": 1}
	if len(since) == 0 || since[0].ID != 86 || !reflect.DeepEqual(counts, wantCounts) {
		t.Errorf("LogEvents since %v: first %+v, counts %v; want logid 86 first and %v", start, since[:min(1, len(since))], counts, wantCounts)
	}

	// An error from the callback stops the listing and comes back as is.
	stop := errors.New("stop")
	n := 0
	err := c.LogEvents(testCtx(t), start, func(LogEvent) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("callback error: got %v after %d calls", err, n)
	}
}

func TestIntegrationRelogin(t *testing.T) {
	w := requireTestWiki(t)
	c := newTestClient(t, Config{APIURL: w.PrivateAPI, User: w.BotUser, Password: w.BotPassword,
		WebUser: w.AdminUser, WebPassword: w.AdminPassword})
	ctx := testCtx(t)
	vs, err := c.Versions(ctx, []string{"Simple.png"})
	if err != nil || len(vs["Simple.png"]) != 1 {
		t.Fatalf("Versions: %v, %v", vs, err)
	}
	u := vs["Simple.png"][0].URL
	body, n, err := c.Download(ctx, u)
	checkDownload(t, u, body, n, err, vs["Simple.png"][0].SHA1)

	// Lose both sessions' cookies, as when the wiki expires a session:
	// the next requests are refused (assert=user, img_auth 403) and must
	// log in again and succeed.
	for _, s := range []*session{c.api, c.web} {
		s.http.Jar, _ = cookiejar.New(nil)
	}
	if vs, err = c.Versions(ctx, []string{"Simple.png"}); err != nil || len(vs["Simple.png"]) != 1 {
		t.Fatalf("Versions after losing the session: %v, %v", vs, err)
	}
	body, n, err = c.Download(ctx, u)
	checkDownload(t, u+" after losing the session", body, n, err, vs["Simple.png"][0].SHA1)
	c.web.http.Jar, _ = cookiejar.New(nil)
	body, n, err = c.DownloadDeleted(ctx, "Deleted copy.png", "rjrzta2uecby71eo37q33rfc4bdtzyv.png")
	checkDownload(t, "deleted version after losing the session", body, n, err, "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457")
	if c.api.gen != 2 || c.web.gen != 3 {
		t.Errorf("logins: api %d, web %d; want 2 and 3", c.api.gen, c.web.gen)
	}
}

func TestIntegrationLoginFailure(t *testing.T) {
	w := requireTestWiki(t)
	for _, user := range []string{w.AdminUser, w.BotUser} {
		const pw = "wrong-password-do-not-print"
		c := newTestClient(t, Config{APIURL: w.PrivateAPI, User: user, Password: pw})
		_, err := c.Versions(testCtx(t), []string{"Simple.png"})
		if !errors.Is(err, ErrLoginFailed) {
			t.Errorf("%s: %v, want ErrLoginFailed", user, err)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("%s: the error shows the password: %v", user, err)
		}
	}
}
