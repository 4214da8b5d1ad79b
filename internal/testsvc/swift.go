package testsvc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ncw "github.com/ncw/swift/v2"
)

// Swift describes the test OpenStack Swift (testenv/up.sh). Its user may do
// anything in the account (tempauth .admin); tests write only to
// containers whose names start with "mbtest".
type Swift struct {
	AuthURL    string // http://127.0.0.1:<B+120>/auth/v1.0
	User       string // test:tester
	Key        string // testing
	StorageURL string // http://127.0.0.1:<B+120>/v1/AUTH_test
	Dir        string // the cluster's state dir (TESTWIKI_SWIFT_DIR)
}

// SwiftService returns the test Swift.
func SwiftService(t testing.TB) Swift {
	t.Helper()
	return Swift{
		AuthURL:    Need(t, "MEDIABACKUPS_TEST_SWIFT_AUTH_URL"),
		User:       Need(t, "MEDIABACKUPS_TEST_SWIFT_USER"),
		Key:        Need(t, "MEDIABACKUPS_TEST_SWIFT_KEY"),
		StorageURL: Need(t, "MEDIABACKUPS_TEST_SWIFT_STORAGE_URL"),
		Dir:        Need(t, "MEDIABACKUPS_TEST_SWIFT_DIR"),
	}
}

// Connection returns a client of the test Swift, logged in: the "store's
// own tool" with which tests look at and damage production behind the
// back of the code under test.
func (s Swift) Connection(t testing.TB) *ncw.Connection {
	t.Helper()
	c := &ncw.Connection{AuthUrl: s.AuthURL, UserName: s.User, ApiKey: s.Key, UserAgent: "mediabackups-tests"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Authenticate(ctx); err != nil {
		t.Fatalf("log in to the test Swift at %s: %v", s.AuthURL, err)
	}
	return c
}

// RemoveContainers deletes every container whose name starts with prefix,
// objects first. It refuses a prefix that does not start with "mbtest", so
// that a test never touches another wiki's containers.
func (s Swift) RemoveContainers(t testing.TB, prefix string) {
	t.Helper()
	if !strings.HasPrefix(prefix, "mbtest") {
		t.Fatalf("refusing to remove the Swift containers %s*: not a test prefix (mbtest*)", prefix)
	}
	c := s.Connection(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names, err := c.ContainerNamesAll(ctx, &ncw.ContainersOpts{Prefix: prefix})
	if err != nil {
		t.Errorf("list the Swift containers %s*: %v", prefix, err)
		return
	}
	for _, name := range names {
		objs, err := c.ObjectNamesAll(ctx, name, nil)
		if err != nil {
			t.Errorf("list %s: %v", name, err)
			continue
		}
		for _, o := range objs {
			if err := c.ObjectDelete(ctx, name, o); err != nil && err != ncw.ObjectNotFound {
				t.Errorf("delete %s/%s: %v", name, o, err)
			}
		}
		if err := c.ContainerDelete(ctx, name); err != nil && err != ncw.ContainerNotFound {
			t.Errorf("delete container %s: %v", name, err)
		}
	}
}

// TestWiki returns the project and language of a throwaway wiki, "mbtest"
// and 12 random hex digits, whose containers ("mbtest-<hex>-local-*") are
// removed when the test ends. Nothing is created. (mediawiki.Containers
// names them; testsvc cannot import mediawiki, whose tests use testsvc.)
func (s Swift) TestWiki(t testing.TB) (project, lang string) {
	t.Helper()
	project, lang = "mbtest", RandomName("")
	t.Cleanup(func() {
		if os.Getenv("MEDIABACKUPS_TEST_KEEP") != "" {
			t.Logf("keeping the Swift containers %s-%s-local-*", project, lang)
			return
		}
		s.RemoveContainers(t, project+"-"+lang+"-local-")
	})
	return project, lang
}

// SwiftWiki is a test wiki whose files are in the test Swift, in containers
// "<Project>-<Lang>-local-<zone>[.<shard>]".
type SwiftWiki struct {
	Wiki
	Swift   Swift
	Project string
	Lang    string
	Shards  bool // public .00-.ff, deleted .00-.zz, like Wikimedia's big wikis
}

// WikiID is MediaWiki's wikiId of the wiki's file backend, the containers'
// prefix before "-local-": "<Project>-<Lang>".
func (w SwiftWiki) WikiID() string { return w.Project + "-" + w.Lang }

// SharedSwiftWiki returns the populated, sharded Swift-backed wiki that
// testenv/up.sh starts. Tests share it and must NOT change it: neither its
// pages nor its containers. A test that damages production starts its own
// with FreshSwiftWiki.
func SharedSwiftWiki(t testing.TB) SwiftWiki {
	t.Helper()
	w := wiki(t, "SWIFT")
	return SwiftWiki{
		Wiki:    w,
		Swift:   SwiftService(t),
		Project: Need(t, "MEDIABACKUPS_TEST_WIKI_SWIFT_PROJECT"),
		Lang:    Need(t, "MEDIABACKUPS_TEST_WIKI_SWIFT_LANG"),
		Shards:  Need(t, "MEDIABACKUPS_TEST_WIKI_SWIFT_SHARDS") == "1",
	}
}

var unsafeLang = regexp.MustCompile(`[^a-z0-9]+`)

// FreshSwiftWiki starts a Swift-backed wiki of its own for a test that
// changes it or its containers: a new install under
// $MEDIABACKUPS_TEST_DIR/<name>, sharded like the shared one, whose
// containers are "mbtest-<name>-local-*" (name lower-cased, anything but
// [a-z0-9] dropped), populated with the same fixed history as every test
// wiki and checked with check.sh (installed once more if that fails, see
// testenv/testwiki/README.md). slot (0 to 18) picks its port,
// PortBase+131+slot; use a slot no other test package uses. The wiki is
// stopped and its containers removed when the test ends. It takes about
// 20 seconds.
func FreshSwiftWiki(t testing.TB, name string, slot int, private bool) SwiftWiki {
	t.Helper()
	base := Need(t, "MEDIABACKUPS_TEST_DIR")
	sw := SwiftService(t)
	if slot < 0 || slot > 18 {
		t.Fatalf("FreshSwiftWiki: slot %d is not in 0-18", slot)
	}
	lang := unsafeLang.ReplaceAllString(strings.ToLower(name), "")
	if lang == "" {
		t.Fatalf("FreshSwiftWiki: name %q has no [a-z0-9]", name)
	}
	w := SwiftWiki{Swift: sw, Project: "mbtest", Lang: lang, Shards: true}
	port := PortBase(t) + 131 + slot
	dir := filepath.Join(base, name)
	root := RepoRoot(t)
	env := append(os.Environ(), "TESTWIKI_DIR="+dir, fmt.Sprintf("TESTWIKI_PORT=%d", port),
		"TESTWIKI_SWIFT=1", "TESTWIKI_SWIFT_SHARDS=1", "TESTWIKI_SWIFT_WIKI_ID="+w.WikiID(), "TESTWIKI_SWIFT_DIR="+sw.Dir)
	if private {
		env = append(env, "TESTWIKI_PRIVATE=1")
	} else {
		env = append(env, "TESTWIKI_PRIVATE=0")
	}
	run := func(script string, extra ...string) (string, error) {
		cmd := exec.Command("bash", filepath.Join(root, "testenv", "testwiki", script))
		cmd.Env = append(env, extra...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("testwiki %s for %s: %v\n%s", script, name, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	t.Cleanup(func() {
		run("stop.sh")
		if os.Getenv("MEDIABACKUPS_TEST_KEEP") == "" {
			sw.RemoveContainers(t, w.WikiID()+"-local-")
		}
	})
	var api string
	for attempt := 1; ; attempt++ {
		var err error
		if api, err = run("start.sh", "TESTWIKI_RESET=1"); err != nil {
			t.Fatal(err)
		}
		if _, err := run("populate.sh"); err != nil {
			t.Fatal(err)
		}
		out, err := run("check.sh")
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatalf("check.sh failed twice on the fresh Swift-backed wiki %s: %v\n%s", name, err, out)
		}
		t.Logf("check.sh failed on the fresh Swift-backed wiki %s; installing it once more: %v", name, err)
	}
	w.Wiki = Wiki{
		API:           api,
		Dir:           dir,
		AdminUser:     Need(t, "MEDIABACKUPS_TEST_WIKI_ADMIN_USER"),
		AdminPassword: Need(t, "MEDIABACKUPS_TEST_WIKI_ADMIN_PASSWORD"),
		BotUser:       Need(t, "MEDIABACKUPS_TEST_WIKI_BOT_USER"),
		BotPassword:   Need(t, "MEDIABACKUPS_TEST_WIKI_BOT_PASSWORD"),
	}
	return w
}
