package cli

import (
	"io"
	"sync"
)

// statusLine is the screen of a session on a terminal: log lines and one
// status line (a progress bar) kept below them. A log line first clears
// the status line, and the status line is drawn again after it, so that
// the two never mix on one line. Elsewhere (a pipe, a file) it writes
// through and there is no status line.
type statusLine struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	status string
}

func newStatusLine(w io.Writer) *statusLine {
	return &statusLine{w: w, tty: isTerminal(w)}
}

// Write writes log lines above the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == "" {
		return s.w.Write(p)
	}
	io.WriteString(s.w, "\r\x1b[K")
	n, err := s.w.Write(p)
	io.WriteString(s.w, s.status)
	return n, err
}

// set shows status as the status line (terminals only).
func (s *statusLine) set(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
	io.WriteString(s.w, "\r\x1b[K"+status)
}

// done ends the status line: it stays as it was, and the next line goes
// below it.
func (s *statusLine) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != "" {
		io.WriteString(s.w, "\n")
	}
	s.status = ""
}
