package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves a process's metrics over HTTP.
type Server struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// Serve starts serving the process's metrics at /metrics on addr
// (host:port; port 0 picks a free one), together with the Go runtime's and
// the process's own (go_*, process_*). It binds before it returns, so that
// a bad or taken address is an error at once, not after hours of work. A
// scrape whose metadata reads fail still serves everything else (the
// failure is logged).
func (m *Metrics) Serve(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics on %s: %w", addr, err)
	}
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{m.reg, runtime}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      logAdapter{m},
		Timeout:       2 * gatherTimeout,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "mediabackups %s: metrics at /metrics\n", m.command)
	})
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr(),
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.addr.String() }

// Close stops the server, letting a scrape in progress finish until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

type logAdapter struct{ m *Metrics }

func (l logAdapter) Println(v ...any) {
	l.m.log.Warn("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// CheckTextfile returns an error unless path can name a textfile that
// node_exporter reads: it must end in .prom, in a directory that exists.
func CheckTextfile(path string) error {
	if filepath.Ext(path) != ".prom" {
		return fmt.Errorf("metrics file %q: the name must end in .prom, the only files node_exporter's textfile collector reads", path)
	}
	return nil
}

// WriteTextfile writes the process's metrics (without the go_* and
// process_* ones, which would collide between the files of several
// commands) to path in the text format of node_exporter's textfile
// collector, atomically: into a temporary file in the same directory, then
// renamed over path, so that node_exporter never reads half a file.
func (m *Metrics) WriteTextfile(path string) error {
	if err := CheckTextfile(path); err != nil {
		return err
	}
	if err := prometheus.WriteToTextfile(path, m.reg); err != nil {
		return fmt.Errorf("write metrics file %s: %w", path, err)
	}
	return nil
}

// Textfile rewrites a metrics file while a command runs.
type Textfile struct {
	m    *Metrics
	path string
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// KeepWriting writes the metrics to path now, and returns an error if it
// cannot (before any work is done), then again every interval until Stop.
// A later write that fails is logged, and the previous file stays.
func (m *Metrics) KeepWriting(path string, interval time.Duration) (*Textfile, error) {
	if err := m.WriteTextfile(path); err != nil {
		return nil, err
	}
	t := &Textfile{m: m, path: path, stop: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				if err := m.WriteTextfile(path); err != nil {
					m.log.Warn("metrics: could not rewrite the metrics file; the previous one stays", "err", err)
				}
			}
		}
	}()
	return t, nil
}

// Stop ends the rewriting and writes the file a last time, with the final
// values.
func (t *Textfile) Stop() error {
	var err error
	t.once.Do(func() {
		close(t.stop)
		t.wg.Wait()
		err = t.m.WriteTextfile(t.path)
	})
	return err
}
