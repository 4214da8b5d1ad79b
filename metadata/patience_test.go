package metadata_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metadata"
)

func TestUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bad conn", driver.ErrBadConn, true},
		{"invalid conn", fmt.Errorf("record results: %w", mysql.ErrInvalidConn), true},
		{"conn done", sql.ErrConnDone, true},
		{"connection refused", fmt.Errorf("look up backup: %w", refused), true},
		{"reset", syscall.ECONNRESET, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"shutdown in progress", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{"connection killed", &mysql.MySQLError{Number: 1927, Message: "Connection was killed"}, true},
		{"gone away", &mysql.MySQLError{Number: 2006}, true},
		{"lost connection", &mysql.MySQLError{Number: 2013}, true},
		{"too many connections", &mysql.MySQLError{Number: 1040}, true},
		{"duplicate key", &mysql.MySQLError{Number: 1062}, false},
		{"syntax", &mysql.MySQLError{Number: 1064}, false},
		{"no rows", sql.ErrNoRows, false},
		{"not found", metadata.ErrNotFound, false},
		{"lost claim", metadata.ErrLostClaim, false},
		{"cancelled", context.Canceled, false},
		{"cancelled while dialling", &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}, false},
		{"deadline", context.DeadlineExceeded, false},
		{"other", errors.New("bad sha256"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metadata.Unreachable(tc.err); got != tc.want {
				t.Errorf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestPatienceRetriesOnlyOutagesAndGivesUp(t *testing.T) {
	ctx := context.Background()
	t.Run("outage that ends", func(t *testing.T) {
		p := metadata.NewPatience(10*time.Second, nil)
		calls := 0
		err := p.Do(ctx, func(context.Context) error {
			if calls++; calls < 3 {
				return driver.ErrBadConn
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("Do = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("other errors are not retried", func(t *testing.T) {
		p := metadata.NewPatience(10*time.Second, nil)
		calls := 0
		err := p.Do(ctx, func(context.Context) error { calls++; return sql.ErrNoRows })
		if !errors.Is(err, sql.ErrNoRows) || calls != 1 {
			t.Errorf("Do = %v after %d calls, want ErrNoRows after 1", err, calls)
		}
	})
	t.Run("gives up after the wait", func(t *testing.T) {
		p := metadata.NewPatience(700*time.Millisecond, nil)
		start := time.Now()
		err := p.Do(ctx, func(context.Context) error { return driver.ErrBadConn })
		took := time.Since(start)
		if !errors.Is(err, metadata.ErrGaveUp) || !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("Do = %v, want ErrGaveUp wrapping the last error", err)
		}
		if took < 700*time.Millisecond || took > 2*time.Second {
			t.Errorf("gave up after %s, want about 700ms", took)
		}
		// The outage is shared: a new call during it gives up at once.
		start = time.Now()
		if err := p.Do(ctx, func(context.Context) error { return driver.ErrBadConn }); !errors.Is(err, metadata.ErrGaveUp) || time.Since(start) > 100*time.Millisecond {
			t.Errorf("a call during the same outage: %v after %s, want ErrGaveUp at once", err, time.Since(start))
		}
		// Once the database answers, the next outage is counted afresh.
		if err := p.Do(ctx, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		calls := 0
		if err := p.Do(ctx, func(context.Context) error {
			if calls++; calls < 2 {
				return driver.ErrBadConn
			}
			return nil
		}); err != nil {
			t.Errorf("after recovery, a short outage: %v", err)
		}
	})
	t.Run("no wait", func(t *testing.T) {
		p := metadata.NewPatience(0, nil)
		calls := 0
		err := p.Do(ctx, func(context.Context) error { calls++; return driver.ErrBadConn })
		if !errors.Is(err, metadata.ErrGaveUp) || !errors.Is(err, driver.ErrBadConn) || calls != 1 {
			t.Errorf("Do = %v after %d calls, want ErrGaveUp after 1", err, calls)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		p := metadata.NewPatience(time.Minute, nil)
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.Do(ctx, func(context.Context) error { return driver.ErrBadConn })
		if err == nil || time.Since(start) > 2*time.Second {
			t.Errorf("Do = %v after %s, want an error soon after the context ended", err, time.Since(start))
		}
	})
}

// TestUnreachableOnARealOutage: the errors the driver really returns while
// MariaDB shuts down and while it is down are Unreachable, and a Patience
// carries a statement across a restart.
func TestUnreachableOnARealOutage(t *testing.T) {
	t.Parallel()
	own := testsvc.StartOwnMariaDB(t)
	ctx := context.Background()
	s, err := metadata.Open(ctx, own.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	own.Stop()
	_, err = s.EnsureWiki(ctx, "testwiki", "public")
	if !metadata.Unreachable(err) {
		t.Fatalf("EnsureWiki with the server stopped: %v (%T), want an Unreachable error", err, errors.Unwrap(err))
	}
	p := metadata.NewPatience(time.Minute, nil)
	go func() { time.Sleep(2 * time.Second); own.Start() }()
	var id int64
	if err := p.Do(ctx, func(ctx context.Context) (err error) {
		id, err = s.EnsureWiki(ctx, "testwiki", "public")
		return err
	}); err != nil || id == 0 {
		t.Fatalf("EnsureWiki across a restart: %d, %v", id, err)
	}
}

// TestHeldClaimsAndRelease: HeldClaims lists live claims per worker with
// their leases; ReleaseClaims gives back one worker's files of one wiki.
func TestHeldClaimsAndRelease(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	wiki, _ := s.EnsureWiki(ctx, "testwiki", "public")
	other, _ := s.EnsureWiki(ctx, "otherwiki", "public")
	var vs []metadata.File
	for i := range 5 {
		vs = append(vs, version(fmt.Sprintf("H%d.png", i), 1, sha(i+1), metadata.Public))
	}
	for _, w := range []int64{wiki, other} {
		if _, err := s.SyncVersions(ctx, w, vs, "inventory"); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now().UTC().Truncate(time.Second)
	if _, err := s.Claim(ctx, wiki, "a", 2, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, wiki, "b", 3, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, other, "a", 5, time.Hour); err != nil {
		t.Fatal(err)
	}
	held, err := s.HeldClaims(ctx, wiki)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[0].Worker != "a" || held[0].Files != 2 || held[1].Worker != "b" || held[1].Files != 3 {
		t.Fatalf("HeldClaims = %+v, want a: 2 files, b: 3", held)
	}
	if d := held[0].FirstLeaseEnd.Sub(before); d < time.Hour || d > time.Hour+5*time.Second {
		t.Errorf("a's lease ends %s after the claim, want 1h", d)
	}
	if held[0].Renewed.Before(before) || held[0].Renewed.After(time.Now().Add(2*time.Second)) {
		t.Errorf("a renewed at %s, want about now", held[0].Renewed)
	}
	n, err := s.ReleaseClaims(ctx, wiki, "a")
	if err != nil || n != 2 {
		t.Fatalf("ReleaseClaims = %d, %v; want a's 2 files of testwiki", n, err)
	}
	if held, _ := s.HeldClaims(ctx, other); len(held) != 1 || held[0].Files != 5 {
		t.Errorf("a's claims on the other wiki: %+v, want its 5 files untouched", held)
	}
	if held, _ := s.HeldClaims(ctx, wiki); len(held) != 1 || held[0].Worker != "b" {
		t.Errorf("after the release: %+v, want b's alone", held)
	}
}
