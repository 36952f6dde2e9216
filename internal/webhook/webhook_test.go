package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
)

const secret = "whsec-test-secret-0123456789"

// receiver records deliveries; it answers the first failN with 503, then
// checks the signature and answers 204.
type receiver struct {
	t     *testing.T
	failN int

	mu       sync.Mutex
	attempts int
	got      []received
	badSig   int
	done     chan struct{}
	want     int
}

type received struct {
	body    []byte
	headers http.Header
	event   map[string]any
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if rc.attempts <= rc.failN {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := Verify([]byte(secret), r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 0); err != nil {
		rc.badSig++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("event is not JSON: %v", err)
	}
	rc.got = append(rc.got, received{body: body, headers: r.Header.Clone(), event: ev})
	w.WriteHeader(http.StatusNoContent)
	if len(rc.got) == rc.want {
		close(rc.done)
	}
}

func newReceiver(t *testing.T, failN, want int) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, failN: failN, want: want, done: make(chan struct{})}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func wait(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("receiver did not get the expected deliveries")
	}
}

func TestRetriesThenDeliversSigned(t *testing.T) {
	rc, srv := newReceiver(t, 2, 1)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL + "/aup", Secret: secret}}, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())

	rep := store.Report{
		ID: "R1", App: "web", User: "alice@example.com", Pseudonym: "p_abc", DecisionID: "D1",
		Categories: []string{"child_sexual_exploitation"}, Severity: "critical", Rules: []string{"cse.1"},
		Excerpt: "SECRET PROMPT TEXT", Source: "request",
	}
	n.Observe(rep, store.Standing{Status: store.Active}, store.Standing{Status: store.Active, Strikes: 1, Reports: 1}, nil)
	wait(t, rc.done)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.attempts != 3 {
		t.Errorf("attempts = %d, want 3 (two failures, then success)", rc.attempts)
	}
	if rc.badSig != 0 {
		t.Errorf("%d deliveries had a bad signature", rc.badSig)
	}
	g := rc.got[0]
	if g.event["type"] != TypeCriticalReport || g.event["report_id"] != "R1" || g.event["pseudonym"] != "p_abc" || g.event["app"] != "web" {
		t.Errorf("event = %s", g.body)
	}
	if g.headers.Get(HeaderEvent) != TypeCriticalReport || g.headers.Get(HeaderDelivery) != g.event["id"] {
		t.Errorf("headers = %v", g.headers)
	}
	// No content and no raw end-user id ever leave in an event.
	for _, s := range []string{"SECRET PROMPT TEXT", "alice@example.com", "excerpt"} {
		if strings.Contains(string(g.body), s) {
			t.Errorf("event carries %q: %s", s, g.body)
		}
	}
	n.Close(context.Background()) // the worker counts after the receiver answered
	if sent, dropped, failed := n.Stats(); sent != 1 || dropped != 0 || failed != 0 {
		t.Errorf("stats = %d sent, %d dropped, %d failed", sent, dropped, failed)
	}
}

func TestEscalationEvents(t *testing.T) {
	rc, srv := newReceiver(t, 0, 2)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())

	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	low := store.Report{ID: "R2", App: "web", Pseudonym: "p_x", Categories: []string{"harassment"}, Severity: "medium"}
	// Not critical and no change: nothing is sent.
	n.Observe(low, store.Standing{Status: store.Active}, store.Standing{Status: store.Warned}, nil)
	// Automatic suspension.
	n.Observe(low, store.Standing{Status: store.Active}, store.Standing{Status: store.Suspended, Until: until}, nil)
	// Automatic ban, with the store's action.
	n.Observe(low, store.Standing{Status: store.Suspended}, store.Standing{Status: store.Banned},
		&store.Action{ID: "A9", Action: store.ActBan, Actor: store.AutoActor, Reason: "strike score 10.50 >= ban_at 10", Before: store.Suspended, After: store.Banned})
	wait(t, rc.done)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 2 {
		t.Fatalf("got %d events, want 2", len(rc.got))
	}
	var sus, ban Event
	json.Unmarshal(rc.got[0].body, &sus)
	json.Unmarshal(rc.got[1].body, &ban)
	if sus.Type != TypeSuspended || sus.Standing.Status != store.Suspended || !sus.Standing.Until.Equal(until) || sus.Action.Action != store.ActSuspend || sus.Action.Actor != store.AutoActor {
		t.Errorf("suspension event = %s", rc.got[0].body)
	}
	if ban.Type != TypeBanned || ban.Action.ID != "A9" || ban.Action.Before != store.Suspended || ban.Action.After != store.Banned {
		t.Errorf("ban event = %s", rc.got[1].body)
	}
}

func TestPermanentFailureNotRetried(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusGone)
	}))
	defer srv.Close()
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(Event{Type: TypeBanned, App: "web"})
	if err := n.Close(context.Background()); err != nil { // drains the queue
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("410 was tried %d times, want 1", calls)
	}
	if _, _, failed := n.Stats(); failed != 1 {
		t.Errorf("failed = %d, want 1", failed)
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	rc, srv := newReceiver(t, 1000, 1)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(Event{Type: TypeBanned})
	n.Close(context.Background())
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.attempts != 3 {
		t.Errorf("attempts = %d, want 3", rc.attempts)
	}
}

// A receiver that hangs must never block Notify: the queue fills, then
// events are dropped and counted.
func TestNotifyNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}, QueueSize: 2, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	dropped := false
	for i := 0; i < 10; i++ {
		if !n.Notify(Event{Type: TypeBanned}) {
			dropped = true
		}
	}
	if !dropped {
		t.Error("10 events into a queue of 2 behind a stuck receiver: none dropped")
	}
	if _, d, _ := n.Stats(); d < 7 {
		t.Errorf("dropped = %d, want >= 7", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); err == nil {
		t.Error("Close with an expired context and a stuck receiver returned nil")
	}
	if n.Notify(Event{Type: TypeBanned}) {
		t.Error("Notify after Close succeeded")
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"x"}`)
	ts := "1800000000"
	sig := Sign([]byte(secret), ts, body)
	if err := Verify([]byte(secret), ts, sig, body, now, time.Minute); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	cases := []struct {
		name       string
		secret, ts string
		sig        string
		body       []byte
		now        time.Time
		want       error
	}{
		{"other secret", "other", ts, sig, body, now, ErrBadSignature},
		{"tampered body", secret, ts, sig, []byte(`{"id":"y"}`), now, ErrBadSignature},
		{"tampered timestamp", secret, "1800000001", sig, body, now, ErrBadSignature},
		{"stale", secret, ts, sig, body, now.Add(time.Hour), ErrStale},
		{"future", secret, ts, sig, body, now.Add(-time.Hour), ErrStale},
		{"junk timestamp", secret, "x", sig, body, now, ErrStale},
		{"no prefix", secret, ts, strings.TrimPrefix(sig, "sha256="), body, now, ErrBadSignature},
	}
	for _, c := range cases {
		if err := Verify([]byte(c.secret), c.ts, c.sig, c.body, c.now, time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestNewRejectsBadHooks(t *testing.T) {
	for _, h := range []config.Webhook{{URL: "ftp://x", Secret: "s"}, {URL: "https://x"}} {
		if _, err := New(Options{Hooks: []config.Webhook{h}}); err == nil {
			t.Errorf("New accepted %+v", h)
		}
	}
	// No hooks: a no-op notifier.
	n, err := New(Options{})
	if err != nil || !n.Notify(Event{Type: TypeBanned}) {
		t.Errorf("empty notifier: %v", err)
	}
	var nilN *Notifier
	nilN.Observe(store.Report{Severity: "critical"}, store.Standing{}, store.Standing{}, nil)
}
