package swift_test

import (
	"context"
	"testing"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/internal/testsvc"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/productiontest"
	"github.com/mediabackups/mediabackups/production/swift"
)

// testACL is what MediaWiki gives the test wikis' containers (see
// testenv/testwiki/API-NOTES.md, section 10).
var testACL = swift.ACL{PublicRead: ".r:*,test:tester", PublicWrite: "test:tester", PrivateRead: "test:tester", PrivateWrite: "test:tester"}

// testLayout names the containers of a throwaway wiki, removed when the
// test ends.
func testLayout(t testing.TB, sw testsvc.Swift, shards bool) mediawiki.Containers {
	project, lang := sw.TestWiki(t)
	return mediawiki.Containers{Project: project, Lang: lang, PublicShards: shards, DeletedShards: shards}
}

// wikiLayout names the containers of a test wiki as the metadata does.
func wikiLayout(w testsvc.SwiftWiki) mediawiki.Containers {
	return mediawiki.Containers{Project: w.Project, Lang: w.Lang, PublicShards: w.Shards, DeletedShards: w.Shards}
}

func newStore(ctx context.Context, t testing.TB, sw testsvc.Swift, pageSize int) (*swift.Store, error) {
	return swift.New(ctx, swift.Config{AuthURL: sw.AuthURL, User: sw.User, Key: config.NewSecret(sw.Key),
		ACL: testACL, UserAgent: "mediabackups-tests", PageSize: pageSize})
}

// TestConformance runs the production store suite against the real test
// Swift, with sharded containers as on Wikimedia's big wikis and with
// unsharded ones, listing 3 names a page so that paging is exercised.
func TestConformance(t *testing.T) {
	t.Parallel()
	sw := testsvc.SwiftService(t)
	for _, tc := range []struct {
		name   string
		shards bool
	}{{"sharded", true}, {"unsharded", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			productiontest.Run(t, productiontest.Harness{
				Setup: func(t *testing.T) (mediawiki.Containers, string) {
					return testLayout(t, sw, tc.shards), ""
				},
				Open: func(ctx context.Context, _ mediawiki.Containers, _ string) (production.Store, error) {
					return newStore(ctx, t, sw, 3)
				},
			})
		})
	}
}
