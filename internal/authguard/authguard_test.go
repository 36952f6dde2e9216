package authguard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

var ctx = context.Background()

func newGuard(t *testing.T, edit func(*config.AuthThrottle)) (*Guard, *storetest.Clock, store.Store) {
	t.Helper()
	c := storetest.NewClock()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "a.db"), time.Second, store.BuildOptions(store.WithClock(c.Now)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default().AuthThrottle
	cfg.FreeFailures, cfg.PrefixFreeFailures = 3, 10
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(Options{Store: st, Config: cfg, Clock: c.Now, Sync: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return g, c, st
}

func from(addr string, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = addr
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func locked(g *Guard, r *http.Request) (time.Duration, bool) { return g.Check(ctx, r) }

// The free failures pass, then every further one locks the address out
// for twice as long as the one before, up to max_delay; another address
// is unaffected; the lock-out ends when its time is up.
func TestBackOffDoublesPerAddress(t *testing.T) {
	g, c, st := newGuard(t, func(a *config.AuthThrottle) { a.BaseDelay, a.MaxDelay = time.Second, 4*time.Second })
	bad := from("203.0.113.7:4000")
	for i := range 3 {
		if _, l := locked(g, bad); l {
			t.Fatalf("locked after %d failures", i)
		}
		g.Fail(ctx, bad, AreaAppKey)
	}
	if _, l := locked(g, bad); l {
		t.Fatal("locked within the free failures")
	}
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		g.Fail(ctx, bad, AreaAppKey)
		retry, l := locked(g, from("203.0.113.7:4001")) // any port of the address
		if !l || retry != want {
			t.Fatalf("after a failure beyond the free ones: locked %v for %v, want %v", l, retry, want)
		}
		if _, l := locked(g, from("198.51.100.9:4000")); l {
			t.Fatal("another address is locked out too")
		}
		c.Advance(want - time.Millisecond)
		if _, l := locked(g, bad); !l {
			t.Fatal("lock-out ended early")
		}
		c.Advance(time.Millisecond)
		if _, l := locked(g, bad); l {
			t.Fatal("lock-out outlived its delay")
		}
	}
	if g.Failures() != 7 || g.Lockouts() != 4 || g.Refused() != 8 {
		t.Errorf("counters: failures %d lockouts %d refused %d", g.Failures(), g.Lockouts(), g.Refused())
	}
	// Each lock-out is in the audit log, under the reserved app.
	page, err := st.Audit(ctx, store.AuditQuery{App: AuditApp, User: "ip:203.0.113.7"})
	if err != nil || len(page.Items) != 4 {
		t.Fatalf("audit: %v %+v", err, page)
	}
	if a := page.Items[0]; a.Action != store.ActNote || a.Actor != store.AutoActor || !strings.Contains(a.Reason, "app_key") || !strings.Contains(a.Reason, "203.0.113.7") {
		t.Errorf("audit entry: %+v", a)
	}
	// Forgotten forget_after after the last failure.
	c.Advance(time.Hour + time.Second)
	g.Fail(ctx, bad, AreaAppKey)
	if _, l := locked(g, bad); l {
		t.Fatal("old failures were not forgotten")
	}
}

// Failures from many addresses of one network lock the whole network out
// once the prefix allowance is spent; a single address of another is not.
func TestPrefixIsCountedToo(t *testing.T) {
	g, _, _ := newGuard(t, nil)
	for i := range 10 {
		g.Fail(ctx, from("203.0.113."+strconv.Itoa(i+1)+":1"), AreaAdminToken)
	}
	if _, l := locked(g, from("203.0.113.200:1")); l {
		t.Fatal("locked within the prefix allowance")
	}
	g.Fail(ctx, from("203.0.113.11:1"), AreaAdminToken)
	if _, l := locked(g, from("203.0.113.200:1")); !l {
		t.Fatal("a fresh address of the network is not locked out")
	}
	if _, l := locked(g, from("203.0.114.1:1")); l {
		t.Fatal("the next network is locked out too")
	}
	// IPv6: the /64 is the network.
	for i := range 11 {
		g.Fail(ctx, from("[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:1"), AreaDeskSignIn)
	}
	if _, l := locked(g, from("[2001:db8:1:2:ffff::1]:1")); !l {
		t.Fatal("the /64 is not locked out")
	}
	if _, l := locked(g, from("[2001:db8:1:3::1]:1")); l {
		t.Fatal("another /64 is locked out")
	}
}

// The header is believed only from a trusted proxy, and only its
// rightmost untrusted hop: what the client wrote to its left is ignored.
func TestClientAddrFromTrustedProxyOnly(t *testing.T) {
	g, _, _ := newGuard(t, func(a *config.AuthThrottle) {
		a.ClientIPHeader, a.TrustedProxies = "x-forwarded-for", []string{"10.0.0.0/8", "192.0.2.1"}
	})
	cases := []struct {
		peer string
		hdr  []string
		want string
	}{
		{"10.1.2.3:5", []string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"10.1.2.3:5", []string{"X-Forwarded-For", "1.1.1.1, 203.0.113.7, 10.9.9.9"}, "203.0.113.7"},
		{"10.1.2.3:5", []string{"X-Forwarded-For", "1.1.1.1", "X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"192.0.2.1:5", []string{"X-Forwarded-For", "[2001:db8::1]"}, "2001:db8::1"},
		{"198.51.100.9:5", []string{"X-Forwarded-For", "203.0.113.7"}, "198.51.100.9"}, // untrusted peer
		{"10.1.2.3:5", []string{"X-Forwarded-For", "garbage, 203.0.113.7"}, "203.0.113.7"},
		{"10.1.2.3:5", []string{"X-Forwarded-For", "203.0.113.7, garbage"}, "10.1.2.3"},
		{"10.1.2.3:5", nil, "10.1.2.3"},
		{"[::ffff:10.1.2.3]:5", []string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
	}
	for _, c := range cases {
		if got := g.ClientAddr(from(c.peer, c.hdr...)).String(); got != c.want {
			t.Errorf("peer %s %v: %s, want %s", c.peer, c.hdr, got, c.want)
		}
	}
	// Without a configured header, a forged one changes nothing.
	plain, _, _ := newGuard(t, nil)
	if got := plain.ClientAddr(from("10.1.2.3:5", "X-Forwarded-For", "203.0.113.7")).String(); got != "10.1.2.3" {
		t.Errorf("header believed without configuration: %s", got)
	}
}

// Off: no guard, and the nil guard allows everything.
func TestDisabled(t *testing.T) {
	g, err := New(Options{Config: config.AuthThrottle{Enabled: false}})
	if err != nil || g != nil {
		t.Fatalf("%v %v", g, err)
	}
	g.Fail(ctx, from("1.2.3.4:1"), AreaAppKey)
	if _, l := g.Check(ctx, from("1.2.3.4:1")); l || g.Failures() != 0 {
		t.Fatal("a nil guard locked out")
	}
}

// The check every proxied request makes allocates nothing once the
// source's reading is cached.
func TestCheckDoesNotAllocate(t *testing.T) {
	g, _, _ := newGuard(t, nil)
	g.sync = time.Hour
	r := from("203.0.113.7:4000")
	g.Check(ctx, r)
	if n := testing.AllocsPerRun(100, func() { g.Check(ctx, r) }); n != 0 {
		t.Fatalf("%v allocations per check", n)
	}
}
