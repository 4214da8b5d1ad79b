package metrics_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/metrics"
)

// monitoringSection returns the README's Monitoring section.
func monitoringSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testsvc.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### Monitoring")
	if i < 0 {
		t.Fatal("README.md has no Monitoring section")
	}
	s = s[i:]
	if j := strings.Index(s, "\n## "); j > 0 {
		s = s[:j]
	}
	return s
}

// TestREADMEMonitoringIsTrue checks that the README names every metric and
// every reason the code exports.
func TestREADMEMonitoringIsTrue(t *testing.T) {
	sec := monitoringSection(t)
	names := metrics.Names()
	if len(names) < 13 {
		t.Fatalf("only %d metric names: %v", len(names), names)
	}
	for _, n := range names {
		if !strings.Contains(sec, "`"+n+"`") {
			t.Errorf("the README's Monitoring section does not list %s", n)
		}
	}
	for _, r := range metrics.Reasons {
		if !strings.Contains(sec, "`"+r.Name+"`") {
			t.Errorf("the README's Monitoring section does not list the reason %s", r.Name)
		}
	}
}

// ruleFile is the rule file format of Prometheus (model/rulefmt), decoded
// strictly: an unknown key is an error, as for promtool.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestREADMEAlertRules checks the README's alert rules as `promtool check
// rules` does (strict YAML, PromQL, durations, label names, templates) and
// that they use metrics the code exports.
func TestREADMEAlertRules(t *testing.T) {
	sec := monitoringSection(t)
	i := strings.Index(sec, "```yaml\n")
	if i < 0 {
		t.Fatal("no YAML block in the Monitoring section")
	}
	block := sec[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(block))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("alert rules: %v\n%s", err, block)
	}
	exported := map[string]bool{}
	for _, n := range metrics.Names() {
		exported[n] = true
	}
	alerts := 0
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: no name or no rules", g.Name)
		}
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || r.Record != "" || !model.LabelValue(r.Alert).IsValid() {
				t.Errorf("rule %q: want an alert rule with a valid name", r.Alert)
			}
			expr, err := parser.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("alert %s: expr %q: %v", r.Alert, r.Expr, err)
				continue
			}
			for _, sel := range parser.ExtractSelectors(expr) {
				for _, m := range sel {
					if m.Name == model.MetricNameLabel && !exported[m.Value] {
						t.Errorf("alert %s uses %s, which the code does not export", r.Alert, m.Value)
					}
				}
			}
			if _, err := model.ParseDuration(r.For); err != nil {
				t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
			}
			for k := range r.Labels {
				if !model.LabelName(k).IsValidLegacy() {
					t.Errorf("alert %s: label name %q", r.Alert, k)
				}
			}
			for k, v := range r.Annotations {
				// Prometheus defines these variables before the text, and
				// these functions among others.
				text := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}" + v
				funcs := template.FuncMap{"humanizeDuration": func(any) string { return "" }, "humanize": func(any) string { return "" }}
				if _, err := template.New(k).Funcs(funcs).Option("missingkey=zero").Parse(text); err != nil {
					t.Errorf("alert %s: annotation %s: %v", r.Alert, k, err)
				}
			}
		}
	}
	if alerts < 2 {
		t.Errorf("%d alert rules, want at least 2", alerts)
	}
}
