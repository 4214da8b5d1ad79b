package cli

import (
	"errors"
	"io"
	"os"

	"github.com/manifoldco/promptui"
	"golang.org/x/term"
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
