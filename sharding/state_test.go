package sharding

import (
	"errors"
	"slices"
	"testing"
)

func TestTargets(t *testing.T) {
	const (
		A = Active
		R = ReadOnly
		D = Down
	)
	tests := []struct {
		name   string
		states []State
		want   []int
	}{
		{"one active", []State{A}, []int{0}},
		{"all active", []State{A, A, A, A, A}, []int{0, 1, 2, 3, 4}},
		{"middle readonly: the next one", []State{A, A, R, A, A}, []int{0, 1, 3, 3, 4}},
		{"middle down: the next one", []State{A, A, D, A, A}, []int{0, 1, 3, 3, 4}},
		{"last readonly wraps to the first", []State{A, A, A, A, R}, []int{0, 1, 2, 3, 0}},
		{"two in a row skip to the third", []State{A, R, D, A, A}, []int{0, 3, 3, 3, 4}},
		{"first down", []State{D, A, A}, []int{1, 1, 2}},
		{"only the first active", []State{A, D, R, D}, []int{0, 0, 0, 0}},
		{"only the last active", []State{R, R, A}, []int{2, 2, 2}},
		{"seven, two out", []State{A, A, A, A, A, R, D}, []int{0, 1, 2, 3, 4, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Targets(tt.states)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Targets(%v) = %v, want %v", tt.states, got, tt.want)
			}
			// Every target is writable, and an active server is its own.
			for i, j := range got {
				if !tt.states[j].Writable() {
					t.Errorf("shard %d goes to %d, which is %s", i, j, tt.states[j])
				}
				if tt.states[i] == Active && j != i {
					t.Errorf("active shard %d goes to %d", i, j)
				}
			}
		})
	}
}

func TestTargetsErrors(t *testing.T) {
	tests := []struct {
		name   string
		states []State
		want   error
	}{
		{"none", nil, ErrInvalidServerCount},
		{"all readonly", []State{ReadOnly, ReadOnly}, ErrNoWritableServer},
		{"all out", []State{Down, ReadOnly, Down}, ErrNoWritableServer},
		{"unknown state", []State{Active, "maintenance"}, ErrInvalidState},
		{"empty state is not a state here", []State{Active, ""}, ErrInvalidState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Targets(tt.states); !errors.Is(err, tt.want) {
				t.Errorf("Targets(%v) = %v, want %v", tt.states, err, tt.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		in        string
		want      State
		writable  bool
		contacted bool
		bad       bool
	}{
		{in: "", want: Active, writable: true, contacted: true},
		{in: "active", want: Active, writable: true, contacted: true},
		{in: "readonly", want: ReadOnly, contacted: true},
		{in: "down", want: Down},
		{in: "Active", bad: true},
		{in: "read-only", bad: true},
		{in: "drained", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseState(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrInvalidState) {
				t.Errorf("ParseState(%q) = %v, %v; want ErrInvalidState", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want || got.Writable() != tt.writable || got.Contacted() != tt.contacted || got.Help() == "" {
			t.Errorf("ParseState(%q) = %v (writable %v, contacted %v), %v; want %v (%v, %v)",
				tt.in, got, got.Writable(), got.Contacted(), err, tt.want, tt.writable, tt.contacted)
		}
	}
}

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"", "active", "readonly", "down", "DOWN", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			return
		}
		if s != "" && string(st) != s {
			t.Fatalf("ParseState(%q) = %q", s, st)
		}
		if _, err := Targets([]State{st, Active}); err != nil {
			t.Fatalf("a parsed state is refused by Targets: %v", err)
		}
	})
}
