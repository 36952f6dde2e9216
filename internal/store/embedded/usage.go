package embedded

import (
	"os"

	bolt "go.etcd.io/bbolt"
)

// Usage is what the file holds: its size, and keys and bytes in use per
// bucket (diagnostics and cmd/aupscale).
type Usage struct {
	FileBytes int64
	Buckets   map[string]BucketUsage
}

// BucketUsage is one bucket's keys and the page bytes they use.
type BucketUsage struct {
	Keys  int
	Bytes int64
}

// Usage walks every bucket's pages once (a read transaction).
func (s *Store) Usage() (Usage, error) {
	u := Usage{Buckets: map[string]BucketUsage{}}
	err := s.view(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			st := tx.Bucket(b).Stats()
			u.Buckets[string(b)] = BucketUsage{Keys: st.KeyN, Bytes: int64(st.BranchInuse + st.LeafInuse)}
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	fi, err := os.Stat(s.path)
	if err == nil {
		u.FileBytes = fi.Size()
	}
	return u, err
}
