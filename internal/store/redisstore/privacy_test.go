package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/redisstore"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

// dump reads every key on every node (SCAN) and every value with the read
// its type needs, so an erased user's id left anywhere is found.
func dump(t *testing.T, s store.Store) []byte {
	t.Helper()
	ctx := context.Background()
	var (
		mu  sync.Mutex
		all bytes.Buffer
	)
	// ForEachMaster runs the nodes in parallel: one buffer each.
	node := func(ctx context.Context, c *redis.Client) error {
		var buf bytes.Buffer
		// Uncompressed DUMP payloads, so a substring search sees them.
		c.ConfigSet(ctx, "rdbcompression", "no")
		defer func() { mu.Lock(); all.Write(buf.Bytes()); mu.Unlock() }()
		it := c.Scan(ctx, 0, "*", 500).Iterator()
		for it.Next(ctx) {
			k := it.Val()
			fmt.Fprintf(&buf, "\n[%s] ", k)
			typ, err := c.Type(ctx, k).Result()
			if err != nil {
				return err
			}
			var v any
			switch typ {
			case "string":
				v, err = c.Get(ctx, k).Result()
			case "hash":
				v, err = c.HGetAll(ctx, k).Result()
			case "set":
				v, err = c.SMembers(ctx, k).Result()
			case "zset":
				v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
			case "list":
				v, err = c.LRange(ctx, k, 0, -1).Result()
			case "stream":
				// DUMP too: entries deleted from a stream keep their bytes
				// in its nodes, which RDB and replication carry.
				var raw string
				if raw, err = c.Dump(ctx, k).Result(); err == nil {
					buf.WriteString(raw)
					v, err = c.XRange(ctx, k, "-", "+").Result()
				}
			case "none": // expired between SCAN and TYPE
			default:
				return fmt.Errorf("key %s of unexpected type %s", k, typ)
			}
			if err != nil && err != redis.Nil {
				return err
			}
			fmt.Fprintf(&buf, "%s %v", typ, v)
		}
		return it.Err()
	}
	var err error
	switch c := s.(*redisstore.Store).Client().(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, node)
	case *redis.Client:
		err = node(ctx, c)
	default:
		t.Fatalf("client %T", c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return all.Bytes()
}

func TestPrivacy(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunPrivacy(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), srv.URLWithPrefix(fmt.Sprintf("%sp%d", srv.Prefix, n.Add(1))), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, dump)
}

// TestPrivacyCluster: every privacy script stays in one slot.
func TestPrivacyCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.RunPrivacy(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), c.URL(fmt.Sprintf("pc%d", n.Add(1))), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, dump)
}
