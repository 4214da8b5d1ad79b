package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/go-sql-driver/mysql"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediabackups/mediabackups/config"
	"github.com/mediabackups/mediabackups/metadata"
	"github.com/mediabackups/mediabackups/storage"
)

// Services says where the real services are.
type Services struct {
	// DSN of a MariaDB account that may create databases (go-sql-driver
	// form, without a database name).
	DSN       string
	Endpoints []string
	Creds     storage.Credentials
	// Swift, when set, is where the restore into production is measured,
	// against rclone (which must be installed).
	Swift *Swift
}

// dbAddr is the host:port of the MariaDB server ("" for a socket).
func (s Services) dbAddr() string {
	cfg, err := mysql.ParseDSN(s.DSN)
	if err != nil || cfg.Net != "tcp" {
		return ""
	}
	return cfg.Addr
}

// world is one run's database, bucket and config file.
type world struct {
	svc    Services
	dir    string
	suffix string // random, in every name the run creates
	dbName string
	dbDSN  string // with the database
	bucket string
	config string
	// rotated is the same config with the servers one place further in
	// shard order: under it every object's home is the next server, so
	// a rebalance moves them all.
	rotated  string
	identity *age.X25519Identity
	store    *metadata.Store
}

// benchPrefix marks the databases and buckets a bench creates; cleanup
// refuses anything else.
const benchPrefix = "mbbench"

func randomSuffix() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newWorld creates a database mbbench_* with the current schema and a bucket
// mbbench-* on every server, and writes a config for them under dir.
func newWorld(ctx context.Context, svc Services, dir string) (_ *world, err error) {
	suffix := randomSuffix()
	w := &world{svc: svc, dir: dir, suffix: suffix}
	w.dbName, w.bucket = benchPrefix+"_"+suffix, benchPrefix+"-"+suffix
	defer func() {
		if err != nil {
			w.cleanup(context.WithoutCancel(ctx))
		}
	}()
	cfg, err := mysql.ParseDSN(svc.DSN)
	if err != nil {
		return nil, fmt.Errorf("bench database DSN: %w", err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("bench database: %w", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+w.dbName); err != nil {
		return nil, fmt.Errorf("create bench database %s: %w", w.dbName, err)
	}
	cfg.DBName = w.dbName
	w.dbDSN = cfg.FormatDSN()
	if w.store, err = metadata.Open(ctx, w.dbDSN); err != nil {
		return nil, err
	}
	if _, err := w.store.Migrate(ctx); err != nil {
		return nil, err
	}
	servers, err := storage.NewServers(svc.Endpoints, w.bucket, svc.Creds)
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		if err := s.EnsureBucket(ctx); err != nil {
			return nil, err
		}
	}
	if w.identity, err = age.GenerateX25519Identity(); err != nil {
		return nil, fmt.Errorf("generate age identity: %w", err)
	}
	return w, nil
}

// secretFile writes a 0600 file under the world's directory.
func (w *world) secretFile(name, value string) (string, error) {
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, nil
}

// writeConfig writes the mediabackups config of the world with the given
// wikis (name → type), all served by api (which the backup never calls: every
// version it downloads has a source URL).
func (w *world) writeConfig(api string, wikis map[string]string) error {
	var list []config.Wiki
	for _, name := range metadata.SortedKeys(wikis) {
		list = append(list, config.Wiki{Name: name, API: api, Type: wikis[name]})
	}
	return w.writeConfigWikis(list)
}

// writeConfigWikis writes the mediabackups config of the world with the
// given wikis.
func (w *world) writeConfigWikis(wikis []config.Wiki) error {
	minioSecret, err := w.secretFile("minio-secret", w.svc.Creds.SecretKey)
	if err != nil {
		return err
	}
	idFile, err := w.secretFile("identity.txt", w.identity.String())
	if err != nil {
		return err
	}
	c := &config.Config{
		Datacenter: "bench",
		Metadata:   config.Metadata{DSN: w.dbDSN},
		Storage: config.Storage{
			Bucket:     w.bucket,
			Endpoints:  config.ActiveEndpoints(w.svc.Endpoints...),
			Generation: config.Credential{AccessKey: w.svc.Creds.AccessKey, SecretKeyFile: minioSecret},
			Recovery:   config.Credential{AccessKey: w.svc.Creds.AccessKey, SecretKeyFile: minioSecret},
		},
		Encryption: config.Encryption{IdentityFile: idFile},
		TmpDir:     filepath.Join(w.dir, "tmp"),
		LogDir:     filepath.Join(w.dir, "log"),
		UserAgent:  "mediabackups-bench/1.0 (benchmark; root@localhost)",
	}
	var swiftKey string
	if s := w.svc.Swift; s != nil {
		if swiftKey, err = w.secretFile("swift-key", s.Key); err != nil {
			return err
		}
	}
	for _, cw := range wikis {
		if s := w.svc.Swift; s != nil && cw.Production == nil {
			cw.Project, cw.Lang = w.layout(cw.Name).Project, w.layout(cw.Name).Lang
			cw.Production = &config.Production{Type: config.ProductionSwift, AuthURL: s.AuthURL, User: s.User, KeyFile: swiftKey,
				ACL: &config.SwiftACL{PublicRead: s.User, PublicWrite: s.User, PrivateRead: s.User, PrivateWrite: s.User}}
		}
		c.Wikis = append(c.Wikis, cw)
	}
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	w.config = filepath.Join(w.dir, "mediabackups.yaml")
	if err := os.WriteFile(w.config, b, 0o600); err != nil {
		return err
	}
	eps := w.svc.Endpoints
	c.Storage.Endpoints = config.ActiveEndpoints(append(append([]string{}, eps[1:]...), eps[0])...)
	if b, err = c.Marshal(); err != nil {
		return err
	}
	w.rotated = filepath.Join(w.dir, "mediabackups-rotated.yaml")
	return os.WriteFile(w.rotated, b, 0o600)
}

// register records the files as pending versions of wiki, with their
// production URLs under base, and their production containers and paths
// as a MediaWiki wiki would have them (w.layout).
func (w *world) register(ctx context.Context, wiki, typ, base string, files []CorpusFile) error {
	id, err := w.store.EnsureWiki(ctx, wiki, typ)
	if err != nil {
		return err
	}
	up, _ := time.Parse("20060102150405", benchUploadDate)
	batch := make([]metadata.File, 0, 500)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := w.store.SyncVersions(ctx, id, batch, "bench")
		batch = batch[:0]
		return err
	}
	for _, f := range files {
		title := strings.ReplaceAll(f.Path, "/", "_")
		container, path := w.layout(wiki).Public(title)
		batch = append(batch, metadata.File{
			Title: title, Container: container, Path: path, SourceURL: base + "/" + f.Path,
			SHA1: f.SHA1, Size: f.Size, MIME: "application/octet-stream", Status: metadata.Public, UploadDate: up,
		})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return fmt.Errorf("register %s files: %w", wiki, err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("register %s files: %w", wiki, err)
	}
	return nil
}

// cleanup removes the bucket (with every object in it) from every server and
// drops the database. It refuses names without the bench prefix.
func (w *world) cleanup(ctx context.Context) error {
	var errs []error
	if w.store != nil {
		w.store.Close()
	}
	errs = append(errs, w.removeSwift(ctx))
	if strings.HasPrefix(w.bucket, benchPrefix+"-") {
		for _, e := range w.svc.Endpoints {
			errs = append(errs, removeBucket(ctx, e, w.bucket, w.svc.Creds))
		}
	}
	if strings.HasPrefix(w.dbName, benchPrefix+"_") {
		if admin, err := sql.Open("mysql", w.svc.DSN); err == nil {
			if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+w.dbName); err != nil {
				errs = append(errs, fmt.Errorf("drop bench database %s: %w", w.dbName, err))
			}
			admin.Close()
		}
	}
	return errors.Join(errs...)
}

func removeBucket(ctx context.Context, endpoint, bucket string, creds storage.Credentials) error {
	host, secure, err := hostOf(endpoint)
	if err != nil {
		return err
	}
	cl, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, ""), Secure: secure})
	if err != nil {
		return err
	}
	objs := cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for res := range cl.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return fmt.Errorf("empty bucket %s on %s: %w", bucket, endpoint, res.Err)
		}
	}
	if err := cl.RemoveBucket(ctx, bucket); err != nil && minio.ToErrorResponse(err).Code != "NoSuchBucket" {
		return fmt.Errorf("remove bucket %s on %s: %w", bucket, endpoint, err)
	}
	return nil
}
