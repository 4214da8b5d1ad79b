package mediawiki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxLag     = 5
	DefaultTimeout    = 60 * time.Second
	DefaultMaxRetries = 5
)

// maxAPIBody bounds how much of one api.php response is read into memory.
const maxAPIBody = 256 << 20

// Config describes one wiki endpoint. Only APIURL and UserAgent are
// required; New fills in the defaults documented on each field.
type Config struct {
	// APIURL is the wiki's api.php, e.g. http://127.0.0.1:8080/api.php.
	APIURL string
	// IndexURL is the wiki's index.php, used by DownloadDeleted and
	// DownloadHidden. Default: APIURL with "api.php" replaced by
	// "index.php".
	IndexURL string
	// UserAgent is sent on every request; New fails when it is empty
	// (Wikimedia refuses anonymous clients).
	UserAgent string
	// User logs in to api.php: a bot password "Name@app" (action=login)
	// or a main account (action=clientlogin). "" means anonymous.
	User     string
	Password string
	// WebUser is the main account used for index.php and img_auth.php
	// (bot-password sessions are anonymous there). "" means User, when
	// User is a main account (has no '@'); otherwise downloads are
	// anonymous and DownloadDeleted/DownloadHidden are impossible.
	WebUser     string
	WebPassword string
	// MaxLag is sent as maxlag= on api.php requests. 0 means
	// DefaultMaxLag; a negative value sends no maxlag.
	MaxLag int
	// Pause is the minimum time between the starts of two requests of
	// this Client (shared by concurrent callers). Default 0.
	Pause time.Duration
	// Timeout bounds each api.php request, body included, and the wait
	// for response headers of a download (the body then streams for as
	// long as the caller's ctx allows). 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how many times a request is repeated after a maxlag
	// error, HTTP 429 or 5xx (honouring Retry-After) or a network error,
	// with jittered exponential back-off. 0 means DefaultMaxRetries; a
	// negative value disables retries.
	MaxRetries int
	// HTTPClient is optional. Its Transport and CheckRedirect are
	// reused; each session gets its own cookie jar, so its Jar and
	// Timeout are ignored.
	HTTPClient *http.Client
}

// Client talks to one wiki. It is safe for concurrent use. Logins happen
// lazily on the first request that needs them, and once more when a
// response shows that the session has expired.
type Client struct {
	cfg      Config
	apiURL   string
	indexURL string

	api  *session     // api.php session: User, or anonymous
	web  *session     // index.php/img_auth.php session; nil when anonymous
	anon *http.Client // cookie-less client for anonymous downloads

	// Back-off between retries: base·2^attempt, at most maxBackoff,
	// jittered to [½, 1] of that. Tests shorten them.
	backoffBase time.Duration
	maxBackoff  time.Duration
	// maxRetryAfter caps how long a Retry-After header can make us wait.
	maxRetryAfter time.Duration

	// iiLimit and gaiLimit are the iilimit and gailimit values; tests
	// lower them to exercise continuation.
	iiLimit  string
	gaiLimit string
	// titlesPerQuery is how many titles Versions puts in one request.
	titlesPerQuery int

	pauseMu sync.Mutex
	next    time.Time // earliest start of the next request
}

// session is one cookie jar and the account logged in with it.
type session struct {
	name     string // "api" or "web", for messages
	user     string
	password string
	http     *http.Client

	mu       sync.Mutex
	loggedIn bool
	gen      uint64 // incremented by every successful login
}

// New checks cfg, applies its defaults and returns a Client. It does not
// contact the wiki; logins happen on first use.
func New(cfg Config) (*Client, error) {
	if cfg.UserAgent == "" {
		return nil, errors.New("new wiki client: Config.UserAgent is required (the API refuses clients without one)")
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new wiki client: Config.APIURL %q is not an http(s) URL of api.php", cfg.APIURL)
	}
	if cfg.IndexURL == "" {
		iu := *u
		iu.RawQuery, iu.Fragment = "", ""
		if i := strings.LastIndexByte(iu.Path, '/'); i >= 0 {
			iu.Path = iu.Path[:i+1] + "index.php"
		} else {
			iu.Path = "/index.php"
		}
		iu.RawPath = ""
		cfg.IndexURL = iu.String()
	} else if iu, err := url.Parse(cfg.IndexURL); err != nil || (iu.Scheme != "http" && iu.Scheme != "https") {
		return nil, fmt.Errorf("new wiki client: Config.IndexURL %q is not an http(s) URL", cfg.IndexURL)
	}
	if cfg.User == "" && cfg.Password != "" {
		return nil, errors.New("new wiki client: Config.Password is set but Config.User is empty")
	}
	if cfg.WebUser == "" && cfg.WebPassword != "" {
		return nil, errors.New("new wiki client: Config.WebPassword is set but Config.WebUser is empty")
	}
	if strings.Contains(cfg.WebUser, "@") {
		return nil, fmt.Errorf("new wiki client: Config.WebUser %q looks like a bot password; index.php and img_auth.php need a main account", cfg.WebUser)
	}
	if cfg.MaxLag == 0 {
		cfg.MaxLag = DefaultMaxLag
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Pause < 0 {
		cfg.Pause = 0
	}

	var transport http.RoundTripper
	var checkRedirect func(*http.Request, []*http.Request) error
	if cfg.HTTPClient != nil {
		transport = cfg.HTTPClient.Transport
		checkRedirect = cfg.HTTPClient.CheckRedirect
	}
	newSession := func(name, user, password string) *session {
		jar, _ := cookiejar.New(nil) // never fails with nil options
		return &session{name: name, user: user, password: password,
			http: &http.Client{Transport: transport, CheckRedirect: checkRedirect, Jar: jar}}
	}

	c := &Client{
		cfg:            cfg,
		apiURL:         cfg.APIURL,
		indexURL:       cfg.IndexURL,
		anon:           &http.Client{Transport: transport, CheckRedirect: checkRedirect},
		backoffBase:    time.Second,
		maxBackoff:     2 * time.Minute,
		maxRetryAfter:  5 * time.Minute,
		iiLimit:        "max",
		gaiLimit:       "max",
		titlesPerQuery: 50,
	}
	c.api = newSession("api", cfg.User, cfg.Password)
	switch {
	case cfg.WebUser != "" && (cfg.WebUser != cfg.User || cfg.WebPassword != cfg.Password):
		c.web = newSession("web", cfg.WebUser, cfg.WebPassword)
	case cfg.User != "" && !strings.Contains(cfg.User, "@"):
		c.web = c.api // one main-account session serves both
	}
	return c, nil
}

// String describes the client without its passwords, so that printing a
// Client (with %v or %+v) cannot leak them.
func (c *Client) String() string {
	return fmt.Sprintf("mediawiki.Client{APIURL: %q, User: %q, WebUser: %q}", c.apiURL, c.cfg.User, c.cfg.WebUser)
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// String prints cfg with its passwords redacted.
func (cfg Config) String() string {
	redact := func(p string) string {
		if p == "" {
			return ""
		}
		return "**redacted**"
	}
	return fmt.Sprintf("mediawiki.Config{APIURL: %q, IndexURL: %q, UserAgent: %q, User: %q, Password: %q, WebUser: %q, WebPassword: %q, MaxLag: %d, Pause: %v, Timeout: %v, MaxRetries: %d}",
		cfg.APIURL, cfg.IndexURL, cfg.UserAgent, cfg.User, redact(cfg.Password), cfg.WebUser, redact(cfg.WebPassword),
		cfg.MaxLag, cfg.Pause, cfg.Timeout, cfg.MaxRetries)
}

// GoString is String, for %#v.
func (cfg Config) GoString() string { return cfg.String() }

// ---------------------------------------------------------------------
// Low-level HTTP with pause, timeout and retries.

// retryableError marks a failure worth repeating; after is the wait the
// server asked for (0 if none).
type retryableError struct {
	err   error
	after time.Duration
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// wait blocks until the Pause since the previous request has passed.
func (c *Client) wait(ctx context.Context) error {
	if c.cfg.Pause <= 0 {
		return ctx.Err()
	}
	c.pauseMu.Lock()
	now := time.Now()
	start := c.next
	if start.Before(now) {
		start = now
	}
	c.next = start.Add(c.cfg.Pause)
	c.pauseMu.Unlock()
	return sleep(ctx, time.Until(start))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff returns how long to wait before retry number attempt+1.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := c.backoffBase
	for i := 0; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	d = d/2 + rand.N(d/2+1) // jitter in [d/2, d]
	if retryAfter > 0 {
		d = max(d, min(retryAfter, c.maxRetryAfter))
	}
	return d
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date).
func parseRetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// retry runs op up to 1+MaxRetries times while it returns a
// *retryableError, sleeping in between.
func (c *Client) retry(ctx context.Context, op func() error) error {
	for attempt := 0; ; attempt++ {
		if err := c.wait(ctx); err != nil {
			return err
		}
		err := op()
		var re *retryableError
		if err == nil || !errors.As(err, &re) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= c.cfg.MaxRetries {
			return fmt.Errorf("giving up after %d attempts: %w", attempt+1, re.err)
		}
		if err := sleep(ctx, c.backoff(attempt, re.after)); err != nil {
			return err
		}
	}
}

// classifyStatus turns a non-200 status into an error, retryable for
// 429 and 5xx, wrapping ErrPermission for 401 and 403 and ErrNotServed
// for 404 and 410.
func classifyStatus(resp *http.Response, u string) error {
	err := fmt.Errorf("HTTP %s from %s", resp.Status, redactURL(u))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &retryableError{err: err, after: parseRetryAfter(resp.Header)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %w", err, ErrPermission)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("%w: %w", err, ErrNotServed)
	}
	return err
}

// netError wraps a transport failure; it is retryable unless the
// caller's context ended.
func netError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the URL; keep just the cause, with a
		// redacted URL of our own.
		err = fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return &retryableError{err: err}
}

// redactURL drops query values that could be secrets (tokens) from u.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	changed := false
	for k := range q {
		switch strings.ToLower(k) {
		case "token", "lgpassword", "password", "lgtoken", "logintoken":
			q.Set(k, "REDACTED")
			changed = true
		}
	}
	if changed {
		p.RawQuery = q.Encode()
	}
	p.User = nil
	return p.String()
}

// ---------------------------------------------------------------------
// api.php

// callAPI makes one api.php request with retries on network errors,
// 429/5xx and maxlag, without any login handling, and returns the body
// of a response that is not an API error. An API error body is returned
// as *APIError. Credentials in params are sent in a POST body, never in
// the URL.
func (c *Client) callAPI(ctx context.Context, s *session, params url.Values, assertUser, post bool) ([]byte, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("format", "json")
	q.Set("formatversion", "2")
	if c.cfg.MaxLag >= 0 {
		q.Set("maxlag", strconv.Itoa(c.cfg.MaxLag))
	}
	if assertUser {
		q.Set("assert", "user")
	}
	enc := q.Encode()
	if len(enc) > 4000 {
		post = true
	}
	var body []byte
	err := c.retry(ctx, func() error {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		var req *http.Request
		var err error
		if post {
			req, err = http.NewRequestWithContext(rctx, http.MethodPost, c.apiURL, strings.NewReader(enc))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		} else {
			req, err = http.NewRequestWithContext(rctx, http.MethodGet, c.apiURL+"?"+enc, nil)
		}
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", c.cfg.UserAgent)
		req.Header.Set("Accept", "application/json")
		resp, err := s.http.Do(req)
		if err != nil {
			return netError(ctx, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			return classifyStatus(resp, c.apiURL)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody+1))
		if err != nil {
			return netError(ctx, fmt.Errorf("read response: %w", err))
		}
		if len(b) > maxAPIBody {
			return fmt.Errorf("response larger than %d bytes", maxAPIBody)
		}
		if apiErr := parseAPIError(b); apiErr != nil {
			if apiErr.Code == "maxlag" {
				return &retryableError{err: apiErr, after: parseRetryAfter(resp.Header)}
			}
			return apiErr
		}
		if code := resp.Header.Get("MediaWiki-API-Error"); code != "" {
			return &APIError{Code: code, Info: "(error body not understood)"}
		}
		body = b
		return nil
	})
	return body, err
}

// parseAPIError returns the API error in body, or nil when there is none
// (including when body is not JSON; the caller's parser reports that).
func parseAPIError(body []byte) *APIError {
	var env struct {
		Error  *apiErrorJSON  `json:"error"`
		Errors []apiErrorJSON `json:"errors"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	switch {
	case env.Error != nil:
		return env.Error.toAPIError()
	case len(env.Errors) > 0:
		return env.Errors[0].toAPIError()
	}
	return nil
}

type apiErrorJSON struct {
	Code string          `json:"code"`
	Info string          `json:"info"`
	Text string          `json:"text"` // errorformat other than bc
	Data json.RawMessage `json:"data"`
}

func (e *apiErrorJSON) toAPIError() *APIError {
	info := e.Info
	if info == "" {
		info = e.Text
	}
	code := e.Code
	if code == "" {
		code = "unknown"
	}
	return &APIError{Code: code, Info: info}
}

// query makes an api.php request on the api session: it logs in first
// when needed, sends assert=user when logged in, and when a logged-in
// request is refused as if anonymous it logs in again once and repeats
// the request. what says what is being done, for error messages.
func (c *Client) query(ctx context.Context, what string, params url.Values) ([]byte, error) {
	s := c.api
	relogged := false
	for {
		gen, loggedIn, err := c.ensureLogin(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", what, c.apiURL, err)
		}
		body, err := c.callAPI(ctx, s, params, loggedIn, false)
		var apiErr *APIError
		if err != nil && loggedIn && !relogged && errors.As(err, &apiErr) && sessionExpiredCode(apiErr.Code) {
			relogged = true
			if err := c.relogin(ctx, s, gen); err != nil {
				return nil, fmt.Errorf("%s on %s: session expired (%s), logging in again: %w", what, c.apiURL, apiErr.Code, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", what, c.apiURL, err)
		}
		return body, nil
	}
}

// ---------------------------------------------------------------------
// Login

// ensureLogin logs s in if it has an account and is not logged in. It
// returns the session generation and whether the session is logged in.
func (c *Client) ensureLogin(ctx context.Context, s *session) (uint64, bool, error) {
	if s.user == "" {
		return 0, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loggedIn {
		if err := c.loginRetrying(ctx, s); err != nil {
			return 0, false, err
		}
		s.loggedIn = true
		s.gen++
	}
	return s.gen, true, nil
}

// relogin logs s in again, unless another caller already did so since
// generation gen.
func (c *Client) relogin(ctx context.Context, s *session, gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen && s.loggedIn {
		return nil
	}
	s.loggedIn = false
	if err := c.loginRetrying(ctx, s); err != nil {
		return err
	}
	s.loggedIn = true
	s.gen++
	return nil
}

// loginAttempts bounds the logins loginRetrying tries.
const loginAttempts = 3

// loginRetrying logs s in (caller holds s.mu), again when the wiki refuses
// the login token (badtoken): the token belongs to the session cookie, and
// a download of the same session that runs meanwhile (a permission error
// page resets the session) can replace that cookie between the token and
// the login.
func (c *Client) loginRetrying(ctx context.Context, s *session) error {
	for attempt := 1; ; attempt++ {
		err := c.login(ctx, s)
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || ae.Code != "badtoken" || attempt == loginAttempts || ctx.Err() != nil {
			return err
		}
	}
}

// login performs a fresh login of s (caller holds s.mu): a login token,
// then action=login for a bot password ("Name@app") or action=clientlogin
// for a main account. The password never appears in errors.
func (c *Client) login(ctx context.Context, s *session) error {
	body, err := c.callAPI(ctx, s, url.Values{"action": {"query"}, "meta": {"tokens"}, "type": {"login"}}, false, false)
	if err != nil {
		return fmt.Errorf("log in as %q: get login token: %w", s.user, err)
	}
	var tok struct {
		Query struct {
			Tokens struct {
				LoginToken string `json:"logintoken"`
			} `json:"tokens"`
		} `json:"query"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Query.Tokens.LoginToken == "" {
		return fmt.Errorf("log in as %q: no login token in the response", s.user)
	}
	token := tok.Query.Tokens.LoginToken

	if strings.Contains(s.user, "@") {
		body, err = c.callAPI(ctx, s, url.Values{"action": {"login"}, "lgname": {s.user},
			"lgpassword": {s.password}, "lgtoken": {token}}, false, true)
		if err != nil {
			return fmt.Errorf("log in as %q (action=login): %w", s.user, err)
		}
		var r struct {
			Login struct {
				Result string          `json:"result"`
				Reason json.RawMessage `json:"reason"`
			} `json:"login"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("log in as %q (action=login): parse response: %w", s.user, err)
		}
		if r.Login.Result != "Success" {
			return fmt.Errorf("log in as %q (action=login): result %q: %s: %w", s.user, r.Login.Result, reasonText(r.Login.Reason), ErrLoginFailed)
		}
		return nil
	}

	body, err = c.callAPI(ctx, s, url.Values{"action": {"clientlogin"}, "username": {s.user},
		"password": {s.password}, "logintoken": {token}, "loginreturnurl": {c.apiURL}}, false, true)
	if err != nil {
		return fmt.Errorf("log in as %q (action=clientlogin): %w", s.user, err)
	}
	var r struct {
		ClientLogin struct {
			Status      string          `json:"status"`
			Message     json.RawMessage `json:"message"`
			MessageCode string          `json:"messagecode"`
		} `json:"clientlogin"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("log in as %q (action=clientlogin): parse response: %w", s.user, err)
	}
	if r.ClientLogin.Status != "PASS" {
		return fmt.Errorf("log in as %q (action=clientlogin): status %q (%s): %s: %w", s.user, r.ClientLogin.Status,
			r.ClientLogin.MessageCode, reasonText(r.ClientLogin.Message), ErrLoginFailed)
	}
	return nil
}

// reasonText renders a login failure reason, which is a string or (with
// some error formats) an object.
func reasonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Text string `json:"text"`
		Code string `json:"code"`
	}
	if json.Unmarshal(raw, &o) == nil && (o.Text != "" || o.Code != "") {
		return strings.TrimSpace(o.Code + " " + o.Text)
	}
	if len(raw) == 0 {
		return "no reason given"
	}
	return string(raw)
}

// callbackError carries an error from a caller's callback through list,
// which returns it unwrapped.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// list runs a query to the end of its continuation: handle parses each
// response body and returns the next continuation (nil when done).
func (c *Client) list(ctx context.Context, what string, params url.Values, handle func(body []byte) (map[string]string, error)) error {
	var cont map[string]string
	for {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		for k, v := range cont {
			p.Set(k, v)
		}
		body, err := c.query(ctx, what, p)
		if err != nil {
			return err
		}
		next, err := handle(body)
		if cb, ok := err.(callbackError); ok {
			return cb.err
		}
		if err != nil {
			return fmt.Errorf("%s on %s: %w", what, c.apiURL, err)
		}
		if next == nil {
			return nil
		}
		if sameCont(cont, next) {
			return fmt.Errorf("%s on %s: continuation did not advance (%v)", what, c.apiURL, next)
		}
		cont = next
	}
}
