package metadata

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Unreachable reports whether err means that the database could not be
// reached or that the connection to it was lost: the server is down,
// restarting, refusing connections or cut off. The operation did not
// happen, or (when the connection broke during a commit) its outcome is
// unknown; the same call may succeed once the server is back. Errors about
// the request itself (a syntax error, a duplicate key, a cancelled context)
// are not.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1053, // server shutdown in progress
			1927, // connection was killed (the server is shutting down)
			2002, // cannot connect through the socket
			2003, // cannot connect to the server
			2006, // server has gone away
			2013: // lost connection to the server during query
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// Patience carries database operations through an outage: Do runs an
// operation again, with growing pauses, while its error is Unreachable, until
// the database has been unreachable for longer than Wait. Every operation
// that shares one Patience shares the outage: they all give up when the
// database has been gone for Wait, counted from the first failure, however
// many operations are waiting. It is safe for concurrent use.
type Patience struct {
	wait time.Duration
	log  *slog.Logger

	mu        sync.Mutex
	downSince time.Time // zero while the database answers
	lastErr   error
}

// NewPatience returns a Patience that waits up to wait for the database
// (0: it gives up at the first failure) and logs when an outage starts and
// ends (nil: no log).
func NewPatience(wait time.Duration, log *slog.Logger) *Patience {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Patience{wait: max(0, wait), log: log}
}

// Wait is how long the database may stay unreachable before Do gives up.
func (p *Patience) Wait() time.Duration { return p.wait }

// ErrGaveUp is wrapped by the error of Do when the database stayed
// unreachable for longer than the Patience allows.
var ErrGaveUp = errors.New("the database stayed unreachable")

// Pauses between attempts: from retryFirst, doubling, at most retryMax,
// with up to 25% taken off at random so that many waiting workers do not
// knock all at once.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 5 * time.Second
)

// Do runs fn until it returns nil or an error that is not Unreachable, and
// returns that; or, when the database has been unreachable for longer than
// Wait, the last error wrapped with ErrGaveUp: callers tell a database
// outage from their other failures by ErrGaveUp, not by Unreachable (which
// also matches the network errors of other servers). It stops waiting when ctx
// ends. fn must be safe to run again after an Unreachable error (a whole
// transaction, a single statement).
func (p *Patience) Do(ctx context.Context, fn func(context.Context) error) error {
	pause := retryFirst
	for {
		err := fn(ctx)
		if !Unreachable(err) {
			if err == nil {
				p.answered()
			}
			return err
		}
		since := p.failed(err)
		if p.wait == 0 {
			return fmt.Errorf("%w (no wait allowed): %w", ErrGaveUp, err)
		}
		if down := time.Since(since); down >= p.wait {
			return fmt.Errorf("%w for %s (waited up to %s): %w", ErrGaveUp, down.Round(time.Second), p.wait, err)
		}
		d := pause - time.Duration(rand.Int64N(int64(pause/4)+1))
		d = min(d, time.Until(since.Add(p.wait))+10*time.Millisecond)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		pause = min(2*pause, retryMax)
	}
}

// failed notes a failure and returns when the outage began.
func (p *Patience) failed(err error) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	if p.downSince.IsZero() {
		p.downSince = time.Now()
		if p.wait > 0 {
			p.log.Warn("the database does not answer; waiting for it", "for_up_to", p.wait.String(), "err", err.Error())
		}
	}
	return p.downSince
}

func (p *Patience) answered() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.downSince.IsZero() {
		p.log.Info("the database answers again", "after", time.Since(p.downSince).Round(100*time.Millisecond).String())
		p.downSince = time.Time{}
	}
}
