package bench

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediabackups/mediabackups/sharding"
	"github.com/mediabackups/mediabackups/storage"
)

// DefaultPairs is how many paired runs of ours and the peer the bench makes
// of each comparison unless told otherwise.
const DefaultPairs = 5

// SpreadLimit is the widest max/min of the pairwise ratios from which a
// comparison still concludes: beyond it the runs disagree too much.
const SpreadLimit = 1.5

// rcloneS3Remote names the rclone remote of the i-th MinIO server; it is
// configured through the environment only (RCLONE_CONFIG_<NAME>_*), so no
// rclone.conf is read or written.
func rcloneS3Remote(i int) string { return "MBBENCHS3N" + strconv.Itoa(i) }

// rcloneS3Env configures one rclone S3 remote per MinIO server. It also
// blanks AWS_CA_BUNDLE: with it set, the AWS SDK inside rclone (1.60)
// refuses rclone's own HTTP transport ("LoadCustomCABundleError"), and
// the servers are ours.
func (w *world) rcloneS3Env() []string {
	env := []string{"AWS_CA_BUNDLE="}
	for i, e := range w.svc.Endpoints {
		p := "RCLONE_CONFIG_" + rcloneS3Remote(i) + "_"
		env = append(env, p+"TYPE=s3", p+"PROVIDER=Minio", p+"ENDPOINT="+e,
			p+"ACCESS_KEY_ID="+w.svc.Creds.AccessKey, p+"SECRET_ACCESS_KEY="+w.svc.Creds.SecretKey)
	}
	return env
}

// peerShares splits files over n servers the way the raw ceilings do: by
// the sha256 of the file's path, in the same ranges as sharding.Shard gives
// the backup's objects (which it shards by the sha256 of their content):
// the same spread, with names rclone keeps.
func peerShares(files []CorpusFile, n int) ([][]CorpusFile, error) {
	shares := make([][]CorpusFile, n)
	for _, f := range files {
		sum := sha256.Sum256([]byte(f.Path))
		i, err := sharding.Shard(hex.EncodeToString(sum[:]), n)
		if err != nil {
			return nil, err
		}
		shares[i] = append(shares[i], f)
	}
	return shares, nil
}

// peerTransfers is rclone's --transfers for each of n processes that
// together stand for workers: never less concurrency than ours in total.
func peerTransfers(workers, n int) int { return max(1, (workers+n-1)/n) }

// rclonePeer runs `rclone copy` between a class's corpus directory and the
// MinIO servers, one rclone process per server at once, each with its share
// of the files (peerShares) and peerTransfers of --transfers.
type rclonePeer struct {
	bin       string
	w         *world
	class     Class
	src       string   // the class's corpus directory
	lists     []string // per server: the --files-from-raw list of its share ("" if none)
	counts    []int    // per server: how many files its share holds
	files     int      // all of them
	transfers int      // per process
	log       func(string, ...any)
}

func newRclonePeer(o Options, w *world, cl Class, files []CorpusFile) (*rclonePeer, error) {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		return nil, fmt.Errorf("bench: rclone is the peer backup and restore are compared with (apt install rclone, or --no-peer): %w", err)
	}
	n := len(w.svc.Endpoints)
	shares, err := peerShares(files, n)
	if err != nil {
		return nil, err
	}
	p := &rclonePeer{bin: bin, w: w, class: cl, src: filepath.Join(o.CorpusDir, cl.Name()), lists: make([]string, n),
		counts: make([]int, n), files: len(files), transfers: peerTransfers(o.Workers, n)}
	for i, share := range shares {
		if len(share) == 0 {
			continue
		}
		var b strings.Builder
		for _, f := range share {
			b.WriteString(strings.TrimPrefix(f.Path, cl.Name()+"/") + "\n")
		}
		p.lists[i] = filepath.Join(w.dir, fmt.Sprintf("rclone-%s-%d.list", cl.Name(), i))
		if err := os.WriteFile(p.lists[i], []byte(b.String()), 0o644); err != nil {
			return nil, fmt.Errorf("bench: write rclone's file list: %w", err)
		}
		p.counts[i] = len(share)
	}
	return p, nil
}

// flags are the rclone flags every copy takes: the concurrency, checkers
// that are never the bottleneck on an empty destination, multipart uploads
// (of files above rclone's 200 MiB cutoff) at our --workers, no bucket
// check (the bucket exists), one try (a retry would hide a failure in the
// time), no progress output.
func (p *rclonePeer) flags() []string {
	t := strconv.Itoa(p.transfers)
	return []string{"--transfers", t, "--checkers", strconv.Itoa(max(4, 2*p.transfers)),
		"--s3-upload-concurrency", strconv.Itoa(p.transfers), "--s3-no-check-bucket", "--retries", "1", "--stats", "0"}
}

// prefix is where upload round r of the sequence named seq puts the class.
func (p *rclonePeer) prefix(seq string, r int) string {
	return fmt.Sprintf("rclone/%s/%s-%d", strings.ToLower(p.class.Name()), seq, r)
}

// run starts one rclone per server with a share, waits for all, and
// measures them as one: the wall time of the whole, the sum of their CPU,
// the largest peak RSS.
func (p *rclonePeer) run(ctx context.Context, args func(i int) []string) (measure, error) {
	var (
		wg   sync.WaitGroup
		ms   = make([]measure, len(p.lists))
		errs = make([]error, len(p.lists))
	)
	start := time.Now()
	for i, list := range p.lists {
		if list == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], errs[i] = runChildEnv(ctx, p.w.rcloneS3Env(), p.bin, append(args(i), p.flags()...)...)
		}()
	}
	wg.Wait()
	all := measure{Elapsed: time.Since(start)}
	for _, m := range ms {
		all.CPU += m.CPU
		all.MaxRSS = max(all.MaxRSS, m.MaxRSS)
	}
	return all, errors.Join(errs...)
}

// upload copies the class into prefix on every server, each server its
// share, and checks that every object is there.
func (p *rclonePeer) upload(ctx context.Context, prefix string) (measure, error) {
	m, err := p.run(ctx, func(i int) []string {
		return []string{"copy", p.src, rcloneS3Remote(i) + ":" + p.w.bucket + "/" + prefix, "--files-from-raw", p.lists[i]}
	})
	if err != nil {
		return m, err
	}
	n, err := p.w.countObjects(ctx, prefix+"/")
	if err != nil || n != p.files {
		return m, fmt.Errorf("rclone copy of %s: %d of %d objects under %s (%v): the measurement is void", p.class.Name(), n, p.files, prefix, err)
	}
	return m, nil
}

// download copies what upload put under prefix from every server into dir,
// which must be empty, and checks that every file arrived whole.
func (p *rclonePeer) download(ctx context.Context, prefix, dir string) (measure, error) {
	m, err := p.run(ctx, func(i int) []string {
		return []string{"copy", rcloneS3Remote(i) + ":" + p.w.bucket + "/" + prefix, dir}
	})
	if err != nil {
		return m, err
	}
	entries, err := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if fi, ierr := e.Info(); ierr == nil && fi.Size() == p.class.Size {
			n++
		}
	}
	if err != nil || n != p.files {
		return m, fmt.Errorf("rclone copy of %s from the servers: %d of %d files of %d bytes in %s (%v): the measurement is void", p.class.Name(), n, p.files, p.class.Size, dir, err)
	}
	return m, nil
}

// minioClient is a plain client of one of the world's servers.
func minioClient(endpoint string, creds storage.Credentials) (*minio.Client, error) {
	host, secure, err := hostOf(endpoint)
	if err != nil {
		return nil, err
	}
	cl, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, ""), Secure: secure})
	if err != nil {
		return nil, fmt.Errorf("minio client for %s: %w", endpoint, err)
	}
	return cl, nil
}

// countObjects counts the objects whose keys start with prefix in the
// world's bucket, on every server.
func (w *world) countObjects(ctx context.Context, prefix string) (int, error) {
	n := 0
	for _, e := range w.svc.Endpoints {
		cl, err := minioClient(e, w.svc.Creds)
		if err != nil {
			return n, err
		}
		for obj := range cl.ListObjects(ctx, w.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				return n, fmt.Errorf("list %s%s on %s: %w", w.bucket, prefix, e, obj.Err)
			}
			n++
		}
	}
	return n, nil
}

// removeObjects removes the objects whose keys start with prefix from the
// world's bucket, on every server: what a paired round wrote, so that the
// next round starts from the same state.
func (w *world) removeObjects(ctx context.Context, prefix string) error {
	if prefix == "" || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("bench: refuse to remove objects under %q", prefix)
	}
	for _, e := range w.svc.Endpoints {
		cl, err := minioClient(e, w.svc.Creds)
		if err != nil {
			return err
		}
		objs := cl.ListObjects(ctx, w.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
		for res := range cl.RemoveObjects(ctx, w.bucket, objs, minio.RemoveObjectsOptions{}) {
			if res.Err != nil {
				return fmt.Errorf("remove %s%s on %s: %w", w.bucket, prefix, e, res.Err)
			}
		}
	}
	return nil
}

// PairRow compares one of our operations with the peer doing the same
// work, from Pairs runs of each, interleaved: pair i runs the peer first
// when i is even, ours first when odd, each from the same state.
type PairRow struct {
	Class string `json:"class"`
	Wiki  string `json:"wiki"` // public or private
	Ours  string `json:"ours"` // backup or restore
	Peer  string `json:"peer"` // "rclone upload" or "rclone download"
	Pairs int    `json:"pairs"`
	// Ratios are our MB/s over the peer's in each pair, in run order.
	Ratios []float64 `json:"ratios"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	// The medians over the pairs of MB/s and of CPU seconds (user +
	// system, from rusage: our child; the sum of the rclone processes).
	OursMBPerSec float64 `json:"ours_mb_per_s"`
	PeerMBPerSec float64 `json:"peer_mb_per_s"`
	OursCPUSecs  float64 `json:"ours_cpu_s"`
	PeerCPUSecs  float64 `json:"peer_cpu_s"`
	// Conclusive is false when the ratios spread too widely (Max/Min
	// above SpreadLimit) or lie on both sides of 1: then the median is not
	// a figure to quote. Verdict says who was faster when every pair
	// agrees (even if by how much is too noisy to tell), or why nothing
	// can be concluded.
	Conclusive bool   `json:"conclusive"`
	Verdict    string `json:"verdict"`
}

// String is the row in one line, e.g. "64KiB public backup vs rclone
// upload: median 1.12× (min 0.95, max 1.30, 5 pairs): no clear difference".
func (r PairRow) String() string {
	return fmt.Sprintf("%s %s %s vs %s: median %.2f× (min %.2f, max %.2f, %d pairs): %s",
		r.Class, r.Wiki, r.Ours, r.Peer, r.Median, r.Min, r.Max, r.Pairs, r.Verdict)
}

// summarize fills the ratio statistics and the verdict of r from r.Ratios
// (ours over the peer, so 1 is parity).
func (r *PairRow) summarize() {
	r.Pairs = len(r.Ratios)
	if r.Pairs == 0 {
		r.Verdict = "no pairs measured"
		return
	}
	r.Median, r.Min, r.Max = median(r.Ratios), slices.Min(r.Ratios), slices.Max(r.Ratios)
	direction := "ours faster in every pair"
	if r.Max < 1 {
		direction = r.Peer + " faster in every pair"
	}
	oneSided := r.Min >= 1 || r.Max < 1
	switch spread := r.Max / r.Min; {
	case r.Pairs < 2:
		r.Verdict = "one pair: no spread to judge by"
	case spread > SpreadLimit && oneSided:
		r.Verdict = fmt.Sprintf("%s, but by how much is too noisy to tell (max/min %.2f > %.1f)", direction, spread, SpreadLimit)
	case spread > SpreadLimit:
		r.Verdict = fmt.Sprintf("too noisy to conclude (max/min %.2f > %.1f)", spread, SpreadLimit)
	case !oneSided:
		r.Verdict = "no clear difference (the ratios straddle 1)"
	default:
		r.Conclusive, r.Verdict = true, direction
	}
}

// median is the middle value of xs (the mean of the two middle ones for
// an even count); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// peerFirst says whether pair i runs the peer before ours: the order
// alternates, so that neither side always runs on a warmer (or more
// loaded) machine.
func peerFirst(i int) bool { return i%2 == 0 }

// pairRun is one side of a pair: it runs round r and measures it. Setting
// up the round's state and checking its outcome are its own business, but
// only the measured run may be timed.
type pairRun func(ctx context.Context, r int) (measure, error)

// interleave runs n pairs of peer and ours, alternating which goes first,
// and returns both sides' measurements in round order.
func interleave(ctx context.Context, n int, peer, ours pairRun) (peers, ourMs []measure, err error) {
	for r := range n {
		sides := []struct {
			run pairRun
			out *[]measure
		}{{peer, &peers}, {ours, &ourMs}}
		if !peerFirst(r) {
			slices.Reverse(sides)
		}
		for _, s := range sides {
			m, err := s.run(ctx, r)
			if err != nil {
				return peers, ourMs, err
			}
			*s.out = append(*s.out, m)
		}
	}
	return peers, ourMs, nil
}

// pairRow compares the measurements of n pairs over the same bytes.
func pairRow(cl Class, files int, wiki, ours, peer string, peers, ourMs []measure) PairRow {
	r := PairRow{Class: cl.Name(), Wiki: wiki, Ours: ours, Peer: peer}
	bytes := float64(files) * float64(cl.Size)
	var oMB, pMB, oCPU, pCPU []float64
	for i := range min(len(peers), len(ourMs)) {
		o, p := ourMs[i].Elapsed.Seconds(), peers[i].Elapsed.Seconds()
		r.Ratios = append(r.Ratios, p/o) // same bytes: MB/s ours over peer
		oMB, pMB = append(oMB, bytes/1e6/o), append(pMB, bytes/1e6/p)
		oCPU, pCPU = append(oCPU, ourMs[i].CPU.Seconds()), append(pCPU, peers[i].CPU.Seconds())
	}
	r.OursMBPerSec, r.PeerMBPerSec, r.OursCPUSecs, r.PeerCPUSecs = median(oMB), median(pMB), median(oCPU), median(pCPU)
	r.summarize()
	return r
}

// medianRun is the run of median wall time among ms (the lower middle one
// for an even count): the one the main table shows.
func medianRun(ms []measure) measure {
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b measure) int { return cmp.Compare(a.Elapsed, b.Elapsed) })
	return s[(len(s)-1)/2]
}
