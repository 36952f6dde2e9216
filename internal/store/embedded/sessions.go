package embedded

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RevokeSession writes to disk: a signed-out session must stay signed out
// after a restart. Sign-outs are rare, so each one also drops the expired
// revocations.
func (s *Store) RevokeSession(ctx context.Context, id string, until time.Time) error {
	now := s.now().UnixMilli()
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRevoked)
		var expired [][]byte
		b.ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now {
				expired = append(expired, k)
			}
			return nil
		})
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(until.UnixMilli()))
		return b.Put([]byte(id), v)
	})
}

func (s *Store) SessionRevoked(ctx context.Context, id string) (bool, error) {
	var revoked bool
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bRevoked).Get([]byte(id))
		revoked = len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= s.now().UnixMilli()
		return nil
	})
	return revoked, err
}
