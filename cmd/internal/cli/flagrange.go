package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Every number and duration flag of every command is declared with
// intFlag, intsFlag, floatFlag or durationFlag, which carry its valid
// range: a value outside it is refused while the flags are parsed (a usage error, exit 2, that gives
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

// intsRange is the value of a flag that takes a comma-separated list of
// whole numbers, each in [min, max]; each use of the flag adds to the list.
type intsRange struct {
	p        *[]int
	min, max int
	set      bool
}

func (v *intsRange) Type() string { return "ints" }

func (v *intsRange) String() string {
	out := make([]string, len(*v.p))
	for i, n := range *v.p {
		out[i] = strconv.Itoa(n)
	}
	return strings.Join(out, ",")
}

func (v *intsRange) Set(s string) error {
	var got []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not a whole number: give a comma-separated list of numbers from %d to %d", f, v.min, v.max)
		}
		if n < v.min || n > v.max {
			return fmt.Errorf("%d is out of range: give a comma-separated list of numbers from %d to %d", n, v.min, v.max)
		}
		got = append(got, n)
	}
	if !v.set {
		*v.p = nil // the first use replaces the default
		v.set = true
	}
	*v.p = append(*v.p, got...)
	return nil
}

// intsFlag defines a flag of comma-separated whole numbers, each of
// min..max; the usage text gets the range.
func intsFlag(fs *pflag.FlagSet, p *[]int, name string, min, max int, usage string) {
	fs.Var(&intsRange{p: p, min: min, max: max}, name, fmt.Sprintf("%s; comma-separated, each (%d to %d)", usage, min, max))
}

// floatRange is the value of a float flag that must lie in [min, max]
// (a NaN or an infinity never does).
type floatRange struct {
	p        *float64
	min, max float64
}

func (v *floatRange) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }
func (v *floatRange) Type() string   { return "float" }

func (v *floatRange) Set(s string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || x != x {
		return fmt.Errorf("not a number: give one from %g to %g", v.min, v.max)
	}
	if x < v.min || x > v.max {
		return fmt.Errorf("out of range: give a number from %g to %g", v.min, v.max)
	}
	*v.p = x
	return nil
}

// floatFlag defines a float flag that accepts only min..max; the usage
// text gets the range.
func floatFlag(fs *pflag.FlagSet, p *float64, name string, def, min, max float64, usage string) {
	*p = def
	fs.Var(&floatRange{p: p, min: min, max: max}, name, fmt.Sprintf("%s (%g to %g)", usage, min, max))
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
