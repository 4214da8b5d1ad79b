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
	user := RandomName("mbtest-recovery-")
	secret := RandomName("secret-")
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::%[1]s/*"]},
		{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::%[1]s"]}]}`, d.Bucket)
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
	d.RecoveryAccessKey, d.RecoverySecretKey = user, secret
}
