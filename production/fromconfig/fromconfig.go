// Package fromconfig opens the production store of a configured wiki: the
// one place that turns a wiki's `production:` block into a production.Store.
// It is kept apart from package production because it imports every kind
// of store.
package fromconfig

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/production"
	"github.com/mediabackups/mediabackups/production/filesystem"
	"github.com/mediabackups/mediabackups/production/swift"
)

// ErrNotConfigured is wrapped by Open's error for a wiki without a
// production block.
var ErrNotConfigured = errors.New("no production store is configured")

// opener opens one kind of store.
type opener func(ctx context.Context, c *config.Config, w config.Wiki, p config.Production) (production.Store, error)

// kinds has one opener per config.ProductionTypes entry.
var kinds = map[string]opener{
	config.ProductionSwift:      openSwift,
	config.ProductionFilesystem: openFilesystem,
}

// Containers returns how the wiki names its production containers, from
// its project, lang, public_shards and deleted_shards: the names the
// metadata records and the store takes.
func Containers(w config.Wiki) mediawiki.Containers {
	project, lang := w.ContainerProject()
	return mediawiki.Containers{Project: project, Lang: lang, PublicShards: w.PublicShards, DeletedShards: w.DeletedShards}
}

// Open returns the production store of wiki w, as c configures it. A Swift
// store logs in at once, so wrong credentials fail here; the key file must
// not be world-readable (config.ReadSecret). A filesystem store only checks
// the configuration: its directories are looked at when used.
func Open(ctx context.Context, c *config.Config, w config.Wiki) (production.Store, error) {
	if w.Production == nil {
		return nil, fmt.Errorf("wiki %s: %w: add a production block (type swift or filesystem) to its entry in the config", w.Name, ErrNotConfigured)
	}
	p := *w.Production
	open, ok := kinds[p.Type]
	if !ok {
		return nil, fmt.Errorf("wiki %s: production type %q is not one of %v", w.Name, p.Type, config.ProductionTypes)
	}
	s, err := open(ctx, c, w, p)
	if err != nil {
		return nil, fmt.Errorf("wiki %s: open the production store: %w", w.Name, err)
	}
	return s, nil
}

func openSwift(ctx context.Context, c *config.Config, w config.Wiki, p config.Production) (production.Store, error) {
	key, err := config.ReadSecret(c.Resolve(p.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("production.key_file: %w", err)
	}
	cfg := swift.Config{AuthURL: p.AuthURL, User: p.User, Key: key, UserAgent: c.UserAgent}
	if a := p.ACL; a != nil {
		cfg.ACL = swift.ACL{PublicRead: a.PublicRead, PublicWrite: a.PublicWrite, PrivateRead: a.PrivateRead, PrivateWrite: a.PrivateWrite}
	}
	return swift.New(ctx, cfg)
}

func openFilesystem(_ context.Context, _ *config.Config, w config.Wiki, p config.Production) (production.Store, error) {
	cfg, err := filesystem.WikiConfig(Containers(w), p.Root, p.DeletedDir())
	if err != nil {
		return nil, err
	}
	cfg.FileMode = p.Mode()
	return filesystem.New(cfg)
}
