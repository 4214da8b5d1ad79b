package testsvc

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/mediabackups/mediabackups/config"
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
	// RecoveryAccessKey and RecoverySecretKey, when set (RecoveryUser), are
	// the storage.recovery credential; else the root user is.
	RecoveryAccessKey, RecoverySecretKey string
	// GenerationAccessKey and GenerationSecretKey, when set (WorkerUser),
	// are the storage.generation credential; else the root user is.
	GenerationAccessKey, GenerationSecretKey string
}

// DeployedWiki is one wiki in a Deployment's config.
type DeployedWiki struct {
	Name string
	Type string // public, private, ...
	Wiki Wiki
	// API overrides Wiki.API (for a proxy in front of the wiki).
	API string
	// Tune, when set, changes the wiki's config entry further (containers,
	// shards, pause, ...).
	Tune func(*config.Wiki)
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
// tune, when not nil, changes the rest of the config (e.g. DefaultWiki).
func (d *Deployment) WriteConfig(tune func(*config.Config), wikis ...DeployedWiki) {
	d.t.Helper()
	c := &config.Config{
		Datacenter: "dc1",
		Metadata:   config.Metadata{DSN: d.DSN},
		Storage: config.Storage{
			Bucket:     d.Bucket,
			Endpoints:  config.ActiveEndpoints(d.Endpoints...),
			Generation: d.generationCredential(),
			Recovery:   d.recoveryCredential(),
		},
		Encryption: config.Encryption{IdentityFile: d.IdentityFile},
		TmpDir:     d.TmpDir,
		LogDir:     d.LogDir,
		UserAgent:  "mediabackups-tests/1.0 (test suite; root@localhost)",
	}
	for _, w := range wikis {
		cw := config.Wiki{
			Name: w.Name, API: w.Wiki.API, Type: w.Type,
			User: w.Wiki.BotUser, PasswordFile: d.Secret("bot-password", w.Wiki.BotPassword),
			WebUser: w.Wiki.AdminUser, WebPasswordFile: d.Secret("admin-password", w.Wiki.AdminPassword),
		}
		if w.API != "" {
			cw.API = w.API
		}
		if w.Tune != nil {
			w.Tune(&cw)
		}
		c.Wikis = append(c.Wikis, cw)
	}
	if tune != nil {
		tune(c)
	}
	b, err := c.Marshal()
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := config.Parse(b); err != nil {
		d.t.Fatalf("the test config does not parse: %v\n%s", err, b)
	}
	if err := os.WriteFile(d.ConfigPath, b, 0o600); err != nil {
		d.t.Fatal(err)
	}
}

func (d *Deployment) generationCredential() config.Credential {
	if d.GenerationAccessKey != "" {
		return config.Credential{AccessKey: d.GenerationAccessKey, SecretKeyFile: d.Secret("minio-generation", d.GenerationSecretKey)}
	}
	return config.Credential{AccessKey: d.MinIO.AccessKey, SecretKeyFile: d.Secret("minio-generation", d.MinIO.SecretKey)}
}

func (d *Deployment) recoveryCredential() config.Credential {
	if d.RecoveryAccessKey != "" {
		return config.Credential{AccessKey: d.RecoveryAccessKey, SecretKeyFile: d.Secret("minio-recovery", d.RecoverySecretKey)}
	}
	return config.Credential{AccessKey: d.MinIO.AccessKey, SecretKeyFile: d.Secret("minio-recovery", d.MinIO.SecretKey)}
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

// OwnMinIO is a MinIO server a test starts for itself, to stop and start
// it again (a server going down). It uses the shared servers' credentials.
type OwnMinIO struct {
	t        testing.TB
	Endpoint string
	dir      string
	addr     string
	cmd      *exec.Cmd
}

// StartOwnMinIO starts a MinIO server of the test's own on a free port; it
// is stopped when the test ends.
func StartOwnMinIO(t testing.TB) *OwnMinIO {
	t.Helper()
	m := MinIOServers(t)
	if m.Bin == "" {
		Need(t, "MEDIABACKUPS_TEST_MINIO_BIN")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	o := &OwnMinIO{t: t, Endpoint: "http://" + addr, dir: t.TempDir(), addr: addr}
	o.Start()
	t.Cleanup(o.Stop)
	return o
}

// Start starts the server (again, on the same port and data) and waits
// until it answers.
func (o *OwnMinIO) Start() {
	o.t.Helper()
	m := MinIOServers(o.t)
	o.cmd = exec.Command(m.Bin, "server", "--quiet", "--address", o.addr, "--console-address", "127.0.0.1:0", o.dir)
	o.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey)
	if err := o.cmd.Start(); err != nil {
		o.t.Fatalf("start minio: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(o.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			o.Stop()
			o.t.Fatalf("minio on %s did not come up", o.addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Freeze stops the server's process without ending it (SIGSTOP): its port
// still accepts connections and its connections stay open, but it answers
// nothing, as a hung server would. Thaw resumes it.
func (o *OwnMinIO) Freeze() {
	o.t.Helper()
	if o.cmd == nil || o.cmd.Process == nil {
		o.t.Fatal("Freeze: the server is not running")
	}
	if err := o.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		o.t.Fatal(err)
	}
}

// Thaw resumes a server stopped by Freeze (SIGCONT).
func (o *OwnMinIO) Thaw() {
	if o.cmd != nil && o.cmd.Process != nil {
		o.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (o *OwnMinIO) Stop() {
	if o.cmd == nil || o.cmd.Process == nil {
		return
	}
	o.cmd.Process.Kill()
	o.cmd.Wait()
	o.cmd = nil
}
