package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/manifoldco/promptui"
	"golang.org/x/term"

	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/search"
)

// Prompter asks the operator questions. The recovery commands use it only
// when CanPrompt is true; tests drive it with a scripted implementation, and
// the real one (promptui) through a pseudo-terminal.
type Prompter interface {
	// Input asks for a line of text; def is offered as the default.
	Input(label, def string) (string, error)
	// Select asks to choose one of items and returns its index.
	Select(label string, items []string) (int, error)
}

// errPromptAborted is returned by a Prompter when the operator pressed
// Ctrl-C or Ctrl-D.
var errPromptAborted = errors.New("aborted at the prompt")

// isTerminal reports whether v is an *os.File open on a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// CanPrompt reports whether questions can be asked: stdin and stdout are
// both terminals.
func (f *Factory) CanPrompt() bool { return isTerminal(f.IO.In) && isTerminal(f.IO.Out) }

// stdinIsTerminal reports whether stdin is a terminal (someone may be
// typing), whatever stdout is.
func (f *Factory) stdinIsTerminal() bool { return isTerminal(f.IO.In) }

// promptuiPrompter is the Prompter of a real terminal.
type promptuiPrompter struct {
	in  io.ReadCloser
	out io.WriteCloser
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func newPromptuiPrompter(io_ IO) Prompter {
	return &promptuiPrompter{in: io.NopCloser(io_.In), out: nopWriteCloser{io_.Out}}
}

func promptErr(err error) error {
	if errors.Is(err, promptui.ErrInterrupt) || errors.Is(err, promptui.ErrEOF) || errors.Is(err, promptui.ErrAbort) {
		return errPromptAborted
	}
	return err
}

func (p *promptuiPrompter) Input(label, def string) (string, error) {
	pr := promptui.Prompt{Label: label, Default: def, AllowEdit: true, Stdin: p.in, Stdout: p.out}
	s, err := pr.Run()
	return s, promptErr(err)
}

func (p *promptuiPrompter) Select(label string, items []string) (int, error) {
	s := promptui.Select{Label: label, Items: items, Size: len(items), Stdin: p.in, Stdout: p.out}
	i, _, err := s.Run()
	return i, promptErr(err)
}

// ask runs the interactive questions: wiki, method, value. Bad answers are
// explained and asked again.
func (s *session) ask(ctx context.Context) (metadata.Query, error) {
	p := s.prompter()
	say := func(msg string) {
		fmt.Fprintf(s.f.IO.Out, "✗ %s\n", msg)
		s.log.Debug("answer refused", "reason", msg)
	}
	var wikiID int64
	for {
		name, err := p.Input("Wiki", s.defaultWiki())
		if err != nil {
			return metadata.Query{}, s.promptFailed(err)
		}
		name = strings.TrimSpace(name)
		if wikiID, err = s.wikiID(ctx, name); err == nil {
			s.log.Info("answer", "wiki", name)
			break
		}
		say(err.Error())
	}
	labels := make([]string, len(search.Methods))
	for i, m := range search.Methods {
		labels[i] = m.Label
	}
	q := metadata.Query{WikiID: wikiID}
	// A broad search (a date range, every version) is offered to be
	// narrowed by another method, until the operator searches or adds a
	// precise one.
	for broad := true; broad; {
		label, items := "Search by", labels
		narrowing := len(q.Criteria()) > 0
		if narrowing {
			label, items = "Narrow the search down?", append([]string{"no: search now"}, labels...)
		}
		i, err := p.Select(label, items)
		if err != nil {
			return metadata.Query{}, s.promptFailed(err)
		}
		if narrowing {
			if i == 0 {
				if err := s.o.checkBreadth(q); err != nil {
					say(err.Error())
					continue
				}
				break
			}
			i--
		}
		m := search.Methods[i]
		s.log.Info("answer", "method", m.Name)
		container := ""
		if m.WithContainer {
			for {
				v, err := p.Input("Production container", "")
				if err != nil {
					return metadata.Query{}, s.promptFailed(err)
				}
				if container, err = search.ParseContainer(v); err == nil {
					break
				}
				say(err.Error())
			}
		}
		for {
			v := "true"
			if !m.NoValue {
				if v, err = p.Input(m.Prompt, ""); err != nil {
					return metadata.Query{}, s.promptFailed(err)
				}
			}
			err := m.Add(&q, v, container)
			if err == nil {
				broad = m.Broad
				break
			}
			say(err.Error())
			if _, alone := m.Query(v, container); alone == nil || m.NoValue {
				break // the value is fine, the search has it already: choose again
			}
		}
	}
	s.log.Info("answer", "query", q.String())
	return q, nil
}

// canPrompt reports whether questions can be asked: on a terminal, or
// through an injected Prompter (tests).
func (o *RecoveryOptions) canPrompt() bool { return o.Prompter != nil || o.F.CanPrompt() }

func (s *session) prompter() Prompter {
	if s.o.Prompter != nil {
		return s.o.Prompter
	}
	return newPromptuiPrompter(s.f.IO)
}

func (s *session) promptFailed(err error) error {
	if errors.Is(err, errPromptAborted) {
		return withCode(ExitAborted, errors.New("aborted by the operator; nothing was done"))
	}
	return fmt.Errorf("prompt: %w", err)
}

// confirmPolicy says whether to ask before acting. yes is --yes; execute
// marks a run that changes something for good (delete --execute, restore
// --to-production --execute), for which --yes is refused
// while stdin is a terminal so that nobody skips the question by habit.
// Without a terminal to ask on, --yes is required.
func confirmPolicy(canPrompt, stdinTTY, yes, execute bool) (ask bool, err error) {
	switch {
	case yes && execute && stdinTTY:
		return false, withCode(ExitUsage, errors.New("--yes is refused for --execute on a terminal (delete, restore --to-production): answer the question instead"))
	case yes:
		return false, nil
	case canPrompt:
		return true, nil
	}
	return false, withCode(ExitUsage, errors.New("--yes is required when not running interactively (stdin and stdout are not both terminals)"))
}

// confirm asks a y/n question until it gets y or n; n is ExitAborted.
func (s *session) confirm(question string) error {
	p := s.prompter()
	for {
		a, err := p.Input(question+" (y/n)", "")
		if err != nil {
			return s.promptFailed(err)
		}
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "y", "yes":
			s.log.Info("confirmed", "question", question)
			return nil
		case "n", "no":
			s.log.Info("refused", "question", question)
			return withCode(ExitAborted, errors.New("aborted by the operator; nothing was done"))
		}
		fmt.Fprintln(s.f.IO.Out, "✗ answer y or n")
	}
}
