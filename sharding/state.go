package sharding

import (
	"errors"
	"fmt"
	"strings"
)

// State is what an operator allows a server to do, as configured: it is a
// decision, not an observation (a server that stops answering is a matter
// for the runtime health of its connection, not of its State).
type State string

// The states of a server. Each one's rules are in the states table.
const (
	// Active servers are read and written: new objects go to them.
	Active State = "active"
	// ReadOnly servers are read (restores, deletes, verify) but receive
	// no new object: those of their range go to their fallback.
	ReadOnly State = "readonly"
	// Down servers are not contacted at all: new objects of their range
	// go to their fallback, and reads of their objects fail at once.
	Down State = "down"
)

// stateRule is one State and what it allows. states is the one table every
// question about a State is answered from.
type stateRule struct {
	state State
	// writable: new objects may be written to it.
	writable bool
	// contacted: it may be called at all (reads, listings, deletes).
	contacted bool
	help      string
}

var states = []stateRule{
	{Active, true, true, "read and written"},
	{ReadOnly, false, true, "read, never written: new objects of its range go to its fallback"},
	{Down, false, false, "never contacted: new objects of its range go to its fallback, reads of its objects fail at once"},
}

func (s State) rule() (stateRule, bool) {
	for _, r := range states {
		if r.state == s {
			return r, true
		}
	}
	return stateRule{}, false
}

// ErrInvalidState is wrapped by the error ParseState returns for a word
// that is not a State.
var ErrInvalidState = errors.New("invalid server state")

// ParseState returns the State named s ("active", "readonly" or "down",
// exactly: the configuration is case-sensitive like the rest of it). The
// empty string is Active, the state of an endpoint given as a plain URL.
func ParseState(s string) (State, error) {
	if s == "" {
		return Active, nil
	}
	if _, ok := State(s).rule(); ok {
		return State(s), nil
	}
	return "", fmt.Errorf("%w %q: want one of %s", ErrInvalidState, s, strings.Join(StateNames(), ", "))
}

// StateNames lists the states, in the order of the table.
func StateNames() []string {
	out := make([]string, len(states))
	for i, r := range states {
		out[i] = string(r.state)
	}
	return out
}

// Writable reports whether new objects may be written to a server in
// state s. An unknown state is not writable.
func (s State) Writable() bool { r, _ := s.rule(); return r.writable }

// Contacted reports whether a server in state s may be called at all. An
// unknown state is not.
func (s State) Contacted() bool { r, _ := s.rule(); return r.contacted }

// Help says in a few words what state s means, for --help and listings.
func (s State) Help() string { r, _ := s.rule(); return r.help }

// ErrNoWritableServer is wrapped by the error Targets returns when no
// server is Active.
var ErrNoWritableServer = errors.New("no server is active")

// Targets returns, for servers in shard order with the given states, the
// index of the server that receives the new objects of each shard: the
// shard's own server when it is writable (Active), else its fallback, the
// next writable server in shard order after it, wrapping around from the
// last to the first. So Targets(states)[i] == i for every active server i,
// and the range of a readonly or down server goes, whole, to one
// neighbour.
//
// Targets depends only on states; it returns an error wrapping
// ErrNoWritableServer when no server is writable, one wrapping
// ErrInvalidServerCount for an empty or too long list, and one wrapping
// ErrInvalidState for an unknown state.
func Targets(states []State) ([]int, error) {
	if err := checkN(len(states)); err != nil {
		return nil, err
	}
	for i, s := range states {
		if _, ok := s.rule(); !ok {
			return nil, fmt.Errorf("server %d: %w %q", i, ErrInvalidState, s)
		}
	}
	n := len(states)
	out := make([]int, n)
	for i := range n {
		out[i] = -1
		for step := range n {
			if j := (i + step) % n; states[j].Writable() {
				out[i] = j
				break
			}
		}
		if out[i] < 0 {
			return nil, fmt.Errorf("%w: %d servers, none of them may be written to", ErrNoWritableServer, n)
		}
	}
	return out, nil
}
