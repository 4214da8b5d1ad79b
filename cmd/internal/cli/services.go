package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/go-sql-driver/mysql"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/encryption"
	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// openStore connects to the metadata database; unless migrating, it also
// checks that the schema is current. What the driver has to say (a bad
// idle connection closed, ...) goes to the command's logger.
func (f *Factory) openStore(ctx context.Context, checkSchema bool) (*metadata.Store, error) {
	return f.openStoreLogged(ctx, checkSchema, f.Logger())
}

// driverLogger passes the MariaDB driver's messages, which it would
// otherwise print raw on stderr ("[mysql] ... closing bad idle
// connection"), to a logger.
type driverLogger struct{ log *slog.Logger }

// Print implements mysql.Logger.
func (d driverLogger) Print(v ...any) {
	d.log.Warn("MariaDB driver", "message", strings.TrimSpace(fmt.Sprint(v...)))
}

// openStoreLogged is openStore with the driver's messages sent to log.
func (f *Factory) openStoreLogged(ctx context.Context, checkSchema bool, log *slog.Logger) (*metadata.Store, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	dsn, err := mysql.ParseDSN(c.Metadata.DSN)
	if err != nil {
		return nil, fmt.Errorf("metadata.dsn: %w", err)
	}
	if c.Metadata.PasswordFile != "" {
		pw, err := config.ReadSecret(c.Resolve(c.Metadata.PasswordFile))
		if err != nil {
			return nil, fmt.Errorf("metadata.password_file: %w", err)
		}
		dsn.Passwd = pw.Reveal()
	}
	dsn.Logger = driverLogger{log}
	s, err := metadata.OpenConfig(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if checkSchema {
		if err := s.CheckSchema(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// wikiClient builds the API client of a configured wiki, reading its
// passwords from their files.
func (f *Factory) wikiClient(w config.Wiki) (*mediawiki.Client, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	mc := mediawiki.Config{APIURL: w.API, UserAgent: c.UserAgent, MaxLag: w.MaxLag, Pause: w.Pause,
		HTTPClient: &http.Client{Transport: downloadTransport()}}
	if w.User != "" {
		pw, err := config.ReadSecret(c.Resolve(w.PasswordFile))
		if err != nil {
			return nil, fmt.Errorf("wiki %s: password_file: %w", w.Name, err)
		}
		mc.User, mc.Password = w.User, pw.Reveal()
	}
	if w.WebUser != "" {
		pw, err := config.ReadSecret(c.Resolve(w.WebPasswordFile))
		if err != nil {
			return nil, fmt.Errorf("wiki %s: web_password_file: %w", w.Name, err)
		}
		mc.WebUser, mc.WebPassword = w.WebUser, pw.Reveal()
	}
	if w.Type != config.TypePublic && mc.WebUser == "" && strings.Contains(mc.User, "@") {
		return nil, fmt.Errorf("wiki %s is %s, so its files are served only to a logged-in main account (MediaWiki refuses bot-password sessions on img_auth.php): set web_user and web_password_file", w.Name, w.Type)
	}
	cl, err := mediawiki.New(mc)
	if err != nil {
		return nil, fmt.Errorf("wiki %s: %w", w.Name, err)
	}
	return cl, nil
}

// containers returns the naming of a wiki's production containers.
func containers(w config.Wiki) mediawiki.Containers {
	project, lang := w.ContainerProject()
	return mediawiki.Containers{Project: project, Lang: lang, PublicShards: w.PublicShards, DeletedShards: w.DeletedShards}
}

// servers connects to every configured MinIO endpoint with the given
// credential (generation for workers, recovery for the recovery tools),
// each behind a storage.Health that stops calling a server that does not
// answer, with timeout bounding every wait on a server (storage.WithTimeout),
// and behind its configured state (storage.WithState): a down server is
// never contacted (and has no Health), a readonly one never written to. It
// returns the Health of each active server, the ones backups write to.
func (f *Factory) servers(cred config.Credential, which string, timeout time.Duration) (*storage.Sharded, []*storage.Health, error) {
	c, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	if cred.AccessKey == "" || cred.SecretKeyFile == "" {
		return nil, nil, fmt.Errorf("storage.%s: access_key and secret_key_file are required", which)
	}
	secret, err := config.ReadSecret(c.Resolve(cred.SecretKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("storage.%s.secret_key_file: %w", which, err)
	}
	var list []storage.Member
	var health []*storage.Health
	for _, ep := range c.Storage.Endpoints {
		s, err := storage.NewServer(ep.URL, c.Storage.Bucket, storage.Credentials{AccessKey: cred.AccessKey, SecretKey: secret.Reveal()},
			storage.WithTimeout(timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("storage endpoint %s: %w", ep.URL, err)
		}
		st := ep.Mode()
		if !st.Contacted() {
			list = append(list, storage.Member{Backend: s, State: st}) // WithState refuses every call
			continue
		}
		h := storage.NewHealth(s, storage.HealthOptions{})
		list = append(list, storage.Member{Backend: h, State: st})
		if st.Writable() {
			health = append(health, h)
		}
	}
	sh, err := storage.NewShardedMembers(list)
	if err != nil {
		return nil, nil, err
	}
	return sh, health, nil
}

// storeAndServers opens the metadata store (its schema checked) and
// connects to every configured server with the generation credential, as
// the commands that read and move stored objects (verify, rebalance,
// recover-server, rekey) need; the caller closes the store.
func (f *Factory) storeAndServers(ctx context.Context, timeout time.Duration) (*metadata.Store, *storage.Sharded, error) {
	c, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	servers, _, err := f.servers(c.Storage.Generation, "generation", timeout)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, servers, nil
}

// recoveryServers connects to every configured server with the
// storage.recovery credential, which the recovery tools use. A credential
// that is missing or cannot be read is a usage error: it is checked before
// anything is searched, so that an operator fixes it first.
func (f *Factory) recoveryServers(timeout time.Duration) (*storage.Sharded, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	servers, _, err := f.servers(c.Storage.Recovery, "recovery", timeout)
	if err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("%w\nthe recovery tools read the backups with storage.recovery (access_key and secret_key_file): fix it in the config", err))
	}
	return servers, nil
}

// recipients returns who encrypted objects are encrypted to: the configured
// recipients, else the identity's own.
func (f *Factory) recipients() ([]age.Recipient, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	if len(c.Encryption.Recipients) > 0 {
		return encryption.ParseRecipients(c.Encryption.Recipients)
	}
	if c.Encryption.IdentityFile == "" {
		return nil, fmt.Errorf("encryption: set identity_file or recipients to back up non-public wikis")
	}
	id, err := encryption.LoadIdentity(c.Resolve(c.Encryption.IdentityFile))
	if err != nil {
		return nil, err
	}
	return []age.Recipient{id.Recipient()}, nil
}

// wikisToRun returns the one configured wiki named, or all of them.
func (f *Factory) wikisToRun(name string) ([]config.Wiki, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	if name != "" {
		w, err := c.Wiki(name)
		if err != nil {
			return nil, err
		}
		return []config.Wiki{w}, nil
	}
	if len(c.Wikis) == 0 {
		return nil, fmt.Errorf("no wikis in the config")
	}
	return c.Wikis, nil
}

// downloadTransport is the HTTP transport of the wiki clients. Unlike
// http.DefaultTransport, which keeps 2 idle connections per host, it keeps
// enough for every backup worker to reuse its connection to production
// instead of opening a new one per file.
func downloadTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 128
	return tr
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// openedWiki is a configured wiki with its API client and the metadata
// store, registered in the metadata. Close closes the store.
type openedWiki struct {
	config.Wiki
	Client *mediawiki.Client
	Store  *metadata.Store
	ID     int64
}

func (o *openedWiki) Close() error { return o.Store.Close() }

// openWiki looks up the configured wiki called name (an unknown one is a
// usage error), builds its API client, opens the metadata store and
// registers the wiki there.
func (f *Factory) openWiki(ctx context.Context, name string) (*openedWiki, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	w, err := c.Wiki(name)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	client, err := f.wikiClient(w)
	if err != nil {
		return nil, err
	}
	s, err := f.openStore(ctx, true)
	if err != nil {
		return nil, err
	}
	id, err := s.EnsureWiki(ctx, w.Name, w.Type)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &openedWiki{Wiki: w, Client: client, Store: s, ID: id}, nil
}
