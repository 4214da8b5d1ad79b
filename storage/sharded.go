package storage

import (
	"errors"
	"fmt"

	"github.com/mediabackups/mediabackups/sharding"
)

// Sharded spreads objects over several backends by the SHA-256 of their
// content, with sharding.Shard. The order of the backends is the shard
// order. A Sharded is immutable and safe for concurrent use.
type Sharded struct {
	servers    []Backend
	byEndpoint map[string]Backend
}

// NewSharded returns a Sharded over servers, in that order. It returns an
// error if servers is empty or longer than sharding.MaxServers, contains nil,
// or contains two servers with the same endpoint.
func NewSharded(servers []Backend) (*Sharded, error) {
	if len(servers) == 0 {
		return nil, errors.New("sharded storage: no servers")
	}
	if len(servers) > sharding.MaxServers {
		return nil, fmt.Errorf("sharded storage: %d servers, at most %d supported", len(servers), sharding.MaxServers)
	}
	s := &Sharded{
		servers:    make([]Backend, len(servers)),
		byEndpoint: make(map[string]Backend, len(servers)),
	}
	for i, srv := range servers {
		if srv == nil {
			return nil, fmt.Errorf("sharded storage: server %d is nil", i)
		}
		if _, dup := s.byEndpoint[srv.Endpoint()]; dup {
			return nil, fmt.Errorf("sharded storage: endpoint %s is listed twice", srv.Endpoint())
		}
		s.servers[i] = srv
		s.byEndpoint[srv.Endpoint()] = srv
	}
	return s, nil
}

// For returns the server a new object with content SHA-256 sha256hex (64 hex
// digits, any case) must be written to. It returns an error wrapping
// sharding.ErrInvalidSHA256 for a malformed hash.
//
// Use For only to choose where to write: to read an existing object, use the
// endpoint recorded when it was written (ByEndpoint), which differs from For
// once the server list has changed.
func (s *Sharded) For(sha256hex string) (Backend, error) {
	i, err := sharding.Shard(sha256hex, len(s.servers))
	if err != nil {
		return nil, fmt.Errorf("choose server: %w", err)
	}
	return s.servers[i], nil
}

// ByEndpoint returns the server whose Endpoint equals endpoint after
// normalization (see NormalizeEndpoint), and false if there is none. Restores
// use it with the endpoint recorded in the metadata database.
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
	return append([]Backend(nil), s.servers...)
}
