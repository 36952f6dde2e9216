// Package authguard throttles guessing of secrets: app keys, admin bearer
// tokens and desk sign-ins. Failures are counted per client address and per
// network prefix in the store (shared by every replica on Redis); past a
// free allowance each further failure locks the source out for a delay that
// doubles, up to a maximum. While locked out a source is refused before its
// credential is looked at, so even the right one waits. Nothing is counted
// per account: tokens carry no user name, and a lock-out an attacker could
// aim at a real operator would be a weapon.
package authguard

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
)

// Areas name where a secret was checked, in logs and audit entries.
const (
	AreaAppKey     = "app_key"
	AreaAdminToken = "admin_token"
	AreaDeskSignIn = "desk_sign_in"
)

// AuditApp is the app of lock-out audit entries. App names may not hold a
// colon, so it never mixes with a configured app; the entry's user is the
// locked-out key ("ip:203.0.113.7", "net:203.0.113.0/24").
const AuditApp = "aupguard:security"

// Store is what the guard needs of the store.
type Store interface {
	AddAuthFailure(ctx context.Context, key string, forget time.Duration) (int, error)
	AuthFailures(ctx context.Context, key string, forget time.Duration) (int, time.Time, error)
	ApplyAction(ctx context.Context, a store.Action) (store.Action, store.Standing, error)
}

// Options configure a Guard.
type Options struct {
	Store  Store
	Config config.AuthThrottle
	Clock  func() time.Time
	Logger *slog.Logger
	// Sync is how long a "not locked out" reading of the store is trusted
	// before it is read again (default 1s): a lock-out made on another
	// replica holds here within that time, and a source that keeps
	// authenticating costs one store read per Sync, not one per request.
	Sync time.Duration
}

// Guard is safe for concurrent use. A nil *Guard allows everything.
type Guard struct {
	st      Store
	cfg     config.AuthThrottle
	now     func() time.Time
	log     *slog.Logger
	sync    time.Duration
	trusted []netip.Prefix
	header  string

	mu    sync.Mutex
	cache map[netip.Prefix]cached // by source: no string built on the hot path

	failures, refused, lockouts atomic.Uint64
	storeErrLogged              atomic.Int64 // Unix s of the last store error logged
}

type cached struct {
	until time.Time // locked out until
	read  time.Time // when the store was last read
}

// maxCache bounds the local cache; a flood of addresses resets it.
const maxCache = 50_000

// New builds a guard; it returns nil (allow all) when the throttle is off.
func New(opt Options) (*Guard, error) {
	if !opt.Config.Enabled {
		return nil, nil
	}
	if opt.Store == nil {
		return nil, fmt.Errorf("authguard: a store is required")
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Sync <= 0 {
		opt.Sync = time.Second
	}
	g := &Guard{st: opt.Store, cfg: opt.Config, now: opt.Clock, log: opt.Logger, sync: opt.Sync,
		header: http.CanonicalHeaderKey(opt.Config.ClientIPHeader), cache: map[netip.Prefix]cached{}}
	for _, p := range opt.Config.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("authguard: trusted_proxies: %w", err)
		}
		g.trusted = append(g.trusted, pfx)
	}
	return g, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Failures counts failed authentications seen by this process.
func (g *Guard) Failures() uint64 {
	if g == nil {
		return 0
	}
	return g.failures.Load()
}

// Refused counts requests this process refused because their source was
// locked out.
func (g *Guard) Refused() uint64 {
	if g == nil {
		return 0
	}
	return g.refused.Load()
}

// Lockouts counts lock-outs this process started.
func (g *Guard) Lockouts() uint64 {
	if g == nil {
		return 0
	}
	return g.lockouts.Load()
}

// key is one counted source: an address (a full-length prefix) or its
// network, with the failures it may make before back-off. The zero
// prefix is a request without an address (a unix socket): one shared key.
type key struct {
	pfx  netip.Prefix
	free int
}

// name is the key in the store and the audit log.
func (k key) name() string {
	switch {
	case !k.pfx.IsValid():
		return "ip:unknown"
	case k.pfx.IsSingleIP():
		return "ip:" + k.pfx.Addr().String()
	}
	return "net:" + k.pfx.String()
}

// keys are r's client address and network prefix.
func (g *Guard) keys(r *http.Request) [2]key {
	a := g.ClientAddr(r)
	if !a.IsValid() {
		return [2]key{{netip.Prefix{}, g.cfg.FreeFailures}, {netip.Prefix{}, -1}}
	}
	ks := [2]key{{netip.PrefixFrom(a, a.BitLen()), g.cfg.FreeFailures}, {netip.Prefix{}, -1}}
	bits := g.cfg.IPv6Prefix
	if a.Is4() {
		bits = g.cfg.IPv4Prefix
	}
	if bits < a.BitLen() {
		p, _ := a.Prefix(bits)
		ks[1] = key{p, g.cfg.PrefixFreeFailures}
	}
	return ks
}

// ClientAddr is the address failures are counted under: the peer, or the
// configured header's when the peer is a trusted proxy. From a list
// (X-Forwarded-For) it takes the rightmost address that is not a trusted
// proxy: the ones left of it were written by the client and can be forged.
func (g *Guard) ClientAddr(r *http.Request) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if g.header == "" || !peer.IsValid() || !g.isTrusted(peer) {
		return peer
	}
	vals := r.Header.Values(g.header)
	var hops []string
	for _, v := range vals {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseAddr(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			return peer // a malformed hop: trust nothing left of it
		}
		if !g.isTrusted(a) {
			return a
		}
	}
	return peer
}

func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

func (g *Guard) isTrusted(a netip.Addr) bool {
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Check reports whether r's source is locked out, and for how much longer.
// It counts the refusal. A store that cannot be read does not lock anyone
// out (it is logged): the credential check still stands.
func (g *Guard) Check(ctx context.Context, r *http.Request) (retryAfter time.Duration, locked bool) {
	if g == nil {
		return 0, false
	}
	now := g.now()
	var until time.Time
	for _, k := range g.keys(r) {
		if k.free < 0 {
			continue // no network key
		}
		if u := g.lockedUntil(ctx, k, now); u.After(until) {
			until = u
		}
	}
	if !until.After(now) {
		return 0, false
	}
	g.refused.Add(1)
	return until.Sub(now), true
}

func (g *Guard) lockedUntil(ctx context.Context, k key, now time.Time) time.Time {
	g.mu.Lock()
	c, ok := g.cache[k.pfx]
	g.mu.Unlock()
	if ok && (c.until.After(now) || now.Sub(c.read) < g.sync) {
		return c.until
	}
	n, last, err := g.st.AuthFailures(ctx, k.name(), g.cfg.ForgetAfter)
	if err != nil {
		g.storeError(err)
		return time.Time{}
	}
	u := g.until(n, last, k.free)
	g.remember(k.pfx, cached{until: u, read: now})
	return u
}

// until is when a source with n failures, the last at last, may try again.
func (g *Guard) until(n int, last time.Time, free int) time.Time {
	if n <= free {
		return time.Time{}
	}
	return last.Add(g.delay(n - free))
}

// delay is the lock-out after the k-th failure beyond the free ones:
// base_delay doubled k-1 times, at most max_delay.
func (g *Guard) delay(k int) time.Duration {
	d := g.cfg.BaseDelay
	for i := 1; i < k && d < g.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, g.cfg.MaxDelay)
}

func (g *Guard) remember(k netip.Prefix, c cached) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.cache) >= maxCache {
		clear(g.cache)
	}
	g.cache[k] = c
}

// Fail records one failed authentication from r in area. A failure that
// locks its source out is logged and written to the audit log.
func (g *Guard) Fail(ctx context.Context, r *http.Request, area string) {
	if g == nil {
		return
	}
	g.failures.Add(1)
	ctx = context.WithoutCancel(ctx) // a client hanging up must not un-count its guess
	for _, k := range g.keys(r) {
		if k.free < 0 {
			continue
		}
		n, err := g.st.AddAuthFailure(ctx, k.name(), g.cfg.ForgetAfter)
		if err != nil {
			g.storeError(err)
			continue
		}
		now := g.now()
		u := g.until(n, now, k.free)
		g.remember(k.pfx, cached{until: u, read: now})
		if u.After(now) {
			g.lockout(ctx, k.name(), area, n, u.Sub(now))
		}
	}
}

func (g *Guard) lockout(ctx context.Context, name, area string, n int, d time.Duration) {
	g.lockouts.Add(1)
	reason := fmt.Sprintf("authentication lock-out: %d failed %s attempts from %s; refused for %s", n, area, strings.SplitN(name, ":", 2)[1], d)
	g.log.Warn("authentication lock-out", "source", name, "area", area, "failures", n, "retry_after", d.String())
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := g.now()
	_, _, err := g.st.ApplyAction(actx, store.Action{
		ID: store.NewID(now), Time: now, Actor: store.AutoActor, App: AuditApp, User: name,
		Action: store.ActNote, Reason: reason,
	})
	if err != nil {
		g.log.Error("authentication lock-out: audit entry not written", "source", name, "error", err.Error())
	}
}

// storeError logs at most once a minute: a store outage under a guessing
// flood must not flood the log too.
func (g *Guard) storeError(err error) {
	now := time.Now().Unix()
	if last := g.storeErrLogged.Load(); now-last >= 60 && g.storeErrLogged.CompareAndSwap(last, now) {
		g.log.Warn("authentication throttle: store unavailable, not throttling", "error", err.Error())
	}
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1, for
// the Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
