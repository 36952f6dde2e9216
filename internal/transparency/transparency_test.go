package transparency_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/storetest"
	"github.com/aupguard/aupguard/internal/transparency"
)

var ctx = context.Background()

func open(t *testing.T, c *storetest.Clock) store.Store {
	t.Helper()
	st, err := store.Open(ctx, "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var n int

func rep(t *testing.T, st store.Store, c *storetest.Clock, app, user, source, action string, strike float64, cats ...string) store.Report {
	t.Helper()
	n++
	r := store.Report{ID: fmt.Sprintf("r%03d-%s", n, store.NewID(c.Now())), Time: c.Now(), App: app, User: user, Pseudonym: "p-" + user,
		Source: source, Action: action, Categories: cats, Strike: strike, PolicyHash: "h", Digest: "d"}
	if _, err := st.AddReport(ctx, r, store.Policy{SuspendAt: 3, SuspendFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return r
}

func act(t *testing.T, st store.Store, c *storetest.Clock, app, user, action string, d time.Duration, ids ...string) {
	t.Helper()
	if _, _, err := st.ApplyAction(ctx, store.Action{ID: store.NewID(c.Now()), Time: c.Now(), Actor: "rev-1", App: app, User: user,
		Action: action, Duration: d, Reason: "checked", ReportIDs: ids}); err != nil {
		t.Fatal(err)
	}
}

type casework struct{}

func (casework) EachAppeal(ctx context.Context, since, until time.Time, fn func(transparency.Appeal) error) error {
	for _, a := range []transparency.Appeal{
		{App: "web", Filed: since.Add(time.Hour), Decided: since.Add(3 * time.Hour), Outcome: "reversed"},
		{App: "web", Filed: since.Add(time.Hour), Decided: since.Add(5 * time.Hour), Outcome: "upheld"},
		{App: "web", Filed: since.Add(2 * time.Hour)},
	} {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

func (casework) EachNotice(ctx context.Context, since, until time.Time, fn func(transparency.Notice) error) error {
	return fn(transparency.Notice{App: "mobile", Received: since, Decided: since.Add(time.Hour), ActedOn: true})
}

func TestReportCountsRestrictions(t *testing.T) {
	c := storetest.NewClock()
	st := open(t, c)
	// Before the period: a flag a reviewer bans for later, in the period.
	old := rep(t, st, c, "web", "olga", "request", "flag", 1, "fraud")
	c.Advance(24 * time.Hour)
	since := c.Now()

	rep(t, st, c, "web", "anna", "request", "block", 1, "harassment")
	rep(t, st, c, "web", "anna", "answer", "flag", 1, "harassment", "hate")
	rep(t, st, c, "web", "anna", "request", "block", 1, "weapons") // third strike: automatic suspension
	rep(t, st, c, "mobile", "bert", "upstream_moderation", "flag", 1)
	rep(t, st, c, "web", store.OperatorUser, store.SourceOperator, "flag", 0, "fraud")
	c.Advance(2 * time.Hour)
	act(t, st, c, "web", "olga", store.ActBan, 0, old.ID)
	act(t, st, c, "mobile", "bert", store.ActDismiss, 0)
	until := c.Now().Add(time.Minute)
	c.Advance(48 * time.Hour)
	rep(t, st, c, "web", "late", "request", "block", 1, "fraud") // after the period

	got, err := transparency.Build(ctx, st, since, until, "", casework{}, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := got.Overall
	wantKinds := map[string]int{"refusal": 3, "flag": 1, "suspension": 1, "ban": 1}
	if fmt.Sprint(o.Restrictions.ByKind) != fmt.Sprint(wantKinds) || o.Restrictions.Total != 6 ||
		o.Restrictions.Automated != 5 || o.Restrictions.Human != 1 {
		t.Fatalf("restrictions: %+v", o.Restrictions)
	}
	cats := o.Restrictions.ByCategory
	if cats["harassment"]["refusal"] != 1 || cats["harassment"]["flag"] != 1 || cats["hate"]["flag"] != 1 ||
		cats["weapons"]["suspension"] != 1 || cats["fraud"]["ban"] != 1 || cats["none"]["refusal"] != 1 || cats["fraud"]["refusal"] != 0 {
		t.Fatalf("by category: %v", cats)
	}
	if o.Reports.Total != 4 || o.Reports.BySource["upstream_moderation"] != 1 || o.Reports.Reviewed != 1 ||
		o.Reports.MedianSecondsToReview != 7200 || o.OperatorReports != 1 {
		t.Fatalf("reports: %+v, operator %d", o.Reports, o.OperatorReports)
	}
	if fmt.Sprint(o.ReviewerActions) != "map[ban:1 dismiss:1]" {
		t.Fatalf("reviewer actions: %v", o.ReviewerActions)
	}
	if o.Appeals != (deskapi.AppealStats{Received: 3, Upheld: 1, Reversed: 1, Open: 1, MedianSecondsToDecide: 3 * 3600}) ||
		o.Notices != (deskapi.NoticeStats{Received: 1, ActedOn: 1, MedianSecondsToDecide: 3600}) {
		t.Fatalf("casework: %+v %+v", o.Appeals, o.Notices)
	}
	if len(got.Apps) != 2 || got.Apps[0].App != "mobile" || got.Apps[1].App != "web" ||
		got.Apps[1].Restrictions.Total != 5 || got.Apps[0].Restrictions.ByKind["refusal"] != 1 {
		t.Fatalf("per app: %+v", got.Apps)
	}

	// One app, and no casework yet: appeals and notices read zero.
	web, err := transparency.Build(ctx, st, since, until, "web", nil, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if web.App != "web" || len(web.Apps) != 1 || web.Overall.Restrictions.Total != 5 || web.Overall.Appeals.Received != 0 {
		t.Fatalf("web only: %+v", web)
	}

	var csv, html bytes.Buffer
	if err := transparency.WriteCSV(&csv, got); err != nil {
		t.Fatal(err)
	}
	if err := transparency.WriteHTML(&html, got); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"overall,restrictions,refusal,3", "web,restrictions_by_category,fraud/ban,1", "overall,appeals,reversed,1"} {
		if !strings.Contains(csv.String(), want) {
			t.Errorf("CSV lacks %q:\n%s", want, csv.String())
		}
	}
	if !strings.Contains(html.String(), "<h2>App web</h2>") || !strings.Contains(html.String(), "weapons") {
		t.Errorf("HTML: %s", html.String())
	}
}

func TestRegisterTotals(t *testing.T) {
	c := storetest.NewClock()
	st := open(t, c)
	if err := st.AddProviderCounts(ctx, []store.ProviderCount{
		{Day: "2026-03-01", App: "web", Provider: "=HYPERLINK(1)", Model: "m", Requests: 2},
		{Day: "2026-03-01", App: "web", Provider: "Azure", Model: "m", Requests: 2, ZDR: true},
		{Day: "2026-03-02", App: "web", Provider: "Azure", Model: "m", Requests: 3},
	}); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	p, err := transparency.Providers(ctx, st, since, since.Add(48*time.Hour), "", c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.From != "2026-03-01" || p.To != "2026-03-02" || len(p.Days) != 3 || len(p.Totals) != 2 ||
		p.Totals[1] != (deskapi.ProviderTotal{App: "web", Provider: "Azure", Model: "m", Requests: 5, ZDRRequests: 2, FirstDay: "2026-03-01", LastDay: "2026-03-02"}) {
		t.Fatalf("register: %+v", p)
	}
	var csv, html bytes.Buffer
	transparency.WriteProvidersCSV(&csv, p)
	transparency.WriteProvidersHTML(&html, p)
	if !strings.Contains(csv.String(), "'=HYPERLINK(1)") || strings.Contains(html.String(), "<td>=HYPERLINK(1)</td>") == false {
		t.Fatalf("CSV must defuse formulas, HTML escape names:\n%s\n%s", csv.String(), html.String())
	}
}

// An automatic escalation counts under the categories it recorded, with no
// lookup of its report; an action without them (written before actions
// kept them, or a reviewer's) is still resolved through its reports.
func TestRecordedCategoriesNeedNoLookup(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tl := transparency.NewTally(t0, t0.Add(24*time.Hour), "")
	for i, cats := range [][]string{{"hate"}, {"hate", "violence"}, nil} {
		tl.Action(store.Action{ID: fmt.Sprintf("a%d", i), Time: t0.Add(time.Hour), Actor: store.AutoActor, App: "web",
			User: fmt.Sprintf("u%d", i), Action: store.ActSuspend, ReportIDs: []string{fmt.Sprintf("old%d", i)}, Categories: cats})
	}
	var asked []string
	resolve := func(ctx context.Context, app, user string, ids map[string]bool) (map[string][]string, error) {
		asked = append(asked, user)
		return map[string][]string{"old2": {"fraud"}}, nil
	}
	got, err := tl.Finish(ctx, t0, resolve)
	if err != nil {
		t.Fatal(err)
	}
	by := got.Overall.Restrictions.ByCategory
	if fmt.Sprint(asked) != "[u2]" || by["hate"]["suspension"] != 2 || by["violence"]["suspension"] != 1 ||
		by["fraud"]["suspension"] != 1 || got.Overall.Restrictions.ByKind["suspension"] != 3 || got.Overall.Restrictions.Automated != 3 {
		t.Fatalf("looked up %v; restrictions %+v", asked, got.Overall.Restrictions)
	}
}
