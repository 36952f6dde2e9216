package enforce_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

var ctx = context.Background()

func TestGoodStandingCostsNoStoreCall(t *testing.T) {
	f := &flaky{Store: newEmbedded(t, nil)}
	e := newEnforcer(t, f, enforce.Options{})
	before := f.calls.Load()
	for i := range 1000 {
		u := fmt.Sprintf("user-%d", i)
		st, err := e.Standing(ctx, "web", u)
		if err != nil || st.Status != store.Active {
			t.Fatalf("good user: %+v %v", st, err)
		}
		if ok, _ := e.Allow(ctx, "web", u, 60, 0); !ok {
			t.Fatal("first request of a user refused")
		}
	}
	if n := f.calls.Load() - before; n != 0 {
		t.Fatalf("%d store calls for good-standing users, want 0", n)
	}
}

func TestWarmUpFeedAndExpiry(t *testing.T) {
	c := storetest.NewClock()
	st := newEmbedded(t, c)
	if _, _, err := st.ApplyAction(ctx, store.Action{App: "web", User: "old-ban", Actor: "d", Action: store.ActBan}); err != nil {
		t.Fatal(err)
	}
	e := newEnforcer(t, st, enforce.Options{Clock: c.Now})
	if s, _ := e.Standing(ctx, "web", "old-ban"); s.Status != store.Banned {
		t.Fatalf("warm-up missed a ban: %+v", s)
	}
	// A change made by someone else (the desk on another process, here the
	// store directly) arrives through the feed.
	if _, _, err := st.ApplyAction(ctx, store.Action{App: "web", User: "u", Actor: "d", Action: store.ActSuspend, Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "suspension via feed", func() bool {
		s, _ := e.Standing(ctx, "web", "u")
		return s.Status == store.Suspended
	})
	c.Advance(time.Hour)
	if s, _ := e.Standing(ctx, "web", "u"); s.Status != store.Active {
		t.Fatalf("suspension did not end: %+v", s)
	}
	// Reinstating through the enforcer takes effect at once.
	s, err := e.Act(ctx, store.Action{App: "web", User: "old-ban", Actor: "d", Action: store.ActReinstate, Reason: "appeal"})
	if err != nil || s.Status != store.Active {
		t.Fatalf("reinstate: %+v %v", s, err)
	}
	if s, _ := e.Standing(ctx, "web", "old-ban"); s.Status != store.Active {
		t.Fatalf("after reinstate: %+v", s)
	}
	s, _ = e.Act(ctx, store.Action{App: "web", User: "w", Actor: "d", Action: store.ActWarn, Reason: "r"})
	if got, _ := e.Standing(ctx, "web", "w"); got.Status != store.Warned || s.Status != store.Warned {
		t.Fatalf("warned: %+v", got)
	}
}

func TestReportEscalates(t *testing.T) {
	e := newEnforcer(t, newEmbedded(t, nil), enforce.Options{})
	var s store.Standing
	var err error
	for range 3 {
		if s, err = e.Report(ctx, violation("web", "u", 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	if s.Status != store.Suspended {
		t.Fatalf("after 3 strikes: %+v", s)
	}
	if got, _ := e.Standing(ctx, "web", "u"); got.Status != store.Suspended || got.Until.IsZero() {
		t.Fatalf("cache: %+v", got)
	}
	s, err = e.Report(ctx, violation("web", "v", 0.1), "ban")
	if err != nil || s.Status != store.Banned {
		t.Fatalf("critical: %+v %v", s, err)
	}
	r := violation("web", "x", 1)
	r.App = ""
	if _, err := e.Report(ctx, r, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid report: %v", err)
	}
}

func TestFailModes(t *testing.T) {
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			f := &flaky{Store: newEmbedded(t, nil)}
			e := newEnforcer(t, f, enforce.Options{FailMode: mode})
			if _, err := e.Act(ctx, store.Action{App: "web", User: "bad", Actor: "d", Action: store.ActBan}); err != nil {
				t.Fatal(err)
			}
			if err := e.Ready(ctx); err != nil {
				t.Fatalf("ready: %v", err)
			}
			f.down.Store(true)
			err := e.Ready(ctx)
			if mode == "closed" && !errors.Is(err, enforce.ErrStoreUnavailable) {
				t.Fatalf("closed: ready while down: %v", err)
			}
			if mode == "open" && err != nil {
				t.Fatalf("open: a store outage must not take the replica out of rotation: %v", err)
			}
			if e.StoreUp() {
				t.Fatal("StoreUp while the store is down")
			}
			s, err := e.Standing(ctx, "web", "bad")
			if err != nil || s.Status != store.Banned {
				t.Fatalf("known ban while down: %+v %v", s, err)
			}
			s, err = e.Standing(ctx, "web", "stranger")
			if mode == "open" && (err != nil || s.Status != store.Active) {
				t.Fatalf("open: %+v %v", s, err)
			}
			if mode == "closed" && !errors.Is(err, enforce.ErrStoreUnavailable) {
				t.Fatalf("closed: %+v %v", s, err)
			}
			f.down.Store(false)
			eventually(t, 5*time.Second, "store back", func() bool {
				_, err := e.Standing(ctx, "web", "stranger")
				return err == nil
			})
		})
	}
	if _, err := enforce.New(ctx, newEmbedded(t, nil), enforce.Options{FailMode: "sideways", SpoolDir: t.TempDir()}); err == nil {
		t.Fatal("bad fail mode accepted")
	}
}

func TestSpoolReplaysExactlyOnce(t *testing.T) {
	inner := newEmbedded(t, nil)
	f := &flaky{Store: inner}
	dir := t.TempDir()
	e := newEnforcer(t, f, enforce.Options{SpoolDir: dir})
	f.down.Store(true)
	var want []string
	for i := range 20 {
		r := violation("web", "u", 0.1)
		want = append(want, r.ID)
		esc := ""
		if i == 5 {
			esc = "ban"
		}
		s, err := e.Report(ctx, r, esc)
		if err != nil {
			t.Fatalf("report while down: %v", err)
		}
		if i >= 5 && s.Status != store.Banned {
			t.Fatalf("a recommended ban is applied locally while down: %+v", s)
		}
	}
	if n, _ := countReports(t, inner); n != 0 || e.Spooled() != 20 {
		t.Fatalf("while down: store has %d, spool %d", n, e.Spooled())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "spool-*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no spool file")
	}
	f.down.Store(false)
	eventually(t, 10*time.Second, "spool replayed", func() bool { return e.Spooled() == 0 })
	n, ids := countReports(t, inner)
	if n != 20 {
		t.Fatalf("store has %d reports, want 20", n)
	}
	for _, id := range want {
		if ids[id] != 1 {
			t.Fatalf("report %s stored %d times", id, ids[id])
		}
	}
	st, _ := inner.GetStanding(ctx, "web", "u")
	if st.Reports != 20 || st.Strikes < 1.99 || st.Strikes > 2.01 || st.Status != store.Banned {
		t.Fatalf("standing after replay: %+v", st)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "spool-*.jsonl")); len(files) != 0 {
		t.Fatalf("spool files left: %v", files)
	}
}

// TestSpoolSurvivesRestart: reports spooled by a process that then exits
// are replayed by the next one, once, even when the file holds a line twice
// (a replay interrupted after some lines) and a torn last line (a crash
// mid-write).
func TestSpoolSurvivesRestart(t *testing.T) {
	inner := newEmbedded(t, nil)
	f := &flaky{Store: inner}
	dir := t.TempDir()
	f.down.Store(true)
	e1 := newEnforcer(t, f, enforce.Options{SpoolDir: dir})
	for range 5 {
		if _, err := e1.Report(ctx, violation("web", "u", 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	e1.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "spool-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("spool files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	lines := splitLines(data)
	data = append(data, lines[0]...)
	data = append(data, '\n')
	data = append(data, `{"id":"torn`...)
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	f.down.Store(false)
	e2 := newEnforcer(t, f, enforce.Options{SpoolDir: dir})
	eventually(t, 10*time.Second, "replay by the next process", func() bool { return e2.Spooled() == 0 })
	if n, _ := countReports(t, inner); n != 5 {
		t.Fatalf("store has %d reports, want 5", n)
	}
	if st, _ := inner.GetStanding(ctx, "web", "u"); st.Reports != 5 || st.Strikes != 5 || st.Status != store.Suspended {
		t.Fatalf("standing: %+v", st)
	}
	if s, _ := e2.Standing(ctx, "web", "u"); s.Status != store.Suspended {
		t.Fatalf("replayed escalation not in the cache: %+v", s)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

func TestRateLimitLocal(t *testing.T) {
	c := storetest.NewClock()
	f := &flaky{Store: newEmbedded(t, c)}
	e := newEnforcer(t, f, enforce.Options{Clock: c.Now})
	for i := range 3 {
		if ok, _ := e.Allow(ctx, "web", "u", 3, 0); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, retry := e.Allow(ctx, "web", "u", 3, 0)
	if ok || retry <= 0 || retry > 20*time.Second {
		t.Fatalf("4th request: ok=%v retry=%v", ok, retry)
	}
	if ok, _ := e.Allow(ctx, "web", "other", 3, 0); !ok {
		t.Fatal("another user shares the budget")
	}
	c.Advance(retry)
	if ok, _ := e.Allow(ctx, "web", "u", 3, 0); !ok {
		t.Fatal("refused after Retry-After")
	}
	// The app's budget: 4 per minute across its users.
	for i := range 4 {
		if ok, _ := e.Allow(ctx, "api", fmt.Sprintf("a%d", i), 0, 4); !ok {
			t.Fatalf("app request %d refused", i)
		}
	}
	if ok, retry := e.Allow(ctx, "api", "z", 2, 4); ok || retry <= 0 {
		t.Fatal("app budget not enforced")
	}
	// The refused request did not spend z's own budget.
	c.Advance(15 * time.Second)
	if ok, _ := e.Allow(ctx, "api", "z", 2, 4); !ok {
		t.Fatal("refused after the app budget refilled")
	}
	if ok, _ := e.Allow(ctx, "api", "z", 2, 0); !ok {
		t.Fatal("z's second request refused: the app refusal spent its budget")
	}
	if ok, _ := e.Allow(ctx, "api", "z", 2, 0); ok {
		t.Fatal("z's third request allowed")
	}
	if f.calls.Load() != 0 {
		t.Fatalf("embedded limits made %d store calls", f.calls.Load())
	}
}

// TestSpoolUnderFlappingStore: reports keep coming while the store goes
// down and up and the replayer runs; at the end every report is stored
// exactly once.
func TestSpoolUnderFlappingStore(t *testing.T) {
	inner := newEmbedded(t, nil)
	f := &flaky{Store: inner}
	e := newEnforcer(t, f, enforce.Options{HealthEvery: 2 * time.Millisecond, ReplayBackoff: time.Millisecond})
	const workers, per = 4, 150
	stop := make(chan struct{})
	flapped := make(chan struct{})
	go func() {
		defer close(flapped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				f.down.Store(false)
				return
			default:
			}
			f.down.Store(i%2 == 0)
			time.Sleep(3 * time.Millisecond)
		}
	}()
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for range per {
				if _, err := e.Report(ctx, violation("web", "flap", 1), ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(stop)
	<-flapped
	eventually(t, 20*time.Second, "spool drained", func() bool { return e.Spooled() == 0 })
	n, ids := countReports(t, inner)
	if n != workers*per || len(ids) != workers*per {
		t.Fatalf("store has %d reports (%d distinct), want %d", n, len(ids), workers*per)
	}
	if st, _ := inner.GetStanding(ctx, "web", "flap"); st.Strikes != workers*per || st.Reports != workers*per {
		t.Fatalf("standing %+v", st)
	}
}
