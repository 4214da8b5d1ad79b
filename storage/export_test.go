package storage

import "context"

// IncompleteUploads lists the multipart uploads left unfinished in s's
// bucket, for the conformance run (conformance_test.go): a failed Put must
// not leave one behind.
func IncompleteUploads(ctx context.Context, s *Server) ([]string, error) {
	var out []string
	for u := range s.client.ListIncompleteUploads(ctx, s.Bucket(), "", true) {
		if u.Err != nil {
			return nil, u.Err
		}
		out = append(out, u.Key+" "+u.UploadID)
	}
	return out, nil
}

// RemoveTestBucket removes a test bucket with everything in it.
func RemoveTestBucket(ctx context.Context, s *Server) error { return removeTestBucket(ctx, s) }
