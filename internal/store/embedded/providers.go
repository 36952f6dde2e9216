package embedded

import (
	"bytes"
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

// bProviders is the subprocessor register: day (10 bytes, 2006-01-02) +
// lp(app) + lp(provider) + lp(model) + zdr byte → request count (uint64,
// big-endian). Keys sort by day, so a period is one cursor range. The
// bucket is made on the first write, so stores opened before it existed
// read as an empty register.
var bProviders = []byte("providers")

func providerKey(c store.ProviderCount) []byte {
	k := append([]byte(c.Day), lp(lp(lp(nil, c.App), c.Provider), c.Model)...)
	if c.ZDR {
		return append(k, 1)
	}
	return append(k, 0)
}

func parseProviderKey(k []byte) (store.ProviderCount, bool) {
	var c store.ProviderCount
	if len(k) < 11 {
		return c, false
	}
	c.Day = string(k[:10])
	rest := k[10:]
	var parts [3]string
	for i := range parts {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return c, false
		}
		parts[i] = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(rest) != 1 {
		return c, false
	}
	c.App, c.Provider, c.Model, c.ZDR = parts[0], parts[1], parts[2], rest[0] == 1
	return c, true
}

// AddProviderCounts adds a batch in one transaction (one fsync per flush).
func (s *Store) AddProviderCounts(ctx context.Context, counts []store.ProviderCount) error {
	for _, c := range counts {
		if err := store.CheckProviderCount(c); err != nil {
			return err
		}
	}
	if len(counts) == 0 {
		return nil
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bProviders)
		if err != nil {
			return err
		}
		for _, c := range counts {
			k := providerKey(c)
			n := uint64(c.Requests)
			if v := b.Get(k); len(v) == 8 {
				n += binary.BigEndian.Uint64(v)
			}
			if err := b.Put(k, binary.BigEndian.AppendUint64(nil, n)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) ProviderCounts(ctx context.Context, q store.ProviderQuery) ([]store.ProviderCount, error) {
	if _, err := store.RegisterDays(q); err != nil {
		return nil, err
	}
	out := []store.ProviderCount{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bProviders)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		last := []byte(q.To)
		for k, v := cur.Seek([]byte(q.From)); k != nil && bytes.Compare(k[:min(len(k), 10)], last) <= 0; k, v = cur.Next() {
			c, ok := parseProviderKey(k)
			if !ok || len(v) != 8 || (q.App != "" && c.App != q.App) {
				continue
			}
			c.Requests = int64(binary.BigEndian.Uint64(v))
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	store.SortProviderCounts(out)
	return out, nil
}
