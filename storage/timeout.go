package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// DefaultTimeout is how long a server may keep a request waiting before
// the operation fails (see WithTimeout).
const DefaultTimeout = 30 * time.Second

// WithTimeout bounds how long the server may keep any one request waiting:
// to accept the connection, to answer, and, while a body is sent or
// received, between two pieces of it. A large object may take as long as
// it needs while bytes flow; a server that stops (hung, SIGSTOPped, cut
// off) fails the operation within d with a *StallError, which is not
// retried. Time spent reading the caller's content or waiting for the
// caller to read does not count. 0 disables it. Default DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// StallError is the error of an operation whose server kept a request
// waiting longer than the timeout (see WithTimeout).
type StallError struct {
	Endpoint string
	Limit    time.Duration // the timeout
	// While says what was waited for.
	While string
}

func (e *StallError) Error() string {
	return fmt.Sprintf("no answer for %s while %s (the server hangs or the network is cut)", e.Limit, e.While)
}

// Unreachable reports whether err means that the server did not answer as
// a server should: the connection was refused, reset or timed out, the
// request stalled (StallError), or the server said it cannot serve now
// (HTTP 502, 503, 504), or a Backend wrapper such as Health refused to try
// it (ErrUnavailable). Errors about the request itself (a missing object, a
// checksum mismatch, a denied access, the caller's cancelled context) are
// not.
func Unreachable(err error) bool {
	var src *SourceError
	if err == nil || errors.Is(err, context.Canceled) || errors.As(err, &src) {
		return false
	}
	var se *StallError
	if errors.As(err, &se) || errors.Is(err, ErrUnavailable) {
		return true
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrChecksumMismatch) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch minio.ToErrorResponse(err).StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// SourceError wraps the error of reading the content a Put was given: the
// upload failed on the caller's side, not the server's.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return "read the content to upload: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// watchKey is the context key of an operation's watch.
type watchKey struct{}

// opWatch is what the transport needs to stop an operation whose server
// stalls: the timeout and how to cancel the operation. Cancelling the
// operation's own context (not just the request's) keeps minio-go from
// retrying a request that stalled.
type opWatch struct {
	timeout  time.Duration // 0: no limit
	endpoint string
	cancel   context.CancelCauseFunc

	mu        sync.Mutex
	sourceErr error // the first error reading a request body
}

func (w *opWatch) sourceFailed(err error) {
	w.mu.Lock()
	if w.sourceErr == nil {
		w.sourceErr = err
	}
	w.mu.Unlock()
}

// op returns the context of one operation on the server, watched for
// stalls, and the function that ends it; stalled tells the StallError
// that ended it, if any.
func (s *Server) op(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	ctx = context.WithValue(ctx, watchKey{}, &opWatch{timeout: s.timeout, endpoint: s.endpoint, cancel: cancel})
	return ctx, func() { cancel(nil) }
}

// stalled returns err, or what really ended the operation of ctx: the
// StallError that cut it short (instead of the cancellation error it
// caused), or a SourceError when reading the content to send failed
// (instead of the network error the transport wrapped it in).
func stalled(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var se *StallError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	if w, _ := ctx.Value(watchKey{}).(*opWatch); w != nil {
		w.mu.Lock()
		src := w.sourceErr
		w.mu.Unlock()
		if src != nil {
			return &SourceError{Err: src}
		}
	}
	return err
}

// plainErr drops the *url.Error layer of a transport error ("Put
// \"http://host/bucket/key\": ..."), which repeats the server and the key
// that the operation's own error already names.
func plainErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// watchedTransport stops a request whose server keeps it waiting longer
// than its operation's timeout (see opWatch). A watch timer runs while the
// request waits for the server: until the response headers arrive, except
// while the transport reads the request body from the caller; then, while
// the caller reads the response body, only inside each Read.
type watchedTransport struct {
	base http.RoundTripper
}

func (t watchedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w, _ := req.Context().Value(watchKey{}).(*opWatch)
	if w == nil {
		return t.base.RoundTrip(req)
	}
	st := &stallTimer{d: w.timeout}
	if w.timeout > 0 {
		st.timer = time.AfterFunc(w.timeout, func() {
			w.cancel(&StallError{Endpoint: w.endpoint, Limit: w.timeout, While: st.what()})
		})
	}
	if req.Body != nil && req.Body != http.NoBody {
		r2 := *req
		r2.Body = &sourceBody{ReadCloser: req.Body, st: st, w: w}
		req = &r2
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		st.finish()
		return nil, err
	}
	st.answered()
	resp.Body = &watchedBody{ReadCloser: resp.Body, st: st}
	return resp, nil
}

// stallTimer is the watch timer of one request (see watchedTransport);
// without a timeout (timer nil) it only tracks the phases.
type stallTimer struct {
	d     time.Duration
	timer *time.Timer // nil: no timeout

	mu       sync.Mutex
	response bool // the headers arrived
	done     bool
}

func (s *stallTimer) what() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.response {
		return "sending the response body"
	}
	return "connecting, receiving the request or answering it"
}

// source marks the transport reading the request body from the caller:
// the timer pauses meanwhile (in is true on entry, false on return).
func (s *stallTimer) source(in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.response || s.done {
		return
	}
	if in {
		s.stop()
	} else {
		s.reset()
	}
}

func (s *stallTimer) answered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.response = true
	s.stop()
}

// reading marks the caller waiting for the response body inside a Read.
func (s *stallTimer) reading(in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	if in {
		s.reset()
	} else {
		s.stop()
	}
}

func (s *stallTimer) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	s.stop()
}

func (s *stallTimer) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *stallTimer) reset() {
	if s.timer != nil {
		s.timer.Reset(s.d)
	}
}

// sourceBody is a request body: reading it reads the caller's content.
type sourceBody struct {
	io.ReadCloser
	st *stallTimer
	w  *opWatch
}

func (b *sourceBody) Read(p []byte) (int, error) {
	b.st.source(true)
	defer b.st.source(false)
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.w.sourceFailed(err)
	}
	return n, err
}

type watchedBody struct {
	io.ReadCloser
	st *stallTimer
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.st.reading(true)
	n, err := b.ReadCloser.Read(p)
	b.st.reading(false)
	if err != nil {
		b.st.finish()
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.st.finish()
	return b.ReadCloser.Close()
}
