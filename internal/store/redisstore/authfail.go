package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// authFailScript counts one failed authentication.
//
// KEYS[1] {P:af:KEY}  hash n (failures), last (ms)
// ARGV[1] now (ms)    ARGV[2] forget (ms)
// Returns the new count. The record restarts from zero when its last
// failure is older than forget (by the store's clock, which tests control);
// PEXPIRE only collects it afterwards.
var authFailScript = redis.NewScript(`
local now, forget = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'n', 'last')
local n, last = tonumber(v[1]) or 0, tonumber(v[2]) or 0
if now - last > forget then n = 0 end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'last', now)
redis.call('PEXPIRE', KEYS[1], forget + 60000)
return n
`)

func (s *Store) AddAuthFailure(ctx context.Context, key string, forget time.Duration) (int, error) {
	n, err := authFailScript.Run(ctx, s.c, []string{s.k.authFail(key)}, s.now().UnixMilli(), forget.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("redis store: auth failure: %w", err)
	}
	return n, nil
}

func (s *Store) AuthFailures(ctx context.Context, key string, forget time.Duration) (int, time.Time, error) {
	v, err := s.c.HMGet(ctx, s.k.authFail(key), "n", "last").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, time.Time{}, fmt.Errorf("redis store: auth failures: %w", err)
	}
	if len(v) != 2 || v[0] == nil || v[1] == nil {
		return 0, time.Time{}, nil
	}
	n, err1 := strconv.Atoi(fmt.Sprint(v[0]))
	ms, err2 := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, fmt.Errorf("redis store: auth failures: malformed record")
	}
	last := time.UnixMilli(ms)
	if s.now().Sub(last) > forget {
		return 0, time.Time{}, nil
	}
	return n, last, nil
}
