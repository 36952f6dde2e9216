package embedded

// Rate limits and generated secrets.

import (
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

// --- rate limits, secrets ---

// Take keeps GCRA state in memory: one process owns the file, so there is
// nothing to share and no reason to write rate-limit state to disk.
func (s *Store) Take(ctx context.Context, key string, l store.Limit, n int) (int, time.Duration, error) {
	if l.PerMinute <= 0 {
		return max(n, 0), 0, nil
	}
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	tat, g, retry := store.GCRA(s.tats[key], s.now().UnixMicro(), l.PerMinute, n)
	s.tats[key] = tat
	return g, retry, nil
}

func (s *Store) Shared() bool { return false }

func (s *Store) GetOrCreateSecret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		out = slices.Clone(tx.Bucket(bSecrets).Get([]byte(name)))
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	fresh, err := gen()
	if err != nil {
		return nil, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSecrets)
		if v := b.Get([]byte(name)); v != nil {
			out = slices.Clone(v) // someone else was first
			return nil
		}
		out = fresh
		return b.Put([]byte(name), fresh)
	})
	return out, err
}
