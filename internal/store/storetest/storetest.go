// Package storetest is the conformance suite every store.Store must pass.
// Call Run from the implementation's tests with a constructor that builds a
// fresh, empty store reading time from the given clock.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Clock is a test clock: it only moves when told to.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at a fixed instant (millisecond aligned, as
// stores keep milliseconds).
func NewClock() *Clock { return &Clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// NewStore builds a fresh empty store whose clock is now; it is closed by
// the suite.
type NewStore func(t *testing.T, now func() time.Time) store.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	runs(t, newStore, []storeCase{
		{"IdempotentReport", testIdempotent},
		{"Validation", testValidation},
		{"Decay", testDecay},
		{"EscalationThresholds", testThresholds},
		{"CriticalBan", testCriticalBan},
		{"EscalationNeverLowers", testNeverLowers},
		{"ActionsAndAudit", testActions},
		{"ActionIdempotent", testActionIdempotent},
		{"ListSanctioned", testListSanctioned},
		{"Queue", testQueue},
		{"QueueCursor", testQueueCursor},
		{"ReportsPagination", testReportsPagination},
		{"ReportsFilters", testReportsFilters},
		{"CaseView", testCase},
		{"SecretsFirstWriterWins", testSecrets},
		{"Subscribe", testSubscribe},
		{"Iterators", testIterators},
		{"RateLimit", testRateLimit},
		{"RateLimitBatch", testRateLimitBatch},
		{"AuthFailures", testAuthFailures},
		{"RevokedSessions", testRevokedSessions},
		{"UsersScopedByApp", testScopedByApp},
		{"AppRecord", testAppRecord},
		{"PolicyVersions", testPolicyVersions},
	})
}

var ctx = context.Background()

// noDecay escalates by score without decay.
var noDecay = store.Policy{SuspendAt: 3, SuspendFor: 24 * time.Hour, BanAt: 10}

var idSeq struct {
	sync.Mutex
	n int
}

func report(c *Clock, app, user string, strike float64, cats ...string) store.Report {
	idSeq.Lock()
	idSeq.n++
	n := idSeq.n
	idSeq.Unlock()
	if len(cats) == 0 {
		cats = []string{"harassment"}
	}
	return store.Report{
		ID: fmt.Sprintf("r%06d-%s", n, store.NewID(c.Now())), Time: c.Now(), App: app, User: user,
		Pseudonym: "p-" + app + "-" + user, Source: "request", DecisionID: fmt.Sprintf("d%d", n), Action: "block",
		Categories: cats, Severity: "high", Rules: []string{"rule.x"}, Strike: strike, PolicyHash: "h1",
		Model: "openai/gpt-x", Digest: "ab12", Length: 42, Excerpt: "[EMAIL] says hi",
	}
}

func add(t *testing.T, s store.Store, r store.Report, p store.Policy) store.AddResult {
	t.Helper()
	res, err := s.AddReport(ctx, r, p)
	if err != nil {
		t.Fatalf("AddReport(%s): %v", r.ID, err)
	}
	return res
}

func act(t *testing.T, s store.Store, a store.Action) (store.Action, store.Standing) {
	t.Helper()
	if a.Actor == "" {
		a.Actor = "desk-1"
	}
	if a.Reason == "" {
		a.Reason = "test"
	}
	out, st, err := s.ApplyAction(ctx, a)
	if err != nil {
		t.Fatalf("ApplyAction(%s %s): %v", a.Action, a.User, err)
	}
	return out, st
}

func standing(t *testing.T, s store.Store, app, user string) store.Standing {
	t.Helper()
	st, err := s.GetStanding(ctx, app, user)
	if err != nil {
		t.Fatalf("GetStanding: %v", err)
	}
	return st
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func allReports(t *testing.T, s store.Store, q store.ReportQuery) []store.Report {
	t.Helper()
	var out []store.Report
	seen := map[string]bool{}
	for i := 0; ; i++ {
		p, err := s.Reports(ctx, q)
		if err != nil {
			t.Fatalf("Reports(%+v): %v", q, err)
		}
		for _, r := range p.Items {
			if seen[r.ID] {
				t.Fatalf("report %s on two pages", r.ID)
			}
			seen[r.ID] = true
			out = append(out, r)
		}
		if p.Next == "" {
			return out
		}
		if i > 10000 {
			t.Fatal("pagination does not end")
		}
		q.Cursor = p.Next
	}
}

func ids(rs []store.Report) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testIdempotent(t *testing.T, s store.Store, c *Clock) {
	r := report(c, "web", "alice", 1.5)
	first := add(t, s, r, noDecay)
	if first.Duplicate || first.Standing.Reports != 1 || !near(first.Standing.Strikes, 1.5) {
		t.Fatalf("first add: %+v", first)
	}
	for range 3 {
		again := add(t, s, r, noDecay)
		if !again.Duplicate || again.Changed {
			t.Fatalf("second add not a duplicate: %+v", again)
		}
		if again.Standing.Reports != 1 || !near(again.Standing.Strikes, 1.5) {
			t.Fatalf("duplicate changed the standing: %+v", again.Standing)
		}
	}
	// Even a replay with different content under the same id adds nothing.
	r2 := r
	r2.Strike = 5
	if res := add(t, s, r2, noDecay); !res.Duplicate || !near(res.Standing.Strikes, 1.5) {
		t.Fatalf("same id, other content: %+v", res)
	}
	if got := allReports(t, s, store.ReportQuery{}); len(got) != 1 {
		t.Fatalf("global listing has %d reports, want 1", len(got))
	}
	if got := allReports(t, s, store.ReportQuery{App: "web", User: "alice"}); len(got) != 1 {
		t.Fatalf("user listing has %d reports, want 1", len(got))
	}
	if got := allReports(t, s, store.ReportQuery{Category: "harassment"}); len(got) != 1 {
		t.Fatalf("category listing has %d reports, want 1", len(got))
	}
	n := 0
	if err := s.EachReport(ctx, time.Time{}, time.Time{}, func(store.Report) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("EachReport: %d reports, err %v", n, err)
	}
	if st := standing(t, s, "web", "alice"); st.Reports != 1 || st.Unreviewed != 1 {
		t.Fatalf("standing %+v", st)
	}
	// Duplicates that escalated report the same escalation action.
	b := report(c, "web", "bob", 0.1)
	b.Escalation = "ban"
	res1 := add(t, s, b, noDecay)
	res2 := add(t, s, b, noDecay)
	if res1.Action == nil || res2.Action == nil || res1.Action.ID != res2.Action.ID {
		t.Fatalf("escalation action of a duplicate: %+v vs %+v", res1.Action, res2.Action)
	}
	audit, err := s.Audit(ctx, store.AuditQuery{})
	if err != nil || len(audit.Items) != 1 {
		t.Fatalf("audit after duplicate escalation: %+v, %v", audit.Items, err)
	}
}

func testValidation(t *testing.T, s store.Store, c *Clock) {
	bad := []store.Report{
		{},
		{ID: "x", Time: c.Now(), User: "u"},
		{ID: "x", Time: c.Now(), App: "a"},
		{ID: "x", App: "a", User: "u"},
		{ID: "x", Time: c.Now(), App: "a", User: "u", Strike: -1},
		{ID: "x", Time: c.Now(), App: "a", User: "u", Escalation: "maybe"},
	}
	for _, r := range bad {
		if _, err := s.AddReport(ctx, r, noDecay); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddReport(%+v) = %v, want ErrInvalid", r, err)
		}
	}
	for _, a := range []store.Action{
		{App: "a", User: "u", Actor: "x", Action: "explode"},
		{App: "a", User: "u", Actor: "x", Action: "suspend"},
		{App: "a", User: "u", Action: "warn"},
		{User: "u", Actor: "x", Action: "warn"},
	} {
		if _, _, err := s.ApplyAction(ctx, a); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ApplyAction(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	if _, err := s.Reports(ctx, store.ReportQuery{Cursor: "not-a-cursor!"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad report cursor: %v", err)
	}
	if _, err := s.Queue(ctx, store.QueueQuery{Cursor: "%%%"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad queue cursor: %v", err)
	}
	if _, err := s.Reports(ctx, store.ReportQuery{User: "u"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("user filter without app: %v", err)
	}
	if st := standing(t, s, "a", "never-seen"); st.Status != store.Active || st.Strikes != 0 || st.Reports != 0 {
		t.Errorf("unknown user: %+v", st)
	}
}

func testDecay(t *testing.T, s store.Store, c *Clock) {
	p := store.Policy{HalfLife: time.Hour}
	add(t, s, report(c, "web", "u", 2), p)
	c.Advance(time.Hour)
	if st := standing(t, s, "web", "u"); !near(st.Strikes, 1) {
		t.Fatalf("after one half-life: %v, want 1", st.Strikes)
	}
	res := add(t, s, report(c, "web", "u", 1), p)
	if !near(res.Standing.Strikes, 2) {
		t.Fatalf("after second strike: %v, want 2", res.Standing.Strikes)
	}
	c.Advance(2 * time.Hour)
	if st := standing(t, s, "web", "u"); !near(st.Strikes, 0.5) {
		t.Fatalf("after two more half-lives: %v, want 0.5", st.Strikes)
	}
	// A report that happened earlier (a spool replay) counts decayed from
	// its own time.
	old := report(c, "web", "u", 4)
	old.Time = c.Now().Add(-2 * time.Hour)
	if res := add(t, s, old, p); !near(res.Standing.Strikes, 1.5) {
		t.Fatalf("late report: %v, want 0.5 + 4/4 = 1.5", res.Standing.Strikes)
	}
	// Decay can keep a user below the threshold that the raw sum crosses.
	p2 := store.Policy{HalfLife: time.Hour, SuspendAt: 3, SuspendFor: time.Hour}
	for range 4 {
		if res := add(t, s, report(c, "web", "slow", 1), p2); res.Changed {
			t.Fatalf("escalated despite decay: %+v", res.Standing)
		}
		c.Advance(2 * time.Hour)
	}
}

func testThresholds(t *testing.T, s store.Store, c *Clock) {
	for i := 1; i <= 2; i++ {
		if res := add(t, s, report(c, "web", "u", 1), noDecay); res.Standing.Status != store.Active || res.Changed || res.Action != nil {
			t.Fatalf("strike %d: %+v", i, res)
		}
	}
	start := c.Now()
	res := add(t, s, report(c, "web", "u", 1, "hate", "violence", "hate"), noDecay)
	if res.Standing.Status != store.Suspended || !res.Changed || !res.Standing.Until.Equal(start.Add(24*time.Hour)) {
		t.Fatalf("at suspend_at: %+v", res)
	}
	if a := res.Action; a == nil || a.Actor != store.AutoActor || a.Action != store.ActSuspend || a.Before != store.Active ||
		a.After != store.Suspended || a.Duration != 24*time.Hour || !a.Until.Equal(start.Add(24*time.Hour)) || len(a.ReportIDs) != 1 ||
		!slices.Equal(a.Categories, []string{"hate", "violence"}) {
		t.Fatalf("escalation action: %+v", res.Action)
	}
	c.Advance(time.Hour)
	// Further strikes below ban_at keep the suspension as it is.
	res = add(t, s, report(c, "web", "u", 2), noDecay)
	if res.Standing.Status != store.Suspended || res.Changed || !res.Standing.Until.Equal(start.Add(24*time.Hour)) {
		t.Fatalf("while suspended: %+v", res)
	}
	res = add(t, s, report(c, "web", "u", 5), noDecay)
	if res.Standing.Status != store.Banned || !res.Changed || !res.Standing.Until.IsZero() || res.Action.Before != store.Suspended {
		t.Fatalf("at ban_at: %+v %+v", res.Standing, res.Action)
	}
	audit, err := s.Audit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Items) != 2 || audit.Items[0].Action != store.ActBan || audit.Items[1].Action != store.ActSuspend {
		t.Fatalf("audit: %+v", audit.Items)
	}
	// The audit log keeps the categories the escalation cites, so that
	// sanctions are counted by category without reading the reports.
	if !slices.Equal(audit.Items[1].Categories, []string{"hate", "violence"}) || !slices.Equal(audit.Items[0].Categories, []string{"harassment"}) {
		t.Fatalf("audit categories: %q, %q", audit.Items[1].Categories, audit.Items[0].Categories)
	}
	// A suspension ends by itself.
	add(t, s, report(c, "web", "v", 3), noDecay)
	c.Advance(24*time.Hour + time.Millisecond)
	if st := standing(t, s, "web", "v"); st.Status != store.Active || !st.Until.IsZero() {
		t.Fatalf("after the suspension: %+v", st)
	}
	// Escalation by score again after expiry (score still >= suspend_at).
	if res := add(t, s, report(c, "web", "v", 0.5), noDecay); res.Standing.Status != store.Suspended || !res.Changed {
		t.Fatalf("re-suspension: %+v", res)
	}
	// The policy may recommend a suspension below the threshold.
	r := report(c, "web", "w", 0.1)
	r.Escalation = "suspend"
	if res := add(t, s, r, noDecay); res.Standing.Status != store.Suspended || res.Action == nil || res.Action.Reason == "" {
		t.Fatalf("recommended suspension: %+v", res)
	}
}

func testCriticalBan(t *testing.T, s store.Store, c *Clock) {
	r := report(c, "web", "u", 0.5, "child_sexual_exploitation")
	r.Escalation = "ban"
	res := add(t, s, r, noDecay)
	if res.Standing.Status != store.Banned || !res.Changed || res.Action == nil || res.Action.After != store.Banned || res.Action.Actor != store.AutoActor {
		t.Fatalf("critical report: %+v", res)
	}
	if st := standing(t, s, "web", "u"); st.Status != store.Banned {
		t.Fatalf("standing: %+v", st)
	}
	c.Advance(365 * 24 * time.Hour)
	if st := standing(t, s, "web", "u"); st.Status != store.Banned {
		t.Fatalf("a ban does not expire: %+v", st)
	}
}

func testNeverLowers(t *testing.T, s store.Store, c *Clock) {
	act(t, s, store.Action{App: "web", User: "u", Action: store.ActBan})
	r := report(c, "web", "u", 5)
	r.Escalation = "suspend"
	if res := add(t, s, r, noDecay); res.Standing.Status != store.Banned || res.Changed || res.Action != nil {
		t.Fatalf("suspend over a ban: %+v", res)
	}
	act(t, s, store.Action{App: "web", User: "w", Action: store.ActWarn})
	if res := add(t, s, report(c, "web", "w", 1), noDecay); res.Standing.Status != store.Warned {
		t.Fatalf("a strike below thresholds lowered warned: %+v", res.Standing)
	}
}

func testActions(t *testing.T, s store.Store, c *Clock) {
	r1 := add(t, s, report(c, "web", "u", 1), noDecay)
	_ = r1
	rep2 := report(c, "web", "u", 1)
	add(t, s, rep2, noDecay)
	c.Advance(time.Minute)

	a, st := act(t, s, store.Action{App: "web", User: "u", Action: store.ActWarn, Reason: "first warning", ReportIDs: []string{rep2.ID}})
	if a.Before != store.Active || a.After != store.Warned || st.Status != store.Warned || a.Actor != "desk-1" || a.ID == "" || !a.Time.Equal(c.Now()) {
		t.Fatalf("warn: %+v %+v", a, st)
	}
	if st.Unreviewed != 1 {
		t.Fatalf("warn with report ids marks them reviewed: unreviewed %d", st.Unreviewed)
	}
	rs := allReports(t, s, store.ReportQuery{App: "web", User: "u"})
	for _, r := range rs {
		if want := r.ID == rep2.ID; r.Reviewed != want || (want && !r.ReviewedAt.Equal(c.Now())) {
			t.Fatalf("report %s reviewed=%v at %v", r.ID, r.Reviewed, r.ReviewedAt)
		}
	}
	c.Advance(time.Minute)
	a, st = act(t, s, store.Action{App: "web", User: "u", Action: store.ActSuspend, Duration: 2 * time.Hour})
	if a.Before != store.Warned || a.After != store.Suspended || !st.Until.Equal(c.Now().Add(2*time.Hour)) || !a.Until.Equal(st.Until) || a.Duration != 2*time.Hour {
		t.Fatalf("suspend: %+v %+v", a, st)
	}
	if st.Unreviewed != 0 || len(a.ReportIDs) != 1 {
		t.Fatalf("an action without ids reviews every open report: %+v %+v", a, st)
	}
	a, st = act(t, s, store.Action{App: "web", User: "u", Action: store.ActBan})
	if a.Before != store.Suspended || a.After != store.Banned || st.Status != store.Banned || !st.Until.IsZero() {
		t.Fatalf("ban: %+v %+v", a, st)
	}
	// Banning the banned changes nothing and is recorded.
	a, st = act(t, s, store.Action{App: "web", User: "u", Action: store.ActBan, Reason: "again"})
	if a.Before != store.Banned || a.After != store.Banned || st.Status != store.Banned {
		t.Fatalf("no-op ban: %+v", a)
	}
	act(t, s, store.Action{App: "web", User: "u", Action: store.ActNote, Reason: "called the app owner"})
	a, st = act(t, s, store.Action{App: "web", User: "u", Action: store.ActReinstate, Reason: "false positive"})
	if a.Before != store.Banned || a.After != store.Active || st.Status != store.Active || st.Strikes != 0 {
		t.Fatalf("reinstate: %+v %+v", a, st)
	}
	if _, _, err := s.ApplyAction(ctx, store.Action{App: "web", User: "u", Actor: "x", Action: store.ActDismiss, ReportIDs: []string{"nope"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dismiss of an unknown report: %v", err)
	}
	other := report(c, "web", "other", 1)
	add(t, s, other, noDecay)
	if _, _, err := s.ApplyAction(ctx, store.Action{App: "web", User: "u", Actor: "x", Action: store.ActDismiss, ReportIDs: []string{other.ID}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dismiss of another user's report: %v", err)
	}
	a, st = act(t, s, store.Action{App: "web", User: "other", Action: store.ActDismiss, ReportIDs: []string{other.ID}})
	if st.Unreviewed != 0 || a.Before != store.Active || a.After != store.Active {
		t.Fatalf("dismiss: %+v %+v", a, st)
	}

	audit, err := s.Audit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range audit.Items {
		kinds = append(kinds, a.Action)
	}
	want := []string{"dismiss", "reinstate", "note", "ban", "ban", "suspend", "warn"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("audit newest first = %v, want %v", kinds, want)
	}
	mine, err := s.Audit(ctx, store.AuditQuery{App: "web", User: "u", Limit: 2})
	if err != nil || len(mine.Items) != 2 || mine.Items[0].Action != "note" && mine.Items[0].Action != "reinstate" || mine.Next == "" {
		t.Fatalf("user audit page: %+v %v", mine, err)
	}
	var all []string
	q := store.AuditQuery{App: "web", User: "u", Limit: 2}
	for {
		p, err := s.Audit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Items {
			all = append(all, a.Action)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if !slices.Equal(all, want[1:]) {
		t.Fatalf("paged user audit = %v, want %v", all, want[1:])
	}
}

func testActionIdempotent(t *testing.T, s store.Store, c *Clock) {
	a1, _ := act(t, s, store.Action{ID: "act-1", App: "web", User: "u", Action: store.ActSuspend, Duration: time.Hour})
	c.Advance(time.Minute)
	a2, st := act(t, s, store.Action{ID: "act-1", App: "web", User: "u", Action: store.ActSuspend, Duration: time.Hour})
	if a1.ID != a2.ID || !a1.Time.Equal(a2.Time) || !a2.Until.Equal(a1.Until) || !st.Until.Equal(a1.Until) {
		t.Fatalf("retried action: %+v vs %+v (%+v)", a1, a2, st)
	}
	audit, _ := s.Audit(ctx, store.AuditQuery{})
	if len(audit.Items) != 1 {
		t.Fatalf("retried action recorded %d times", len(audit.Items))
	}
}

func testListSanctioned(t *testing.T, s store.Store, c *Clock) {
	act(t, s, store.Action{App: "web", User: "w", Action: store.ActWarn})
	act(t, s, store.Action{App: "web", User: "s", Action: store.ActSuspend, Duration: time.Hour})
	act(t, s, store.Action{App: "api", User: "b", Action: store.ActBan})
	act(t, s, store.Action{App: "web", User: "r", Action: store.ActBan})
	act(t, s, store.Action{App: "web", User: "r", Action: store.ActReinstate})
	add(t, s, report(c, "web", "plain", 1), noDecay)
	got := sanctioned(t, s)
	want := []string{"api/b=banned", "web/s=suspended", "web/w=warned"}
	if !slices.Equal(got, want) {
		t.Fatalf("ListSanctioned = %v, want %v", got, want)
	}
	c.Advance(2 * time.Hour) // the suspension ends
	if got := sanctioned(t, s); !slices.Equal(got, []string{"api/b=banned", "web/w=warned"}) {
		t.Fatalf("after the suspension ended: %v", got)
	}
}

func sanctioned(t *testing.T, s store.Store) []string {
	t.Helper()
	list, err := s.ListSanctioned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range list {
		out = append(out, u.App+"/"+u.User+"="+string(u.Standing.Status))
	}
	sort.Strings(out)
	return out
}

func queueAll(t *testing.T, s store.Store, q store.QueueQuery) []store.QueueItem {
	t.Helper()
	var out []store.QueueItem
	seen := map[string]bool{}
	for i := 0; ; i++ {
		p, err := s.Queue(ctx, q)
		if err != nil {
			t.Fatalf("Queue(%+v): %v", q, err)
		}
		for _, it := range p.Items {
			k := it.App + "/" + it.User
			if seen[k] {
				t.Fatalf("%s on two queue pages", k)
			}
			seen[k] = true
			out = append(out, it)
		}
		if p.Next == "" {
			return out
		}
		if i > 1000 {
			t.Fatal("queue pagination does not end")
		}
		q.Cursor = p.Next
	}
}

func names(items []store.QueueItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.App+"/"+it.User)
	}
	return out
}

func testQueue(t *testing.T, s store.Store, c *Clock) {
	p := store.Policy{HalfLife: time.Hour, SuspendAt: 100, BanAt: 200}
	add(t, s, report(c, "web", "low", 1, "harassment"), p)
	add(t, s, report(c, "web", "high", 4, "violent_extremism"), p)
	c.Advance(time.Hour)
	// mid reports later with 2.5: decayed, high has 2 now, so mid ranks first.
	add(t, s, report(c, "api", "mid", 2.5, "harassment", "fraud"), p)
	crit := report(c, "web", "banned", 0.2, "child_sexual_exploitation")
	crit.Escalation = "ban"
	add(t, s, crit, p)
	add(t, s, report(c, "web", "done", 50), p)
	act(t, s, store.Action{App: "web", User: "done", Action: store.ActDismiss})

	items := queueAll(t, s, store.QueueQuery{})
	if got, want := names(items), []string{"api/mid", "web/high", "web/low", "web/banned"}; !slices.Equal(got, want) {
		t.Fatalf("queue = %v, want %v", got, want)
	}
	it := items[0]
	if !near(it.Risk, 2.5) || it.Status != store.Active || it.Reports != 1 || it.Unreviewed != 1 ||
		!slices.Equal(it.Categories, []string{"fraud", "harassment"}) || !it.LastReportAt.Equal(c.Now()) {
		t.Fatalf("queue item: %+v", it)
	}
	if !near(items[1].Risk, 2) {
		t.Fatalf("decayed risk %v, want 2", items[1].Risk)
	}
	if items[3].Status != store.Banned {
		t.Fatalf("banned user with open reports stays in the queue: %+v", items[3])
	}
	if got := names(queueAll(t, s, store.QueueQuery{Category: "harassment"})); !slices.Equal(got, []string{"api/mid", "web/low"}) {
		t.Fatalf("category filter: %v", got)
	}
	if got := names(queueAll(t, s, store.QueueQuery{Status: store.Banned})); !slices.Equal(got, []string{"web/banned"}) {
		t.Fatalf("status filter: %v", got)
	}
	if got := names(queueAll(t, s, store.QueueQuery{App: "api"})); !slices.Equal(got, []string{"api/mid"}) {
		t.Fatalf("app filter: %v", got)
	}
	if got := names(queueAll(t, s, store.QueueQuery{MinRisk: 1.5})); !slices.Equal(got, []string{"api/mid", "web/high"}) {
		t.Fatalf("risk filter: %v", got)
	}
	// Time passing does not reorder (all scores decay alike).
	c.Advance(10 * time.Hour)
	if got := names(queueAll(t, s, store.QueueQuery{Limit: 1})); !slices.Equal(got, []string{"api/mid", "web/high", "web/low", "web/banned"}) {
		t.Fatalf("paged queue later: %v", got)
	}
	// Reviewing takes a user off the queue; a new report puts it back.
	act(t, s, store.Action{App: "api", User: "mid", Action: store.ActWarn})
	if got := names(queueAll(t, s, store.QueueQuery{})); slices.Contains(got, "api/mid") {
		t.Fatalf("reviewed user still queued: %v", got)
	}
	add(t, s, report(c, "api", "mid", 1), p)
	if got := names(queueAll(t, s, store.QueueQuery{Status: store.Warned})); !slices.Equal(got, []string{"api/mid"}) {
		t.Fatalf("re-reported user: %v", got)
	}
}

func testQueueCursor(t *testing.T, s store.Store, c *Clock) {
	var want []string
	for i := range 23 {
		u := fmt.Sprintf("u%02d", i)
		// Pairs of equal strikes exercise ties at page borders.
		add(t, s, report(c, "web", u, float64(1+i/2)), noDecay)
		want = append(want, "web/"+u)
	}
	all := names(queueAll(t, s, store.QueueQuery{}))
	sort.Strings(want)
	got := slices.Clone(all)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("queue has %v", all)
	}
	for _, limit := range []int{1, 2, 5, 7} {
		if paged := names(queueAll(t, s, store.QueueQuery{Limit: limit})); !slices.Equal(paged, all) {
			t.Fatalf("limit %d: %v, want %v", limit, paged, all)
		}
	}
	items := queueAll(t, s, store.QueueQuery{})
	for i := 1; i < len(items); i++ {
		if items[i].Risk > items[i-1].Risk {
			t.Fatalf("not risk-ordered at %d: %v > %v", i, items[i].Risk, items[i-1].Risk)
		}
	}
}

func testReportsPagination(t *testing.T, s store.Store, c *Clock) {
	var want []string
	for i := range 25 {
		r := report(c, "web", fmt.Sprintf("u%d", i%3), 0.1)
		add(t, s, r, store.Policy{})
		want = append(want, r.ID)
		c.Advance(time.Second)
	}
	slices.Reverse(want)
	for _, limit := range []int{1, 7, 10, 25, 100} {
		got := ids(allReports(t, s, store.ReportQuery{Limit: limit}))
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: %v\nwant %v", limit, got, want)
		}
	}
	p, err := s.Reports(ctx, store.ReportQuery{Limit: 10})
	if err != nil || len(p.Items) != 10 || p.Next == "" {
		t.Fatalf("first page: %d items, next %q, %v", len(p.Items), p.Next, err)
	}
	r := p.Items[0]
	if r.App != "web" || r.Pseudonym == "" || r.Digest != "ab12" || r.Length != 42 || r.PolicyHash != "h1" || r.Excerpt == "" ||
		!slices.Equal(r.Rules, []string{"rule.x"}) || r.Source != "request" || r.Model == "" || r.Reviewed {
		t.Fatalf("report fields lost: %+v", r)
	}
}

func testReportsFilters(t *testing.T, s store.Store, c *Clock) {
	t0 := c.Now()
	var byUser, byCat, byApp, inWindow []string
	for i := range 30 {
		app := []string{"web", "api"}[i%2]
		user := fmt.Sprintf("u%d", i%3)
		cat := []string{"harassment", "fraud", "self_harm"}[i%3]
		r := report(c, app, user, 0.1, cat, "spam")
		add(t, s, r, store.Policy{})
		if app == "web" && user == "u1" {
			byUser = append(byUser, r.ID)
		}
		if cat == "fraud" {
			byCat = append(byCat, r.ID)
		}
		if app == "api" {
			byApp = append(byApp, r.ID)
		}
		if i >= 10 && i < 20 {
			inWindow = append(inWindow, r.ID)
		}
		c.Advance(time.Minute)
	}
	for _, l := range [][]string{byUser, byCat, byApp, inWindow} {
		slices.Reverse(l)
	}
	check := func(name string, q store.ReportQuery, want []string) {
		t.Helper()
		for _, limit := range []int{0, 3} {
			q.Limit = limit
			if got := ids(allReports(t, s, q)); !slices.Equal(got, want) {
				t.Fatalf("%s (limit %d): %v, want %v", name, limit, got, want)
			}
		}
	}
	check("user", store.ReportQuery{App: "web", User: "u1"}, byUser)
	check("category", store.ReportQuery{Category: "fraud"}, byCat)
	check("app", store.ReportQuery{App: "api"}, byApp)
	check("window", store.ReportQuery{Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute)}, inWindow)
	var both []string
	for _, id := range byCat {
		if slices.Contains(byApp, id) {
			both = append(both, id)
		}
	}
	check("category+app", store.ReportQuery{Category: "fraud", App: "api"}, both)
	check("nothing", store.ReportQuery{Category: "nope"}, nil)
}

func testCase(t *testing.T, s store.Store, c *Clock) {
	r1 := report(c, "web", "u", 1, "harassment")
	add(t, s, r1, noDecay)
	c.Advance(time.Second)
	r2 := report(c, "web", "u", 1, "harassment", "fraud")
	add(t, s, r2, noDecay)
	act(t, s, store.Action{App: "web", User: "u", Action: store.ActNote, Reason: "looks like a bot"})
	add(t, s, report(c, "api", "u", 1), noDecay)
	cs, err := s.User(ctx, "web", "u")
	if err != nil {
		t.Fatal(err)
	}
	if cs.Standing.Reports != 2 || len(cs.Reports) != 2 || cs.Reports[0].ID != r2.ID || len(cs.Actions) != 1 || cs.Actions[0].Reason != "looks like a bot" {
		t.Fatalf("case: %+v", cs)
	}
	if cs.Categories["harassment"] != 2 || cs.Categories["fraud"] != 1 || !slices.Equal(cs.Pseudonyms, []string{"p-web-u"}) {
		t.Fatalf("case categories/pseudonyms: %+v %v", cs.Categories, cs.Pseudonyms)
	}
	apps, err := s.Apps(ctx, "u")
	sort.Strings(apps)
	if err != nil || !slices.Equal(apps, []string{"api", "web"}) {
		t.Fatalf("Apps = %v, %v", apps, err)
	}
	app, user, ok, err := s.FindPseudonym(ctx, "p-api-u")
	if err != nil || !ok || app != "api" || user != "u" {
		t.Fatalf("FindPseudonym = %q %q %v %v", app, user, ok, err)
	}
	if _, _, ok, err := s.FindPseudonym(ctx, "nobody"); ok || err != nil {
		t.Fatalf("unknown pseudonym: %v %v", ok, err)
	}
	empty, err := s.User(ctx, "web", "nobody")
	if err != nil || empty.Standing.Status != store.Active || len(empty.Reports) != 0 {
		t.Fatalf("empty case: %+v %v", empty, err)
	}
}

func testSecrets(t *testing.T, s store.Store, c *Clock) {
	const n = 16
	var wg sync.WaitGroup
	got := make([][]byte, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = s.GetOrCreateSecret(ctx, "pseudonym_key", func() ([]byte, error) {
				b := make([]byte, 32)
				_, err := rand.Read(b)
				return b, err
			})
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if len(got[i]) != 32 || string(got[i]) != string(got[0]) {
			t.Fatalf("caller %d got another secret", i)
		}
	}
	again, err := s.GetOrCreateSecret(ctx, "pseudonym_key", func() ([]byte, error) { t.Fatal("gen called for an existing secret"); return nil, nil })
	if err != nil || string(again) != string(got[0]) {
		t.Fatalf("existing secret: %v", err)
	}
	other, err := s.GetOrCreateSecret(ctx, "digest_key", func() ([]byte, error) { return []byte("other"), nil })
	if err != nil || string(other) != "other" {
		t.Fatalf("second secret: %q %v", other, err)
	}
	if _, err := s.GetOrCreateSecret(ctx, "broken", func() ([]byte, error) { return nil, errors.New("no entropy") }); err == nil {
		t.Fatal("gen error not returned")
	}
}

func testSubscribe(t *testing.T, s store.Store, c *Clock) {
	sctx, cancel := context.WithCancel(ctx)
	ch, err := s.Subscribe(sctx)
	if err != nil {
		t.Fatal(err)
	}
	act(t, s, store.Action{App: "web", User: "u", Action: store.ActBan})
	r := report(c, "api", "v", 1)
	r.Escalation = "suspend"
	add(t, s, r, noDecay)
	want := map[string]store.Status{"web/u": store.Banned, "api/v": store.Suspended}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case ch, ok := <-ch:
			if !ok {
				t.Fatal("feed closed early")
			}
			if ch.Resync {
				continue
			}
			k := ch.App + "/" + ch.User
			if st, ok := want[k]; ok && ch.Standing.Status == st {
				delete(want, k)
			}
		case <-deadline:
			t.Fatalf("changes not delivered: %v", want)
		}
	}
	cancel()
	for range ch { // closed once the context ends
	}
}

func testIterators(t *testing.T, s store.Store, c *Clock) {
	t0 := c.Now()
	var all []string
	for i := range 1100 { // more than one batch
		r := report(c, "web", fmt.Sprintf("u%d", i%7), 0.01)
		add(t, s, r, store.Policy{})
		all = append(all, r.ID)
		if i%100 == 99 {
			c.Advance(time.Minute)
		}
	}
	var got []string
	if err := s.EachReport(ctx, time.Time{}, time.Time{}, func(r store.Report) error { got = append(got, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("EachReport gave %d reports (want %d, in recording order)", len(got), len(all))
	}
	got = got[:0]
	if err := s.EachReport(ctx, t0.Add(2*time.Minute), t0.Add(4*time.Minute), func(r store.Report) error { got = append(got, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all[200:400]) {
		t.Fatalf("EachReport window: %d reports, want 200", len(got))
	}
	stop := errors.New("stop")
	n := 0
	if err := s.EachReport(ctx, time.Time{}, time.Time{}, func(store.Report) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 3 {
		t.Fatalf("stopping EachReport: %v after %d", err, n)
	}
	act(t, s, store.Action{App: "web", User: "u1", Action: store.ActDismiss})
	var reviewed int
	s.EachReport(ctx, time.Time{}, time.Time{}, func(r store.Report) error {
		if r.Reviewed {
			reviewed++
		}
		return nil
	})
	if want := (1100 + 5) / 7; reviewed != want {
		t.Fatalf("EachReport shows %d reviewed, want %d", reviewed, want)
	}
	c.Advance(time.Hour)
	t1 := c.Now()
	act(t, s, store.Action{App: "web", User: "u2", Action: store.ActWarn})
	c.Advance(time.Hour)
	act(t, s, store.Action{App: "web", User: "u3", Action: store.ActBan})
	var acts []string
	if err := s.EachAction(ctx, t1, time.Time{}, func(a store.Action) error { acts = append(acts, a.Action); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acts, []string{"warn", "ban"}) {
		t.Fatalf("EachAction since t1: %v", acts)
	}
	acts = acts[:0]
	s.EachAction(ctx, time.Time{}, t1.Add(time.Minute), func(a store.Action) error { acts = append(acts, a.Action); return nil })
	if !slices.Equal(acts, []string{"dismiss", "warn"}) {
		t.Fatalf("EachAction until t1+1m: %v", acts)
	}
}

func testRateLimit(t *testing.T, s store.Store, c *Clock) {
	l := store.Limit{PerMinute: 60}
	g, _, err := s.Take(ctx, "web/u", l, 100)
	if err != nil || g != 60 {
		t.Fatalf("burst: granted %d, %v; want 60", g, err)
	}
	g, retry, err := s.Take(ctx, "web/u", l, 1)
	if err != nil || g != 0 || retry <= 0 || retry > time.Second {
		t.Fatalf("empty bucket: granted %d, retry %v, %v", g, retry, err)
	}
	if g, _, _ := s.Take(ctx, "web/other", l, 1); g != 1 {
		t.Fatal("buckets are not separate")
	}
	c.Advance(retry)
	if g, _, _ := s.Take(ctx, "web/u", l, 5); g != 1 {
		t.Fatalf("after retryAfter: granted %d, want 1", g)
	}
	c.Advance(10 * time.Second)
	if g, _, _ := s.Take(ctx, "web/u", l, 100); g != 10 {
		t.Fatalf("after 10s: granted %d, want 10", g)
	}
	// Giving tokens back makes them available again.
	if _, _, err := s.Take(ctx, "web/u", l, -4); err != nil {
		t.Fatal(err)
	}
	if g, _, _ := s.Take(ctx, "web/u", l, 100); g != 4 {
		t.Fatalf("after a refund of 4: granted %d", g)
	}
	if g, _, _ := s.Take(ctx, "web/free", store.Limit{}, 7); g != 7 {
		t.Fatalf("unlimited: granted %d", g)
	}
}

func testAuthFailures(t *testing.T, s store.Store, c *Clock) {
	const forget = time.Hour
	if n, last, err := s.AuthFailures(ctx, "ip:203.0.113.7", forget); err != nil || n != 0 || !last.IsZero() {
		t.Fatalf("never failed: %d %v %v", n, last, err)
	}
	for want := 1; want <= 3; want++ {
		n, err := s.AddAuthFailure(ctx, "ip:203.0.113.7", forget)
		if err != nil || n != want {
			t.Fatalf("failure %d: counted %d, %v", want, n, err)
		}
		c.Advance(time.Second)
	}
	n, last, err := s.AuthFailures(ctx, "ip:203.0.113.7", forget)
	if err != nil || n != 3 || !last.Equal(c.Now().Add(-time.Second)) {
		t.Fatalf("after 3: %d at %v (%v), want 3 at %v", n, last, err, c.Now().Add(-time.Second))
	}
	if n, _, _ := s.AuthFailures(ctx, "ip:203.0.113.8", forget); n != 0 {
		t.Fatalf("keys are not separate: %d", n)
	}
	// Keys with separator-like characters are their own.
	if n, _ := s.AddAuthFailure(ctx, "net:{2001:db8::}/64", forget); n != 1 {
		t.Fatalf("odd key: %d", n)
	}
	// Forgotten forget after the last failure, then counted from zero.
	c.Advance(forget - time.Second)
	if n, _, _ := s.AuthFailures(ctx, "ip:203.0.113.7", forget); n != 3 {
		t.Fatalf("just within forget: %d", n)
	}
	c.Advance(time.Millisecond)
	if n, last, _ := s.AuthFailures(ctx, "ip:203.0.113.7", forget); n != 0 || !last.IsZero() {
		t.Fatalf("past forget: %d %v", n, last)
	}
	if n, _ := s.AddAuthFailure(ctx, "ip:203.0.113.7", forget); n != 1 {
		t.Fatalf("after forget: counted %d, want 1", n)
	}
}

func testRevokedSessions(t *testing.T, s store.Store, c *Clock) {
	if r, err := s.SessionRevoked(ctx, "s1"); err != nil || r {
		t.Fatalf("never revoked: %v %v", r, err)
	}
	if err := s.RevokeSession(ctx, "s1", c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, "s:{2}", c.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"s1": true, "s:{2}": true, "s3": false, "s": false} {
		if r, err := s.SessionRevoked(ctx, id); err != nil || r != want {
			t.Errorf("%s: revoked %v (%v), want %v", id, r, err, want)
		}
	}
	// Past its expiry the session is dead anyway; the record may go.
	c.Advance(time.Hour + time.Second)
	if r, _ := s.SessionRevoked(ctx, "s1"); r {
		t.Error("revocation outlived the session's expiry")
	}
	if err := s.RevokeSession(ctx, "s4", c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.SessionRevoked(ctx, "s:{2}"); !r {
		t.Error("a later revocation dropped one still in force")
	}
}

func testScopedByApp(t *testing.T, s store.Store, c *Clock) {
	r := report(c, "web", "same-id", 0.1)
	r.Escalation = "ban"
	add(t, s, r, noDecay)
	if st := standing(t, s, "api", "same-id"); st.Status != store.Active || st.Reports != 0 {
		t.Fatalf("a ban in one app leaked into another: %+v", st)
	}
	// Ids with separator-like characters stay apart.
	add(t, s, report(c, "a:b", "c", 1), noDecay)
	if st := standing(t, s, "a", "b:c"); st.Reports != 0 {
		t.Fatalf("(a:b, c) and (a, b:c) collide: %+v", st)
	}
	add(t, s, report(c, "x", "{weird}}id%", 1), noDecay)
	if st := standing(t, s, "x", "{weird}}id%"); st.Reports != 1 {
		t.Fatalf("odd user id: %+v", st)
	}
}

// testAppRecord: a violation in the operator's text is a report under the
// reserved user store.OperatorUser, without pseudonym or strike; the
// gateway gives one operator text the same id all hour, so a repeat is a
// duplicate. It sits in the queue under its app with no risk and never
// escalates, however many there are.
func testAppRecord(t *testing.T, s store.Store, c *Clock) {
	r := report(c, "web", store.OperatorUser, 0, "mass_casualty_weapons")
	r.Source, r.Pseudonym, r.Severity, r.Excerpt = store.SourceOperator, "", "critical", ""
	if res := add(t, s, r, noDecay); res.Duplicate || res.Action != nil || res.Standing.Strikes != 0 {
		t.Fatalf("first: %+v", res)
	}
	if res := add(t, s, r, noDecay); !res.Duplicate || res.Standing.Reports != 1 {
		t.Fatalf("repeat within the hour: %+v", res)
	}
	for range 20 {
		c.Advance(time.Hour)
		r2 := report(c, "web", store.OperatorUser, 0, "mass_casualty_weapons")
		r2.Source, r2.Pseudonym = store.SourceOperator, ""
		add(t, s, r2, noDecay)
	}
	st := standing(t, s, "web", store.OperatorUser)
	if st.Status != store.Active || st.Strikes != 0 || st.Reports != 21 {
		t.Fatalf("app record standing: %+v", st)
	}
	rs := allReports(t, s, store.ReportQuery{App: "web", User: store.OperatorUser})
	if len(rs) != 21 || rs[len(rs)-1].ID != r.ID || rs[0].Source != store.SourceOperator || rs[0].Pseudonym != "" {
		t.Fatalf("app reports: %d %+v", len(rs), rs[len(rs)-1])
	}
	q := queueAll(t, s, store.QueueQuery{App: "web"})
	if len(q) != 1 || q[0].User != store.OperatorUser || q[0].Risk != 0 {
		t.Fatalf("queue: %+v", q)
	}
	cs, err := s.User(ctx, "web", store.OperatorUser)
	if err != nil || len(cs.Pseudonyms) != 0 {
		t.Fatalf("case: %+v %v", cs.Pseudonyms, err)
	}
	if _, _, ok, err := s.FindPseudonym(ctx, ""); err != nil || ok {
		t.Fatalf("the empty pseudonym names a user: %v %v", ok, err)
	}
}

// testRateLimitBatch: store.TakeMany (one pipeline on Redis) gives what
// the same Takes give one after another, a bucket named twice included.
func testRateLimitBatch(t *testing.T, s store.Store, c *Clock) {
	l := store.Limit{PerMinute: 60}
	reqs := []store.TakeReq{
		{Key: "web/u", Limit: l, N: 50},
		{Key: "web/v", Limit: l, N: 3},
		{Key: "web/u", Limit: l, N: 50}, // 10 left after the first
		{Key: "web/free", N: 7},         // unlimited
		{Key: "web/u", Limit: l, N: 1},  // empty: a retry
		{Key: "web/v", Limit: l, N: -3}, // given back
		{Key: "web/v", Limit: l, N: 100},
	}
	res := make([]store.TakeRes, len(reqs))
	store.TakeMany(ctx, s, reqs, res)
	want := []int{50, 3, 10, 7, 0, 0, 60}
	for i, r := range res {
		if r.Err != nil || r.Granted != want[i] {
			t.Fatalf("req %d %+v: %+v, want granted %d", i, reqs[i], r, want[i])
		}
	}
	if res[4].RetryAfter <= 0 || res[4].RetryAfter > time.Second {
		t.Fatalf("empty bucket: retry %v", res[4].RetryAfter)
	}
	// The batch's buckets are Take's.
	c.Advance(res[4].RetryAfter)
	if g, _, err := s.Take(ctx, "web/u", l, 5); err != nil || g != 1 {
		t.Fatalf("after the batch: granted %d, %v; want 1", g, err)
	}
	store.TakeMany(ctx, s, nil, nil)
}

// storeCase is one conformance test, run on a fresh store with its own clock.
type storeCase struct {
	name string
	fn   func(t *testing.T, s store.Store, c *Clock)
}

// runs runs each case as a subtest on a new store from newStore.
func runs(t *testing.T, newStore NewStore, cases []storeCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock()
			s := newStore(t, c.Now)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s, c)
		})
	}
}
