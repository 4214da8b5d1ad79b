package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/metadata"
)

// TestDriverMessagesGoThroughTheLogger kills the server side of an idle
// pooled connection: the driver's "closing bad idle connection" comes out
// as a log line of the command, not as a raw "[mysql]" line on stderr.
func TestDriverMessagesGoThroughTheLogger(t *testing.T) {
	f, _, errOut := interactiveFactory(t)
	ctx := context.Background()
	s, err := f.openStore(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	db.SetMaxIdleConns(1)
	db.SetMaxOpenConns(1)
	var id int64
	if err := db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	killer, err := metadata.Open(ctx, f.cfg.Metadata.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close()
	if _, err := killer.DB().ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errOut.String(), "closing bad idle connection") && time.Now().Before(deadline) {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("the pool did not recover from the killed connection: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := errOut.String(); !strings.Contains(out, `level=WARN msg="MariaDB driver" message="connection.go:`) || !strings.Contains(out, "closing bad idle connection") {
		t.Errorf("the driver's message is not a log line of the command:\n%s", out)
	}
}
