package enforce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

var errDown = errors.New("test: store is down")

// flaky wraps a real store: it can be switched off (every call fails, as
// when Redis is unreachable) and it counts calls.
type flaky struct {
	store.Store
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flaky) fail() error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *flaky) GetStanding(ctx context.Context, app, user string) (store.Standing, error) {
	if err := f.fail(); err != nil {
		return store.Standing{}, err
	}
	return f.Store.GetStanding(ctx, app, user)
}

// ListSanctioned is the background warm-up and resync, not a per-request
// call: it is not counted.
func (f *flaky) ListSanctioned(ctx context.Context) ([]store.UserStanding, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.ListSanctioned(ctx)
}

func (f *flaky) AddReport(ctx context.Context, r store.Report, p store.Policy) (store.AddResult, error) {
	if err := f.fail(); err != nil {
		return store.AddResult{}, err
	}
	return f.Store.AddReport(ctx, r, p)
}

func (f *flaky) ApplyAction(ctx context.Context, a store.Action) (store.Action, store.Standing, error) {
	if err := f.fail(); err != nil {
		return store.Action{}, store.Standing{}, err
	}
	return f.Store.ApplyAction(ctx, a)
}

func (f *flaky) Take(ctx context.Context, key string, l store.Limit, n int) (int, time.Duration, error) {
	if err := f.fail(); err != nil {
		return 0, 0, err
	}
	return f.Store.Take(ctx, key, l, n)
}

func (f *flaky) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Ping(ctx)
}

func (f *flaky) Queue(ctx context.Context, q store.QueueQuery) (store.Page[store.QueueItem], error) {
	if err := f.fail(); err != nil {
		return store.Page[store.QueueItem]{}, err
	}
	return f.Store.Queue(ctx, q)
}

var esc = config.Escalation{StrikeHalfLife: 0, SuspendAt: 3, SuspendFor: time.Hour, BanAt: 10}

func newEmbedded(t testing.TB, clock *storetest.Clock) store.Store {
	t.Helper()
	o := store.Options{}
	if clock != nil {
		o.Clock = clock.Now
	}
	s, err := embedded.Open(filepath.Join(t.TempDir(), "a.db"), time.Second, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newEnforcer(t testing.TB, st store.Store, o enforce.Options) *enforce.Enforcer {
	t.Helper()
	if o.SpoolDir == "" {
		o.SpoolDir = t.TempDir()
	}
	if o.Escalation == (config.Escalation{}) {
		o.Escalation = esc
	}
	if o.HealthEvery == 0 {
		o.HealthEvery = 20 * time.Millisecond
	}
	if o.ReplayBackoff == 0 {
		o.ReplayBackoff = 10 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e, err := enforce.New(context.Background(), st, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

var reportN atomic.Int64

func violation(app, user string, strike float64) store.Report {
	n := reportN.Add(1)
	return store.Report{
		ID: fmt.Sprintf("rep-%08d", n), App: app, User: user, Pseudonym: "p-" + user, Source: "request",
		DecisionID: fmt.Sprintf("d%d", n), Action: "block", Categories: []string{"harassment"}, Strike: strike,
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countReports(t testing.TB, s store.Store) (n int, ids map[string]int) {
	t.Helper()
	ids = map[string]int{}
	err := s.EachReport(context.Background(), time.Time{}, time.Time{}, func(r store.Report) error {
		n++
		ids[r.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, ids
}
