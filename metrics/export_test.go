package metrics

import (
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names returns the name of every metric the package can export.
func Names() []string {
	m := New(CommandBackup, nil)
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range []prometheus.Collector{m.files, m.bytes, m.errors, m.objects, m.storedBytes, m.putFailures,
		m.summary.files, m.summary.fileBytes, m.summary.objects, m.summary.objectBytes} {
		c.Describe(ch)
	}
	for _, w := range watchedValues {
		ch <- w.desc
	}
	close(ch)
	var names []string
	for d := range ch {
		names = append(names, fqName.FindStringSubmatch(d.String())[1])
	}
	return names
}
