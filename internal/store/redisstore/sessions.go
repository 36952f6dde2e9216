package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RevokeSession keeps the expiry as the value (compared with the store's
// clock, which tests control); the key's TTL only collects it afterwards.
func (s *Store) RevokeSession(ctx context.Context, id string, until time.Time) error {
	ttl := until.Sub(s.now()) + time.Minute
	if ttl < time.Minute {
		ttl = time.Minute
	}
	if err := s.c.Set(ctx, s.k.revoked(id), until.UnixMilli(), ttl).Err(); err != nil {
		return fmt.Errorf("redis store: revoke session: %w", err)
	}
	return nil
}

func (s *Store) SessionRevoked(ctx context.Context, id string) (bool, error) {
	v, err := s.c.Get(ctx, s.k.revoked(id)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis store: session revoked: %w", err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, fmt.Errorf("redis store: session revoked: malformed record")
	}
	return ms >= s.now().UnixMilli(), nil
}
