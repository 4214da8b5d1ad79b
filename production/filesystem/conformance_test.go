package filesystem_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/filesystem"
	"github.com/mediabackups/mediabackups/production/productiontest"
)

// TestConformance runs the production store suite against a real directory
// laid out as MediaWiki's: $wgUploadDirectory with its deleted/ inside.
func TestConformance(t *testing.T) {
	productiontest.Run(t, productiontest.Harness{
		Setup: func(t *testing.T) (mediawiki.Containers, string) {
			return mediawiki.Containers{Project: "mbtest", Lang: "fs"}, t.TempDir()
		},
		Open: func(_ context.Context, layout mediawiki.Containers, dir string) (production.Store, error) {
			cfg, err := filesystem.WikiConfig(layout, filepath.Join(dir, "images"), "")
			if err != nil {
				return nil, err
			}
			return filesystem.New(cfg)
		},
	})
}
