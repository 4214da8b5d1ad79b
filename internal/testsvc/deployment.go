package testsvc

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Deployment is one test's own mediabackups installation on the shared
// services: a throwaway database, a bucket of its own on the first few
// MinIO servers, an age identity, secret files and a config file. All of
// it goes away when the test ends.
type Deployment struct {
	t            testing.TB
	Dir          string
	DSN          string
	DB           *sql.DB // parseTime=true
	Bucket       string
	MinIO        MinIO
	Endpoints    []string // the configured ones, in shard order
	Identity     *age.X25519Identity
	IdentityFile string
	ConfigPath   string
	LogDir       string
	TmpDir       string
}

// DeployedWiki is one wiki in a Deployment's config.
type DeployedWiki struct {
	Name string
	Type string // public, private, ...
	Wiki Wiki
	// API overrides Wiki.API (for a proxy in front of the wiki).
	API string
	// Extra is more of the wiki's YAML flow map, e.g.
	// "project: wikipedia, lang: commons, public_shards: true".
	Extra string
}

// NewDeployment makes a Deployment whose objects go to the first servers
// test MinIO servers. Write its config with WriteConfig.
func NewDeployment(t testing.TB, servers int) *Deployment {
	t.Helper()
	d := &Deployment{t: t, Dir: t.TempDir(), DSN: Database(t), Bucket: Bucket(), MinIO: MinIOServers(t)}
	if servers > len(d.MinIO.Endpoints) {
		t.Fatalf("need %d MinIO servers, have %d", servers, len(d.MinIO.Endpoints))
	}
	d.Endpoints = d.MinIO.Endpoints[:servers]
	d.LogDir, d.TmpDir = filepath.Join(d.Dir, "log"), filepath.Join(d.Dir, "tmp")
	var err error
	if d.DB, err = sql.Open("mysql", d.DSN+"?parseTime=true"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DB.Close() })
	if d.Identity, err = age.GenerateX25519Identity(); err != nil {
		t.Fatal(err)
	}
	d.IdentityFile = d.Secret("identity.txt", d.Identity.String())
	d.ConfigPath = filepath.Join(d.Dir, "mediabackups.yaml")
	t.Cleanup(d.removeBucket)
	return d
}

// Secret writes value into a file of the deployment only its owner can
// read, and returns its path.
func (d *Deployment) Secret(name, value string) string {
	d.t.Helper()
	p := filepath.Join(d.Dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		d.t.Fatal(err)
	}
	return p
}

// WriteConfig writes (or rewrites) the config file for the given wikis.
// extra is more top-level YAML (e.g. "default_wiki: testwiki\n").
func (d *Deployment) WriteConfig(extra string, wikis ...DeployedWiki) {
	d.t.Helper()
	var ws strings.Builder
	for _, w := range wikis {
		api := w.API
		if api == "" {
			api = w.Wiki.API
		}
		more := ""
		if w.Extra != "" {
			more = ", " + w.Extra
		}
		fmt.Fprintf(&ws, "  - {name: %s, api: %q, type: %s, user: %s, password_file: %s, web_user: %s, web_password_file: %s%s}\n",
			w.Name, api, w.Type, w.Wiki.BotUser, d.Secret("bot-password", w.Wiki.BotPassword),
			w.Wiki.AdminUser, d.Secret("admin-password", w.Wiki.AdminPassword), more)
	}
	cfg := fmt.Sprintf(`datacenter: dc1
metadata:
  dsn: %q
storage:
  bucket: %s
  endpoints: [%s]
  generation: {access_key: %s, secret_key_file: %s}
  recovery: {access_key: %s, secret_key_file: %s}
encryption:
  identity_file: %s
tmpdir: %s
logdir: %s
user_agent: "mediabackups-tests/1.0 (test suite; root@localhost)"
%swikis:
%s`, d.DSN, d.Bucket, strings.Join(d.Endpoints, ", "),
		d.MinIO.AccessKey, d.Secret("minio-generation", d.MinIO.SecretKey),
		d.MinIO.AccessKey, d.Secret("minio-recovery", d.MinIO.SecretKey),
		d.IdentityFile, d.TmpDir, d.LogDir, extra, ws.String())
	if err := os.WriteFile(d.ConfigPath, []byte(cfg), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// MinIOClient returns a client of one test MinIO server, with the root user.
func (d *Deployment) MinIOClient(endpoint string) *minio.Client {
	d.t.Helper()
	c, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(d.MinIO.AccessKey, d.MinIO.SecretKey, ""),
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// Objects lists the keys in the deployment's bucket on every test MinIO
// server (configured or not), by endpoint.
func (d *Deployment) Objects() map[string][]string {
	d.t.Helper()
	out := map[string][]string{}
	ctx := context.Background()
	for _, ep := range d.MinIO.Endpoints {
		c := d.MinIOClient(ep)
		if ok, _ := c.BucketExists(ctx, d.Bucket); !ok {
			continue
		}
		for o := range c.ListObjects(ctx, d.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				d.t.Fatal(o.Err)
			}
			out[ep] = append(out[ep], o.Key)
		}
	}
	return out
}

// Get returns the bytes of an object.
func (d *Deployment) Get(endpoint, key string) []byte {
	d.t.Helper()
	o, err := d.MinIOClient(endpoint).GetObject(context.Background(), d.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		d.t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		d.t.Fatalf("get %s from %s: %v", key, endpoint, err)
	}
	return b
}

func (d *Deployment) removeBucket() {
	if !strings.HasPrefix(d.Bucket, "mbtest-") {
		panic("refusing to remove bucket " + d.Bucket)
	}
	if os.Getenv("MEDIABACKUPS_TEST_KEEP") != "" {
		return
	}
	ctx := context.Background()
	for _, ep := range d.MinIO.Endpoints {
		c := d.MinIOClient(ep)
		if ok, _ := c.BucketExists(ctx, d.Bucket); !ok {
			continue
		}
		for o := range c.ListObjects(ctx, d.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			c.RemoveObject(ctx, d.Bucket, o.Key, minio.RemoveObjectOptions{})
		}
		c.RemoveBucket(ctx, d.Bucket)
	}
}
