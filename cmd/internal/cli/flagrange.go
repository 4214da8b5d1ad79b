package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Every number and duration flag of every command is declared with
// intFlag or durationFlag, which carry its valid range: a value outside it
// is refused while the flags are parsed (a usage error, exit 2, that gives
// the range), before anything else runs. TestEveryNumberFlagHasARange
// walks the command tree to keep it so.

// maxWorkers bounds every concurrency flag (--workers, --parallel).
const maxWorkers = 1024

// intRange is the value of an int flag that must lie in [min, max].
type intRange struct {
	p        *int
	min, max int
}

func (v *intRange) String() string { return strconv.Itoa(*v.p) }
func (v *intRange) Type() string   { return "int" }

func (v *intRange) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a whole number: give one from %d to %d", v.min, v.max)
	}
	if n < v.min || n > v.max {
		return fmt.Errorf("out of range: give a number from %d to %d", v.min, v.max)
	}
	*v.p = n
	return nil
}

// intFlag defines an int flag that accepts only min..max; the usage text
// gets the range.
func intFlag(fs *pflag.FlagSet, p *int, name string, def, min, max int, usage string) {
	*p = def
	fs.Var(&intRange{p: p, min: min, max: max}, name, fmt.Sprintf("%s (%d to %d)", usage, min, max))
}

// durationRange is the value of a duration flag that must lie in
// [min, max].
type durationRange struct {
	p        *time.Duration
	min, max time.Duration
}

func (v *durationRange) String() string { return fmtDuration(*v.p) }
func (v *durationRange) Type() string   { return "duration" }

func (v *durationRange) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a duration: give one from %s to %s, such as 90s, 10m or 1h30m", fmtDuration(v.min), fmtDuration(v.max))
	}
	if d < v.min || d > v.max {
		return fmt.Errorf("out of range: give a duration from %s to %s", fmtDuration(v.min), fmtDuration(v.max))
	}
	*v.p = d
	return nil
}

// durationFlag defines a duration flag that accepts only min..max; the
// usage text gets the range.
func durationFlag(fs *pflag.FlagSet, p *time.Duration, name string, def, min, max time.Duration, usage string) {
	*p = def
	fs.Var(&durationRange{p: p, min: min, max: max}, name, fmt.Sprintf("%s (%s to %s)", usage, fmtDuration(min), fmtDuration(max)))
}

// fmtDuration writes d as an operator would: 10m, 24h, 1h30m, 500ms.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
