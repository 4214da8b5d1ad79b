package backup

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A lease too short to renew is refused before anything runs (it used to
// panic in time.NewTicker).
func TestRunRefusesAShortLease(t *testing.T) {
	for _, lease := range []time.Duration{time.Nanosecond, -5 * time.Second, MinLease - time.Millisecond} {
		_, err := Run(context.Background(), nil, nil, nil, Options{Lease: lease})
		if err == nil || !strings.Contains(err.Error(), "shorter than the minimum, 3s") {
			t.Errorf("lease %s: %v", lease, err)
		}
	}
}
