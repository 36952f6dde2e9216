package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/redisstore"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

var n atomic.Int64

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		// One server, a fresh key prefix per test: an empty store each time.
		u := srv.URLWithPrefix(fmt.Sprintf("%s%d", srv.Prefix, n.Add(1)))
		s, err := store.Open(context.Background(), u, store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceCluster runs the suite on a three-node Redis Cluster:
// every script touches keys of one slot only, or Cluster would refuse it
// (CROSSSLOT), and the change feed crosses nodes.
func TestConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), c.URL(fmt.Sprintf("c%d", n.Add(1))), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestKeysShareSlots checks the hash tags: every key of one user carries
// the same tag, and global keys the global tag.
func TestKeysShareSlots(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, err := store.Open(ctx, srv.URLWithPrefix("slots"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := store.Report{ID: "r1", Time: time.Now(), App: "web", User: "u:{1}", Pseudonym: "p", Categories: []string{"fraud"}, Strike: 1, Escalation: "ban"}
	if _, err := s.AddReport(ctx, r, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ApplyAction(ctx, store.Action{App: "web", User: "u:{1}", Actor: "d", Action: "dismiss"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Take(ctx, "web/u", store.Limit{PerMinute: 5}, 1); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Client().Keys(ctx, "*slots*").Result()
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]int{}
	for _, k := range keys {
		i, j := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
		if i < 0 || j < i {
			t.Fatalf("key without hash tag: %q", k)
		}
		tags[k[i:j+1]]++
	}
	if tags["{slots:u:web:u%3A%7B1%7D}"] < 5 || tags["{slots:g}"] < 5 || len(tags) != 3 {
		t.Fatalf("tags: %v (keys %v)", tags, keys)
	}
}

func TestURLs(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, err := store.Open(ctx, srv.URL()+"&dial_timeout=1s&pool_size=4")
	if err != nil {
		t.Fatalf("%s: %v", srv.URL(), err)
	}
	s.Close()
	for _, u := range []string{
		"redis://" + srv.Addr + "/0?bogus=1",
		"redis+sentinel://" + srv.Addr,                             // no master name
		"redis+sentinel://127.0.0.1:1/mymaster?dial_timeout=100ms", // nothing listens
		"redis://127.0.0.1:1/0?dial_timeout=100ms&max_retries=-1",
	} {
		if s, err := store.Open(ctx, u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks a password: %v", err)
		}
	}
	if _, err := store.Open(ctx, "redis://user:secret@127.0.0.1:1/0?dial_timeout=100ms&max_retries=-1"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("password in error: %v", err)
	}
}

// TestRestartResubscribes: after Redis comes back, the feed says Resync
// and delivers changes again.
func TestRestartResubscribes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Private: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := store.Open(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	deadline := time.After(20 * time.Second)
	resynced := false
	for !resynced {
		// Keep changing something until the resubscribed feed carries it.
		s.ApplyAction(ctx, store.Action{App: "a", User: "u", Actor: "d", Action: "ban"})
		select {
		case c := <-ch:
			resynced = c.Resync
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no resync after restart")
		}
	}
	got := false
	for !got {
		s.ApplyAction(ctx, store.Action{App: "a", User: "u", Actor: "d", Action: "ban"})
		select {
		case c := <-ch:
			got = !c.Resync && c.User == "u" && c.Standing.Status == store.Banned
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no change after restart")
		}
	}
}

// TestTakeManyReloadsScripts: after SCRIPT FLUSH (a restarted Redis) the
// pipeline's NOSCRIPT replies are redone, each Take exactly once; with
// Redis gone every Take of the batch fails, none hangs.
func TestTakeManyScriptFlushAndDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Private: true})
	ctx := context.Background()
	s, err := store.Open(ctx, srv.URL()+"&dial_timeout=200ms&max_retries=-1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(store.BatchTaker); !ok {
		t.Fatal("the Redis store does not batch Takes")
	}
	l := store.Limit{PerMinute: 10}
	reqs := []store.TakeReq{{Key: "a", Limit: l, N: 4}, {Key: "b", Limit: l, N: 4}, {Key: "a", Limit: l, N: 4}}
	res := make([]store.TakeRes, len(reqs))
	if err := srv.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	store.TakeMany(ctx, s, reqs, res)
	for i, want := range []int{4, 4, 4} {
		if res[i].Err != nil || res[i].Granted != want {
			t.Fatalf("after SCRIPT FLUSH, req %d: %+v", i, res[i])
		}
	}
	// 2 tokens left in "a": the redone commands ran once each.
	if g, _, _ := s.Take(ctx, "a", l, 10); g != 2 {
		t.Fatalf("a: %d tokens left, want 2", g)
	}
	srv.Kill()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	store.TakeMany(tctx, s, reqs, res)
	for i, r := range res {
		if r.Err == nil {
			t.Fatalf("Redis down, req %d: %+v", i, r)
		}
	}
	if tctx.Err() != nil {
		t.Fatal("TakeMany waited for the deadline")
	}
}

func TestBatch(t *testing.T) {
	srv := redistest.Start(t)
	stores := 0
	storetest.RunBatch(t, func(t *testing.T, now func() time.Time) store.Store {
		stores++
		s, err := store.Open(context.Background(), srv.URLWithPrefix(fmt.Sprintf("%s%d", srv.Prefix, stores)), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
