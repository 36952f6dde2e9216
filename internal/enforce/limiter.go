package enforce

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Rate limits are GCRA buckets (sustained perMin per minute, burst perMin)
// per end user and per app.
//
// With a shared store (Redis) the buckets live in Redis, but a request does
// not wait on Redis: each replica leases tokens in batches of
// L = clamp(perMin × LeaseSpan / 1 min, 1, 1000) and spends them locally,
// fetching the next lease in the background when half of one is left. A
// bucket with no token and no fetch under way (a user's first request)
// admits the request at once and charges it to the lease it fetches in the
// background. Only a request that finds the bucket empty while a fetch is
// already under way waits for Redis. Background fetches (and the tokens
// given back by sweep) queue for one goroutine that sends all that are
// waiting in one pipeline (store.TakeMany): with many end users each seen
// once in a while, that is one round trip per Options.LeaseWait, not one
// per new user.
//
// Overshoot: every admitted request spends a token Redis granted, except
// that a replica may hold up to 1.5 × L tokens granted earlier, plus the
// one request it admits ahead of a lease that turns out empty (that one is
// owed and paid from the next lease, so the long-run rate is exact). So in any
// window a limit admits at most its GCRA allowance plus
// N × (1.5 × L + 1) requests for N replicas (60/min with the default 2 s
// span: L = 2, at most 4 extra per replica). Held tokens also make a limit
// bite early on another replica (by the same amount) until they are used
// or given back after two idle minutes (sweepEvery later at most). While
// Redis is unreachable each replica enforces the full limit on its own: up
// to N times the limit. With
// the embedded store the buckets are local and exact.
type limiter struct {
	e  *Enforcer
	mu sync.RWMutex
	m  map[lkey]*bucket

	qmu  sync.Mutex
	q    []fetch       // background Takes waiting for fetchLoop
	kick chan struct{} // q became non-empty
}

// fetch is one background Take: a lease of n tokens for b, charged of them
// paying for requests already admitted; b nil: -n tokens given back.
type fetch struct {
	k         lkey
	b         *bucket
	perMin, n int
	charged   int
}

type lkey struct{ app, user string } // user "" with app = the app's own bucket

type bucket struct {
	mu        sync.Mutex
	perMin    int
	tokens    int
	debt      int // requests admitted ahead of a lease that came back short: paid first
	denyUntil time.Time
	fetching  bool
	tat       int64 // local GCRA state (embedded store, or Redis down)
	// used is when the bucket was last taken from (Unix ns), written under
	// mu and read by sweep without it: a sweep locks only idle buckets.
	used atomic.Int64
}

func (l *limiter) init(e *Enforcer) {
	l.e, l.m, l.kick = e, map[lkey]*bucket{}, make(chan struct{}, 1)
}

// Allow takes one request from the end user's and the app's budgets
// (perMinute <= 0 = unlimited) and, when refused, says when to retry.
func (e *Enforcer) Allow(ctx context.Context, app, user string, userPerMin, appPerMin int) (bool, time.Duration) {
	if userPerMin > 0 {
		if ok, retry := e.lim.take(ctx, lkey{app, user}, userPerMin); !ok {
			return false, retry
		}
	}
	if appPerMin > 0 {
		if ok, retry := e.lim.take(ctx, lkey{app, ""}, appPerMin); !ok {
			if userPerMin > 0 {
				e.lim.giveBack(lkey{app, user})
			}
			return false, retry
		}
	}
	return true, 0
}

func (l *limiter) bucket(k lkey, perMin int) *bucket {
	l.mu.RLock()
	b := l.m[k]
	l.mu.RUnlock()
	if b != nil {
		return b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b = l.m[k]; b == nil {
		b = &bucket{perMin: perMin}
		l.m[k] = b
	}
	return b
}

func (k lkey) storeKey() string {
	if k.user == "" {
		return "app:" + strconv.Quote(k.app)
	}
	return "user:" + strconv.Quote(k.app) + ":" + strconv.Quote(k.user)
}

func (l *limiter) leaseSize(perMin int) int {
	n := int(int64(perMin) * int64(l.e.opt.LeaseSpan) / int64(time.Minute))
	return max(1, min(n, 1000, perMin))
}

func (l *limiter) take(ctx context.Context, k lkey, perMin int) (bool, time.Duration) {
	b := l.bucket(k, perMin)
	now := l.e.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used.Store(now.UnixNano())
	if b.perMin != perMin { // the limit changed (config reload): start over
		b.perMin, b.tokens, b.debt, b.tat, b.denyUntil = perMin, 0, 0, 0, time.Time{}
	}
	if !l.e.st.Shared() || !l.e.up.Load() {
		return b.local(now, perMin)
	}
	if now.Before(b.denyUntil) {
		return false, b.denyUntil.Sub(now)
	}
	lease := l.leaseSize(perMin)
	if b.tokens > 0 {
		b.tokens--
		if b.tokens <= lease/2 && !b.fetching {
			b.fetching = true
			l.enqueue(fetch{k: k, b: b, perMin: perMin, n: lease})
		}
		return true, 0
	}
	if !b.fetching && b.debt == 0 {
		// Nothing held and nothing coming: admit now, charge it to the
		// lease fetched in the background.
		b.fetching = true
		l.enqueue(fetch{k: k, b: b, perMin: perMin, n: lease + 1, charged: 1})
		return true, 0
	}
	// Empty while a lease is on its way, or in debt: wait for Redis.
	sctx, cancel := l.e.storeCtx(ctx)
	g, retry, err := l.e.st.Take(sctx, k.storeKey(), store.Limit{PerMinute: perMin}, lease+b.debt)
	cancel()
	if err != nil {
		l.e.markDown("rate_limit", err)
		return b.local(now, perMin)
	}
	if g <= b.debt {
		b.debt -= g
		if retry <= 0 {
			retry = interval(perMin)
		}
		b.denyUntil = now.Add(retry)
		return false, retry
	}
	b.tokens += g - b.debt - 1
	b.debt = 0
	return true, 0
}

// interval is the time one token takes to come back.
func interval(perMin int) time.Duration { return time.Minute / time.Duration(max(perMin, 1)) }

func (b *bucket) local(now time.Time, perMin int) (bool, time.Duration) {
	tat, g, retry := store.GCRA(b.tat, now.UnixMicro(), perMin, 1)
	b.tat = tat
	return g == 1, retry
}

// fetchBatch bounds one pipeline.
const fetchBatch = 512

func (l *limiter) enqueue(f fetch) {
	l.qmu.Lock()
	l.q = append(l.q, f)
	first := len(l.q) == 1
	l.qmu.Unlock()
	if first {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// fetchLoop sends the queued fetches, all that wait in one round trip:
// once woken it waits LeaseWait for others to join.
func (l *limiter) fetchLoop(ctx context.Context) {
	defer l.e.wg.Done()
	var spare []fetch
	reqs := make([]store.TakeReq, 0, fetchBatch)
	res := make([]store.TakeRes, fetchBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		}
		if !sleep(ctx, l.e.opt.LeaseWait) {
			return
		}
		for {
			l.qmu.Lock()
			q := l.q
			l.q = spare[:0]
			l.qmu.Unlock()
			// The two buffers swap: the one handed to l.q must never be
			// the one read here, or fetches enqueued meanwhile overwrite
			// the batch in flight and get another fetch's grant.
			spare = q[:0]
			if len(q) == 0 {
				break
			}
			for off := 0; off < len(q); off += fetchBatch {
				batch := q[off:min(len(q), off+fetchBatch)]
				reqs = reqs[:0]
				for _, f := range batch {
					reqs = append(reqs, store.TakeReq{Key: f.k.storeKey(), Limit: store.Limit{PerMinute: f.perMin}, N: f.n})
				}
				sctx, cancel := context.WithTimeout(context.Background(), l.e.opt.StoreTimeout)
				store.TakeMany(sctx, l.e.st, reqs, res)
				cancel()
				for i, f := range batch {
					if f.b != nil {
						l.refilled(f, res[i])
					}
				}
			}
			clear(q) // drop the buckets
		}
	}
}

// refilled applies a lease fetched for f.b.
func (l *limiter) refilled(f fetch, r store.TakeRes) {
	b, g, retry := f.b, r.Granted, r.RetryAfter
	now := l.e.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fetching = false
	if r.Err != nil || b.perMin != f.perMin {
		return
	}
	if g < f.charged {
		// Admitted ahead of an empty bucket: owe it to the next lease.
		b.debt += f.charged - g
	}
	if g <= f.charged {
		// Nothing left in Redis: spend what is held, then refuse until the
		// bucket refills.
		if retry <= 0 {
			retry = interval(f.perMin)
		}
		b.denyUntil = now.Add(retry)
		return
	}
	b.tokens += g - f.charged
}

// giveBack returns a token taken for a request another budget refused.
func (l *limiter) giveBack(k lkey) {
	l.mu.RLock()
	b := l.m[k]
	l.mu.RUnlock()
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if l.e.st.Shared() && l.e.up.Load() {
		b.tokens++
		return
	}
	b.tat -= int64(60_000_000) / int64(max(b.perMin, 1))
}

// bucketIdle is how long a bucket goes unused before sweep forgets it.
const bucketIdle = 2 * time.Minute

// sweepEvery is how often the health loop sweeps: a bucket is forgotten
// between bucketIdle and bucketIdle + sweepEvery after its last use. Each
// sweep reads every bucket, so with many end users a sweep a second cost
// more CPU than the requests' own rate limiting.
const sweepEvery = 10 * time.Second

// sweep forgets buckets idle for two minutes and gives their leased tokens
// back: a GCRA bucket is full again after one minute, so forgetting it
// changes nothing. The buckets are read under the read lock, and only the
// idle ones are locked; the write lock, which stalls every request's
// lookup, is held only to delete.
func (l *limiter) sweep(now time.Time) {
	cutoff := now.Add(-bucketIdle).UnixNano()
	idle := func(b *bucket) bool { return b.used.Load() < cutoff && !b.fetching } // b.mu held
	var old []lkey
	l.mu.RLock()
	for k, b := range l.m {
		if b.used.Load() >= cutoff {
			continue // in use: no lock taken
		}
		b.mu.Lock()
		if idle(b) {
			old = append(old, k)
		}
		b.mu.Unlock()
	}
	l.mu.RUnlock()
	if len(old) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range old {
		b := l.m[k]
		if b == nil {
			continue
		}
		b.mu.Lock()
		gone := idle(b) // not used since it was read
		tokens, perMin := b.tokens, b.perMin
		b.mu.Unlock()
		if gone {
			if tokens > 0 {
				l.enqueue(fetch{k: k, perMin: perMin, n: -tokens})
			}
			delete(l.m, k)
		}
	}
}
