package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mediabackups/mediabackups/bench/synthwiki"
)

// Serve serves the files under dir over HTTP on addr (e.g. "127.0.0.1:0")
// as production would: plain GETs with a Content-Length. Once it listens it
// writes "http://HOST:PORT\n" to ready, then serves until ctx is done.
func Serve(ctx context.Context, dir, addr string, ready io.Writer) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("serve %s: not a directory", dir)
	}
	if err := listenAndServe(ctx, http.FileServer(http.Dir(dir)), addr, ready); err != nil {
		return fmt.Errorf("serve %s: %w", dir, err)
	}
	return nil
}

// ServeSynthWiki serves the synthetic wiki cfg (see package synthwiki) on
// addr, as Serve does: its URL goes to ready, then it serves until ctx is
// done. It also answers GET /bench-stats with the number of API requests
// served so far, as JSON ({"requests": N}), for the scale report.
func ServeSynthWiki(ctx context.Context, cfg synthwiki.Config, addr string, ready io.Writer) error {
	m, err := synthwiki.New(cfg)
	if err != nil {
		return err
	}
	var requests atomic.Int64
	api := m.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("/bench-stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"requests\": %d}\n", requests.Load())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		api.ServeHTTP(w, r)
	})
	if err := listenAndServe(ctx, mux, addr, ready); err != nil {
		return fmt.Errorf("serve %s: %w", m, err)
	}
	return nil
}

// apiRequests asks a synthetic wiki server how many requests it served.
func apiRequests(ctx context.Context, base string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/bench-stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read the synthetic wiki's request count: %w", err)
	}
	defer resp.Body.Close()
	var st struct{ Requests int64 }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("read the synthetic wiki's request count: %w", err)
	}
	return st.Requests, nil
}

func listenAndServe(ctx context.Context, h http.Handler, addr string, ready io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if _, err := fmt.Fprintf(ready, "http://%s\n", ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is a running `mediabackups bench serve` or `bench synthwiki` child.
type server struct {
	URL string
	cmd *exec.Cmd
}

// PID is the server's process id.
func (s *server) PID() int { return s.cmd.Process.Pid }

// startServer runs `binary bench serve --dir dir` and waits for its URL.
func startServer(ctx context.Context, binary, dir string) (*server, error) {
	return startChildServer(ctx, binary, "bench", "serve", "--dir", dir, "--addr", "127.0.0.1:0")
}

// startChildServer runs binary with args, a server that prints its URL on
// its first line of output, and waits for the URL.
func startChildServer(ctx context.Context, binary string, args ...string) (*server, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stderr = os.Stderr
	what := strings.Join(args[:min(2, len(args))], " ")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("start %s: it did not print its address: %w", what, err)
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
