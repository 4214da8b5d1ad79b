package fromconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/filesystem"
	"github.com/mediabackups/mediabackups/production/swift"
)

func TestEveryTypeOpens(t *testing.T) {
	for _, typ := range config.ProductionTypes {
		if kinds[typ] == nil {
			t.Errorf("production type %q has no opener", typ)
		}
	}
	if len(kinds) != len(config.ProductionTypes) {
		t.Errorf("%d openers for %d types", len(kinds), len(config.ProductionTypes))
	}
}

func secret(t *testing.T, dir, name, value string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// load writes a config with one wiki whose production block is p, and
// loads it as the tools do.
func load(t *testing.T, dir string, w config.Wiki) (*config.Config, config.Wiki) {
	t.Helper()
	c := &config.Config{Metadata: config.Metadata{DSN: "u@tcp(127.0.0.1:3306)/m"},
		Storage: config.Storage{Endpoints: config.ActiveEndpoints("http://127.0.0.1:9101")}, Wikis: []config.Wiki{w}}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "mediabackups.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Wiki(w.Name)
	if err != nil {
		t.Fatal(err)
	}
	return c, got
}

func TestOpenSwift(t *testing.T) {
	sw := testsvc.SwiftService(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	wiki := func(keyFile string) config.Wiki {
		return config.Wiki{Name: "swifttestwiki", API: "http://127.0.0.1/api.php", Type: config.TypePublic,
			PublicShards: true, DeletedShards: true,
			Production: &config.Production{Type: config.ProductionSwift, AuthURL: sw.AuthURL, User: sw.User, KeyFile: keyFile,
				ACL: &config.SwiftACL{PublicRead: ".r:*,test:tester", PublicWrite: "test:tester", PrivateRead: "test:tester", PrivateWrite: "test:tester"}}}
	}
	// A relative key file is found next to the config file.
	secret(t, dir, "swift-key", sw.Key, 0o600)
	c, w := load(t, dir, wiki("swift-key"))
	s, err := Open(ctx, c, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*swift.Store); !ok {
		t.Fatalf("Open gave a %T", s)
	}
	if got := Containers(w); got.Project != "wikipedia" || got.Lang != "swifttest" || !got.PublicShards || !got.DeletedShards {
		t.Errorf("Containers = %+v", got)
	}
	for _, tc := range []struct {
		name, keyFile, key string
		mode               os.FileMode
		want               string
		denied             bool
	}{
		{"world-readable key file", "open-key", sw.Key, 0o644, "chmod 600", false},
		{"missing key file", "", "", 0, "no such file", false},
		{"empty key file", "empty-key", "", 0o600, "is empty", false},
		{"wrong key", "wrong-key", "not-the-key", 0o600, "check the user and the key", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "missing-key")
			if tc.keyFile != "" {
				p = secret(t, dir, tc.keyFile, tc.key, tc.mode)
			}
			c, w := load(t, dir, wiki(p))
			_, err := Open(ctx, c, w)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "wiki swifttestwiki") ||
				errors.Is(err, production.ErrAccessDenied) != tc.denied {
				t.Errorf("Open: %v; want an error naming the wiki and saying %q (access denied: %v)", err, tc.want, tc.denied)
			}
			if err != nil && strings.Contains(err.Error(), "not-the-key") {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

func TestOpenFilesystem(t *testing.T) {
	dir := t.TempDir()
	c, w := load(t, dir, config.Wiki{Name: "testwiki", API: "http://127.0.0.1/api.php", Type: config.TypePublic,
		Production: &config.Production{Type: config.ProductionFilesystem, Root: "/srv/images", FileMode: "0640"}})
	s, err := Open(context.Background(), c, w)
	if err != nil {
		t.Fatal(err)
	}
	fs, ok := s.(*filesystem.Store)
	if !ok {
		t.Fatalf("Open gave a %T", s)
	}
	for _, tc := range []struct{ container, name, want string }{
		{"wikipedia-test-local-public", "2/2e/Simple.png", "/srv/images/2/2e/Simple.png"},
		{"wikipedia-test-local-deleted", "r/j/r/rjrz.png", "/srv/images/deleted/r/j/r/rjrz.png"},
	} {
		if got, err := fs.Path(tc.container, tc.name); err != nil || got != tc.want {
			t.Errorf("Path(%s, %s) = %q, %v; want %q", tc.container, tc.name, got, err, tc.want)
		}
	}
}

func TestOpenNotConfigured(t *testing.T) {
	_, err := Open(context.Background(), &config.Config{}, config.Wiki{Name: "enwiki"})
	if !errors.Is(err, ErrNotConfigured) || !strings.Contains(err.Error(), "enwiki") {
		t.Errorf("Open of a wiki without production: %v, want ErrNotConfigured naming it", err)
	}
}
