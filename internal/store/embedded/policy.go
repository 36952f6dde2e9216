package embedded

// Policy versions, kept for evidence bundles.

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

// --- policy versions ---

func (s *Store) PutPolicyVersion(ctx context.Context, hash string, files map[string][]byte) (bool, error) {
	if err := store.CheckPolicyVersion(hash, files); err != nil {
		return false, err
	}
	// Read first: a version already kept costs no write transaction (and no fsync).
	var have bool
	if err := s.view(func(tx *bolt.Tx) error { have = tx.Bucket(bPolicies).Get([]byte(hash)) != nil; return nil }); err != nil || have {
		return false, err
	}
	enc, err := store.EncodePolicyVersion(store.PolicyVersion{Hash: hash, Files: files, StoredAt: s.now()})
	if err != nil {
		return false, err
	}
	created := false
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPolicies)
		if b.Get([]byte(hash)) != nil {
			return nil // another writer was first
		}
		created = true
		return b.Put([]byte(hash), enc)
	})
	return created, err
}

func (s *Store) PolicyVersion(ctx context.Context, hash string) (store.PolicyVersion, error) {
	var v store.PolicyVersion
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPolicies).Get([]byte(hash))
		if b == nil {
			return fmt.Errorf("%w: policy version %q", store.ErrNotFound, hash)
		}
		var err error
		v, err = store.DecodePolicyVersion(b) // copies out of the mmap
		return err
	})
	return v, err
}
