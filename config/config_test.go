package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/sharding"
)

const minimal = `
metadata: {dsn: "u:p@tcp(127.0.0.1:3306)/mediabackups"}
storage:
  endpoints: [http://127.0.0.1:9101, http://127.0.0.1:9102]
wikis:
  - {name: testwiki, api: http://127.0.0.1:8080/api.php, type: public}
  - {name: privatewiki, api: http://127.0.0.1:8081/api.php, type: private, user: Admin@backup, password_file: pw}
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage.Bucket != "mediabackups" || c.DefaultWiki != "commonswiki" || c.Wikis[0].MaxLag != 5 || c.UserAgent == "" {
		t.Errorf("defaults not applied: %+v", c)
	}
	w, err := c.Wiki("privatewiki")
	if err != nil || !w.Encrypted() {
		t.Fatalf("privatewiki: %+v, %v; want an encrypted wiki", w, err)
	}
	if pub, _ := c.Wiki("testwiki"); pub.Encrypted() {
		t.Error("a public wiki must not be encrypted")
	}
	if _, err := c.Wiki("nosuchwiki"); err == nil || !strings.Contains(err.Error(), "testwiki, privatewiki") {
		t.Errorf("unknown wiki error = %v, want it to list the configured ones", err)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", minimal + "tmpdri: /tmp\n", "tmpdri"},
		{"no dsn", strings.Replace(minimal, `metadata: {dsn: "u:p@tcp(127.0.0.1:3306)/mediabackups"}`, "", 1), "metadata.dsn"},
		{"bad endpoint", strings.Replace(minimal, "http://127.0.0.1:9102", "127.0.0.1:9102", 1), "http://"},
		{"endpoint port typo", strings.Replace(minimal, "http://127.0.0.1:9102", "http://127.0.0.1:91o3", 1), `"http://127.0.0.1:91o3": invalid port ":91o3"`},
		{"endpoint port out of range", strings.Replace(minimal, "http://127.0.0.1:9102", "http://127.0.0.1:99999", 1), `port "99999" is not a number from 1 to 65535`},
		{"endpoint empty port", strings.Replace(minimal, "http://127.0.0.1:9102", "http://127.0.0.1:", 1), `port "" is not`},
		{"endpoint with a path", strings.Replace(minimal, "http://127.0.0.1:9102", "http://127.0.0.1:9102/mediabackups", 1), "a path (/mediabackups) is not allowed"},
		{"endpoint with a query", strings.Replace(minimal, "http://127.0.0.1:9102", "'http://127.0.0.1:9102?x=1'", 1), "query"},
		{"endpoint with credentials", strings.Replace(minimal, "http://127.0.0.1:9102", "http://a:b@127.0.0.1:9102", 1), "credentials"},
		{"endpoint without host", strings.Replace(minimal, "http://127.0.0.1:9102", "http://:9102", 1), "no host"},
		{"endpoint with white space", strings.Replace(minimal, "http://127.0.0.1:9102", "' http://127.0.0.1:9102'", 1), "white space"},
		{"endpoint of another scheme", strings.Replace(minimal, "http://127.0.0.1:9102", "s3://127.0.0.1:9102", 1), "must start with http://"},
		{"duplicate endpoint", strings.Replace(minimal, "http://127.0.0.1:9102", "http://127.0.0.1:9101", 1), "twice"},
		{"duplicate endpoint, one with a state", strings.Replace(minimal, "http://127.0.0.1:9102", "{url: http://127.0.0.1:9101, state: readonly}", 1), "twice"},
		{"unknown state", strings.Replace(minimal, "http://127.0.0.1:9102", "{url: http://127.0.0.1:9102, state: maintenance}", 1),
			`http://127.0.0.1:9102: state: invalid server state "maintenance": want one of active, readonly, down`},
		{"state in capitals", strings.Replace(minimal, "http://127.0.0.1:9102", "{url: http://127.0.0.1:9102, state: Down}", 1), `invalid server state "Down"`},
		{"unknown endpoint key", strings.Replace(minimal, "http://127.0.0.1:9102", "{url: http://127.0.0.1:9102, sate: down}", 1), `unknown key "sate"`},
		{"mapping without url", strings.Replace(minimal, "http://127.0.0.1:9102", "{state: down}", 1), "needs url"},
		{"endpoint as a list", strings.Replace(minimal, "http://127.0.0.1:9102", "[http://127.0.0.1:9102]", 1), "an endpoint is a URL"},
		{"bad URL with a state", strings.Replace(minimal, "http://127.0.0.1:9102", "{url: 127.0.0.1:9102, state: down}", 1), "http://"},
		{"duplicate endpoint, other spelling", strings.Replace(minimal, "http://127.0.0.1:9102", "HTTP://127.0.0.1:9101/", 1), "twice"},
		{"api port typo", strings.Replace(minimal, "http://127.0.0.1:8080/api.php", "http://127.0.0.1:8o80/api.php", 1), `wiki testwiki: api: "http://127.0.0.1:8o80/api.php": invalid port`},
		{"api not a URL", strings.Replace(minimal, "http://127.0.0.1:8080/api.php", "127.0.0.1/api.php", 1), "wiki testwiki: api:"},
		{"bad type", strings.Replace(minimal, "type: public", "type: secret", 1), "not one of"},
		{"user without password", strings.Replace(minimal, ", password_file: pw", "", 1), "go together"},
		{"slash in name", strings.Replace(minimal, "name: testwiki", "name: test/wiki", 1), "must not contain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestContainerProject(t *testing.T) {
	tests := []struct {
		w             Wiki
		project, lang string
	}{
		{Wiki{Name: "commonswiki"}, "wikipedia", "commons"},
		{Wiki{Name: "enwiki"}, "wikipedia", "en"},
		{Wiki{Name: "wiki"}, "wikipedia", "wiki"},
		{Wiki{Name: "enwiktionary", Project: "wiktionary", Lang: "en"}, "wiktionary", "en"},
	}
	for _, tt := range tests {
		if p, l := tt.w.ContainerProject(); p != tt.project || l != tt.lang {
			t.Errorf("%s: %s-%s, want %s-%s", tt.w.Name, p, l, tt.project, tt.lang)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s, err := ReadSecret(write("ok", "hunter2\n", 0o600))
	if err != nil || s.Reveal() != "hunter2" {
		t.Fatalf("ReadSecret = %q, %v", s.Reveal(), err)
	}
	if got := s.String(); got != "**redacted**" || strings.Contains(got+s.GoString(), "hunter2") {
		t.Errorf("a secret prints as %q / %q", got, s.GoString())
	}
	open := write("open", "hunter2", 0o644)
	if _, err := ReadSecret(open); err == nil || !strings.Contains(err.Error(), "chmod 600 "+open) {
		t.Errorf("world-readable secret: %v, want a refusal saying chmod 600", err)
	}
	if _, err := ReadSecret(write("empty", "\n", 0o600)); err == nil {
		t.Error("an empty secret file was accepted")
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing secret file was accepted")
	}
}

func TestPath(t *testing.T) {
	t.Setenv(EnvPath, "")
	if Path("") != DefaultPath || Path("x.yaml") != "x.yaml" {
		t.Error("Path ignores the flag or the default")
	}
	t.Setenv(EnvPath, "/env.yaml")
	if Path("") != "/env.yaml" || Path("x.yaml") != "x.yaml" {
		t.Error("Path does not prefer flag over env over default")
	}
}

func TestEndpointStates(t *testing.T) {
	doc := strings.Replace(minimal, "endpoints: [http://127.0.0.1:9101, http://127.0.0.1:9102]", `endpoints:
    - http://127.0.0.1:9101
    - {url: http://127.0.0.1:9102, state: readonly}   # maintenance
    - {url: http://127.0.0.1:9103, state: down}
    - {url: http://127.0.0.1:9104, state: active}
    - {url: http://127.0.0.1:9105}`, 1)
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		url  string
		mode sharding.State
	}{
		{"http://127.0.0.1:9101", sharding.Active},
		{"http://127.0.0.1:9102", sharding.ReadOnly},
		{"http://127.0.0.1:9103", sharding.Down},
		{"http://127.0.0.1:9104", sharding.Active},
		{"http://127.0.0.1:9105", sharding.Active},
	}
	if len(c.Storage.Endpoints) != len(want) {
		t.Fatalf("endpoints = %+v", c.Storage.Endpoints)
	}
	for i, w := range want {
		if e := c.Storage.Endpoints[i]; e.URL != w.url || e.Mode() != w.mode {
			t.Errorf("endpoint %d = %+v (mode %q), want %s %s", i, e, e.Mode(), w.url, w.mode)
		}
	}
	if got := c.Storage.URLs(); !reflect.DeepEqual(got, []string{"http://127.0.0.1:9101", "http://127.0.0.1:9102",
		"http://127.0.0.1:9103", "http://127.0.0.1:9104", "http://127.0.0.1:9105"}) {
		t.Errorf("URLs() = %v", got)
	}
	// Written back: active ones as plain URLs, the others as mappings;
	// and read back to the same states.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"- http://127.0.0.1:9101\n", "url: http://127.0.0.1:9102", "state: readonly", "state: down", "- http://127.0.0.1:9105\n"} {
		if !strings.Contains(string(b), line) {
			t.Errorf("Marshal wrote no %q:\n%s", line, b)
		}
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if back.Storage.Endpoints[i].Mode() != c.Storage.Endpoints[i].Mode() || back.Storage.Endpoints[i].URL != c.Storage.Endpoints[i].URL {
			t.Errorf("endpoint %d: %+v after a round trip, was %+v", i, back.Storage.Endpoints[i], c.Storage.Endpoints[i])
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("wikis: [{name: a}]"))
	f.Add([]byte(strings.Replace(minimal, "http://127.0.0.1:9102", "{url: http://127.0.0.1:9102, state: down}", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && (c.Metadata.DSN == "" || len(c.Storage.Endpoints) == 0) {
			t.Fatalf("Parse accepted an invalid config: %+v", c)
		}
		if err == nil {
			for _, e := range c.Storage.Endpoints {
				if e.Mode() == "" {
					t.Fatalf("Parse accepted endpoint %+v with an invalid state", e)
				}
			}
		}
	})
}

func TestMarshalRoundTrip(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	c.Wikis[1].Pause = 1500 * time.Millisecond
	c.Wikis[1].PublicShards = true
	c.Encryption.Recipients = []string{"age1example"}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", back, c)
	}
}

func TestLoadRefusesAWorldReadablePassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, dsn string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		doc := strings.Replace(minimal, "u:p@tcp(127.0.0.1:3306)/mediabackups", dsn, 1)
		if err := os.WriteFile(p, []byte(doc), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := write("open.yaml", "u:secret@tcp(127.0.0.1:3306)/mediabackups", 0o644)
	if _, err := Load(open); err == nil || !strings.Contains(err.Error(), "chmod 600 "+open) {
		t.Errorf("Load of a world-readable config with a DSN password = %v, want a refusal saying chmod 600", err)
	}
	for name, tc := range map[string]struct {
		dsn  string
		mode os.FileMode
	}{
		"private file with a password": {"u:secret@tcp(127.0.0.1:3306)/mediabackups", 0o600},
		"readable file without one":    {"u@tcp(127.0.0.1:3306)/mediabackups", 0o644},
	} {
		if _, err := Load(write(strings.ReplaceAll(name, " ", "-")+".yaml", tc.dsn, tc.mode)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
