package redisstore

// Compliance records (store/compliance.go), all in the one slot of
// {P:c}, so every update is one script or transaction on a Cluster too:
//
//	{P:c}:KIND           hash  id → record JSON (KIND statement, appeal, notice)
//	{P:c}:KIND:u:MEMBER  set   the ids of one user's records of KIND
//
// They are few next to reports and kept apart from {P:g}, whose slot
// carries the report traffic.

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/store"
)

func (k keys) records(kind string) string { return "{" + k.p + ":c}:" + esc(kind) }

func (k keys) userRecords(kind, app, user string) string {
	return k.records(kind) + ":u:" + esc(member(app, user))
}

// putRecordScript writes a record unless its id is taken.
// KEYS: the kind's hash, the user's set. ARGV: id, JSON.
// Returns 1 when written, 0 when the id existed (nothing changed).
var putRecordScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`)

// records is the store's store.RecordTable.
type records struct{ s *Store }

var _ store.RecordTable = records{}

func (r records) PutRecord(ctx context.Context, kind, id, app, user string, data []byte) (bool, error) {
	k := r.s.k
	n, err := putRecordScript.Run(ctx, r.s.c, []string{k.records(kind), k.userRecords(kind, app, user)}, id, data).Int()
	if err != nil {
		return false, fmt.Errorf("redis store: put %s: %w", kind, err)
	}
	return n == 1, nil
}

func (r records) GetRecord(ctx context.Context, kind, id string) ([]byte, error) {
	b, err := r.s.c.HGet(ctx, r.s.k.records(kind), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis store: get %s: %w", kind, err)
	}
	return b, nil
}

func (r records) UserRecords(ctx context.Context, kind, app, user string) ([][]byte, error) {
	ids, err := r.s.c.SMembers(ctx, r.s.k.userRecords(kind, app, user)).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	vals, err := r.s.c.HMGet(ctx, r.s.k.records(kind), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: user %s records: %w", kind, err)
	}
	out := make([][]byte, 0, len(vals))
	for _, v := range vals {
		if s, ok := v.(string); ok {
			out = append(out, []byte(s))
		}
	}
	return out, nil
}

func (r records) AllRecords(ctx context.Context, kind string, fn func([]byte) error) error {
	var cursor uint64
	for {
		kv, next, err := r.s.c.HScan(ctx, r.s.k.records(kind), cursor, "*", 500).Result()
		if err != nil {
			return fmt.Errorf("redis store: list %s: %w", kind, err)
		}
		for i := 1; i < len(kv); i += 2 {
			if err := fn([]byte(kv[i])); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

func (r records) UpdateRecord(ctx context.Context, kind, id string, fn func([]byte) ([]byte, error)) error {
	key := r.s.k.records(kind)
	// Optimistic: WATCH the hash, read, write in MULTI; a concurrent
	// writer makes EXEC fail and the read is done again.
	for range 16 {
		err := r.s.c.Watch(ctx, func(tx *redis.Tx) error {
			old, err := tx.HGet(ctx, key, id).Bytes()
			if errors.Is(err, redis.Nil) {
				return store.ErrNotFound
			}
			if err != nil {
				return err
			}
			nv, err := fn(old)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, key, id, nv)
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("redis store: update %s %s: too much contention", kind, id)
}

func (r records) DeleteRecord(ctx context.Context, kind, id, app, user string) error {
	_, err := r.s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, r.s.k.records(kind), id)
		p.SRem(ctx, r.s.k.userRecords(kind, app, user), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: delete %s: %w", kind, err)
	}
	return nil
}
