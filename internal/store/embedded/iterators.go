package embedded

// Batched walks over every report and action.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

// --- iterators ---

const batch = 512

// each walks bucket name in seq order in batches, one read transaction per
// batch, so a long export neither holds a transaction open nor loads
// everything at once.
func (s *Store) each(ctx context.Context, name []byte, fn func(v []byte) error) error {
	var next []byte = seq8(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var vals [][]byte
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(name).Cursor()
			for k, v := c.Seek(next); k != nil && len(vals) < batch; k, v = c.Next() {
				vals = append(vals, slices.Clone(v))
				next = seq8(binary.BigEndian.Uint64(k) + 1)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, v := range vals {
			if err := fn(v); err != nil {
				return err
			}
		}
		if len(vals) < batch {
			return nil
		}
	}
}

func (s *Store) EachReport(ctx context.Context, since, until time.Time, fn func(store.Report) error) error {
	return s.each(ctx, bReports, func(v []byte) error {
		var r store.Report
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if !store.InRange(r.Time, since, until) {
			return nil
		}
		return fn(r)
	})
}

func (s *Store) EachAction(ctx context.Context, since, until time.Time, fn func(store.Action) error) error {
	return s.each(ctx, bActions, func(v []byte) error {
		var a store.Action
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if !store.InRange(a.Time, since, until) {
			return nil
		}
		return fn(a)
	})
}
