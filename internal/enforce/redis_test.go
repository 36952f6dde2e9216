package enforce_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/redisstore"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

func openRedis(t testing.TB, url string, clock func() time.Time) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var _ = redisstore.New // the import registers the redis schemes

// TestTwoReplicasSeeSuspension: a user suspended through one gateway
// replica is refused by another within a second (Pub/Sub, not the resync).
func TestTwoReplicasSeeSuspension(t *testing.T) {
	srv := redistest.Start(t)
	a := newEnforcer(t, openRedis(t, srv.URL(), time.Now), enforce.Options{ResyncEvery: time.Hour})
	b := newEnforcer(t, openRedis(t, srv.URL(), time.Now), enforce.Options{ResyncEvery: time.Hour})
	if s, _ := b.Standing(ctx, "web", "u"); s.Status != store.Active {
		t.Fatalf("before: %+v", s)
	}
	if _, err := a.Act(ctx, store.Action{App: "web", User: "u", Actor: "desk", Action: store.ActSuspend, Duration: time.Hour, Reason: "abuse"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica b sees the suspension", func() bool {
		s, _ := b.Standing(ctx, "web", "u")
		return s.Status == store.Suspended && !s.Until.IsZero()
	})
	// An automatic ban by a report on b reaches a.
	if _, err := b.Report(ctx, violation("web", "v", 0.1), "ban"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica a sees the ban", func() bool {
		s, _ := a.Standing(ctx, "web", "v")
		return s.Status == store.Banned
	})
	if _, err := b.Act(ctx, store.Action{App: "web", User: "u", Actor: "desk", Action: store.ActReinstate, Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "replica a sees the reinstatement", func() bool {
		s, _ := a.Standing(ctx, "web", "u")
		return s.Status == store.Active
	})
}

// TestRedisKilledDuringBurst kills redis-server in the middle of a burst of
// violating reports and restarts it: every report is stored exactly once
// and every strike counted once.
func TestRedisKilledDuringBurst(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persistent: true})
	st := openRedis(t, srv.URL()+"&max_retries=1&dial_timeout=200ms", time.Now)
	e := newEnforcer(t, st, enforce.Options{Escalation: config.Escalation{SuspendAt: 50, SuspendFor: time.Hour, BanAt: 150}})
	const workers, per = 4, 60
	var sent atomic.Int64
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var once sync.Once
	ids := make(chan string, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				r := violation("web", "burst", 1)
				if _, err := e.Report(ctx, r, ""); err != nil {
					t.Errorf("worker %d report %d: %v", w, i, err)
					return
				}
				ids <- r.ID
				if sent.Add(1) == workers*per/3 {
					once.Do(func() { srv.Kill(); close(killed) })
				}
				if i == per/2 {
					<-killed // make sure part of the burst meets the dead server
				}
			}
		}()
	}
	wg.Wait()
	close(ids)
	if e.Spooled() == 0 {
		t.Fatal("nothing was spooled: the kill missed the burst")
	}
	srv.Restart()
	eventually(t, 30*time.Second, "spool replayed", func() bool { return e.Spooled() == 0 })

	n, stored := countReports(t, st)
	if n != workers*per {
		t.Fatalf("store has %d reports, want %d", n, workers*per)
	}
	for id := range ids {
		if stored[id] != 1 {
			t.Fatalf("report %s stored %d times", id, stored[id])
		}
	}
	s, err := st.GetStanding(ctx, "web", "burst")
	if err != nil {
		t.Fatal(err)
	}
	if s.Reports != workers*per || s.Strikes != workers*per || s.Status != store.Banned {
		t.Fatalf("standing: %+v (want %d reports and strikes, banned)", s, workers*per)
	}
	user, err := st.Reports(ctx, store.ReportQuery{App: "web", User: "burst", Limit: 1000})
	if err != nil || len(user.Items) != workers*per {
		t.Fatalf("user index has %d reports, %v", len(user.Items), err)
	}
	audit, err := st.Audit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Items) != 2 || audit.Items[0].After != store.Banned || audit.Items[1].After != store.Suspended {
		t.Fatalf("escalations: %+v", audit.Items)
	}
	if got, _ := e.Standing(ctx, "web", "burst"); got.Status != store.Banned {
		t.Fatalf("cache: %+v", got)
	}
}

// TestSharedRateLimit: two replicas share one budget through Redis, within
// the documented overshoot.
func TestSharedRateLimit(t *testing.T) {
	srv := redistest.Start(t)
	c := storetest.NewClock()
	a := newEnforcer(t, openRedis(t, srv.URL(), c.Now), enforce.Options{Clock: c.Now})
	b := newEnforcer(t, openRedis(t, srv.URL(), c.Now), enforce.Options{Clock: c.Now})
	allowed := 0
	for i := range 200 {
		e := a
		if i%2 == 1 {
			e = b
		}
		if ok, retry := e.Allow(ctx, "web", "u", 60, 0); ok {
			allowed++
		} else if retry <= 0 {
			t.Fatal("refusal without Retry-After")
		}
	}
	// Lease L = 60/min × 2 s = 2; each replica may strand up to 1.5 L and
	// admit one request ahead of an empty lease.
	if allowed > 60+2 || allowed < 60-2*3 {
		t.Fatalf("allowed %d of a 60/min budget across two replicas", allowed)
	}
}

func TestRedisGoodStandingCostsNoRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	f := &flaky{Store: openRedis(t, srv.URL(), time.Now)}
	e := newEnforcer(t, f, enforce.Options{})
	before := f.calls.Load()
	for i := range 1000 {
		if s, err := e.Standing(ctx, "web", fmt.Sprintf("u%d", i)); err != nil || s.Status != store.Active {
			t.Fatal(s, err)
		}
	}
	for range 1000 {
		if ok, _ := e.Allow(ctx, "web", "hot", 600000, 0); !ok {
			t.Fatal("refused")
		}
	}
	// 1000 requests from one user need a handful of leases of 1000 tokens.
	if n := f.calls.Load() - before; n > 6 {
		t.Fatalf("%d store calls for 2000 hot-path checks", n)
	}
}

// TestSharedRateLimitSustained: hammering through two replicas for a
// simulated minute admits the burst plus the sustained rate, within the
// documented overshoot — requests admitted ahead of an empty lease are paid
// back, not added up.
func TestSharedRateLimitSustained(t *testing.T) {
	srv := redistest.Start(t)
	c := storetest.NewClock()
	a := newEnforcer(t, openRedis(t, srv.URL(), c.Now), enforce.Options{Clock: c.Now})
	b := newEnforcer(t, openRedis(t, srv.URL(), c.Now), enforce.Options{Clock: c.Now})
	allowed := 0
	for step := range 600 { // 60 s in 100 ms steps, 10 requests a step
		for i := range 10 {
			e := a
			if (step+i)%2 == 1 {
				e = b
			}
			if ok, _ := e.Allow(ctx, "web", "hammer", 60, 0); ok {
				allowed++
			}
		}
		c.Advance(100 * time.Millisecond)
	}
	// Burst 60 + 60 more over the minute; overshoot at most 2 × (1.5 L + 1) = 8.
	if allowed > 128 || allowed < 100 {
		t.Fatalf("allowed %d in a simulated minute at 60/min (burst 60)", allowed)
	}
	t.Logf("allowed %d", allowed)
}

// batchCount counts the store's single Takes and its batches.
type batchCount struct {
	store.Store
	takes, batches, reqs, errs atomic.Int64
	givenBack                  atomic.Int64 // tokens of negative Takes
}

func (c *batchCount) Take(ctx context.Context, key string, l store.Limit, n int) (int, time.Duration, error) {
	c.takes.Add(1)
	return c.Store.Take(ctx, key, l, n)
}

func (c *batchCount) TakeMany(ctx context.Context, reqs []store.TakeReq, res []store.TakeRes) {
	c.batches.Add(1)
	c.reqs.Add(int64(len(reqs)))
	for _, r := range reqs {
		if r.N < 0 {
			c.givenBack.Add(int64(-r.N))
		}
	}
	store.TakeMany(ctx, c.Store, reqs, res)
	for _, r := range res[:len(reqs)] {
		if r.Err != nil {
			c.errs.Add(1)
		}
	}
}

// limitUsers sends rounds × one request for each user, the users
// interleaved, and returns how many each had admitted.
func limitUsers(t *testing.T, e *enforce.Enforcer, users []string, rounds, perMin int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range rounds {
		for _, u := range users {
			if ok, _ := e.Allow(ctx, "web", u, perMin, 0); ok {
				got[u]++
			}
		}
	}
	return got
}

// TestLeasesShareRoundTrips: the leases of many new end users are fetched
// in a few pipelines, not one round trip each, and every user still gets
// its own limit (within the documented overshoot).
func TestLeasesShareRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	c := storetest.NewClock()
	bc := &batchCount{Store: openRedis(t, srv.URL(), c.Now)}
	e := newEnforcer(t, bc, enforce.Options{Clock: c.Now, LeaseWait: 20 * time.Millisecond})
	users := make([]string, 300)
	for i := range users {
		users[i] = fmt.Sprintf("new-%d", i)
	}
	for _, u := range users {
		if ok, _ := e.Allow(ctx, "web", u, 10, 0); !ok {
			t.Fatalf("%s refused on its first request", u)
		}
	}
	eventually(t, 5*time.Second, "the leases of 300 new users", func() bool { return bc.reqs.Load() >= int64(len(users)) })
	if b := bc.batches.Load(); b > 10 {
		t.Fatalf("%d round trips for the leases of %d new users", b, len(users))
	}
	if n := bc.takes.Load(); n != 0 {
		t.Fatalf("%d single Takes while the leases were on their way", n)
	}
	// 10/min, burst 10, the first request counted: lease 1; a user may
	// overshoot by 1.5 L + 1, and get less while a lease is on its way.
	got := limitUsers(t, e, users[:50], 30, 10)
	for u, n := range got {
		if n++; n > 10+3 || n < 10-2 {
			t.Fatalf("%s: %d admitted at 10/min", u, n)
		}
	}
	if bc.errs.Load() != 0 {
		t.Fatalf("%d failed Takes", bc.errs.Load())
	}
}

// TestLeasesRedisDown: with Redis killed, new users' requests are answered
// at once (their leases fail in the background, then the local limits
// take over); once Redis is back, leases are fetched again.
func TestLeasesRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Private: true})
	bc := &batchCount{Store: openRedis(t, srv.URL()+"&max_retries=-1&dial_timeout=200ms", time.Now)}
	e := newEnforcer(t, bc, enforce.Options{LeaseWait: time.Millisecond, StoreTimeout: 500 * time.Millisecond})
	srv.Kill()
	start := time.Now()
	for i := range 200 {
		u := fmt.Sprintf("down-%d", i%20)
		if ok, _ := e.Allow(ctx, "web", u, 1000, 0); !ok {
			t.Fatalf("request %d refused with Redis down", i)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("200 requests took %v with Redis down", d)
	}
	eventually(t, 5*time.Second, "the store marked down", func() bool { return !e.StoreUp() })
	// Local limits hold while Redis is down.
	if got := limitUsers(t, e, []string{"local"}, 20, 5); got["local"] != 5 {
		t.Fatalf("local limit 5/min admitted %d", got["local"])
	}
	srv.Restart()
	eventually(t, 10*time.Second, "the store back", e.StoreUp)
	before := bc.reqs.Load() - bc.errs.Load()
	for i := range 50 {
		if ok, _ := e.Allow(ctx, "web", fmt.Sprintf("back-%d", i), 1000, 0); !ok {
			t.Fatal("refused after Redis came back")
		}
	}
	eventually(t, 5*time.Second, "leases fetched again", func() bool { return bc.reqs.Load()-bc.errs.Load() >= before+50 })
}

// TestLeasesCluster: lease pipelines on a Redis Cluster, whose buckets sit
// on different nodes.
func TestLeasesCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	c := storetest.NewClock()
	bc := &batchCount{Store: openRedis(t, cl.URL("lc"), c.Now)}
	e := newEnforcer(t, bc, enforce.Options{Clock: c.Now, LeaseWait: 20 * time.Millisecond})
	users := make([]string, 100)
	for i := range users {
		users[i] = fmt.Sprintf("cl-%d", i)
	}
	got := limitUsers(t, e, users, 1, 5)
	eventually(t, 5*time.Second, "the leases", func() bool { return bc.reqs.Load() >= int64(len(users)) })
	for u, n := range limitUsers(t, e, users, 20, 5) {
		if n += got[u]; n > 5+3 || n < 5-1 {
			t.Fatalf("%s: %d admitted at 5/min", u, n)
		}
	}
	if bc.errs.Load() != 0 || bc.batches.Load() > 10 {
		t.Fatalf("%d failed Takes, %d batches", bc.errs.Load(), bc.batches.Load())
	}
}

// TestIdleLeaseGivenBack: a bucket idle for two minutes is forgotten and
// its leased tokens go back to Redis (in a lease pipeline); the user's next
// request starts a new lease.
func TestIdleLeaseGivenBack(t *testing.T) {
	srv := redistest.Start(t)
	c := storetest.NewClock()
	bc := &batchCount{Store: openRedis(t, srv.URL(), c.Now)}
	e := newEnforcer(t, bc, enforce.Options{Clock: c.Now, LeaseWait: time.Millisecond})
	if ok, _ := e.Allow(ctx, "web", "idle", 600, 0); !ok { // lease 20 + the one admitted
		t.Fatal("refused")
	}
	eventually(t, 5*time.Second, "the first lease", func() bool { return bc.reqs.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // applied right after the round trip
	// 15 tokens left after these: above half a lease, no refill
	for range 5 {
		if ok, _ := e.Allow(ctx, "web", "idle", 600, 0); !ok {
			t.Fatal("refused")
		}
	}
	c.Advance(3 * time.Minute)
	// 15 when the lease had landed; a slow run takes more in the meantime
	eventually(t, 10*time.Second, "the held tokens given back", func() bool { return bc.givenBack.Load() >= 15 })
	before := bc.reqs.Load()
	if ok, _ := e.Allow(ctx, "web", "idle", 600, 0); !ok {
		t.Fatal("refused after the sweep")
	}
	eventually(t, 5*time.Second, "a new lease", func() bool { return bc.reqs.Load() == before+1 })
}
