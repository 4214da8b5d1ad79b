// Package metrics holds the Prometheus metrics of mediabackups: their names
// and help texts, one registry per process (no global state), and the two
// ways out: /metrics over HTTP for long-running commands (Serve) and
// node_exporter's textfile format for one-shot ones (Textfile).
//
// # Where each value comes from
//
// Counters of what this process did (files and bytes backed up by status,
// failures by reason, objects and bytes written per storage server) live in
// the process and start at zero with it; Prometheus's rate() and increase()
// handle the restarts. Everything that must outlive a process or be the
// same for a whole fleet of workers is read from the metadata database when
// the metrics are gathered (a scrape, or a write of the textfile): the last
// successful run per wiki and command, the oldest pending file, how far
// update has applied the wiki's log. Each of those reads is an index lookup
// of a row or two (see WatchMetadata), so a scrape costs the same on a
// small wiki and on Commons. Counts of every version by status, and of
// every object by server, need a scan of the tables: only `status` makes
// them, and exports them with SetSummaries.
//
// # Times, not ages
//
// Ages are exported as the time something happened (…_timestamp_seconds),
// and alerts compute the age as time() - metric. A timestamp stays true in a
// textfile that is no longer rewritten, where an age would freeze: when the
// writer stops, the age an alert computes keeps growing, as it should.
//
// # Textfiles side by side
//
// node_exporter reads every *.prom file of its textfile directory and drops
// a series that two files both hold. Every series a command exports carries
// the labels of its unit (wiki, and command where several commands export
// the metric), so that one file per command and wiki, as the README's
// systemd units write them, never collide.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediabackups/mediabackups/backup"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

// Namespace prefixes every metric name.
const Namespace = "mediabackups"

// Commands that export metrics, as the value of the command label.
const (
	CommandInventory = "inventory"
	CommandBackup    = "backup"
	CommandUpdate    = "update"
	CommandStatus    = "status"
)

// Metrics is the set of metrics of one process. Build it with New where the
// command runs; it is safe for concurrent use.
type Metrics struct {
	command string
	log     *slog.Logger
	reg     *prometheus.Registry

	files, bytes         *prometheus.CounterVec
	errors               *prometheus.CounterVec
	objects, storedBytes *prometheus.CounterVec
	putFailures          *prometheus.CounterVec
	summary              summaryGauges
}

// New returns the metrics of a process running command (one of the
// Command constants), in a registry of its own. Problems met while
// gathering (a metadata query that failed) are logged to log.
func New(command string, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{command: command, log: log, reg: prometheus.NewRegistry()}
	m.files = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "backup", Name: "files_total",
		Help: "File versions this process finished backing up, by the backup status it recorded for them " +
			"(backedup: stored as a new object; duplicate: the wiki already had the content; error: failed, see mediabackups_errors_total).",
	}, []string{"wiki", "status"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "backup", Name: "bytes_total",
		Help: "Bytes of the file versions this process finished, as downloaded, by the backup status it recorded " +
			"(backedup bytes were uploaded; duplicate bytes were not, their content was already stored).",
	}, []string{"wiki", "status"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "errors_total",
		Help: "Failures seen by this process, by command, wiki and reason class: a file version whose backup failed, " +
			"an update round that failed. The reasons are a fixed set; the README lists them.",
	}, []string{"command", "wiki", "reason"})
	m.objects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "storage", Name: "objects_written_total",
		Help: "New objects this process stored and recorded, by wiki and storage server (endpoint); " +
			"a content that two files uploaded at once is recorded, and counted, once.",
	}, []string{"wiki", "server"})
	m.storedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "storage", Name: "written_bytes_total",
		Help: "Bytes of the new objects this process stored and recorded, as stored (encrypted objects count their encrypted size), " +
			"by wiki and storage server (endpoint).",
	}, []string{"wiki", "server"})
	m.putFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "storage", Name: "put_failures_total",
		Help: "Uploads of this process that a storage server (endpoint) did not complete, by wiki.",
	}, []string{"wiki", "server"})
	m.summary = newSummaryGauges()
	m.reg.MustRegister(m.files, m.bytes, m.errors, m.objects, m.storedBytes, m.putFailures,
		m.summary.files, m.summary.fileBytes, m.summary.objects, m.summary.objectBytes)
	return m
}

// Gatherer returns the process's registry: the mediabackups metrics only,
// as written to a textfile.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Reason is one class of failure: the reason label of
// mediabackups_errors_total.
type Reason struct {
	Name string
	Help string
	// Matches reports whether err belongs to the class.
	Matches func(err error) bool
}

// Reasons are the failure classes, tried in order; the first that matches
// names the failure. The last, "other", matches everything: seeing it means
// a failure this list does not know yet.
var Reasons = []Reason{
	{"claim_lost", "backup: the file's lease ran out and another worker took it over before the result was recorded",
		func(err error) bool { return errors.Is(err, metadata.ErrLostClaim) }},
	{"denied", "the wiki refused the login or the request: the account lacks a right (see the README's configuration)",
		func(err error) bool {
			return errors.Is(err, mediawiki.ErrPermission) || errors.Is(err, mediawiki.ErrLoginFailed)
		}},
	{"download", "backup: production did not serve the bytes (HTTP error, network, timeout after the retries)",
		step(backup.StepDownload)},
	{"encrypt", "backup: age encryption failed", step(backup.StepEncrypt)},
	{"upload", "backup: the storage server did not store the object", step(backup.StepUpload)},
	{"metadata", "a query of the metadata database failed",
		func(err error) bool {
			var me *mysql.MySQLError
			return step(backup.StepMetadata)(err) || errors.As(err, &me) || errors.Is(err, mysql.ErrInvalidConn)
		}},
	{"wiki_api", "the wiki's API answered with an error", func(err error) bool {
		var ae *mediawiki.APIError
		return errors.As(err, &ae)
	}},
	{"timeout", "a request timed out", func(err error) bool {
		var ne net.Error
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	}},
	{"other", "none of the above (please report it: the reasons should name it)", func(error) bool { return true }},
}

func step(s backup.Step) func(error) bool {
	return func(err error) bool {
		var se *backup.StepError
		return errors.As(err, &se) && se.Step == s
	}
}

// ReasonOf returns the name of the first of Reasons that err matches.
func ReasonOf(err error) string {
	for _, r := range Reasons {
		if r.Matches(err) {
			return r.Name
		}
	}
	return "other"
}

// backupStatuses are the statuses a backup records for a file it finished.
func backupStatuses() []metadata.BackupStatus {
	return slices.DeleteFunc(slices.Clone(metadata.BackupStatuses), func(s metadata.BackupStatus) bool {
		return s == metadata.Pending || s == metadata.Processing
	})
}

// InitErrors creates the error counters of command and wiki at zero, so
// that the first failure shows as an increase.
func (m *Metrics) InitErrors(command, wiki string) {
	for _, r := range Reasons {
		m.errors.WithLabelValues(command, wiki, r.Name)
	}
}

// Failed counts a failure of command for wiki, by ReasonOf(err).
func (m *Metrics) Failed(command, wiki string, err error) {
	m.errors.WithLabelValues(command, wiki, ReasonOf(err)).Inc()
}
