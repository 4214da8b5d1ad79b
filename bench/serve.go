package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Serve serves the files under dir over HTTP on addr (e.g. "127.0.0.1:0")
// as production would: plain GETs with a Content-Length. Once it listens it
// writes "http://HOST:PORT\n" to ready, then serves until ctx is done.
func Serve(ctx context.Context, dir, addr string, ready io.Writer) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("serve %s: not a directory", dir)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve %s: %w", dir, err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	if _, err := fmt.Fprintf(ready, "http://%s\n", ln.Addr()); err != nil {
		ln.Close()
		return fmt.Errorf("serve %s: %w", dir, err)
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", dir, err)
	}
	return nil
}

// server is a running `mediabackups bench serve` child.
type server struct {
	URL string
	cmd *exec.Cmd
}

// startServer runs `binary bench serve --dir dir` and waits for its URL.
func startServer(ctx context.Context, binary, dir string) (*server, error) {
	cmd := exec.CommandContext(ctx, binary, "bench", "serve", "--dir", dir, "--addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start production server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start production server: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("start production server: it did not print its address: %w", err)
	}
	return &server{URL: strings.TrimSpace(line), cmd: cmd}, nil
}

// Stop ends the server process.
func (s *server) Stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}
