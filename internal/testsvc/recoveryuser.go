package testsvc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/minio/madmin-go/v3"
)

// RecoveryUser creates, on every one of the deployment's servers, a MinIO
// user that may only read, list and delete objects of the deployment's
// bucket (what the recovery tools are allowed), and makes WriteConfig give
// it as the storage.recovery credential. The user and its policy are
// removed when the test ends.
func (d *Deployment) RecoveryUser() {
	d.t.Helper()
	d.RecoveryAccessKey, d.RecoverySecretKey = d.limitedUser("mbtest-recovery-", `"s3:GetObject","s3:DeleteObject"`, `"s3:ListBucket","s3:GetBucketLocation"`)
}

// WorkerUser creates, on every one of the deployment's servers, a MinIO
// user that may create the deployment's bucket and read, write and list
// its objects, but not delete them (the generation policy the README
// gives), and makes WriteConfig give it as the storage.generation
// credential. It is removed when the test ends.
func (d *Deployment) WorkerUser() {
	d.t.Helper()
	d.GenerationAccessKey, d.GenerationSecretKey = d.limitedUser("mbtest-worker-", `"s3:GetObject","s3:PutObject"`,
		`"s3:ListBucket","s3:GetBucketLocation","s3:CreateBucket"`)
}

// limitedUser creates a user allowed objectActions on the objects of the
// deployment's bucket and bucketActions on the bucket, on every server,
// and returns its access and secret key.
func (d *Deployment) limitedUser(prefix, objectActions, bucketActions string) (string, string) {
	d.t.Helper()
	user := RandomName(prefix)
	secret := RandomName("secret-")
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":[%[2]s],"Resource":["arn:aws:s3:::%[1]s/*"]},
		{"Effect":"Allow","Action":[%[3]s],"Resource":["arn:aws:s3:::%[1]s"]}]}`, d.Bucket, objectActions, bucketActions)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ep := range d.Endpoints {
		adm, err := madmin.New(strings.TrimPrefix(ep, "http://"), d.MinIO.AccessKey, d.MinIO.SecretKey, false)
		if err != nil {
			d.t.Fatal(err)
		}
		if err := adm.AddCannedPolicy(ctx, user, []byte(policy)); err != nil {
			d.t.Fatalf("add policy on %s: %v", ep, err)
		}
		if err := adm.AddUser(ctx, user, secret); err != nil {
			d.t.Fatalf("add user on %s: %v", ep, err)
		}
		if err := adm.SetPolicy(ctx, user, user, false); err != nil {
			d.t.Fatalf("attach policy on %s: %v", ep, err)
		}
		d.t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			adm.RemoveUser(ctx, user)
			adm.RemoveCannedPolicy(ctx, user)
		})
	}
	return user, secret
}
