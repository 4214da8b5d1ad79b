package cli

import (
	"os"
	"runtime/debug"
)

// Garbage collection of the commands that decrypt many bytes while holding
// little per file: restore into a directory, and verify (which streams,
// and repairs through a temporary file). Not restore --to-production: it
// holds files of up to 8 MiB each in memory, so its live heap grows with
// --parallel and could pass the soft limit below, where the collector
// would run without pause. age (v1.3.2, its newest release) allocates a new 64 KiB buffer
// for every chunk it decrypts, so these commands make garbage as fast as
// they read while keeping a small live heap: at Go's default (GOGC=100)
// the collector ran every few MiB, and allocation and collection took
// 13 % of a large private restore's CPU. Collecting when the heap has grown
// by 4 times the live heap instead took 3-13 % less user CPU on 8 x 64 MiB
// in 6 alternating pairs, and less time in 5 of them (median 12 %), for a
// peak RSS of 70 MiB instead of 36 (README, Performance).
const (
	decryptGCPercent = 400
	// The soft memory limit keeps that growth bounded whatever the
	// concurrency: a base for the process plus 1 MiB per file in flight,
	// at least twice what each holds (a copy buffer of up to 256 KiB, age's
	// chunks, the HTTP buffers). A restore --all of 3000 versions peaks at
	// 38 MiB (TestRestoreAllScale).
	decryptGCBase      = 256 << 20
	decryptGCPerWorker = 1 << 20
)

// gcTuning is the GC percent and soft memory limit for a command that
// decrypts with parallel files in flight, given the environment: an
// operator's GOGC or GOMEMLIMIT is left alone (ok false, or limit 0).
func gcTuning(parallel int, getenv func(string) string) (percent int, limit int64, ok bool) {
	if getenv("GOGC") != "" {
		return 0, 0, false
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = decryptGCBase + int64(max(1, parallel))*decryptGCPerWorker
	}
	return decryptGCPercent, limit, true
}

// tuneGCForDecryption applies gcTuning to this process.
func tuneGCForDecryption(parallel int) {
	percent, limit, ok := gcTuning(parallel, os.Getenv)
	if !ok {
		return
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	debug.SetGCPercent(percent)
}
