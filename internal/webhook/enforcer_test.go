package webhook

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
)

// fakeEnforcer suspends a user on the first report with escalation "suspend".
type fakeEnforcer struct {
	st   map[string]store.Standing
	fail error
}

func (f *fakeEnforcer) Standing(_ context.Context, app, user string) (store.Standing, error) {
	if s, ok := f.st[app+"/"+user]; ok {
		return s, nil
	}
	return store.Standing{Status: store.Active}, nil
}

func (f *fakeEnforcer) Allow(context.Context, string, string, int, int) (bool, time.Duration) {
	return true, 0
}

func (f *fakeEnforcer) Report(_ context.Context, r store.Report, esc string) (store.Standing, error) {
	if f.fail != nil {
		return store.Standing{}, f.fail
	}
	s := store.Standing{Status: store.Active, Reports: 1}
	if esc == "suspend" {
		s = store.Standing{Status: store.Suspended, Until: time.Now().Add(time.Hour), Reports: 1}
	}
	f.st[r.App+"/"+r.User] = s
	return s, nil
}

// Reports through the decorated enforcer reach the receiver: a critical
// report and the suspension it caused; an ordinary flag sends nothing.
func TestObservedEnforcer(t *testing.T) {
	rc, srv := newReceiver(t, 0, 2)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	fe := &fakeEnforcer{st: map[string]store.Standing{}}
	e := Observed(fe, n)
	ctx := context.Background()
	if _, err := e.Report(ctx, store.Report{ID: "r1", App: "web", User: "u1", Categories: []string{"harassment"}, Severity: "medium"}, ""); err != nil {
		t.Fatal(err)
	}
	st, err := e.Report(ctx, store.Report{ID: "r2", App: "web", User: "u2", Pseudonym: "aup_x",
		Categories: []string{"mass_casualty_weapons"}, Severity: "critical"}, "suspend")
	if err != nil || st.Status != store.Suspended {
		t.Fatalf("%+v %v", st, err)
	}
	wait(t, rc.done)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	types := map[string]bool{}
	for _, g := range rc.got {
		types[g.event["type"].(string)] = true
		if g.event["report_id"] != "r2" {
			t.Errorf("event about %v", g.event["report_id"])
		}
	}
	if !types[TypeCriticalReport] || !types[TypeSuspended] {
		t.Fatalf("events %v", types)
	}
	// The decorated enforcer passes through everything else.
	if ok, _ := e.Allow(ctx, "web", "u1", 1, 1); !ok {
		t.Fatal("Allow not passed through")
	}
	if s, _ := e.Standing(ctx, "web", "u2"); s.Status != store.Suspended {
		t.Fatalf("Standing not passed through: %+v", s)
	}
}

// A failed report is not observed; no hooks means no wrapper at all.
func TestObservedEnforcerFailuresAndNoHooks(t *testing.T) {
	rc, srv := newReceiver(t, 0, 1)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	e := Observed(&fakeEnforcer{st: map[string]store.Standing{}, fail: boom}, n)
	if _, err := e.Report(context.Background(), store.Report{ID: "r1", App: "web", User: "u", Severity: "critical"}, "ban"); !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	if rc.attempts != 0 {
		t.Fatalf("%d deliveries for a failed report", rc.attempts)
	}
	rc.mu.Unlock()

	fe := &fakeEnforcer{}
	none, _ := New(Options{})
	if got := Observed(fe, none); got != Enforcer(fe) {
		t.Fatal("wrapped without hooks")
	}
}
