package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// benchUploadDate is the upload date every registered corpus file has, so
// that one search (--upload-date) selects a whole class for restore.
const benchUploadDate = "20250101000000"

// restoreClass runs `mediabackups restore` (the restore-media-file tool)
// for every file of wiki into dir, at the bench's concurrency, and checks
// that every file was written. The restore itself verifies each file's
// sha256 and sha1. With profile, it writes profiles into o.ProfileDir (if
// set).
func restoreClass(ctx context.Context, o Options, w *world, wiki, dir string, files []CorpusFile, profile bool) (measure, error) {
	args := []string{"--config", w.config, "restore", "--wiki", wiki, "--upload-date", benchUploadDate,
		"--target", dir, "--parallel", strconv.Itoa(o.Workers), "--yes", "--logdir", w.dir}
	if profile && o.ProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(o.ProfileDir, "restore-"+wiki+".cpu.pprof"),
			"--memprofile", filepath.Join(o.ProfileDir, "restore-"+wiki+".heap.pprof"))
	}
	m, err := runChild(ctx, o.Binary, args...)
	if err != nil {
		return m, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return m, fmt.Errorf("restore of %s: %w", wiki, err)
	}
	if len(entries) != len(files) {
		return m, fmt.Errorf("restore of %s: wrote %d of %d files: the measurement is void", wiki, len(entries), len(files))
	}
	return m, nil
}
