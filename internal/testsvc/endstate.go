package testsvc

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
)

// CheckEndState checks, independently of the code under test (plain SQL on
// the deployment's database, minio-go on its servers, filippo.io/age with
// its identity), that the deployment is in a sound end state, and reports
// every violation with t.Errorf:
//
//   - no version is left processing;
//   - every version whose backup status is backedup or duplicate points at a
//     backups row, and that row's object exists on the server the row
//     records, in the deployment's bucket;
//   - the object's content (decrypted when the row says it is encrypted)
//     has the sha256 the row and the version record, and the VERSION's sha1;
//     the one exception is a version that the metadata lists as a sha1
//     mismatch (downloaded_sha1 set: production itself served it with other
//     bytes), whose content must have exactly that recorded sha1, and be
//     no recorded version's (else it is another version's bytes, recorded
//     as a mismatch: what backups before the fix of issue 8 did). A
//     version's bytes cannot be told from corruption while the version
//     they belong to is not recorded: check after `update` has run;
//   - no other status (pending, error, unavailable, ...) points at an object;
//   - no object in the bucket, on any test MinIO server, is an orphan: each
//     is the object of a backups row, on that row's server; and every
//     backups row is the object of at least one version.
//
// Use it at the end of a fault test, after the documented recovery step
// (e.g. a last `backup`): it fails for a version stored with another
// version's bytes, a lost or misplaced object, a stranded claim or a
// leftover object. It reads every object, so keep the corpus small.
func (d *Deployment) CheckEndState(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var processing int
	if err := d.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM files WHERE backup_status = 'processing'`).Scan(&processing); err != nil {
		t.Fatalf("end state: count processing versions: %v", err)
	}
	if processing > 0 {
		t.Errorf("end state: %d versions are left processing", processing)
	}

	type object struct {
		id                  int64
		endpoint, bucket    string
		key, sha256, sha1   string
		encrypted           bool
		refs                int
		contentSHA1, reason string // of the content as read, or why it could not be read
		read                bool
	}
	objects := map[int64]*object{}
	rows, err := d.DB.QueryContext(ctx, `SELECT b.id, l.endpoint, b.bucket, b.object_key, LOWER(HEX(b.sha256)), LOWER(HEX(b.sha1)),
		b.encrypted FROM backups b JOIN locations l ON l.id = b.location_id`)
	if err != nil {
		t.Fatalf("end state: read backups: %v", err)
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.id, &o.endpoint, &o.bucket, &o.key, &o.sha256, &o.sha1, &o.encrypted); err != nil {
			t.Fatalf("end state: read backups: %v", err)
		}
		objects[o.id] = &o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatalf("end state: read backups: %v", err)
	}

	// read fetches, decrypts and hashes an object once.
	read := func(o *object) {
		if o.read {
			return
		}
		o.read = true
		if o.bucket != d.Bucket {
			o.reason = fmt.Sprintf("recorded in bucket %q, the deployment's is %q", o.bucket, d.Bucket)
			return
		}
		obj, err := d.MinIOClient(o.endpoint).GetObject(ctx, o.bucket, o.key, minio.GetObjectOptions{})
		if err != nil {
			o.reason = fmt.Sprintf("get from %s: %v", o.endpoint, err)
			return
		}
		defer obj.Close()
		var src io.Reader = obj
		if o.encrypted {
			if src, err = age.Decrypt(obj, d.Identity); err != nil {
				o.reason = fmt.Sprintf("get from %s and decrypt: %v", o.endpoint, err)
				return
			}
		}
		h1, h256 := sha1.New(), sha256.New()
		if _, err := io.Copy(io.MultiWriter(h1, h256), src); err != nil {
			o.reason = fmt.Sprintf("read from %s: %v", o.endpoint, err)
			return
		}
		o.contentSHA1 = hex.EncodeToString(h1.Sum(nil))
		if got := hex.EncodeToString(h256.Sum(nil)); got != o.sha256 {
			o.reason = fmt.Sprintf("content on %s has sha256 %s, the backups row records %s", o.endpoint, got, o.sha256)
		}
	}

	// Every recorded version's sha1, by wiki, with one version that has it.
	versionOf := map[string]string{}
	rows, err = d.DB.QueryContext(ctx, `SELECT f.wiki_id, LOWER(HEX(f.sha1)), MIN(CONCAT(f.title, ' uploaded ', f.upload_date))
		FROM files f WHERE f.sha1 IS NOT NULL GROUP BY f.wiki_id, f.sha1`)
	if err != nil {
		t.Fatalf("end state: read versions: %v", err)
	}
	for rows.Next() {
		var wikiID int64
		var sha, which string
		if err := rows.Scan(&wikiID, &sha, &which); err != nil {
			t.Fatalf("end state: read versions: %v", err)
		}
		versionOf[fmt.Sprint(wikiID, "/", sha)] = which
	}
	rows.Close()

	rows, err = d.DB.QueryContext(ctx, `SELECT f.id, f.wiki_id, w.name, f.title, DATE_FORMAT(f.upload_date, '%Y-%m-%dT%H:%i:%sZ'), f.backup_status,
		LOWER(HEX(f.sha1)), COALESCE(LOWER(HEX(f.sha256)), ''), COALESCE(LOWER(HEX(f.downloaded_sha1)), ''), f.backup_id
		FROM files f JOIN wikis w ON w.id = f.wiki_id ORDER BY f.id`)
	if err != nil {
		t.Fatalf("end state: read versions: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, wikiID                        int64
			wiki, title, uploaded, status     string
			sha1hex, sha256hex, downloadedSHA string
			backupID                          sql.NullInt64
		)
		if err := rows.Scan(&id, &wikiID, &wiki, &title, &uploaded, &status, &sha1hex, &sha256hex, &downloadedSHA, &backupID); err != nil {
			t.Fatalf("end state: read versions: %v", err)
		}
		what := fmt.Sprintf("end state: %s %s (uploaded %s, id %d, %s)", wiki, title, uploaded, id, status)
		stored := status == "backedup" || status == "duplicate"
		if !backupID.Valid {
			if stored {
				t.Errorf("%s: no object recorded", what)
			}
			continue
		}
		o := objects[backupID.Int64]
		if o == nil {
			t.Errorf("%s: points at backups row %d, which does not exist", what, backupID.Int64)
			continue
		}
		o.refs++
		if !stored {
			t.Errorf("%s: points at object %s although it is not backed up", what, o.key)
			continue
		}
		if sha256hex != o.sha256 {
			t.Errorf("%s: records sha256 %s, its object %s holds %s", what, sha256hex, o.key, o.sha256)
		}
		read(o)
		switch want := sha1hex; {
		case o.reason != "":
			t.Errorf("%s: object %s: %s", what, o.key, o.reason)
		case downloadedSHA != "" && o.contentSHA1 != downloadedSHA:
			t.Errorf("%s: listed as a sha1 mismatch (production served sha1 %s), but its object %s holds sha1 %s",
				what, downloadedSHA, o.key, o.contentSHA1)
		case downloadedSHA != "" && versionOf[fmt.Sprint(wikiID, "/", downloadedSHA)] != "":
			t.Errorf("%s: its object %s holds the bytes of another version (%s, sha1 %s), recorded as a sha1 mismatch: "+
				"a version stored with other bytes", what, o.key, versionOf[fmt.Sprint(wikiID, "/", downloadedSHA)], downloadedSHA)
		case downloadedSHA == "" && o.contentSHA1 != want:
			t.Errorf("%s: its object %s holds sha1 %s, the version's sha1 is %s: a version stored with other bytes",
				what, o.key, o.contentSHA1, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("end state: read versions: %v", err)
	}

	recorded := map[string]*object{} // endpoint + "\x00" + key
	for _, o := range objects {
		recorded[o.endpoint+"\x00"+o.key] = o
		if o.refs == 0 {
			t.Errorf("end state: object %s on %s (backups row %d) is the object of no version", o.key, o.endpoint, o.id)
		}
	}
	for ep, keys := range d.Objects() {
		for _, k := range keys {
			if recorded[ep+"\x00"+k] == nil {
				var elsewhere bytes.Buffer
				for _, o := range objects {
					if o.key == k {
						fmt.Fprintf(&elsewhere, " (recorded on %s)", o.endpoint)
					}
				}
				t.Errorf("end state: object %s on %s is an orphan: no backups row records it there%s", k, ep, elsewhere.String())
			}
		}
	}
}
