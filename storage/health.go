package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ErrUnavailable is wrapped by the errors of a Health whose server is taken
// to be down: the call was not made (see DownError).
var ErrUnavailable = errors.New("server unavailable")

// HealthOptions tunes a Health.
type HealthOptions struct {
	// Failures is how many calls in a row must fail for want of an answer
	// (Unreachable) before the server is taken to be down. Default 3.
	Failures int
	// Pause is how long a server taken to be down is left alone; then the
	// next call is let through as a probe, and if it is answered the
	// server is up again. Default 30 s.
	Pause time.Duration
}

// Health is a Backend wrapper that keeps track of whether its server
// answers, a circuit breaker: after Failures calls in a row fail for want
// of an answer (refused, reset, stalled: see Unreachable), it stops calling
// the server for Pause and fails every call at once with a *DownError
// (which wraps ErrUnavailable), so that the work for the other servers
// goes on instead of waiting on this one. After the pause one call probes
// the server; an answer (even an error answer, such as a missing object)
// closes the breaker. MarkDown takes the server out for the wrapper's
// whole life.
//
// Only the server's own failures count: a missing object, a checksum
// mismatch, a refused credential or a cancelled caller do not. (A Put
// whose source fails with a network error counts: give Put local
// content.) A Health is safe for concurrent use; it passes the
// conformance suite of storage/storagetest like the Backend it wraps.
type Health struct {
	b Backend
	o HealthOptions

	mu       sync.Mutex
	fails    int       // calls in a row that failed for want of an answer
	since    time.Time // the first of them
	last     error     // the last of them
	until    time.Time // open: no call before then
	open     bool
	probing  bool  // a probe call is under way
	downFor  error // MarkDown's reason
	notified func(up bool, err *DownError)
}

var _ Backend = (*Health)(nil)

// NewHealth wraps b.
func NewHealth(b Backend, o HealthOptions) *Health {
	if o.Failures <= 0 {
		o.Failures = 3
	}
	if o.Pause <= 0 {
		o.Pause = 30 * time.Second
	}
	return &Health{b: b, o: o}
}

// Unwrap returns the wrapped Backend.
func (h *Health) Unwrap() Backend { return h.b }

// OnChange sets a function called (outside the lock, possibly from several
// goroutines) whenever the server is taken to be down (up false, with the
// DownError its calls now fail with) and when it answers again (up true).
func (h *Health) OnChange(fn func(up bool, err *DownError)) {
	h.mu.Lock()
	h.notified = fn
	h.mu.Unlock()
}

// MarkDown takes the server out for as long as h lives: every call fails
// at once with a *DownError that gives reason (e.g. the bucket check a
// backup makes at start failed).
func (h *Health) MarkDown(reason error) {
	h.mu.Lock()
	h.downFor = reason
	fn, derr := h.notified, h.downErrLocked()
	h.mu.Unlock()
	if fn != nil {
		fn(false, derr)
	}
}

// Down returns nil while the server may be called, else the *DownError its
// calls fail with.
func (h *Health) Down() *DownError {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.downFor == nil && (!h.open || (!h.probing && !time.Now().Before(h.until))) {
		return nil
	}
	return h.downErrLocked()
}

// DownError says why a Health did not call its server.
type DownError struct {
	Endpoint string
	// Reason is why it was marked down (MarkDown); nil when it was taken
	// down by failures.
	Reason error
	// Failures in a row, the first at Since and the last Last, took it
	// down; it is tried again from Retry on.
	Failures int
	Since    time.Time
	Last     error
	Retry    time.Time
}

func (e *DownError) Error() string {
	// The endpoint is not repeated: the operation's error around it names it.
	if e.Reason != nil {
		return fmt.Sprintf("the server is out of use for this run: %v", e.Cause())
	}
	return fmt.Sprintf("the server is down: %d requests in a row failed since %s (the last: %v); it is not tried again before %s",
		e.Failures, clock(e.Since), cause(e.Last), clock(e.Retry))
}

// Cause is the server's own error behind e: why it was marked down, or the
// last failure, without the operation around it.
func (e *DownError) Cause() error {
	if e.Reason != nil {
		return cause(e.Reason)
	}
	return cause(e.Last)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *DownError) Is(target error) bool { return target == ErrUnavailable }

func clock(t time.Time) string { return t.UTC().Format(time.TimeOnly) + " UTC" }

// cause is the part of a server error worth repeating: the network error
// or the stall, without the operation and key around it.
func cause(err error) error {
	var se *StallError
	if errors.As(err, &se) {
		return se
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe
	}
	return err
}

func (h *Health) downErrLocked() *DownError {
	return &DownError{Endpoint: h.b.Endpoint(), Reason: h.downFor, Failures: h.fails, Since: h.since, Last: h.last, Retry: h.until}
}

// admit says whether a call may go to the server now; probe is true when
// it is the one call that probes a server taken to be down.
func (h *Health) admit() (probe bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.downFor != nil:
		return false, h.downErrLocked()
	case !h.open:
		return false, nil
	case !h.probing && !time.Now().Before(h.until):
		h.probing = true
		return true, nil
	}
	return false, h.downErrLocked()
}

// observe learns from the outcome of a call made at the caller's ctx.
func (h *Health) observe(ctx context.Context, probe bool, err error) {
	h.mu.Lock()
	if probe {
		h.probing = false
	}
	var change func()
	switch {
	case err != nil && ctx.Err() != nil:
		// The caller gave up: nothing learnt.
	case err == nil || !Unreachable(err):
		// The server answered.
		if h.open {
			fn := h.notified
			change = func() {
				if fn != nil {
					fn(true, nil)
				}
			}
		}
		h.fails, h.open, h.last = 0, false, nil
	default:
		if h.fails == 0 {
			h.since = time.Now()
		}
		h.fails++
		h.last = err
		if probe || (!h.open && h.fails >= h.o.Failures) {
			wasOpen := h.open
			h.open, h.until = true, time.Now().Add(h.o.Pause)
			if fn, derr := h.notified, h.downErrLocked(); fn != nil && !wasOpen {
				change = func() { fn(false, derr) }
			}
		}
	}
	h.mu.Unlock()
	if change != nil {
		change()
	}
}

// Endpoint implements Backend.
func (h *Health) Endpoint() string { return h.b.Endpoint() }

// EnsureBucket implements Backend.
func (h *Health) EnsureBucket(ctx context.Context) error {
	probe, err := h.admit()
	if err != nil {
		return fmt.Errorf("create the bucket on %s: %w", h.b.Endpoint(), err)
	}
	err = h.b.EnsureBucket(ctx)
	h.observe(ctx, probe, err)
	return err
}

// Put implements Backend.
func (h *Health) Put(ctx context.Context, key string, r io.Reader, size int64, wantSHA256 []byte) (int64, error) {
	probe, err := h.admit()
	if err != nil {
		return 0, fmt.Errorf("upload %s to %s: %w", key, h.b.Endpoint(), err)
	}
	n, err := h.b.Put(ctx, key, r, size, wantSHA256)
	h.observe(ctx, probe, err)
	return n, err
}

// Get implements Backend. A read of the object that fails for want of an
// answer counts as a failed call.
func (h *Health) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	probe, err := h.admit()
	if err != nil {
		return nil, 0, fmt.Errorf("download %s on %s: %w", key, h.b.Endpoint(), err)
	}
	rc, n, err := h.b.Get(ctx, key)
	h.observe(ctx, probe, err)
	if err != nil {
		return nil, 0, err
	}
	return &healthReader{ReadCloser: rc, h: h, ctx: ctx}, n, nil
}

type healthReader struct {
	io.ReadCloser
	h   *Health
	ctx context.Context
}

func (r *healthReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		r.h.observe(r.ctx, false, err)
	}
	return n, err
}

// Stat implements Backend.
func (h *Health) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	probe, err := h.admit()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s on %s: %w", key, h.b.Endpoint(), err)
	}
	info, err := h.b.Stat(ctx, key)
	h.observe(ctx, probe, err)
	return info, err
}

// Remove implements Backend.
func (h *Health) Remove(ctx context.Context, key string) error {
	probe, err := h.admit()
	if err != nil {
		return fmt.Errorf("remove %s on %s: %w", key, h.b.Endpoint(), err)
	}
	err = h.b.Remove(ctx, key)
	h.observe(ctx, probe, err)
	return err
}

// List implements Backend. An error of fn is fn's, not the server's.
func (h *Health) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	probe, err := h.admit()
	if err != nil {
		return fmt.Errorf("list %q on %s: %w", prefix, h.b.Endpoint(), err)
	}
	var fnErr error
	err = h.b.List(ctx, prefix, func(o ObjectInfo) error {
		fnErr = fn(o)
		return fnErr
	})
	if fnErr != nil && err == fnErr {
		h.observe(ctx, probe, nil)
		return err
	}
	h.observe(ctx, probe, err)
	return err
}
