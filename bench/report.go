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
	if len(r.Rows) > 0 {
		fmt.Fprintf(w, "host %s, %d CPUs, %d workers, %s\n\n", r.Host, r.CPUs, r.Workers, r.Started.Format(time.RFC3339))
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
	if r.Metadata != nil {
		if len(r.Rows) > 0 {
			fmt.Fprintln(w)
		}
		if err := r.Metadata.WriteTable(w); err != nil {
			return err
		}
	}
	if r.Audit != nil {
		if len(r.Rows) > 0 || r.Metadata != nil {
			fmt.Fprintln(w)
		}
		return r.Audit.WriteTable(w)
	}
	return nil
}
