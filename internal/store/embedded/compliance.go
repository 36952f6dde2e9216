package embedded

// Compliance records (store/compliance.go): one bucket per kind (id →
// JSON) and one index by user, created on first write.

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

// bCUser: lp(kind)+member+id → "".
var bCUser = []byte("c:user")

func kindBucket(kind string) []byte { return []byte("c:" + kind) }

func cuserPrefix(kind, app, user string) []byte { return cat(lp(nil, kind), member(app, user)) }

// records is the store's store.RecordTable.
type records struct{ s *Store }

func (r records) PutRecord(ctx context.Context, kind, id, app, user string, data []byte) (bool, error) {
	created := false
	err := r.s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(kindBucket(kind))
		if err != nil {
			return err
		}
		ix, err := tx.CreateBucketIfNotExists(bCUser)
		if err != nil {
			return err
		}
		if b.Get([]byte(id)) != nil {
			return nil
		}
		created = true
		if err := b.Put([]byte(id), data); err != nil {
			return err
		}
		return ix.Put(cat(cuserPrefix(kind, app, user), []byte(id)), nil)
	})
	return created, err
}

func (r records) GetRecord(ctx context.Context, kind, id string) ([]byte, error) {
	var out []byte
	err := r.s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(kindBucket(kind)); b != nil {
			out = slices.Clone(b.Get([]byte(id)))
		}
		if out == nil {
			return store.ErrNotFound
		}
		return nil
	})
	return out, err
}

func (r records) UserRecords(ctx context.Context, kind, app, user string) ([][]byte, error) {
	var out [][]byte
	err := r.s.view(func(tx *bolt.Tx) error {
		b, ix := tx.Bucket(kindBucket(kind)), tx.Bucket(bCUser)
		if b == nil || ix == nil {
			return nil
		}
		p := cuserPrefix(kind, app, user)
		c := ix.Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if v := b.Get(k[len(p):]); v != nil {
				out = append(out, slices.Clone(v))
			}
		}
		return nil
	})
	return out, err
}

func (r records) AllRecords(ctx context.Context, kind string, fn func([]byte) error) error {
	// Copied out first: fn may write (bbolt allows no write inside a read).
	var vals [][]byte
	err := r.s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(kindBucket(kind))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { vals = append(vals, slices.Clone(v)); return nil })
	})
	if err != nil {
		return err
	}
	for _, v := range vals {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (r records) UpdateRecord(ctx context.Context, kind, id string, fn func([]byte) ([]byte, error)) error {
	return r.s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(kindBucket(kind))
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return store.ErrNotFound
		}
		nv, err := fn(slices.Clone(v))
		if err != nil {
			return err
		}
		return b.Put([]byte(id), nv)
	})
}

func (r records) DeleteRecord(ctx context.Context, kind, id, app, user string) error {
	return r.s.update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(kindBucket(kind)); b != nil {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		if ix := tx.Bucket(bCUser); ix != nil {
			return ix.Delete(cat(cuserPrefix(kind, app, user), []byte(id)))
		}
		return nil
	})
}

var _ store.RecordTable = records{}

// EraseCompliance runs before EraseUser, whose compaction then removes
// the freed pages' bytes too.
func (s *Store) EraseCompliance(ctx context.Context, app, user string) (map[string]int, error) {
	n, err := s.ComplianceOn.EraseCompliance(ctx, app, user)
	if err != nil {
		return n, fmt.Errorf("embedded store: erase compliance records: %w", err)
	}
	return n, nil
}
