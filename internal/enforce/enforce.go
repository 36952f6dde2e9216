// Package enforce is what the gateway asks on every request: may this end
// user be served (standing, rate limits), and what follows from a
// violation (reports, strikes, escalation). See docs/enforcement.md.
//
// Standing is answered from memory. The enforcer keeps only users whose
// standing is not plain good standing (warned, suspended, banned): they are
// few, good users are many, and a user absent from the map is in good
// standing — so a good user costs no store round trip. The map is warmed
// from Store.ListSanctioned, kept fresh by the store's change feed (Redis
// Pub/Sub: a ban made through one replica reaches the others within
// milliseconds) and resynced periodically as a safety net.
//
// Reports go to the store; when it is unreachable they go to a local
// fsync'd spool and a background replayer adds them once the store is
// back. Report ids make replays idempotent: each report counts exactly once.
package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/metrics"
	"github.com/aupguard/aupguard/internal/store"
)

// ErrStoreUnavailable is returned by Standing under fail_mode closed for a
// user whose standing is unknown while the store is down (HTTP 503
// store_unavailable), and by Ready when the store does not answer.
var ErrStoreUnavailable = errors.New("enforce: store unavailable")

// Options configure an Enforcer. Zero values take the defaults noted.
type Options struct {
	Escalation config.Escalation // strike half-life and thresholds (config fills defaults)
	RateLimits config.RateLimits // defaults the gateway passes to Allow
	FailMode   string            // "open" (default) | "closed"
	SpoolDir   string            // default ./data/spool
	Logger     *slog.Logger
	Clock      func() time.Time // default time.Now

	ResyncEvery   time.Duration // full reload of sanctions, default 30s
	HealthEvery   time.Duration // store ping, default 1s
	LeaseSpan     time.Duration // a rate-limit lease holds this much of the sustained rate, default 2s
	ReplayBackoff time.Duration // first retry delay of the spool replayer, default 200ms (doubles up to 10s)
	StoreTimeout  time.Duration // bound on one store call from the request path, default 2s
	LeaseWait     time.Duration // a background lease fetch waits this long for others to share its round trip, default 5ms
}

// Enforcer is safe for concurrent use.
type Enforcer struct {
	st     store.Store
	opt    Options
	policy store.Policy
	log    *slog.Logger
	now    func() time.Time
	closed bool // fail mode

	up atomic.Bool // last known store health

	mu      sync.RWMutex
	cache   map[ukey]entry
	feedSeq uint64

	lim   limiter
	spool *spool
	m     metrics.Enforcement

	resyncNow chan struct{}
	replayNow chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type ukey struct{ app, user string }

type entry struct {
	st  store.Standing
	seq uint64 // feedSeq when set: a resync keeps entries newer than its snapshot
}

// New starts an enforcer over st (which the caller keeps and closes after
// the enforcer). A store that is down at start is not an error: the
// enforcer starts with an empty cache and catches up when it returns.
func New(ctx context.Context, st store.Store, opt Options) (*Enforcer, error) {
	switch opt.FailMode {
	case "":
		opt.FailMode = "open"
	case "open", "closed":
	default:
		return nil, fmt.Errorf("enforce: fail_mode %q (want open or closed)", opt.FailMode)
	}
	if opt.SpoolDir == "" {
		opt.SpoolDir = "./data/spool"
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.ResyncEvery, 30*time.Second)
	def(&opt.HealthEvery, time.Second)
	def(&opt.LeaseSpan, 2*time.Second)
	def(&opt.ReplayBackoff, 200*time.Millisecond)
	def(&opt.StoreTimeout, 2*time.Second)
	def(&opt.LeaseWait, 5*time.Millisecond)
	sp, err := openSpool(opt.SpoolDir)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{
		st: st, opt: opt, log: opt.Logger, now: opt.Clock, closed: opt.FailMode == "closed",
		policy: store.Policy{
			HalfLife: opt.Escalation.StrikeHalfLife, SuspendAt: opt.Escalation.SuspendAt,
			SuspendFor: opt.Escalation.SuspendFor, BanAt: opt.Escalation.BanAt,
		},
		cache: map[ukey]entry{}, spool: sp,
		resyncNow: make(chan struct{}, 1), replayNow: make(chan struct{}, 1),
	}
	e.lim.init(e)
	e.up.Store(true)
	if err := e.resync(ctx); err != nil {
		e.markDown("warm-up", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	feedReady := make(chan struct{})
	e.wg.Add(5)
	go e.lim.fetchLoop(bg)
	go e.feedLoop(bg, feedReady)
	go e.resyncLoop(bg)
	go e.healthLoop(bg)
	go e.replayLoop(bg)
	// Changes made after New returns must reach the cache: wait for the
	// first subscription (or its failure, when the store is down).
	select {
	case <-feedReady:
	case <-ctx.Done():
	}
	e.kick(e.replayNow)
	return e, nil
}

func (e *Enforcer) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	// A client that hangs up must not lose its report: detach from its
	// cancellation, but bound the wait.
	return context.WithTimeout(context.WithoutCancel(ctx), e.opt.StoreTimeout)
}

// Standing returns the end user's standing from memory. It fails only under
// fail_mode closed, for a user not in the cache, while the store is down.
func (e *Enforcer) Standing(ctx context.Context, app, user string) (store.Standing, error) {
	e.mu.RLock()
	en, ok := e.cache[ukey{app, user}]
	e.mu.RUnlock()
	if ok {
		st := en.st
		if st.Status == store.Suspended && !st.Until.IsZero() && !e.now().Before(st.Until) {
			st.Status, st.Until = store.Active, time.Time{}
		}
		return st, nil
	}
	if e.closed && !e.up.Load() {
		return store.Standing{Status: store.Active}, ErrStoreUnavailable
	}
	return store.Standing{Status: store.Active}, nil
}

// Report records a violation (idempotent by r.ID; an empty ID or time is
// filled in), adds its strike and applies escalation; escalation is the
// policy's recommendation ("", "suspend", "ban"). When the store fails the
// report is spooled (fsync'd) and the cached standing returned, with a
// recommended suspension or ban applied locally at once.
func (e *Enforcer) Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error) {
	now := e.now()
	if r.Escalation == "" {
		r.Escalation = escalation
	}
	if r.ID == "" {
		r.ID = store.NewID(now)
	}
	if r.Time.IsZero() {
		r.Time = now
	}
	if err := store.ValidateReport(r); err != nil {
		return store.Standing{}, err
	}
	if e.up.Load() {
		sctx, cancel := e.storeCtx(ctx)
		res, err := e.st.AddReport(sctx, r, e.policy)
		cancel()
		if err == nil {
			e.set(r.App, r.User, res.Standing, false)
			if !res.Duplicate {
				e.counted(r, res)
			}
			return res.Standing, nil
		}
		if errors.Is(err, store.ErrInvalid) {
			return store.Standing{}, err
		}
		e.markDown("report", err)
	}
	if err := e.spool.append(r); err != nil {
		e.m.SpoolFailed.Add(1)
		return store.Standing{}, fmt.Errorf("enforce: store down and spool failed, report %s lost: %w", r.ID, err)
	}
	e.m.Spooled.Add(1)
	e.counted(r, store.AddResult{})
	e.kick(e.replayNow)
	return e.escalateLocally(r, now), nil
}

// counted counts a report once, when stored or spooled (a replay counts
// only the escalation the store applies then), once per category.
func (e *Enforcer) counted(r store.Report, res store.AddResult) {
	if len(r.Categories) == 0 {
		e.m.Reports.Inc("none", r.Action, r.Source)
	}
	for _, c := range r.Categories {
		e.m.Reports.Inc(c, r.Action, r.Source)
	}
	e.countEscalation(res)
}

// countEscalation counts an automatic suspension or ban the store applied.
func (e *Enforcer) countEscalation(res store.AddResult) {
	if res.Action != nil && !res.Duplicate {
		e.m.Escalations.Inc(res.Action.Action)
	}
}

// Metrics are the enforcer's counters (internal/metrics reads them).
func (e *Enforcer) Metrics() *metrics.Enforcement { return &e.m }

// escalateLocally applies a recommended sanction to the cache while the
// store cannot; the replayed report makes it durable (and the store's
// answer replaces it).
func (e *Enforcer) escalateLocally(r store.Report, now time.Time) store.Standing {
	st, _ := e.Standing(context.Background(), r.App, r.User)
	target := store.Escalate(0, r.Escalation, store.Policy{})
	if target.Rank() <= st.Status.Rank() {
		return st
	}
	st.Status, st.Until = target, time.Time{}
	if target == store.Suspended {
		d := e.policy.SuspendFor
		if d <= 0 {
			d = 24 * time.Hour
		}
		st.Until = now.Add(d)
	}
	e.set(r.App, r.User, st, true)
	return st
}

// Act applies a reviewer action through the store and updates the cache
// at once (other replicas learn it from the change feed).
func (e *Enforcer) Act(ctx context.Context, a store.Action) (store.Standing, error) {
	sctx, cancel := e.storeCtx(ctx)
	defer cancel()
	_, st, err := e.st.ApplyAction(sctx, a)
	if err != nil {
		return store.Standing{}, err
	}
	e.set(a.App, a.User, st, false)
	return st, nil
}

// Ready reports whether this replica should take traffic (for /readyz).
// Under fail_mode closed a store outage makes it unready: it would refuse
// unknown users anyway. Under fail_mode open it stays ready — it serves
// from the cache and spools reports — or a store outage would take every
// replica out of the load balancer at once; StoreUp tells the difference.
func (e *Enforcer) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.opt.StoreTimeout)
	defer cancel()
	if err := e.st.Ping(ctx); err != nil {
		e.markDown("ready", err)
		if e.closed {
			return fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
		}
	}
	return nil
}

// StoreUp reports whether the store answered at the last health check.
func (e *Enforcer) StoreUp() bool { return e.up.Load() }

// Spooled is the number of reports waiting in the spool.
func (e *Enforcer) Spooled() int { return e.spool.pending() }

// Close stops the background work; it does not close the store.
func (e *Enforcer) Close() error {
	e.closeOnce.Do(func() {
		e.cancel()
		e.wg.Wait()
		e.spool.close()
	})
	return nil
}

// --- cache ---

// set stores a standing in the cache. Only sanctioned users are kept; a
// user that returns to good standing stays as a tombstone (so an older
// change cannot resurrect a sanction) only if it was cached.
func (e *Enforcer) set(app, user string, st store.Standing, local bool) {
	k := ukey{app, user}
	e.mu.Lock()
	defer e.mu.Unlock()
	old, had := e.cache[k]
	if had && !local && old.st.Version > st.Version {
		return
	}
	if !st.Sanctioned() && !had {
		return
	}
	if local {
		st.Version = old.st.Version
	}
	e.feedSeq++
	e.cache[k] = entry{st: st, seq: e.feedSeq}
}

// resync replaces the cache with the store's list of sanctioned users,
// keeping entries changed while the list was read.
func (e *Enforcer) resync(ctx context.Context) error {
	e.mu.RLock()
	start := e.feedSeq
	e.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, 4*e.opt.StoreTimeout)
	defer cancel()
	list, err := e.st.ListSanctioned(ctx)
	if err != nil {
		return err
	}
	next := make(map[ukey]entry, len(list))
	for _, u := range list {
		next[ukey{u.App, u.User}] = entry{st: u.Standing}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, old := range e.cache {
		if old.seq > start {
			if n, ok := next[k]; !ok || n.st.Version <= old.st.Version {
				next[k] = old
			}
		}
	}
	e.cache = next
	return nil
}

func (e *Enforcer) markDown(what string, err error) {
	e.m.StoreErrors.Inc(what)
	if e.up.Swap(false) {
		e.log.Warn("store unavailable", "during", what, "err", err)
	}
}

func (e *Enforcer) kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (e *Enforcer) feedLoop(ctx context.Context, ready chan struct{}) {
	defer e.wg.Done()
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		ch, err := e.st.Subscribe(ctx)
		if first {
			close(ready)
			first = false
		}
		if err != nil {
			e.markDown("subscribe", err)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		// Anything changed before this subscription is picked up by a resync.
		e.kick(e.resyncNow)
		for c := range ch {
			if c.Resync {
				e.kick(e.resyncNow)
				continue
			}
			e.set(c.App, c.User, c.Standing, false)
		}
	}
}

func (e *Enforcer) resyncLoop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(e.opt.ResyncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.resyncNow:
		}
		if err := e.resync(ctx); err != nil && ctx.Err() == nil {
			e.markDown("resync", err)
		}
	}
}

func (e *Enforcer) healthLoop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(e.opt.HealthEvery)
	defer t.Stop()
	var swept time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, e.opt.StoreTimeout)
		err := e.st.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.markDown("ping", err)
		} else if !e.up.Swap(true) {
			e.log.Info("store available again")
			e.kick(e.resyncNow)
			e.kick(e.replayNow)
		}
		if now := e.now(); now.Sub(swept) >= sweepEvery || now.Before(swept) {
			e.lim.sweep(now)
			swept = now
		}
	}
}
