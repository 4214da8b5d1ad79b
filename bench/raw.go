package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mediabackups/mediabackups/sharding"
	"github.com/mediabackups/mediabackups/storage"
)

// RawOptions configures RawTransfer.
type RawOptions struct {
	Op        string // "put", "get" or "move"
	CorpusDir string // a directory GenerateCorpus wrote
	Class     string // the size class to transfer, e.g. "64KiB"
	Endpoints []string
	Bucket    string
	Creds     storage.Credentials
	Workers   int
	// OutDir receives the objects read by "get", one file each.
	OutDir string
}

// RawStats is what RawTransfer moved.
type RawStats struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// rawKey is where RawTransfer puts a corpus file: beside, not among, the
// backup's objects.
func rawKey(path string) string { return "raw/" + path }

// RawTransfer is the ceiling a backup or restore is compared with: it moves
// the files of one corpus class into ("put") or out of ("get") the MinIO
// servers with plain minio-go calls, Workers at a time, over one shared
// connection pool, with nothing else: no hashing of its own, no metadata, no
// encryption. Objects are spread over the servers by the sha256 of their key.
// "get" writes each object to a file under OutDir. "move" is the ceiling of
// a rebalance: it GETs each object "put" stored and PUTs it, streamed, to
// the next server (under another name). The first error stops it.
func RawTransfer(ctx context.Context, o RawOptions) (RawStats, error) {
	c, err := loadCorpus(o.CorpusDir)
	if err != nil {
		return RawStats{}, err
	}
	files := c.ByClass(o.Class)
	if len(files) == 0 {
		return RawStats{}, fmt.Errorf("raw %s: corpus %s has no class %q", o.Op, o.CorpusDir, o.Class)
	}
	if o.Op != "put" && o.Op != "get" && o.Op != "move" {
		return RawStats{}, fmt.Errorf("raw: op %q is not put, get or move", o.Op)
	}
	tr, err := storage.NewTransport()
	if err != nil {
		return RawStats{}, err
	}
	clients := make([]*minio.Client, len(o.Endpoints))
	for i, e := range o.Endpoints {
		host, secure, err := hostOf(e)
		if err != nil {
			return RawStats{}, err
		}
		clients[i], err = minio.New(host, &minio.Options{
			Creds: credentials.NewStaticV4(o.Creds.AccessKey, o.Creds.SecretKey, ""), Secure: secure, Transport: tr,
		})
		if err != nil {
			return RawStats{}, fmt.Errorf("raw %s: minio client for %s: %w", o.Op, e, err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan CorpusFile)
	var (
		mu sync.Mutex
		st RawStats
		wg sync.WaitGroup
	)
	for range max(1, o.Workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				n, err := rawOne(ctx, clients, o, f)
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				st.Files++
				st.Bytes += n
				mu.Unlock()
			}
		}()
	}
feed:
	for _, f := range files {
		select {
		case jobs <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return st, err
	}
	return st, nil
}

func rawOne(ctx context.Context, clients []*minio.Client, o RawOptions, f CorpusFile) (int64, error) {
	key := rawKey(f.Path)
	sum := sha256.Sum256([]byte(key))
	i, err := sharding.Shard(hex.EncodeToString(sum[:]), len(clients))
	if err != nil {
		return 0, err
	}
	cl := clients[i]
	if o.Op == "put" {
		in, err := os.Open(filepath.Join(o.CorpusDir, filepath.FromSlash(f.Path)))
		if err != nil {
			return 0, fmt.Errorf("raw put: %w", err)
		}
		defer in.Close()
		info, err := cl.PutObject(ctx, o.Bucket, key, in, f.Size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			return 0, fmt.Errorf("raw put %s to %s: %w", key, cl.EndpointURL(), err)
		}
		return info.Size, nil
	}
	obj, err := cl.GetObject(ctx, o.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("raw get %s from %s: %w", key, cl.EndpointURL(), err)
	}
	defer obj.Close()
	if o.Op == "move" {
		next := clients[(i+1)%len(clients)]
		info, err := next.PutObject(ctx, o.Bucket, "raw-moved/"+f.Path, obj, f.Size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			return 0, fmt.Errorf("raw move %s from %s to %s: %w", key, cl.EndpointURL(), next.EndpointURL(), err)
		}
		return info.Size, nil
	}
	out, err := os.Create(filepath.Join(o.OutDir, strings.ReplaceAll(f.Path, "/", "_")))
	if err != nil {
		return 0, fmt.Errorf("raw get: %w", err)
	}
	n, err := io.Copy(out, obj)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("raw get %s from %s: %w", key, cl.EndpointURL(), err)
	}
	return n, nil
}

func hostOf(endpoint string) (host string, secure bool, err error) {
	e, err := storage.NormalizeEndpoint(endpoint)
	if err != nil {
		return "", false, err
	}
	scheme, host, _ := strings.Cut(e, "://")
	return host, scheme == "https", nil
}
