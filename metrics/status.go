package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediabackups/mediabackups/metadata"
)

// summaryGauges are the totals `status` counts: every version of a wiki by
// backup status and every object by server. Counting them scans the
// tables, so they come only from `status --metrics-file`, never from a
// scrape.
type summaryGauges struct {
	files, fileBytes, objects, objectBytes *prometheus.GaugeVec
}

func newSummaryGauges() summaryGauges {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	return summaryGauges{
		files: g("files", "File versions of the wiki in the metadata, by backup status (counted by `mediabackups status`).",
			"wiki", "status"),
		fileBytes: g("files_bytes", "Bytes of the file versions of the wiki in the metadata, by backup status (counted by `mediabackups status`).",
			"wiki", "status"),
		objects: g("stored_objects", "Objects of the wiki recorded on each storage server (endpoint) (counted by `mediabackups status`).",
			"wiki", "server"),
		objectBytes: g("stored_bytes", "Bytes of the objects of the wiki recorded on each storage server (endpoint), as stored (counted by `mediabackups status`).",
			"wiki", "server"),
	}
}

// SetSummaries exports the counts of `status`: mediabackups_files and
// _files_bytes by wiki and status (every status, zero included), and
// mediabackups_stored_objects and _stored_bytes by wiki and server.
func (m *Metrics) SetSummaries(sums []metadata.Summary) {
	for _, s := range sums {
		for _, st := range metadata.BackupStatuses {
			m.summary.files.WithLabelValues(s.Wiki, string(st)).Set(float64(s.ByBackupStatus[string(st)]))
			m.summary.fileBytes.WithLabelValues(s.Wiki, string(st)).Set(float64(s.BytesByBackupStatus[string(st)]))
		}
		for ep, n := range s.ObjectsByLocation {
			m.summary.objects.WithLabelValues(s.Wiki, ep).Set(float64(n))
			m.summary.objectBytes.WithLabelValues(s.Wiki, ep).Set(float64(s.BytesByLocation[ep]))
		}
	}
}
