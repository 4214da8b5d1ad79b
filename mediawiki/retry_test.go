package mediawiki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flakyProxy is an httptest server in front of a real wiki that fails the
// first attempts of every distinct request, then passes it through.
type flakyProxy struct {
	*httptest.Server
	mu       sync.Mutex
	attempts map[string]int // by method + URL + body
	failures int            // answered with a failure
	passed   int            // passed through
	maxlags  []string       // maxlag= values seen on api.php
}

// newFlakyProxy fails each request per fail(n), n being the attempt number
// starting at 0; fail returns false to pass the request through.
func newFlakyProxy(t *testing.T, target string, fail func(w http.ResponseWriter, r *http.Request, n int) bool) *flakyProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = ""
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &flakyProxy{attempts: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		key := r.Method + " " + r.URL.String() + " " + string(body)
		p.mu.Lock()
		n := p.attempts[key]
		p.attempts[key]++
		if strings.HasSuffix(r.URL.Path, "api.php") {
			q := r.URL.Query()
			if r.Method == http.MethodPost {
				q, _ = url.ParseQuery(string(body))
			}
			p.maxlags = append(p.maxlags, q.Get("maxlag"))
		}
		p.mu.Unlock()
		if fail(w, r, n) {
			p.mu.Lock()
			p.failures++
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		p.passed++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// maxlagBody is what api.php answers when replication lag exceeds maxlag.
const maxlagBody = `{"error":{"code":"maxlag","info":"Waiting for 10.64.48.35: 7 seconds lagged.","host":"10.64.48.35","lag":7,"type":"db"},"servedby":"mw1"}`

func writeMaxlag(w http.ResponseWriter, retryAfter string) {
	w.Header().Set("MediaWiki-API-Error", "maxlag")
	w.Header().Set("Retry-After", retryAfter)
	w.Header().Set("X-Database-Lag", "7")
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(maxlagBody))
}

func TestRetryThroughFlakyProxy(t *testing.T) {
	w := requireTestWiki(t)
	var first atomic.Bool
	first.Store(true)
	p := newFlakyProxy(t, w.PublicAPI, func(rw http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 0:
			// The very first request asks for a 1 s wait; the others
			// leave the wait to the client's back-off.
			if first.Swap(false) {
				rw.Header().Set("Retry-After", "1")
			}
			http.Error(rw, "upstream overloaded", http.StatusServiceUnavailable)
			return true
		case 1:
			if strings.HasSuffix(r.URL.Path, "api.php") {
				writeMaxlag(rw, "0")
			} else {
				rw.WriteHeader(http.StatusTooManyRequests)
			}
			return true
		}
		return false
	})

	direct := newTestClient(t, Config{APIURL: w.PublicAPI})
	direct.gaiLimit = "4"
	want := allVersions(t, direct)

	c := newTestClient(t, Config{APIURL: p.URL + "/api.php"})
	c.gaiLimit = "4" // several pages, each of which fails twice first
	c.backoffBase = time.Millisecond
	start := time.Now()
	got := allVersions(t, c)
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("took %v: Retry-After: 1 was not honoured", elapsed)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("through the flaky proxy:\n got %+v\nwant %+v", got, want)
	}
	p.mu.Lock()
	if p.failures != 2*p.passed || p.passed < 7 {
		t.Errorf("%d failures and %d passed requests; want 2 failures per request over 7+ pages", p.failures, p.passed)
	}
	for _, m := range p.maxlags {
		if m != "5" {
			t.Errorf("maxlag=%q sent, want 5", m)
			break
		}
	}
	p.mu.Unlock()

	// Downloads are retried the same way (the URL is rewritten to go
	// through the proxy).
	for _, v := range want[:3] {
		u, _ := url.Parse(v.URL)
		pu, _ := url.Parse(p.URL)
		u.Host = pu.Host
		body, n, err := c.Download(testCtx(t), u.String())
		checkDownload(t, u.String(), body, n, err, v.SHA1)
	}
}

// fakeAPI is an api.php stand-in that counts requests.
func fakeAPI(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, int(n.Add(1))-1)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const emptyFileArchive = `{"batchcomplete":true,"query":{"filearchive":[]}}`

func TestRetryLimits(t *testing.T) {
	tests := []struct {
		name       string
		maxRetries int
		handler    func(w http.ResponseWriter, r *http.Request, n int)
		wantCalls  int32
		wantErr    string // substring; "" for success
	}{
		{"503 forever gives up after 1+MaxRetries", 3, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, 4, "503"},
		{"maxlag forever gives up", 2, func(w http.ResponseWriter, r *http.Request, n int) {
			writeMaxlag(w, "0")
		}, 3, "maxlag"},
		{"negative MaxRetries means one attempt", -1, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}, 1, "429"},
		{"404 is not retried", 5, func(w http.ResponseWriter, r *http.Request, n int) {
			http.NotFound(w, r)
		}, 1, "404"},
		{"other API errors are not retried", 5, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("MediaWiki-API-Error", "badcontinue")
			w.Write([]byte(`{"error":{"code":"badcontinue","info":"Invalid continue param."}}`))
		}, 1, "badcontinue"},
		{"network error then success", 5, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			w.Write([]byte(emptyFileArchive))
		}, 2, ""},
		{"500 then success", 1, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				http.Error(w, "oops", http.StatusInternalServerError)
				return
			}
			w.Write([]byte(emptyFileArchive))
		}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := fakeAPI(t, tt.handler)
			c := newTestClient(t, Config{APIURL: srv.URL + "/api.php", MaxRetries: tt.maxRetries})
			c.backoffBase = time.Millisecond
			err := c.DeletedVersions(context.Background(), func(DeletedVersion) error { return nil })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRequestParameters(t *testing.T) {
	var got url.Values
	var ua string
	srv, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		got, ua = r.URL.Query(), r.UserAgent()
		w.Write([]byte(emptyFileArchive))
	})
	for _, tc := range []struct {
		maxLag int
		want   string
	}{{0, "5"}, {3, "3"}, {-1, ""}} {
		c := newTestClient(t, Config{APIURL: srv.URL + "/api.php", MaxLag: tc.maxLag, UserAgent: "ua-test/1"})
		if err := c.DeletedVersions(context.Background(), func(DeletedVersion) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got.Get("maxlag") != tc.want || got.Get("format") != "json" || got.Get("formatversion") != "2" || ua != "ua-test/1" {
			t.Errorf("MaxLag %d: sent %v with User-Agent %q", tc.maxLag, got, ua)
		}
		if got.Has("assert") {
			t.Errorf("anonymous request sent assert=%s", got.Get("assert"))
		}
	}
}

func TestContextCancel(t *testing.T) {
	srv, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	c := newTestClient(t, Config{APIURL: srv.URL + "/api.php"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.DeletedVersions(ctx, func(DeletedVersion) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v; want a prompt context.DeadlineExceeded", err, time.Since(start))
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{}) // lets /slowbody finish
	stop := make(chan struct{})    // ends the handlers that never answer
	srv, calls := fakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/slowbody" {
			w.Header().Set("Content-Length", "6")
			w.Write([]byte("abc"))
			w.(http.Flusher).Flush()
			<-release
			w.Write([]byte("def"))
			return
		}
		select { // never answers
		case <-stop:
		case <-r.Context().Done():
		}
	})
	defer close(stop)
	c := newTestClient(t, Config{APIURL: srv.URL + "/api.php", Timeout: 100 * time.Millisecond, MaxRetries: 1})
	c.backoffBase = time.Millisecond

	err := c.DeletedVersions(context.Background(), func(DeletedVersion) error { return nil })
	if err == nil || calls.Load() != 2 {
		t.Errorf("api.php: %v after %d requests; want a timeout after 2", err, calls.Load())
	}
	calls.Store(0)
	if _, _, err := c.Download(context.Background(), srv.URL+"/img"); err == nil || !strings.Contains(err.Error(), "no response headers") || calls.Load() != 2 {
		t.Errorf("Download: %v after %d requests; want a header timeout after 2", err, calls.Load())
	}

	// Once the headers are in, the body may take longer than Timeout.
	body, n, err := c.Download(context.Background(), srv.URL+"/slowbody")
	if err != nil || n != 6 {
		t.Fatalf("Download: %v, %d", err, n)
	}
	defer body.Close()
	buf := make([]byte, 3)
	io.ReadFull(body, buf)
	time.Sleep(300 * time.Millisecond)
	release <- struct{}{}
	rest, err := io.ReadAll(body)
	if err != nil || string(buf)+string(rest) != "abcdef" {
		t.Errorf("slow body: %q, %v", string(buf)+string(rest), err)
	}
}

func TestPause(t *testing.T) {
	srv, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 2 {
			fmt.Fprintf(w, `{"continue":{"facontinue":"%d","continue":"-||"},"query":{"filearchive":[]}}`, n)
			return
		}
		w.Write([]byte(emptyFileArchive))
	})
	c := newTestClient(t, Config{APIURL: srv.URL + "/api.php", Pause: 100 * time.Millisecond})
	start := time.Now()
	if err := c.DeletedVersions(context.Background(), func(DeletedVersion) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("3 requests took %v, want at least 2 pauses of 100ms", d)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{APIURL: "http://w/api.php", UserAgent: "x"}, ""},
		{"no user agent", Config{APIURL: "http://w/api.php"}, "UserAgent"},
		{"no URL", Config{UserAgent: "x"}, "APIURL"},
		{"not http", Config{APIURL: "ftp://w/api.php", UserAgent: "x"}, "APIURL"},
		{"password without user", Config{APIURL: "http://w/api.php", UserAgent: "x", Password: "secret-pw"}, "Password"},
		{"bot web user", Config{APIURL: "http://w/api.php", UserAgent: "x", WebUser: "A@b", WebPassword: "secret-pw"}, "main account"},
		{"bad index URL", Config{APIURL: "http://w/api.php", IndexURL: "::", UserAgent: "x"}, "IndexURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}

	c, _ := New(Config{APIURL: "https://example.org/w/api.php?x=1", UserAgent: "x"})
	if c.indexURL != "https://example.org/w/index.php" || c.cfg.MaxLag != 5 || c.cfg.MaxRetries != 5 || c.cfg.Timeout != time.Minute {
		t.Errorf("defaults: index %q, %+v", c.indexURL, c.cfg)
	}
	for _, tc := range []struct {
		cfg     Config
		web     string // "", "api" (shared), "web"
		comment string
	}{
		{Config{}, "", "anonymous"},
		{Config{User: "Admin", Password: "p"}, "api", "main account serves both"},
		{Config{User: "Admin@backup", Password: "p"}, "", "bot password alone"},
		{Config{User: "Admin@backup", Password: "p", WebUser: "Admin", WebPassword: "q"}, "web", "separate web session"},
		{Config{User: "Admin", Password: "p", WebUser: "Admin", WebPassword: "p"}, "api", "same account"},
	} {
		tc.cfg.APIURL, tc.cfg.UserAgent = "http://w/api.php", "x"
		c, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if c.web != nil {
			got = c.web.name
		}
		if got != tc.web {
			t.Errorf("%s: web session %q, want %q", tc.comment, got, tc.web)
		}
	}
}

// TestPermissionPage drives DownloadDeleted against a fake index.php that
// shows MediaWiki's permission error page: it must log in again once and
// then fail with ErrPermission.
func TestPermissionPage(t *testing.T) {
	var logins atomic.Int32
	srv, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.HasSuffix(r.URL.Path, "api.php"):
			r.ParseForm()
			switch {
			case r.Form.Get("meta") == "tokens":
				w.Write([]byte(`{"batchcomplete":true,"query":{"tokens":{"logintoken":"abc+\\"}}}`))
			case r.Form.Get("action") == "clientlogin":
				logins.Add(1)
				w.Write([]byte(`{"clientlogin":{"status":"PASS","username":"Admin"}}`))
			}
		default:
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
			w.Write([]byte(`<html><head><title>Permission error - Test Wiki</title></head><body><h1>Permission error</h1><div class="permissions-errors">no</div></body></html>`))
		}
	})
	c := newTestClient(t, Config{APIURL: srv.URL + "/api.php", User: "Admin", Password: "pw"})
	_, _, err := c.DownloadDeleted(context.Background(), "Deleted copy.png", "rjrzta2uecby71eo37q33rfc4bdtzyv.png")
	if !errors.Is(err, ErrPermission) || logins.Load() != 2 {
		t.Errorf("got %v after %d logins; want ErrPermission after 2", err, logins.Load())
	}
}

func TestFindTokenForm(t *testing.T) {
	page := `<form action="/index.php?title=Special:Undelete&amp;target=File%3ADeleted_copy.png&amp;file=rjrzta2uecby71eo37q33rfc4bdtzyv.png&amp;token=939dc2%2B%5C" method="post">`
	got, ok := findTokenForm([]byte(page), "http://127.0.0.1:8080/index.php")
	want := "http://127.0.0.1:8080/index.php?title=Special:Undelete&target=File%3ADeleted_copy.png&file=rjrzta2uecby71eo37q33rfc4bdtzyv.png&token=939dc2%2B%5C"
	if !ok || got != want {
		t.Errorf("findTokenForm = %q, %v; want %q", got, ok, want)
	}
	if _, ok := findTokenForm([]byte(`<form action="/index.php?title=Special:Search">`), "http://x/index.php"); ok {
		t.Error("form without token accepted")
	}
}

func TestNoPasswordInPrint(t *testing.T) {
	cfg := Config{APIURL: "http://w/api.php", UserAgent: "x", User: "A@b", Password: "secret-pw-1", WebUser: "A", WebPassword: "secret-pw-2"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{c, cfg, &cfg} {
			if s := fmt.Sprintf(format, v); strings.Contains(s, "secret-pw") {
				t.Errorf("%s of %T shows a password: %s", format, v, s)
			}
		}
	}
}

// TestDownloadStatusKinds pins which download failures say that the wiki
// does not serve the bytes (a repair then calls a copy lost) and which
// only that it could not be asked.
func TestDownloadStatusKinds(t *testing.T) {
	for _, tc := range []struct {
		status              int
		notServed, refusing bool
	}{
		{http.StatusNotFound, true, false},
		{http.StatusGone, true, false},
		{http.StatusForbidden, false, true},
		{http.StatusServiceUnavailable, false, false},
		{http.StatusTeapot, false, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", tc.status)
			}))
			defer srv.Close()
			c := newTestClient(t, Config{APIURL: srv.URL + "/api.php", MaxRetries: 1})
			c.backoffBase = time.Millisecond
			_, _, err := c.Download(context.Background(), srv.URL+"/images/a/ab/A.png")
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Fatalf("error = %v, want the status", err)
			}
			if errors.Is(err, ErrNotServed) != tc.notServed || errors.Is(err, ErrPermission) != tc.refusing {
				t.Errorf("error %v: ErrNotServed %v, ErrPermission %v; want %v, %v",
					err, errors.Is(err, ErrNotServed), errors.Is(err, ErrPermission), tc.notServed, tc.refusing)
			}
		})
	}
}

// TestLoginRetriesARefusedToken: the wiki refuses a login's token when the
// session cookie changed between the token and the login (a download of
// the same session meanwhile). The proxy in front of the real wiki answers
// the first login of each kind with MediaWiki's own badtoken error; the
// client takes a new token and logs in, and the listing goes on.
func TestLoginRetriesARefusedToken(t *testing.T) {
	w := requireTestWiki(t)
	for _, tc := range []struct {
		name   string
		cfg    Config
		action string
	}{
		{"main account", Config{User: w.AdminUser, Password: w.AdminPassword}, "clientlogin"},
		{"bot password", Config{User: w.BotUser, Password: w.BotPassword}, "login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refused atomic.Int32
			p := newFlakyProxy(t, w.PublicAPI, func(rw http.ResponseWriter, r *http.Request, n int) bool {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "api.php") {
					return false
				}
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				q, _ := url.ParseQuery(string(body))
				if q.Get("action") != tc.action || refused.Load() > 0 {
					return false
				}
				refused.Add(1)
				rw.Header().Set("Content-Type", "application/json; charset=utf-8")
				rw.Header().Set("MediaWiki-API-Error", "badtoken")
				io.WriteString(rw, `{"error":{"code":"badtoken","info":"Invalid CSRF token.","*":"See http://127.0.0.1/api.php for API usage."}}`)
				return true
			})
			cfg := tc.cfg
			cfg.APIURL = p.URL + "/api.php"
			c := newTestClient(t, cfg)
			n := 0
			err := c.DeletedVersions(context.Background(), func(DeletedVersion) error { n++; return nil })
			if err != nil || n == 0 {
				t.Fatalf("listing after a refused login token: %d deleted versions, %v", n, err)
			}
			if refused.Load() != 1 {
				t.Errorf("%d logins refused, want 1", refused.Load())
			}
		})
	}
}
