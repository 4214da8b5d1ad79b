package cli

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mediabackups/mediabackups/bench"
	"github.com/mediabackups/mediabackups/bench/synthwiki"
	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/storage"
)

// BenchOptions configures `bench`.
type BenchOptions struct {
	F             *Factory
	Classes       []string
	Huge          bool
	Workers       int
	DSN           string
	Endpoints     []string
	AccessKey     string
	SecretKey     string // from --secret-key-file or the environment
	SecretKeyFile string
	Dir           string
	CorpusDir     string
	Keep          bool
	Profile       string
	Wikis         []string
	// Pairs is how many interleaved pairs of (rclone, ours) each
	// comparison with rclone runs; NoPeer skips rclone.
	Pairs  int
	NoPeer bool

	MetaRows int
	MetaOnly bool
	NoMeta   bool

	AuditObjects  int
	AuditOnly     bool
	AuditLegacy   bool
	AuditParallel int
	// The audit benchmark and the restore into production (unless
	// NoProduction) are measured in this Swift; the restore against rclone.
	SwiftAuthURL string
	SwiftUser    string
	SwiftKeyFile string
	swiftKey     string // from --swift-key-file or the environment
	NoProduction bool

	// The scale runs (run instead of the throughput bench).
	ScaleVersions     []int
	ScaleUpdateEvents int
	ScaleSeed         int
	ScaleProcesses    []int
	ScaleClass        string
}

// peerPairs is bench.Options.Pairs: 0 without the peer.
func (o *BenchOptions) peerPairs() int {
	if o.NoPeer {
		return 0
	}
	return o.Pairs
}

// scale reports whether a scale run was asked for.
func (o *BenchOptions) scale() bool { return len(o.ScaleVersions) > 0 || len(o.ScaleProcesses) > 0 }

// Environment variables testenv/up.sh writes; the bench defaults to them.
const (
	envBenchDSN       = "MEDIABACKUPS_TEST_MARIADB_DSN"
	envBenchEndpoints = "MEDIABACKUPS_TEST_MINIO_ENDPOINTS"
	envBenchAccess    = "MEDIABACKUPS_TEST_MINIO_ACCESS_KEY"
	envBenchSecret    = "MEDIABACKUPS_TEST_MINIO_SECRET_KEY"
	envBenchSwiftURL  = "MEDIABACKUPS_TEST_SWIFT_AUTH_URL"
	envBenchSwiftUser = "MEDIABACKUPS_TEST_SWIFT_USER"
	envBenchSwiftKey  = "MEDIABACKUPS_TEST_SWIFT_KEY"
)

func newBenchCmd(f *Factory) *cobra.Command {
	return newBenchCmdRun(f, nil)
}

func newBenchCmdRun(f *Factory, runF func(context.Context, *BenchOptions) error) *cobra.Command {
	opts := &BenchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "bench [--class COUNTxSIZE]... [--workers N] [--huge] [--meta-rows N] | --scale-versions N,... | --scale-processes N,...",
		Short: "Measure backup, restore and verify against the raw MinIO ceiling and rclone, and the metadata at scale",
		Long: `Measure how fast this machine backs up and restores, against a ceiling
measured in the same run, and how the metadata store scales. It needs a
MariaDB account that may create databases and the MinIO servers; by default
it uses the test services of testenv/up.sh (source /tmp/mediabackups-test/env).

The run:
  1. generates a corpus of random files (--class, default 2000x64KiB,
     500x1MiB, 8x64MiB; --huge adds 1x4GiB) and serves it from an HTTP server
     in a separate process, as "production";
  2. creates a database mbbench_* and a bucket mbbench-* on every server and
     registers every file as pending on a public and on a private wiki;
  3. for each size class, each as a child process at the same concurrency:
     the raw ceiling (the same bytes PUT with minio-go into the same
     servers), 'mediabackups backup' of the public and of the private wiki,
     then the raw GET ceiling, the restore of both, and 'mediabackups
     verify' of both (every object read back and checked, no rate limit);
     then, in Swift, 'rclone copy' of the class's files (the ceiling:
     plain files, one PUT each) and 'restore --to-production --execute' of
     both wikis (read, decrypt, check, look at production, write with
     MediaWiki's metadata, read back); --no-production skips these, and
     they need rclone;
  4. unless --no-peer, compares backup and restore with 'rclone copy' (the
     peer) into and out of the same MinIO servers (one rclone per server,
     each with the files of its sha256 range and at least as much
     concurrency as ours in total; configured only through RCLONE_CONFIG_*
     variables): --pairs pairs per wiki and class, the order alternating,
     each from the same state; it reports the median of the pairwise
     ratios (our MB/s over rclone's) with the min and max, the CPU seconds
     of both, and says when the spread is too wide to conclude (max/min >
     1.5) or the ratios straddle 1. The backup and restore rows then show
     the median of their paired runs;
  5. loads --meta-rows synthetic file versions through the inventory's code
     path, gives the backed-up half their backups rows, and times claims,
     lookups, the audit's walk and verify's walk, with their EXPLAIN plans
     and the size of the tables and of each index;
  6. with --audit-objects N: makes N small objects in the 256 shard
     containers of a synthetic wiki in a real Swift (--swift-*, default the
     test Swift), registers their versions, and times 'mediabackups audit'
     of it (the first audit, then one of the unchanged wiki; --audit-legacy
     adds a first audit of versions without md5s, a HEAD each), with a
     projection for Commons' 110 M objects; the containers are removed;
  7. prints files/s, MB/s, the child's peak RSS and the ratio to the ceiling
     as a table (or JSON with --json), and removes the database, bucket and
     files (unless --keep).

Each size class also times the backup's hashing pass on its files, with
and without md5 (rows "hash sha1+sha256" and "hash +md5", one core): the
cost of recording the md5 that the audit compares Swift's listings with.

Scale runs (instead of the above; for sizing a Commons deployment):
  --scale-versions 1000000,3000000,10000000
      for each size, serves a synthetic MediaWiki API of about that many file
      versions (generated from --scale-seed, never stored: Commons itself
      cannot run here) and runs 'mediabackups inventory' against it into a
      new database: rows/s, the inventory's peak RSS and CPU, the API's and
      MariaDB's CPU, and the files table's size per million versions; then a
      projection to Commons' 110 M versions. After the first size,
      'mediabackups update' catches up --scale-update-events log events
      (uploads, overwrites, reverts, deletions, renames).
  --scale-processes 1,2,4,8
      backs up the same pending files (--scale-class, default 4000x64KiB,
      from the production server) with that many 'mediabackups backup'
      processes at once (--workers each): files/s per count, where it
      flattens, and what bound it: the CPU of every process (the backups,
      MariaDB, MinIO, production), the machine's busy share and InnoDB's
      row lock waits.

A benchmark reports; it never fails on timing. It fails if a backup or a
restore does not process every file, so no speed is shown for work not done.
Check 'df -h' first: the corpus takes about 1.2 GiB (5.2 GiB with --huge) in
--dir, and the servers receive it three times (raw, public, private), plus
rclone's copy with the peer (each paired round's copy is removed after it).
A class of 1000 files or more keeps its restored and downloaded copies in
--dir until the class is done (2.7 GiB for 2000 x 64 KiB with 5 pairs):
removing thousands of files right before the next run made that run pay
for them in ext4's inode allocation.`,
		Example: `  source /tmp/mediabackups-test/env
  mediabackups bench                                  # the README's Performance table
  mediabackups bench --pairs 9                        # 9 pairs against rclone instead of 5
  mediabackups bench --no-peer --no-production        # the ceilings only, faster
  mediabackups bench --class 1x4GiB --no-meta         # only the 4 GiB file
  mediabackups bench --meta-only --meta-rows 10000000 # metadata at 10 M rows
  mediabackups bench --audit-only --audit-objects 100000 --audit-legacy
  mediabackups bench --scale-versions 1000000,3000000,10000000 --scale-update-events 1000000
  mediabackups bench --scale-processes 1,2,4,8 --workers 4
  mediabackups bench --json > bench.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.MetaOnly && opts.NoMeta {
				return withCode(ExitUsage, fmt.Errorf("--meta-only and --no-meta exclude each other"))
			}
			if opts.AuditOnly && opts.MetaOnly {
				return withCode(ExitUsage, fmt.Errorf("--audit-only and --meta-only exclude each other"))
			}
			if opts.AuditOnly && opts.AuditObjects == 0 {
				opts.AuditObjects = 100_000
			}
			if opts.scale() && (opts.MetaOnly || len(opts.Classes) > 0 || opts.Huge) {
				return withCode(ExitUsage, fmt.Errorf("--scale-versions and --scale-processes run instead of the throughput and metadata bench: drop --meta-only, --class and --huge"))
			}
			if opts.NoPeer && cmd.Flags().Changed("pairs") {
				return withCode(ExitUsage, fmt.Errorf("--pairs sets the runs against rclone, which --no-peer skips: give one of them"))
			}
			if cmd.Flags().Changed("scale-update-events") && len(opts.ScaleVersions) == 0 {
				return withCode(ExitUsage, fmt.Errorf("--scale-update-events runs after an inventory: give --scale-versions too"))
			}
			if cmd.Flags().Changed("scale-class") && len(opts.ScaleProcesses) == 0 {
				return withCode(ExitUsage, fmt.Errorf("--scale-class is the corpus of --scale-processes: give --scale-processes too"))
			}
			if _, err := bench.ParseClass(opts.ScaleClass); err != nil {
				return withCode(ExitUsage, fmt.Errorf("--scale-class: %w", err))
			}
			if needSwift := opts.AuditObjects > 0 || (!opts.NoProduction && !opts.MetaOnly && !opts.scale()); needSwift {
				if opts.SwiftKeyFile != "" {
					k, err := config.ReadSecret(opts.SwiftKeyFile)
					if err != nil {
						return withCode(ExitUsage, fmt.Errorf("--swift-key-file: %w", err))
					}
					opts.swiftKey = k.Reveal()
				} else {
					opts.swiftKey = os.Getenv(envBenchSwiftKey)
				}
				if opts.SwiftAuthURL == "" || opts.SwiftUser == "" || opts.swiftKey == "" {
					return withCode(ExitUsage, fmt.Errorf("the audit bench and the restore into production are measured in Swift: give --swift-auth-url, --swift-user and --swift-key-file (or $%s, $%s, $%s), or --no-production without --audit-objects",
						envBenchSwiftURL, envBenchSwiftUser, envBenchSwiftKey))
				}
			}
			if opts.SecretKeyFile != "" {
				s, err := config.ReadSecret(opts.SecretKeyFile)
				if err != nil {
					return withCode(ExitUsage, fmt.Errorf("--secret-key-file: %w", err))
				}
				opts.SecretKey = s.Reveal()
			} else {
				opts.SecretKey = os.Getenv(envBenchSecret)
			}
			if opts.DSN == "" || len(opts.Endpoints) == 0 || opts.AccessKey == "" || opts.SecretKey == "" {
				return withCode(ExitUsage, fmt.Errorf("bench needs --dsn, --endpoints, --access-key and --secret-key-file (or $%s, $%s, $%s, $%s): source /tmp/mediabackups-test/env",
					envBenchDSN, envBenchEndpoints, envBenchAccess, envBenchSecret))
			}
			for _, w := range opts.Wikis {
				if w != "public" && w != "private" {
					return withCode(ExitUsage, fmt.Errorf("--wikis: %q is not public or private", w))
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return benchRun(cmd.Context(), opts)
		},
	}
	defEndpoints := []string(nil)
	if e := os.Getenv(envBenchEndpoints); e != "" {
		defEndpoints = strings.Split(e, ",")
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Classes, "class", nil, "size class COUNTxSIZE, repeatable (default 2000x64KiB,500x1MiB,8x64MiB)")
	fl.BoolVar(&opts.Huge, "huge", false, "add one 4 GiB file (checks bounded memory)")
	intFlag(fl, &opts.Workers, "workers", 0, 1, maxWorkers, "concurrency of backup, restore, the raw ceilings and rclone in total (default 2 × CPUs, rounded up to a multiple of the servers, so that rclone's one process per server runs as many transfers as we do)")
	fl.StringVar(&opts.DSN, "dsn", os.Getenv(envBenchDSN), "MariaDB DSN of an account that may create databases (default $"+envBenchDSN+")")
	fl.StringSliceVar(&opts.Endpoints, "endpoints", defEndpoints, "MinIO endpoints in shard order (default $"+envBenchEndpoints+")")
	fl.StringVar(&opts.AccessKey, "access-key", os.Getenv(envBenchAccess), "MinIO access key (default $"+envBenchAccess+")")
	fl.StringVar(&opts.SecretKeyFile, "secret-key-file", "", "file holding the MinIO secret key (default $"+envBenchSecret+")")
	fl.StringVar(&opts.Dir, "dir", "", "work directory: corpus, config, restored files (default a new one under $TMPDIR)")
	fl.StringVar(&opts.CorpusDir, "corpus-dir", "", "where the corpus is generated (default DIR/corpus)")
	fl.BoolVar(&opts.Keep, "keep", false, "keep the database, bucket and work directory")
	fl.StringVar(&opts.Profile, "profile", "", "write CPU and heap profiles of every backup child into this directory")
	fl.StringSliceVar(&opts.Wikis, "wikis", []string{"public", "private"}, "wiki types to measure")
	intFlag(fl, &opts.Pairs, "pairs", bench.DefaultPairs, 2, 100, "interleaved pairs of each comparison with rclone (backup vs rclone upload, restore vs rclone download)")
	fl.BoolVar(&opts.NoPeer, "no-peer", false, "do not compare with rclone (--pairs runs of each are most of the bench's time)")
	intFlag(fl, &opts.MetaRows, "meta-rows", 1_000_000, 0, 100_000_000, "synthetic file versions for the metadata scale benchmark (10000000 for 10 M; 0 skips it)")
	fl.BoolVar(&opts.MetaOnly, "meta-only", false, "run only the metadata scale benchmark")
	fl.BoolVar(&opts.NoMeta, "no-meta", false, "skip the metadata scale benchmark")
	intFlag(fl, &opts.AuditObjects, "audit-objects", 0, 0, 100_000_000, "objects for the audit benchmark in a real Swift (0: skip it; 100000 with --audit-only)")
	fl.BoolVar(&opts.AuditOnly, "audit-only", false, "run only the audit benchmark")
	fl.BoolVar(&opts.AuditLegacy, "audit-legacy", false, "also time the first audit of versions without md5s (a HEAD each)")
	intFlag(fl, &opts.AuditParallel, "audit-parallel", 0, 0, maxWorkers, "audit --parallel of the audit benchmark (default the audit's)")
	fl.StringVar(&opts.SwiftAuthURL, "swift-auth-url", os.Getenv(envBenchSwiftURL), "Swift auth URL for the audit benchmark and the restore into production (default $"+envBenchSwiftURL+")")
	fl.StringVar(&opts.SwiftUser, "swift-user", os.Getenv(envBenchSwiftUser), "Swift user (default $"+envBenchSwiftUser+")")
	fl.StringVar(&opts.SwiftKeyFile, "swift-key-file", "", "file holding the Swift key (default $"+envBenchSwiftKey+")")
	fl.BoolVar(&opts.NoProduction, "no-production", false, "do not measure the restore into production (Swift and rclone)")
	intsFlag(fl, &opts.ScaleVersions, "scale-versions", 1, 1_000_000_000, "inventory a synthetic wiki of each of these sizes in file versions, e.g. 1000000,3000000,10000000")
	intFlag(fl, &opts.ScaleUpdateEvents, "scale-update-events", 1_000_000, 0, 1_000_000_000, "log events update catches up after the first --scale-versions inventory (0: none)")
	intFlag(fl, &opts.ScaleSeed, "scale-seed", 1, 0, math.MaxInt32, "seed of the synthetic wiki")
	intsFlag(fl, &opts.ScaleProcesses, "scale-processes", 1, maxWorkers, "back up the same pending files with each of these numbers of processes at once, e.g. 1,2,4,8")
	fl.StringVar(&opts.ScaleClass, "scale-class", bench.DefaultHorizontalClass.String(), "the corpus of --scale-processes, COUNTxSIZE")
	cmd.AddCommand(newBenchServeCmd(), newBenchRawCmd(), newBenchSynthWikiCmd())
	return cmd
}

func benchRun(ctx context.Context, opts *BenchOptions) error {
	f := opts.F
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find this executable to run its children: %w", err)
	}
	classes := []bench.Class{}
	for _, c := range opts.Classes {
		cl, err := bench.ParseClass(c)
		if err != nil {
			return withCode(ExitUsage, fmt.Errorf("--class: %w", err))
		}
		classes = append(classes, cl)
	}
	if len(classes) == 0 {
		classes = append(classes, bench.DefaultClasses...)
	}
	if opts.Huge && !slices.Contains(classes, bench.HugeClass) {
		classes = append(classes, bench.HugeClass)
	}
	svc := bench.Services{DSN: opts.DSN, Endpoints: opts.Endpoints, Creds: storage.Credentials{AccessKey: opts.AccessKey, SecretKey: opts.SecretKey}}
	if opts.Workers == 0 {
		opts.Workers = bench.DefaultWorkers(runtime.NumCPU(), len(svc.Endpoints))
	}
	if !opts.NoProduction && !opts.MetaOnly && !opts.scale() {
		svc.Swift = &bench.Swift{AuthURL: opts.SwiftAuthURL, User: opts.SwiftUser, Key: opts.swiftKey}
	}
	if opts.Profile != "" {
		if err := os.MkdirAll(opts.Profile, 0o755); err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
	}
	rep := bench.NewReport(opts.Workers)
	if opts.scale() {
		if err := benchScale(ctx, opts, bin, svc, rep); err != nil {
			if rep.Scale != nil || rep.Horizontal != nil {
				rep.WriteTable(f.IO.ErrOut)
			}
			return err
		}
		rep.Load[1] = bench.LoadAverage()
		if f.JSON {
			return rep.WriteJSON(f.IO.Out)
		}
		return rep.WriteTable(f.IO.Out)
	}
	if !opts.MetaOnly && !opts.AuditOnly {
		rep, err = bench.Run(ctx, bench.Options{
			Binary: bin, Services: svc, Classes: classes, Workers: opts.Workers, Dir: opts.Dir,
			CorpusDir: opts.CorpusDir, Keep: opts.Keep, ProfileDir: opts.Profile, Wikis: opts.Wikis, Pairs: opts.peerPairs(), Log: f.IO.ErrOut,
		})
		if err != nil {
			if rep != nil && len(rep.Rows) > 0 {
				rep.WriteTable(f.IO.ErrOut)
			}
			return err
		}
	}
	if rep == nil {
		rep = bench.NewReport(opts.Workers)
	}
	if !opts.NoMeta && !opts.AuditOnly && opts.MetaRows > 0 {
		fmt.Fprintf(f.IO.ErrOut, "metadata: loading %d file versions ...\n", opts.MetaRows)
		if rep.Metadata, err = bench.MetadataScale(ctx, bench.ScaleOptions{Services: svc, Rows: opts.MetaRows, Keep: opts.Keep, Log: f.IO.ErrOut}); err != nil {
			return err
		}
	}
	if opts.AuditObjects > 0 {
		if rep.Audit, err = bench.AuditScale(ctx, bench.AuditScaleOptions{Binary: bin, Services: svc,
			Swift:   bench.SwiftAccess{AuthURL: opts.SwiftAuthURL, User: opts.SwiftUser, Key: opts.swiftKey},
			Objects: opts.AuditObjects, Parallel: opts.AuditParallel, Legacy: opts.AuditLegacy, Keep: opts.Keep, Log: f.IO.ErrOut}); err != nil {
			return err
		}
	}
	rep.Load[1] = bench.LoadAverage()
	if f.JSON {
		return rep.WriteJSON(f.IO.Out)
	}
	return rep.WriteTable(f.IO.Out)
}

// benchScale runs the scale runs into rep.
func benchScale(ctx context.Context, opts *BenchOptions, bin string, svc bench.Services, rep *bench.Report) error {
	log := opts.F.IO.ErrOut
	if len(opts.ScaleVersions) > 0 {
		s, err := bench.WikiScale(ctx, bench.WikiScaleOptions{Binary: bin, Services: svc, Versions: int64s(opts.ScaleVersions),
			UpdateEvents: int64(opts.ScaleUpdateEvents), Seed: uint64(opts.ScaleSeed), Dir: opts.Dir, Keep: opts.Keep, ProfileDir: opts.Profile, Log: log})
		rep.Scale = s
		if err != nil {
			return err
		}
	}
	if len(opts.ScaleProcesses) > 0 {
		class, _ := bench.ParseClass(opts.ScaleClass) // checked with the flags
		h, err := bench.Horizontal(ctx, bench.HorizontalOptions{Binary: bin, Services: svc, Processes: opts.ScaleProcesses,
			Class: class, Workers: opts.Workers, Dir: opts.Dir, CorpusDir: opts.CorpusDir, Keep: opts.Keep, Log: log}, runtime.NumCPU())
		rep.Horizontal = h
		if err != nil {
			return err
		}
	}
	return nil
}

func int64s(ns []int) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = int64(n)
	}
	return out
}

// newBenchSynthWikiCmd serves the synthetic wiki of the scale runs, as a child.
func newBenchSynthWikiCmd() *cobra.Command {
	var (
		addr              string
		files, tail, seed int
	)
	cmd := &cobra.Command{
		Use:    "synthwiki --files N [--tail N] [--seed N] [--addr HOST:PORT]",
		Short:  "Serve a synthetic MediaWiki API (the scale runs' wiki; see bench/synthwiki)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := synthwiki.Config{Files: int64(files), Tail: int64(tail), Seed: uint64(seed)}
			return bench.ServeSynthWiki(cmd.Context(), cfg, addr, cmd.OutOrStdout())
		},
	}
	intFlag(cmd.Flags(), &files, "files", 0, 0, 1_000_000_000, "files of the base history")
	intFlag(cmd.Flags(), &tail, "tail", 0, 0, 1_000_000_000, "log events after the base history")
	intFlag(cmd.Flags(), &seed, "seed", 1, 0, math.MaxInt32, "seed")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address")
	cmd.MarkFlagRequired("files")
	return cmd
}

// newBenchServeCmd is the bench's "production" file server, run as a child.
func newBenchServeCmd() *cobra.Command {
	var dir, addr string
	cmd := &cobra.Command{
		Use:    "serve --dir DIR [--addr HOST:PORT]",
		Short:  "Serve a directory over HTTP (the bench's production server)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.Serve(cmd.Context(), dir, addr, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to serve")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address")
	cmd.MarkFlagRequired("dir")
	return cmd
}

// newBenchRawCmd is the raw ceiling runner, run as a child.
func newBenchRawCmd() *cobra.Command {
	var o bench.RawOptions
	var secretFile string
	cmd := &cobra.Command{
		Use:    "raw --op put|get|move --corpus DIR --class NAME ...",
		Short:  "PUT, GET or move one corpus class with plain minio-go (the bench's ceiling)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := config.ReadSecret(secretFile)
			if err != nil {
				return withCode(ExitUsage, fmt.Errorf("--secret-key-file: %w", err))
			}
			o.Creds.SecretKey = s.Reveal()
			st, err := bench.RawTransfer(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "{\"files\": %d, \"bytes\": %d}\n", st.Files, st.Bytes)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Op, "op", "", "put, get or move")
	fl.StringVar(&o.CorpusDir, "corpus", "", "corpus directory")
	fl.StringVar(&o.Class, "class", "", "size class name, e.g. 64KiB")
	fl.StringVar(&o.Bucket, "bucket", "", "bucket")
	fl.StringSliceVar(&o.Endpoints, "endpoints", nil, "MinIO endpoints")
	fl.StringVar(&o.Creds.AccessKey, "access-key", "", "access key")
	fl.StringVar(&secretFile, "secret-key-file", "", "file holding the secret key")
	intFlag(fl, &o.Workers, "workers", 4, 1, maxWorkers, "concurrency")
	fl.StringVar(&o.OutDir, "out", "", "directory for get")
	for _, n := range []string{"op", "corpus", "class", "bucket", "endpoints", "access-key", "secret-key-file"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}
