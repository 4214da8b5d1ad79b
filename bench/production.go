package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/mediawiki"
)

// Swift is the OpenStack Swift the restore into production is measured
// against (tempauth or other v1 auth).
type Swift struct {
	AuthURL string
	User    string
	Key     string
}

// rcloneRemote is the name of the rclone remote the bench configures
// through the environment (RCLONE_CONFIG_<NAME>_*): no rclone.conf is read
// or written.
const rcloneRemote = "MBBENCH"

// prodProject is the project part of the bench wikis' production
// containers, "mbbench-<run><wiki>-local-public".
const prodProject = benchPrefix

// layout names the production containers of a bench wiki.
func (w *world) layout(wiki string) mediawiki.Containers {
	return mediawiki.Containers{Project: prodProject, Lang: w.suffix + wiki}
}

// rcloneContainer is where rclone copies a class.
func (w *world) rcloneContainer(cl Class) string {
	return fmt.Sprintf("%s-%s-rclone-%s", benchPrefix, w.suffix, strings.ToLower(cl.Name()))
}

// swiftConn logs in to the bench's Swift.
func (w *world) swiftConn(ctx context.Context) (*ncw.Connection, error) {
	s := w.svc.Swift
	c := &ncw.Connection{AuthUrl: s.AuthURL, UserName: s.User, ApiKey: s.Key, UserAgent: "mediabackups-bench"}
	if err := c.Authenticate(ctx); err != nil {
		return nil, fmt.Errorf("bench: log in to Swift at %s as %s: %w", s.AuthURL, s.User, err)
	}
	return c, nil
}

// countObjects returns how many objects the containers whose names start
// with prefix hold.
func countObjects(ctx context.Context, c *ncw.Connection, prefix string) (int, error) {
	names, err := c.ContainerNamesAll(ctx, &ncw.ContainersOpts{Prefix: prefix})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		_, h, err := c.Container(ctx, name)
		if err != nil {
			return 0, err
		}
		k, _ := strconv.Atoi(h["X-Container-Object-Count"])
		n += k
	}
	return n, nil
}

// removeSwift deletes every container of this run (objects first). It
// refuses names without the bench prefix.
func (w *world) removeSwift(ctx context.Context) error {
	if w.svc.Swift == nil || w.suffix == "" {
		return nil
	}
	prefix := benchPrefix + "-" + w.suffix
	c, err := w.swiftConn(ctx)
	if err != nil {
		return err
	}
	names, err := c.ContainerNamesAll(ctx, &ncw.ContainersOpts{Prefix: prefix})
	if err != nil {
		return fmt.Errorf("bench: list the Swift containers %s*: %w", prefix, err)
	}
	var errs []error
	for _, name := range names {
		objs, err := c.ObjectNamesAll(ctx, name, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			sem = make(chan struct{}, 16)
		)
		for _, o := range objs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := c.ObjectDelete(ctx, name, o); err != nil && !errors.Is(err, ncw.ObjectNotFound) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if err := c.ContainerDelete(ctx, name); err != nil && !errors.Is(err, ncw.ContainerNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: remove the Swift containers %s*: %w", prefix, err)
	}
	return nil
}

// rcloneEnv configures the rclone remote for Swift in the environment.
func (w *world) rcloneEnv() []string {
	s := w.svc.Swift
	p := "RCLONE_CONFIG_" + rcloneRemote + "_"
	return []string{p + "TYPE=swift", p + "AUTH=" + s.AuthURL, p + "USER=" + s.User, p + "KEY=" + s.Key, p + "AUTH_VERSION=1"}
}

// productionRows measures the restore into production of one class:
// `rclone copy` of the class's files from the corpus directory into a
// container of the same Swift (the ceiling: plain files, one PUT each),
// then `restore --to-production --execute` of each wiki (read from MinIO,
// decrypt, check, look at production, write with MediaWiki's metadata,
// read back), at the same concurrency.
func productionRows(ctx context.Context, o Options, w *world, cl Class, files []CorpusFile, row func(op, wiki string, m measure, note string) Row) ([]Row, error) {
	if w.svc.Swift == nil {
		return nil, nil
	}
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		return nil, fmt.Errorf("bench: rclone is needed for the restore into production's ceiling (apt install rclone): %w", err)
	}
	conn, err := w.swiftConn(ctx)
	if err != nil {
		return nil, err
	}
	workers := strconv.Itoa(o.Workers)
	var rows []Row
	dest := w.rcloneContainer(cl)
	fmt.Fprintf(o.Log, "%s: rclone copy of %d files into Swift ...\n", cl.Name(), len(files))
	m, err := runChildEnv(ctx, w.rcloneEnv(), rclone, "copy", filepath.Join(o.CorpusDir, cl.Name()), rcloneRemote+":"+dest,
		"--transfers", workers, "--checkers", workers, "--retries", "1")
	if err != nil {
		return rows, err
	}
	if n, err := countObjects(ctx, conn, dest); err != nil || n != len(files) {
		return rows, fmt.Errorf("rclone copy of %s: %d of %d files in %s (%v): the measurement is void", cl.Name(), n, len(files), dest, err)
	}
	ceiling := row("prod-rclone", "", m, "")
	rows = append(rows, ceiling)
	for _, typ := range o.Wikis {
		wiki := wikiName(typ, cl)
		fmt.Fprintf(o.Log, "%s: restore --to-production of %s ...\n", cl.Name(), wiki)
		args := []string{"--config", w.config, "--json", "restore", "--to-production", "--execute", "--yes", "--create-containers",
			"--wiki", wiki, "--upload-date", benchUploadDate, "--parallel", workers, "--logdir", w.dir}
		if o.ProfileDir != "" {
			args = append(args, "--cpuprofile", filepath.Join(o.ProfileDir, "to-production-"+wiki+".cpu.pprof"),
				"--memprofile", filepath.Join(o.ProfileDir, "to-production-"+wiki+".heap.pprof"))
		}
		m, err := runChild(ctx, o.Binary, args...)
		if err != nil {
			return rows, err
		}
		var out struct {
			Written int `json:"written"`
		}
		if err := json.Unmarshal(m.Stdout, &out); err != nil || out.Written != len(files) {
			return rows, fmt.Errorf("restore --to-production of %s: wrote %d of %d files (%v): the measurement is void", wiki, out.Written, len(files), err)
		}
		r := row("to-production", typ, m, "")
		r.Ratio = r.MBPerSec / ceiling.MBPerSec
		rows = append(rows, r)
	}
	return rows, nil
}
