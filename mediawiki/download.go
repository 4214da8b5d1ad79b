package mediawiki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// maxHTMLPage bounds how much of an index.php HTML page is read.
const maxHTMLPage = 8 << 20

// Download streams the bytes at rawURL (a FileVersion.URL). When the
// Client has a main-account web session (WebUser, or User without '@') it
// is used, as img_auth.php on a private wiki requires; otherwise the
// request is anonymous. It returns the body, which the caller must close,
// and the Content-Length (-1 if unknown). Network errors, 429 and 5xx are
// retried before the body is returned; the body itself is not retried.
// A non-200 status is an error naming the status and the URL; 401 and 403
// wrap ErrPermission (after one new login, in case the session expired),
// 404 wraps ErrNotFound.
// Config.Timeout bounds the wait for the response headers only.
func (c *Client) Download(ctx context.Context, rawURL string) (io.ReadCloser, int64, error) {
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, fmt.Errorf("download %q: not an absolute http(s) URL", redactURL(rawURL))
	}
	what := "download " + redactURL(rawURL)
	relogged := false
	for {
		hc, gen, loggedIn, err := c.webClient(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", what, err)
		}
		resp, err := c.get(ctx, hc, rawURL)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", what, err)
		}
		if resp.StatusCode == http.StatusOK {
			return resp.Body, resp.ContentLength, nil
		}
		resp.Body.Close()
		if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized) && loggedIn && !relogged {
			relogged = true
			if err := c.relogin(ctx, c.web, gen); err != nil {
				return nil, 0, fmt.Errorf("%s: HTTP %s, logging in again: %w", what, resp.Status, err)
			}
			continue
		}
		return nil, 0, fmt.Errorf("%s: %w", what, classifyStatus(resp, rawURL))
	}
}

// webClient returns the HTTP client for index.php and img_auth.php: the
// logged-in web session, or the anonymous client when there is none.
func (c *Client) webClient(ctx context.Context) (*http.Client, uint64, bool, error) {
	if c.web == nil {
		return c.anon, 0, false, nil
	}
	gen, loggedIn, err := c.ensureLogin(ctx, c.web)
	if err != nil {
		return nil, 0, false, err
	}
	return c.web.http, gen, loggedIn, nil
}

// get sends a GET with retries on network errors, 429 and 5xx, waiting
// at most Config.Timeout for the response headers. It returns any other
// response, whose body (closed by the caller) streams under ctx.
func (c *Client) get(ctx context.Context, hc *http.Client, rawURL string) (*http.Response, error) {
	var out *http.Response
	err := c.retry(ctx, func() error {
		rctx, cancel := context.WithCancelCause(ctx)
		timedOut := errors.New("no response headers within " + c.cfg.Timeout.String())
		timer := time.AfterFunc(c.cfg.Timeout, func() { cancel(timedOut) })
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
		if err != nil {
			timer.Stop()
			cancel(nil)
			return err
		}
		req.Header.Set("User-Agent", c.cfg.UserAgent)
		resp, err := hc.Do(req)
		if !timer.Stop() {
			// The header timeout fired: whatever came back is unusable.
			if err == nil {
				resp.Body.Close()
			}
			cancel(nil)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &retryableError{err: fmt.Errorf("GET %s: %w", redactURL(rawURL), timedOut)}
		}
		if err != nil {
			cancel(nil)
			return netError(ctx, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			cancel(nil)
			return classifyStatus(resp, rawURL)
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
		out = resp
		return nil
	})
	return out, err
}

// cancelBody releases the request's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// DownloadDeleted streams the bytes of a deleted version (a
// DeletedVersion's Title and StorageKey) through index.php's
// Special:Undelete, in two steps: the confirmation form, then the token
// URL of its action. It needs the main-account web session (WebUser, or
// User without '@') with the undelete right; without one it fails with
// ErrPermission at once. An HTML answer instead of the file is an error,
// wrapping ErrPermission when it is MediaWiki's permission error page
// or a page for anonymous visitors such as "Login required" (after one new
// login, in case the session expired). The caller closes
// the body and should check the sha1 of the bytes.
func (c *Client) DownloadDeleted(ctx context.Context, title, storageKey string) (io.ReadCloser, int64, error) {
	q := url.Values{"title": {"Special:Undelete"}, "target": {"File:" + DBKey(title)}, "file": {storageKey}}
	what := fmt.Sprintf("download deleted version %q of %q", storageKey, DBKey(title))
	return c.downloadViaForm(ctx, what, q)
}

// DownloadHidden streams the bytes of a revision-deleted old version
// through Special:RevisionDelete with file=<archive name>, like
// DownloadDeleted, with the same requirements and errors.
func (c *Client) DownloadHidden(ctx context.Context, title, archiveName string) (io.ReadCloser, int64, error) {
	q := url.Values{"title": {"Special:RevisionDelete"}, "target": {"File:" + DBKey(title)}, "file": {archiveName}}
	what := fmt.Sprintf("download hidden version %q of %q", archiveName, DBKey(title))
	return c.downloadViaForm(ctx, what, q)
}

// downloadViaForm fetches the special page given by q from index.php,
// takes the token URL from its form and fetches that.
func (c *Client) downloadViaForm(ctx context.Context, what string, q url.Values) (io.ReadCloser, int64, error) {
	if c.web == nil {
		return nil, 0, fmt.Errorf("%s: needs a main-account web session (set Config.WebUser, or Config.User to a main account): %w", what, ErrPermission)
	}
	formURL := c.indexURL + "?" + q.Encode()
	relogged := false
	// MediaWiki creates a session's token secret on first use; concurrent
	// first uses in one session race, and the loser's token is refused with
	// the form again. The next form carries the settled token.
	tokenTries := 0
	for {
		hc, gen, _, err := c.webClient(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", what, err)
		}
		body, n, page, err := c.getFile(ctx, hc, formURL)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", what, err)
		}
		if body != nil {
			return body, n, nil // served directly, without a form
		}
		tokenURL, ok := findTokenForm(page, c.indexURL)
		if ok {
			body, n, page, err = c.getFile(ctx, hc, tokenURL)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", what, err)
			}
			if body != nil {
				return body, n, nil
			}
		}
		if isPermissionPage(page) {
			if !relogged {
				relogged = true
				if err := c.relogin(ctx, c.web, gen); err != nil {
					return nil, 0, fmt.Errorf("%s: permission error page, logging in again: %w", what, err)
				}
				continue
			}
			return nil, 0, fmt.Errorf("%s: index.php refused: permission error or login page (does %q have the undelete right?): %w", what, c.web.user, ErrPermission)
		}
		if ok {
			if tokenTries++; tokenTries < 4 {
				if err := sleep(ctx, time.Duration(tokenTries)*100*time.Millisecond); err != nil {
					return nil, 0, fmt.Errorf("%s: %w", what, err)
				}
				continue
			}
			return nil, 0, fmt.Errorf("%s: index.php answered the token URL with an HTML page (%q) instead of the file", what, pageTitle(page))
		}
		return nil, 0, fmt.Errorf("%s: index.php sent no download form (page %q)", what, pageTitle(page))
	}
}

// getFile GETs u: a 200 non-HTML answer is returned as a body to stream;
// a 200 HTML answer is read and returned as page; anything else is an
// error.
func (c *Client) getFile(ctx context.Context, hc *http.Client, u string) (io.ReadCloser, int64, []byte, error) {
	resp, err := c.get(ctx, hc, u)
	if err != nil {
		return nil, 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, nil, classifyStatus(resp, u)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "text/html" {
		return resp.Body, resp.ContentLength, nil, nil
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, maxHTMLPage))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read HTML page from %s: %w", redactURL(u), err)
	}
	return nil, 0, page, nil
}

// formActionRE finds the action of a form whose URL carries a token.
var formActionRE = regexp.MustCompile(`(?is)<form\b[^>]*\baction\s*=\s*"([^"]*[?&;]token=[^"]*)"`)

// findTokenForm returns the absolute token URL of the download form in
// an index.php page.
func findTokenForm(page []byte, base string) (string, bool) {
	m := formActionRE.FindSubmatch(page)
	if m == nil {
		return "", false
	}
	action := html.UnescapeString(string(m[1]))
	b, err := url.Parse(base)
	if err != nil {
		return "", false
	}
	a, err := url.Parse(action)
	if err != nil {
		return "", false
	}
	return b.ResolveReference(a).String(), true
}

// isPermissionPage recognises MediaWiki's refusals: the "Permission
// error" page, and any page served to an anonymous visitor (such as the
// "Login required" page of a private wiki), since the special pages used
// here always need a logged-in user.
func isPermissionPage(page []byte) bool {
	return bytes.Contains(page, []byte(`class="permissions-errors"`)) ||
		bytes.Contains(page, []byte("Permission error")) ||
		bytes.Contains(page, []byte(`"wgUserName":null`))
}

var titleRE = regexp.MustCompile(`(?is)<title>(.*?)</title>`)

// pageTitle returns the <title> of an HTML page, for error messages.
func pageTitle(page []byte) string {
	m := titleRE.FindSubmatch(page)
	if m == nil {
		return "untitled"
	}
	return strings.TrimSpace(html.UnescapeString(string(m[1])))
}
