package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mediabackups/mediabackups/sharding"
)

// ErrServerState is wrapped by the errors of calls that a server's
// configured state forbids (see WithState): writes to a readonly server,
// anything to a down one. Such a call is refused before it is made.
var ErrServerState = errors.New("not allowed by the server's state in storage.endpoints")

// StateError is the error of a call refused because of the configured
// state of its server.
type StateError struct {
	Op       string // what was refused, e.g. "download testwiki/1ce/1cef…"
	Endpoint string
	State    sharding.State
}

func (e *StateError) Error() string {
	switch e.State {
	case sharding.Down:
		return fmt.Sprintf("%s: server %s is down in storage.endpoints, so it is not contacted "+
			"(once it is back, make it active or readonly in the config)", e.Op, e.Endpoint)
	case sharding.ReadOnly:
		return fmt.Sprintf("%s: server %s is readonly in storage.endpoints, so nothing is written to it", e.Op, e.Endpoint)
	}
	return fmt.Sprintf("%s: server %s is %s in storage.endpoints", e.Op, e.Endpoint, e.State)
}

// Is makes errors.Is(err, ErrServerState) true.
func (e *StateError) Is(target error) bool { return target == ErrServerState }

// WithState returns b as a server in the configured state st:
//   - Active: b itself;
//   - ReadOnly: a Backend that reads, lists and removes through b but
//     refuses Put and EnsureBucket (it "receives no new object");
//   - Down: a Backend that never calls b: every method fails at once with
//     a *StateError that names the server.
//
// Refusals wrap ErrServerState and make no request. A state that
// sharding.ParseState would refuse is treated as Down: never contact a
// server whose state is not understood.
//
// The runtime health of a server (whether it answers) is a separate
// matter, for a wrapper inside this one: a configured state is an
// operator's decision and holds however the server behaves.
func WithState(b Backend, st sharding.State) Backend {
	switch st {
	case sharding.Active:
		return b
	case sharding.ReadOnly:
		return &readOnly{Backend: b}
	}
	return &down{endpoint: b.Endpoint(), state: st}
}

// readOnly refuses writes of new content.
type readOnly struct{ Backend }

var _ Backend = (*readOnly)(nil)

func (r *readOnly) refuse(op string) error {
	return &StateError{Op: op, Endpoint: r.Endpoint(), State: sharding.ReadOnly}
}

func (r *readOnly) EnsureBucket(context.Context) error { return r.refuse("create the bucket") }

func (r *readOnly) Put(_ context.Context, key string, _ io.Reader, _ int64, _ []byte) (int64, error) {
	return 0, r.refuse("upload " + key)
}

// down calls nothing.
type down struct {
	endpoint string
	state    sharding.State
}

var _ Backend = (*down)(nil)

func (d *down) refuse(op string) error {
	st := d.state
	if st != sharding.Down {
		st = sharding.Down
		op += fmt.Sprintf(" (state %q is not understood)", d.state)
	}
	return &StateError{Op: op, Endpoint: d.endpoint, State: st}
}

func (d *down) Endpoint() string                   { return d.endpoint }
func (d *down) EnsureBucket(context.Context) error { return d.refuse("create the bucket") }
func (d *down) Put(_ context.Context, key string, _ io.Reader, _ int64, _ []byte) (int64, error) {
	return 0, d.refuse("upload " + key)
}
func (d *down) Get(_ context.Context, key string) (io.ReadCloser, int64, error) {
	return nil, 0, d.refuse("download " + key)
}
func (d *down) Stat(_ context.Context, key string) (ObjectInfo, error) {
	return ObjectInfo{}, d.refuse("stat " + key)
}
func (d *down) Remove(_ context.Context, key string) error { return d.refuse("remove " + key) }
func (d *down) List(_ context.Context, prefix string, _ func(ObjectInfo) error) error {
	return d.refuse(fmt.Sprintf("list %q", prefix))
}
