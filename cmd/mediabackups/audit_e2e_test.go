package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	ncw "github.com/ncw/swift/v2"

	"github.com/mediabackups/mediabackups/audit"
	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
)

// runSplit runs the binary and returns its exit code, stdout and stderr.
func (e *env) runSplit(args ...string) (int, string, string) {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// auditJSON runs `audit --json` and reads its report as restore
// --from-audit will: exactly one valid report, whatever the exit code.
func (e *env) auditJSON(wiki string, wantCode int) *audit.Report {
	e.t.Helper()
	code, stdout, stderr := e.runSplit("--json", "audit", "--wiki", wiki)
	if code != wantCode {
		e.t.Fatalf("audit --json exited %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
	}
	rep, err := audit.ReadReport(strings.NewReader(stdout))
	if err != nil {
		e.t.Fatalf("the audit's --json output is not one report: %v\n%s", err, stdout)
	}
	return rep
}

// auditRows is what the audit tables and columns hold, to check that a
// refused audit wrote nothing.
func (e *env) auditRows() string {
	e.t.Helper()
	var n [4]int
	err := e.DB.QueryRow(`SELECT (SELECT COUNT(*) FROM audits), (SELECT COUNT(*) FROM audit_containers),
		(SELECT COUNT(*) FROM audit_unexpected), (SELECT COUNT(*) FROM files WHERE audit_status IS NOT NULL)`).Scan(&n[0], &n[1], &n[2], &n[3])
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(n)
	return string(b)
}

// productionDamage is one change to production made behind the project's
// back, and the problem the audit must report for it.
type productionDamage struct {
	title, status string // as in populate-summary.json
	problem       string // audit.Missing or audit.Damaged
	sameSize      bool   // for damage: other bytes of the same length
}

// theDamage is the list: a current, an archived and a deleted
// version lost, and two damaged (one of another size, one of the same size
// with other bytes).
var theDamage = []productionDamage{
	{"File:Simple.png", "public", audit.Missing, false},
	{"File:Wow!Amazing.png", "archived", audit.Missing, false},
	{"File:Deleted photo.jpeg", "deleted", audit.Missing, false},
	{"File:Photo.jpeg", "public", audit.Damaged, false},
	{"File:Diagram.svg", "public", audit.Damaged, true},
}

func otherBytes(b []byte, sameSize bool) []byte {
	out := bytes.Clone(b)
	if !sameSize {
		return append(out, "trailing garbage"...)
	}
	for i := range out {
		out[i] ^= 0x5a
	}
	return out
}

// TestAuditFindsWhatProductionLost is the "done when" for audit, on
// a Swift-backed wiki and on a disk-backed one: after a backup, production
// loses three versions and two are damaged, with the store's own tools;
// the audit reports exactly those, again the same a second time, and says
// nothing changed; restore --to-production --from-audit with its report
// puts them back, and the next audit finds production whole; bad input is
// refused and writes nothing.
func TestAuditFindsWhatProductionLost(t *testing.T) {
	for _, kind := range []string{"swift", "disk"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := &env{t: t, Deployment: testsvc.NewDeployment(t, 2)}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			var (
				w       testsvc.Wiki
				tune    func(*config.Wiki)
				lose    func(v testsvc.SummaryVersion)
				damage  func(v testsvc.SummaryVersion, sameSize bool)
				swiftKW testsvc.SwiftWiki
			)
			if kind == "swift" {
				swiftKW = testsvc.FreshSwiftWiki(t, "auditswift", 1, false)
				w = swiftKW.Wiki
				key := e.Secret("swift-key", swiftKW.Swift.Key)
				tune = func(c *config.Wiki) {
					c.Project, c.Lang, c.PublicShards, c.DeletedShards = swiftKW.Project, swiftKW.Lang, true, true
					c.Production = &config.Production{Type: config.ProductionSwift, AuthURL: swiftKW.Swift.AuthURL,
						User: swiftKW.Swift.User, KeyFile: key}
				}
				conn := swiftKW.Swift.Connection(t)
				lose = func(v testsvc.SummaryVersion) {
					if err := conn.ObjectDelete(ctx, v.Swift.Container, v.Swift.Object); err != nil {
						t.Fatal(err)
					}
				}
				damage = func(v testsvc.SummaryVersion, sameSize bool) {
					var buf bytes.Buffer
					h, err := conn.ObjectGet(ctx, v.Swift.Container, v.Swift.Object, &buf, true, nil)
					if err != nil {
						t.Fatal(err)
					}
					// Same size: keep MediaWiki's sha1 header, so that only
					// the content tells; other size: as `swift upload`
					// writes it.
					meta := ncw.Headers{"X-Object-Meta-Mtime": "1700000000.000000"}
					if sameSize {
						meta = ncw.Headers{"X-Object-Meta-Sha1base36": h["X-Object-Meta-Sha1base36"]}
					}
					if _, err := conn.ObjectPut(ctx, v.Swift.Container, v.Swift.Object, bytes.NewReader(otherBytes(buf.Bytes(), sameSize)),
						false, "", h["Content-Type"], meta); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				w = testsvc.FreshWiki(t, "auditdisk", 10, false)
				images := filepath.Join(w.Dir, "images")
				tune = func(c *config.Wiki) {
					c.Production = &config.Production{Type: config.ProductionFilesystem, Root: images}
				}
				lose = func(v testsvc.SummaryVersion) {
					if err := os.Remove(filepath.Join(images, v.Path)); err != nil {
						t.Fatal(err)
					}
				}
				damage = func(v testsvc.SummaryVersion, sameSize bool) {
					p := filepath.Join(images, v.Path)
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, otherBytes(b, sameSize), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: w, Tune: tune})
			e.run("schema", "apply")
			e.run("inventory", "--wiki", "testwiki")
			e.run("update", "--wiki", "testwiki") // learns the revision-deleted version inventory cannot see
			e.run("backup", "--wiki", "testwiki")

			// Production is whole: nothing to report, every version
			// compared (by the md5 the backup recorded, on Swift).
			rep := e.auditJSON("testwiki", 0)
			versions := w.Summary(t).Versions()
			if len(rep.Problems) != 0 || rep.Versions != int64(len(versions)) || rep.SizeOnly != 0 {
				t.Fatalf("audit of an intact production: %d versions (want %d), %d by size only, problems %+v",
					rep.Versions, len(versions), rep.SizeOnly, rep.Problems)
			}
			_, stdout, _ := e.runSplit("audit", "--wiki", "testwiki")
			if kind == "swift" && !strings.Contains(stdout, "found whole: 47 by md5,") {
				t.Errorf("not every version was compared by md5 from the listing:\n%s", stdout)
			}

			// The damage, behind the project's back.
			want := map[string]string{} // "title status" → problem
			for _, d := range theDamage {
				found := false
				for _, v := range versions {
					if v.Title != d.title || v.Status != d.status {
						continue
					}
					found = true
					if d.problem == audit.Missing {
						lose(v)
					} else {
						damage(v, d.sameSize)
					}
					want[strings.TrimPrefix(d.title, "File:")+" "+d.status] = d.problem
				}
				if !found {
					t.Fatalf("the test wiki has no %s version of %s", d.status, d.title)
				}
			}

			rep = e.auditJSON("testwiki", 3)
			got := map[string]string{}
			for _, p := range rep.Problems {
				title := strings.ReplaceAll(p.Title, "_", " ")
				got[title+" "+p.Status] = p.Problem
				if !p.BackupOK || p.ID == 0 || p.Wiki != "testwiki" {
					t.Errorf("%s: %+v: want a version id and a backup copy", title, p)
				}
				if title == "Diagram.svg" && kind == "swift" && !strings.HasPrefix(p.Detail, "md5 ") {
					t.Errorf("Diagram.svg: %q, want the md5 in the listing to tell", p.Detail)
				}
			}
			if len(got) != len(want) || len(rep.Problems) != len(want) {
				t.Errorf("problems %v, want exactly %v", got, want)
			}
			for k, p := range want {
				if got[k] != p {
					t.Errorf("%s: %q, want %q", k, got[k], p)
				}
			}
			if rep.Counts[audit.Missing] != 3 || rep.Counts[audit.Damaged] != 2 || rep.Counts[audit.Unexpected] != 0 {
				t.Errorf("counts %v", rep.Counts)
			}

			// Again, in text: the same five, and nothing changed.
			code, stdout, stderr := e.runSplit("audit", "--wiki", "testwiki")
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			var problemLines []string
			for _, l := range lines {
				if strings.HasPrefix(l, "missing ") || strings.HasPrefix(l, "damaged ") || strings.HasPrefix(l, "unexpected ") {
					problemLines = append(problemLines, l)
				}
			}
			if code != 3 || len(problemLines) != 5 || !strings.Contains(stdout, "new: 0, fixed: 0, unchanged: 5") ||
				!strings.Contains(stderr, "restore --to-production --from-audit") {
				t.Errorf("second audit: exit %d\n%s\n%s", code, stdout, stderr)
			}
			for _, l := range problemLines {
				if !strings.Contains(l, "[since ") {
					t.Errorf("a problem the last audit found too is not marked so: %s", l)
				}
			}
			again := e.auditJSON("testwiki", 3)
			sortProblems := func(r *audit.Report) string {
				var s []string
				for _, p := range r.Problems {
					s = append(s, p.Problem+" "+p.ProductionContainer+"/"+p.ProductionPath+" "+p.Detail)
				}
				sort.Strings(s)
				return strings.Join(s, "\n")
			}
			if sortProblems(again) != sortProblems(rep) {
				t.Errorf("a third audit differs:\n%s\nwant\n%s", sortProblems(again), sortProblems(rep))
			}

			// query-media-file shows what the audit found.
			out := e.run("query", "--json", "--wiki", "testwiki", "--title", "Simple.png")
			var q struct {
				Matches []struct {
					ProductionStatus string  `json:"production_status"`
					AuditStatus      *string `json:"audit_status"`
					AuditChecked     *string `json:"audit_checked"`
				} `json:"matches"`
			}
			if err := json.Unmarshal([]byte(out), &q); err != nil || len(q.Matches) != 1 {
				t.Fatalf("query: %v\n%s", err, out)
			}
			if m := q.Matches[0]; m.AuditStatus == nil || *m.AuditStatus != "missing" || m.AuditChecked == nil {
				t.Errorf("query-media-file shows audit status %v, checked %v; want missing and a time", m.AuditStatus, m.AuditChecked)
			}

			// The loop closes: the audit's own report drives the restore
			// into production. A dry run writes nothing (the next audit
			// finds the same five); --execute --replace-damaged puts each
			// back, and the audit after it finds production whole.
			_, report, _ := e.runSplit("--json", "audit", "--wiki", "testwiki")
			auditFile := filepath.Join(t.TempDir(), "audit.json")
			if err := os.WriteFile(auditFile, []byte(report), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = e.runSplit("restore", "--to-production", "--from-audit", auditFile)
			if code != 3 || !strings.Contains(stderr, "--replace-damaged") {
				t.Errorf("dry run of the restore into production: exit %d, want 3 (damaged objects would be left without --replace-damaged)\n%s\n%s", code, stdout, stderr)
			}
			if afterDry := e.auditJSON("testwiki", 3); sortProblems(afterDry) != sortProblems(rep) {
				t.Errorf("the dry run changed production:\n%s\nwant\n%s", sortProblems(afterDry), sortProblems(rep))
			}
			code, stdout, stderr = e.runSplit("restore", "--to-production", "--from-audit", auditFile, "--execute", "--replace-damaged", "--yes")
			if code != 0 {
				t.Fatalf("restore --to-production --from-audit --execute --replace-damaged: exit %d\n%s\n%s", code, stdout, stderr)
			}
			if whole := e.auditJSON("testwiki", 0); len(whole.Problems) != 0 {
				t.Errorf("after the restore into production, the audit still finds %+v", whole.Problems)
			}

			if kind != "swift" {
				return
			}
			// Bad input: a clear error, exit 1, and nothing written.
			before := e.auditRows()
			key := e.Secret("swift-key-2", swiftKW.Swift.Key)
			for _, tc := range []struct {
				name string
				tune func(c *config.Wiki)
				msg  string
			}{
				{"missing key file", func(c *config.Wiki) { c.Production.KeyFile = filepath.Join(e.Dir, "no-such-key") }, "no-such-key"},
				{"world-readable key file", func(c *config.Wiki) {
					if err := os.Chmod(key, 0o644); err != nil {
						t.Fatal(err)
					}
					c.Production.KeyFile = key
				}, "readable by everyone"},
				{"wrong credentials", func(c *config.Wiki) { c.Production.KeyFile = e.Secret("wrong-key", "not-the-key") }, "refused the user or key"},
				{"no production block", func(c *config.Wiki) { c.Production = nil }, "no production store is configured"},
				{"no such container", func(c *config.Wiki) { c.Lang = "nosuchwiki" }, "has no container mbtest-nosuchwiki-local-public"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e.WriteConfig(nil, testsvc.DeployedWiki{Name: "testwiki", Type: "public", Wiki: w, Tune: func(c *config.Wiki) {
						tune(c)
						tc.tune(c)
					}})
					code, stdout, stderr := e.runSplit("audit", "--wiki", "testwiki")
					if code != 1 || !strings.Contains(stderr, tc.msg) || stdout != "" {
						t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and %q", code, stdout, stderr, tc.msg)
					}
					code, stdout, _ = e.runSplit("--json", "audit", "--wiki", "testwiki")
					var er struct {
						Error    string `json:"error"`
						ExitCode int    `json:"exit_code"`
					}
					if err := json.Unmarshal([]byte(stdout), &er); err != nil || code != 1 || er.ExitCode != 1 || !strings.Contains(er.Error, tc.msg) {
						t.Errorf("--json: exit %d, %q (%v)", code, stdout, err)
					}
					if after := e.auditRows(); after != before {
						t.Errorf("audit tables changed from %s to %s", before, after)
					}
				})
			}
		})
	}
}
