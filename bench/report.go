package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as aligned text tables (Markdown pipes, so
// it pastes into the README as is).
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "host %s, %d CPUs, %d workers, %s; load average %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end\n\n",
		r.Host, r.CPUs, r.Workers, r.Started.Format(time.RFC3339), r.Load[0][0], r.Load[0][1], r.Load[0][2], r.Load[1][0], r.Load[1][1], r.Load[1][2])
	if len(r.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| class\t| wiki\t| op\t| files\t| files/s\t| MB/s\t| peak RSS MiB\t| CPU s\t| ratio\t|")
		fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
		for _, x := range r.Rows {
			wiki, ratio := x.Wiki, ""
			if wiki == "" {
				wiki = "-"
			}
			if x.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f", x.Ratio)
			}
			fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %d\t| %.1f\t| %.1f\t| %.0f\t| %.2f\t| %s\t|\n",
				x.Class, wiki, x.Op, x.Files, x.FilesPerSec, x.MBPerSec, x.PeakRSSMiB, x.CPUSecs, ratio)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, x := range r.Rows {
			if x.Note != "" {
				fmt.Fprintf(w, "%s %s %s: %s\n", x.Class, x.Wiki, x.Op, x.Note)
			}
		}
	}
	if len(r.Peer) > 0 {
		if len(r.Rows) > 0 {
			fmt.Fprintln(w)
		}
		if err := writePeerTable(w, r.Peer); err != nil {
			return err
		}
	}
	sections := []interface{ WriteTable(io.Writer) error }{}
	if r.Scale != nil {
		sections = append(sections, r.Scale)
	}
	if r.Horizontal != nil {
		sections = append(sections, r.Horizontal)
	}
	if r.Metadata != nil {
		sections = append(sections, r.Metadata)
	}
	if r.Audit != nil {
		sections = append(sections, r.Audit)
	}
	for i, s := range sections {
		if i > 0 || len(r.Rows) > 0 || len(r.Peer) > 0 {
			fmt.Fprintln(w)
		}

		if err := s.WriteTable(w); err != nil {
			return err
		}
	}
	return nil
}

// writePeerTable writes the paired comparisons with rclone: the ratio of
// our MB/s to rclone's in each pair, summarized, and the medians of both
// sides' MB/s and CPU seconds.
func writePeerTable(w io.Writer, rows []PairRow) error {
	fmt.Fprintf(w, "ours against rclone, in interleaved pairs (ratio: our MB/s over rclone's in the same pair; max/min above %.1f is too noisy to conclude):\n\n", SpreadLimit)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| class\t| wiki\t| ours vs peer\t| pairs\t| median\t| min\t| max\t| our MB/s\t| rclone MB/s\t| our CPU s\t| rclone CPU s\t| verdict\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, x := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s vs %s\t| %d\t| %.2f×\t| %.2f\t| %.2f\t| %.1f\t| %.1f\t| %.2f\t| %.2f\t| %s\t|\n", x.Class, x.Wiki, x.Ours, x.Peer,
			x.Pairs, x.Median, x.Min, x.Max, x.OursMBPerSec, x.PeerMBPerSec, x.OursCPUSecs, x.PeerCPUSecs, x.Verdict)
	}
	return tw.Flush()
}

// WriteTable writes the inventory and update measurements, and the
// projection to Commons' 110 M versions from the largest inventory.
func (s *WikiScaleReport) WriteTable(w io.Writer) error {
	cpu := func(v float64) string { return fmtCPU(v, true) }
	fmt.Fprintf(w, "inventory of a synthetic wiki (seed %d):\n\n", s.Seed)
	fmt.Fprintln(w, "| versions | files | seconds | rows/s | rows per CPU s | peak RSS MiB | CPU s | API requests | API CPU s | MariaDB CPU s | machine busy | files data MiB/M | files index MiB/M |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range s.Inventories {
		d, i := r.Table.PerMillion()
		fmt.Fprintf(w, "| %d | %d | %.0f | %.0f | %.0f | %.0f | %.1f | %d | %s | %s | %.0f%% | %.0f | %.0f |\n", r.Versions, r.Files, r.Seconds,
			r.RowsPerSec, r.RowsPerCPUSec, r.PeakRSSMiB, r.CPUSecs, r.APIRequests, cpu(r.APICPUSecs), cpu(r.MariaDBCPUSecs), 100*r.MachineBusy, d, i)
	}
	if u := s.Update; u != nil {
		fmt.Fprintf(w, "\nupdate catching up the log after the inventory of %d versions:\n\n", u.Versions)
		fmt.Fprintln(w, "| events | seconds | events/s | events per CPU s | peak RSS MiB | CPU s | API requests | API CPU s | MariaDB CPU s | machine busy | added | changed | renamed |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.0f | %.0f | %.1f | %d | %s | %s | %.0f%% | %d | %d | %d |\n", u.Events, u.Seconds, u.EventsPerSec,
			u.EventsPerCPUSec, u.PeakRSSMiB, u.CPUSecs, u.APIRequests, cpu(u.APICPUSecs), cpu(u.MariaDBCPUSecs), 100*u.MachineBusy, u.Added, u.Changed, u.Renamed)
	}
	if p := s.Projection(CommonsVersions); p != nil {
		fmt.Fprintf(w, "\n%s\n", p)
	}
	return nil
}

// CommonsVersions is about how many file versions Wikimedia Commons has.
const CommonsVersions = 110_000_000

// Projection is an inventory of a wiki of Versions versions, extrapolated
// from the largest one measured.
type Projection struct {
	Versions   int64   `json:"versions"`
	From       int64   `json:"from_versions"`
	Hours      float64 `json:"hours"`
	DataGiB    float64 `json:"data_gib"`
	IndexGiB   float64 `json:"index_gib"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// RateChange is rows/s of the largest run over that of the smallest.
	RateChange float64 `json:"rate_change"`
	// APIRequests is how many api.php requests the inventory would make;
	// APIMsPerRequest is the measured inventory's wall time per request:
	// a real API slower than that adds its extra latency per request.
	APIRequests     int64   `json:"api_requests"`
	APIMsPerRequest float64 `json:"wall_ms_per_api_request"`
	// CPUHours is the time at the measured rows per CPU second: the
	// inventory's time where it, the API and MariaDB each get a core when
	// they need one (0: unknown).
	CPUHours float64 `json:"cpu_hours"`
}

// Projection extrapolates the largest inventory to versions, assuming
// rows/s stays what it was at the largest size and the table grows by the
// same MiB per million rows; nil without measurements.
func (s *WikiScaleReport) Projection(versions int64) *Projection {
	if len(s.Inventories) == 0 {
		return nil
	}
	small, big := s.Inventories[0], s.Inventories[0]
	for _, r := range s.Inventories {
		if r.Versions > big.Versions {
			big = r
		}
		if r.Versions < small.Versions {
			small = r
		}
	}
	d, i := big.Table.PerMillion()
	m := float64(versions) / 1e6
	scale := float64(versions) / float64(big.Versions)
	p := &Projection{Versions: versions, From: big.Versions, Hours: float64(versions) / big.RowsPerSec / 3600,
		DataGiB: d * m / 1024, IndexGiB: i * m / 1024, PeakRSSMiB: big.PeakRSSMiB, RateChange: big.RowsPerSec / small.RowsPerSec,
		APIRequests: int64(float64(big.APIRequests) * scale)}
	if big.APIRequests > 0 {
		p.APIMsPerRequest = 1000 * big.Seconds / float64(big.APIRequests)
	}
	if big.RowsPerCPUSec > 0 {
		p.CPUHours = float64(versions) / big.RowsPerCPUSec / 3600
	}
	return p
}

func (p *Projection) String() string {
	return fmt.Sprintf("projection to %d versions from the inventory of %d: %.1f hours at the same rows/s (rows/s changed ×%.2f from the smallest to the largest run), "+
		"%.1f hours at the same rows per CPU second where the inventory, the API and MariaDB each get a core when they need one; "+
		"files table %.0f GiB of rows + %.0f GiB of indexes, inventory peak RSS %.0f MiB, %d API requests (%.0f ms of the inventory's time each here: "+
		"every second more that the real API takes per request adds %.1f hours). Assumes: rows/s stays as measured at the largest size, "+
		"the API answers as fast as the synthetic one, and MariaDB keeps its rate once the indexes outgrow its buffer pool.",
		p.Versions, p.From, p.Hours, p.RateChange, p.CPUHours, p.DataGiB, p.IndexGiB, p.PeakRSSMiB, p.APIRequests, p.APIMsPerRequest, float64(p.APIRequests)/3600)
}

// WriteTable writes the horizontal scale measurements.
func (h *HorizontalReport) WriteTable(w io.Writer) error {
	cpu := func(v float64) string { return fmtCPU(v, true) }
	fmt.Fprintf(w, "horizontal scale: %s, %d cores\n\n", h.Class, h.Cores)
	fmt.Fprintln(w, "| processes | workers each | seconds | files/s | MB/s | speedup | files per CPU s | peak RSS MiB | backup CPU s | MariaDB CPU s | MinIO CPU s | production CPU s | machine busy | row lock waits | bound |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range h.Rows {
		fmt.Fprintf(w, "| %d | %d | %.1f | %.0f | %.1f | %.2f | %.0f | %.0f | %.1f | %s | %s | %s | %.0f%% | %d (%.1f s) | %s |\n", r.Processes, r.Workers,
			r.Seconds, r.FilesPerSec, r.MBPerSec, r.Speedup, r.FilesPerCPUSec, r.PeakRSSMiB, r.BackupCPUSecs, cpu(r.MariaDBCPUSecs), cpu(r.MinIOCPUSecs),
			cpu(r.ServerCPUSecs), 100*r.MachineBusy, r.RowLockWaits, r.RowLockWaitSecs, r.Bound)
	}
	if h.Flattens > 0 {
		fmt.Fprintf(w, "\nfiles/s flattens at %d processes (less than 10%% more than the count before).\n", h.Flattens)
	}
	if len(h.Rows) > 0 {
		r := h.Rows[0]
		per := func(s float64) string {
			if s < 0 {
				return "?"
			}
			return fmt.Sprintf("%.2f", 1000*s/float64(r.Files))
		}
		fmt.Fprintf(w, "\nCPU ms per file with %d process(es): backup %s, MinIO %s, MariaDB %s, production %s\n",
			r.Processes, per(r.BackupCPUSecs), per(r.MinIOCPUSecs), per(r.MariaDBCPUSecs), per(r.ServerCPUSecs))
	}
	return nil
}
