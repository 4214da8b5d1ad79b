package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPairRowSummarize(t *testing.T) {
	tests := []struct {
		name             string
		ratios           []float64
		median, min, max float64
		conclusive       bool
		verdict          string
	}{
		{"ours faster", []float64{1.2, 1.1, 1.3}, 1.2, 1.1, 1.3, true, "ours faster in every pair"},
		{"peer faster", []float64{0.8, 0.7, 0.9, 0.75}, 0.775, 0.7, 0.9, true, "rclone upload faster in every pair"},
		{"parity counts as ours", []float64{1, 1.2}, 1.1, 1, 1.2, true, "ours faster in every pair"},
		{"straddles 1", []float64{0.95, 1.12, 1.3}, 1.12, 0.95, 1.3, false, "no clear difference (the ratios straddle 1)"},
		{"too noisy", []float64{0.6, 1.0, 1.1}, 1.0, 0.6, 1.1, false, "too noisy to conclude (max/min 1.83 > 1.5)"},
		{"noisy but one-sided", []float64{1.1, 2.0}, 1.55, 1.1, 2.0, false, "ours faster in every pair, but by how much is too noisy to tell (max/min 1.82 > 1.5)"},
		{"noisy, peer ahead", []float64{0.39, 0.53, 0.64}, 0.53, 0.39, 0.64, false, "rclone upload faster in every pair, but by how much is too noisy to tell (max/min 1.64 > 1.5)"},
		{"one pair", []float64{1.4}, 1.4, 1.4, 1.4, false, "one pair: no spread to judge by"},
		{"none", nil, 0, 0, 0, false, "no pairs measured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := PairRow{Peer: "rclone upload", Ratios: tt.ratios}
			r.summarize()
			if r.Pairs != len(tt.ratios) || !near(r.Median, tt.median) || r.Min != tt.min || r.Max != tt.max || r.Conclusive != tt.conclusive || r.Verdict != tt.verdict {
				t.Errorf("summarize(%v) = pairs %d, median %v, min %v, max %v, conclusive %v, %q; want median %v, min %v, max %v, %v, %q",
					tt.ratios, r.Pairs, r.Median, r.Min, r.Max, r.Conclusive, r.Verdict, tt.median, tt.min, tt.max, tt.conclusive, tt.verdict)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestPairRowString(t *testing.T) {
	r := PairRow{Class: "64KiB", Wiki: "public", Ours: "backup", Peer: "rclone upload", Ratios: []float64{1.12, 0.95, 1.30, 1.2, 1.1}}
	r.summarize()
	want := "64KiB public backup vs rclone upload: median 1.12× (min 0.95, max 1.30, 5 pairs): no clear difference (the ratios straddle 1)"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPeerShares(t *testing.T) {
	var files []CorpusFile
	for i := range 1000 {
		files = append(files, CorpusFile{Path: fmt.Sprintf("64KiB/%d.bin", i)})
	}
	for _, n := range []int{1, 2, 5, 17} {
		shares, err := peerShares(files, n)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i, s := range shares {
			total += len(s)
			// Every server gets a share near 1/n (sha256 spreads evenly).
			if want := len(files) / n; len(s) < want*6/10 || len(s) > want*14/10 {
				t.Errorf("n=%d: server %d gets %d files, want about %d", n, i, len(s), want)
			}
		}
		if total != len(files) {
			t.Errorf("n=%d: %d files in the shares, want %d", n, total, len(files))
		}
	}
	// The same file always lands on the same server.
	a, _ := peerShares(files[:10], 5)
	b, _ := peerShares(files[:10], 5)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("shares differ between calls: %v, %v", a, b)
	}
}

func TestPeerTransfers(t *testing.T) {
	for _, tt := range []struct{ workers, servers, want int }{
		{4, 5, 1}, {8, 5, 2}, {10, 5, 2}, {11, 5, 3}, {4, 1, 4}, {1, 5, 1}, {3, 2, 2},
	} {
		if got := peerTransfers(tt.workers, tt.servers); got != tt.want || got*tt.servers < tt.workers {
			t.Errorf("peerTransfers(%d, %d) = %d, want %d (never less concurrency in total)", tt.workers, tt.servers, got, tt.want)
		}
	}
}

func TestDefaultWorkersMatchRclone(t *testing.T) {
	for _, tt := range []struct{ cpus, servers, want int }{
		{2, 5, 5}, {4, 5, 10}, {8, 5, 20}, {2, 1, 4}, {2, 0, 4}, {1, 3, 3}, {16, 3, 33}, {0, 5, 5},
	} {
		got := DefaultWorkers(tt.cpus, tt.servers)
		if got != tt.want {
			t.Errorf("DefaultWorkers(%d, %d) = %d, want %d", tt.cpus, tt.servers, got, tt.want)
		}
		// rclone runs the same number of transfers in total.
		if tt.servers > 0 && peerTransfers(got, tt.servers)*tt.servers != got {
			t.Errorf("DefaultWorkers(%d, %d) = %d: rclone would run %d transfers", tt.cpus, tt.servers, got, peerTransfers(got, tt.servers)*tt.servers)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), tt.in...)
		if got := median(tt.in); got != tt.want || fmt.Sprint(in) != fmt.Sprint(tt.in) {
			t.Errorf("median(%v) = %v, want %v (input unchanged: %v)", in, got, tt.want, tt.in)
		}
	}
	ms := []measure{{Elapsed: 3 * time.Second}, {Elapsed: time.Second}, {Elapsed: 2 * time.Second}, {Elapsed: 4 * time.Second}}
	if got := medianRun(ms).Elapsed; got != 2*time.Second {
		t.Errorf("medianRun = %v, want the lower middle run, 2s", got)
	}
}

// TestInterleave pins the order of the runs: the peer first in even pairs,
// ours first in odd ones, and each side's measurements in round order.
func TestInterleave(t *testing.T) {
	var order []string
	side := func(name string) pairRun {
		return func(_ context.Context, r int) (measure, error) {
			order = append(order, fmt.Sprintf("%s%d", name, r))
			return measure{Elapsed: time.Duration(r+1) * time.Second}, nil
		}
	}
	peers, ours, err := interleave(context.Background(), 4, side("peer"), side("ours"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(order, " "), "peer0 ours0 ours1 peer1 peer2 ours2 ours3 peer3"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if len(peers) != 4 || len(ours) != 4 || peers[3].Elapsed != 4*time.Second || ours[2].Elapsed != 3*time.Second {
		t.Errorf("measurements out of round order: %v, %v", peers, ours)
	}
	// The first failure stops the pairs and is returned.
	boom := errors.New("boom")
	order = nil
	_, _, err = interleave(context.Background(), 3, side("peer"), func(_ context.Context, r int) (measure, error) {
		if r == 1 {
			return measure{}, boom
		}
		return measure{Elapsed: time.Second}, nil
	})
	if !errors.Is(err, boom) || strings.Join(order, " ") != "peer0" {
		t.Errorf("err %v after %v, want boom after peer0", err, order)
	}
}

func TestPairRowFromMeasures(t *testing.T) {
	// 10 files of 1 MiB: the peer takes 2 s, then 1 s; ours 1 s each time.
	peers := []measure{{Elapsed: 2 * time.Second, CPU: time.Second}, {Elapsed: time.Second, CPU: 3 * time.Second}}
	ours := []measure{{Elapsed: time.Second, CPU: 2 * time.Second}, {Elapsed: time.Second, CPU: 2 * time.Second}}
	r := pairRow(Class{10, 1 << 20}, 10, "public", "backup", "rclone upload", peers, ours)
	if len(r.Ratios) != 2 || r.Ratios[0] != 2 || r.Ratios[1] != 1 || r.Median != 1.5 {
		t.Errorf("ratios %v median %v, want [2 1] 1.5", r.Ratios, r.Median)
	}
	if mb := 10.0 * (1 << 20) / 1e6; !near(r.OursMBPerSec, mb) || !near(r.PeerMBPerSec, mb*0.75) || r.OursCPUSecs != 2 || r.PeerCPUSecs != 2 {
		t.Errorf("medians %+v", r)
	}
}
