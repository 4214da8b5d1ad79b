package storage

import (
	"errors"
	"fmt"

	"github.com/mediabackups/mediabackups/sharding"
)

// Member is one server of a Sharded and its configured state.
type Member struct {
	Backend Backend
	State   sharding.State
}

// Sharded spreads objects over several backends by the SHA-256 of their
// content, with sharding.Shard. The order of the backends is the shard
// order, and each has a configured state (sharding.State): a new object
// goes to its shard's server (its home) when that one is active, else to
// the home's fallback (sharding.Targets). A Sharded is immutable and safe
// for concurrent use.
type Sharded struct {
	members    []Member // each Backend already wrapped by WithState
	byEndpoint map[string]Backend
	targets    []int // sharding.Targets of the states; nil when targetErr
	targetErr  error
}

// NewSharded returns a Sharded over servers, in that order, all of them
// active. See NewShardedMembers.
func NewSharded(servers []Backend) (*Sharded, error) {
	members := make([]Member, len(servers))
	for i, s := range servers {
		members[i] = Member{Backend: s, State: sharding.Active}
	}
	return NewShardedMembers(members)
}

// NewShardedMembers returns a Sharded over members, in that order, each
// wrapped by WithState for its state: a down server is never called, a
// readonly one never written to. It returns an error if members is empty
// or longer than sharding.MaxServers, contains a nil backend or an unknown
// state, or two servers with the same endpoint. A Sharded whose servers
// are all readonly or down is valid (objects can be read from it); For
// then fails.
func NewShardedMembers(members []Member) (*Sharded, error) {
	if len(members) == 0 {
		return nil, errors.New("sharded storage: no servers")
	}
	if len(members) > sharding.MaxServers {
		return nil, fmt.Errorf("sharded storage: %d servers, at most %d supported", len(members), sharding.MaxServers)
	}
	s := &Sharded{
		members:    make([]Member, len(members)),
		byEndpoint: make(map[string]Backend, len(members)),
	}
	states := make([]sharding.State, len(members))
	for i, m := range members {
		if m.Backend == nil {
			return nil, fmt.Errorf("sharded storage: server %d is nil", i)
		}
		if _, err := sharding.ParseState(string(m.State)); err != nil || m.State == "" {
			return nil, fmt.Errorf("sharded storage: server %s: %w", m.Backend.Endpoint(), sharding.ErrInvalidState)
		}
		if _, dup := s.byEndpoint[m.Backend.Endpoint()]; dup {
			return nil, fmt.Errorf("sharded storage: endpoint %s is listed twice", m.Backend.Endpoint())
		}
		b := WithState(m.Backend, m.State)
		s.members[i] = Member{Backend: b, State: m.State}
		s.byEndpoint[b.Endpoint()] = b
		states[i] = m.State
	}
	s.targets, s.targetErr = sharding.Targets(states)
	return s, nil
}

// For returns the server a new object with content SHA-256 sha256hex (64 hex
// digits, any case) must be written to: its home (Home) when that is
// active, else the home's fallback. It returns an error wrapping
// sharding.ErrInvalidSHA256 for a malformed hash, and one wrapping
// sharding.ErrNoWritableServer when no server is active.
//
// Use For only to choose where to write: to read an existing object, use the
// endpoint recorded when it was written (ByEndpoint), which differs from For
// once the server list or a state has changed.
func (s *Sharded) For(sha256hex string) (Backend, error) {
	i, err := s.Home(sha256hex)
	if err != nil {
		return nil, err
	}
	if s.targetErr != nil {
		return nil, fmt.Errorf("choose server: %w", s.targetErr)
	}
	return s.members[s.targets[i]].Backend, nil
}

// Home returns the index, in shard order, of the server whose range holds
// sha256hex: where the object belongs whatever the states, and where
// `rebalance` moves it. It returns an error wrapping
// sharding.ErrInvalidSHA256 for a malformed hash.
func (s *Sharded) Home(sha256hex string) (int, error) {
	i, err := sharding.Shard(sha256hex, len(s.members))
	if err != nil {
		return 0, fmt.Errorf("choose server: %w", err)
	}
	return i, nil
}

// Fallback returns the index of the server that receives the new objects
// of server i's range: i itself when it is active. It returns -1 when no
// server is active.
func (s *Sharded) Fallback(i int) int {
	if s.targetErr != nil {
		return -1
	}
	return s.targets[i]
}

// ByEndpoint returns the server whose Endpoint equals endpoint after
// normalization (see NormalizeEndpoint), and false if there is none. Restores
// use it with the endpoint recorded in the metadata database. The server
// keeps to its state: a down one fails every call at once (see WithState).
func (s *Sharded) ByEndpoint(endpoint string) (Backend, bool) {
	e, err := NormalizeEndpoint(endpoint)
	if err != nil {
		return nil, false
	}
	srv, ok := s.byEndpoint[e]
	return srv, ok
}

// Servers returns the backends in shard order. The slice is a copy.
func (s *Sharded) Servers() []Backend {
	out := make([]Backend, len(s.members))
	for i, m := range s.members {
		out[i] = m.Backend
	}
	return out
}

// Members returns the servers in shard order with their states. The slice
// is a copy.
func (s *Sharded) Members() []Member {
	return append([]Member(nil), s.members...)
}

// Writable returns the active servers, in shard order: those that need a
// bucket and receive new objects.
func (s *Sharded) Writable() []Backend {
	var out []Backend
	for _, m := range s.members {
		if m.State.Writable() {
			out = append(out, m.Backend)
		}
	}
	return out
}
