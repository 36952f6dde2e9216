// Package transparency counts the compliance figures an operator
// publishes: the transparency report (restrictions by category and kind,
// automated versus human, notices, appeals, time to decide; DSA Art. 15
// and 24) from the store's reports and audit log, and the subprocessor
// register (which providers served each app) from the store's register.
// It reads records, never content, and renders them as JSON, CSV or HTML.
package transparency

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// Appeal is what the report needs of one appeal record.
type Appeal struct {
	App     string
	Filed   time.Time
	Decided time.Time // zero while open
	Outcome string    // "upheld", "reversed", "" while open
}

// Notice is what the report needs of one abuse notice.
type Notice struct {
	App      string
	Received time.Time
	Decided  time.Time // when the desk acted on it or closed it; zero while open
	ActedOn  bool      // a restriction or other action followed
}

// Casework yields the appeals and notices received in [since, until).
// The appeals and notices records provide it; until they exist the
// report's appeals and notices sections read zero (Build with nil).
type Casework interface {
	EachAppeal(ctx context.Context, since, until time.Time, fn func(Appeal) error) error
	EachNotice(ctx context.Context, since, until time.Time, fn func(Notice) error) error
}

// Resolver finds the categories of reports an action cites that the
// period's walk did not see (older reports a reviewer acted on): ids are
// report ids of app's user; the answer maps those it found.
type Resolver func(ctx context.Context, app, user string, ids map[string]bool) (map[string][]string, error)

// section accumulates one app's (or the overall) figures.
type section struct {
	s       deskapi.TransparencySection
	review  []float64 // seconds from report to review
	appeals []float64
	notices []float64
}

func newSection(app string) *section {
	s := &section{s: deskapi.TransparencySection{App: app,
		Restrictions:    deskapi.Restrictions{ByKind: map[string]int{}, ByCategory: map[string]map[string]int{}},
		Reports:         deskapi.ReportStats{BySource: map[string]int{}},
		ReviewerActions: map[string]int{}}}
	for _, k := range deskapi.Kinds {
		s.s.Restrictions.ByKind[k] = 0
	}
	return s
}

func (s *section) restrict(kind string, cats []string, automated bool) {
	r := &s.s.Restrictions
	r.Total++
	r.ByKind[kind]++
	if automated {
		r.Automated++
	} else {
		r.Human++
	}
	if len(cats) == 0 {
		cats = []string{"none"}
	}
	for _, c := range cats {
		m := r.ByCategory[c]
		if m == nil {
			m = map[string]int{}
			r.ByCategory[c] = m
		}
		m[kind]++
	}
}

// sanction is a suspension or ban waiting for its reports' categories.
type sanction struct {
	app, user, kind string
	automated       bool
	ids             []string
}

// Tally builds a report from records fed to it: every action of the
// period first (Action), then every report (Report), then Finish.
type Tally struct {
	since, until time.Time
	app          string // "" for all
	overall      *section
	apps         map[string]*section
	sanctions    []sanction
	cats         map[string][]string // report id → categories, for the ids sanctions cite
}

// NewTally starts a report of [since, until) for app ("" for all apps).
func NewTally(since, until time.Time, app string) *Tally {
	return &Tally{since: since, until: until, app: app, overall: newSection(""), apps: map[string]*section{}, cats: map[string][]string{}}
}

func (t *Tally) in(app string, tm time.Time) bool {
	return (t.app == "" || app == t.app) && (t.since.IsZero() || !tm.Before(t.since)) && (t.until.IsZero() || tm.Before(t.until))
}

// each applies fn to the overall section and the app's.
func (t *Tally) each(app string, fn func(*section)) {
	fn(t.overall)
	s := t.apps[app]
	if s == nil {
		s = newSection(app)
		t.apps[app] = s
	}
	fn(s)
}

// userAction: the actions on an end user's standing or case.
var userAction = map[string]bool{store.ActWarn: true, store.ActSuspend: true, store.ActBan: true,
	store.ActReinstate: true, store.ActDismiss: true, store.ActNote: true}

// Action counts one audit-log entry.
func (t *Tally) Action(a store.Action) {
	if !t.in(a.App, a.Time) || !userAction[a.Action] {
		// Legal holds, releases and erasures concern records, not end
		// users' access: docs/privacy.md counts those.
		return
	}
	human := a.Actor != store.AutoActor
	if human {
		t.each(a.App, func(s *section) { s.s.ReviewerActions[a.Action]++ })
	} else {
		t.each(a.App, func(*section) {}) // the app has a section even with automatic actions only
	}
	kind := map[string]string{store.ActSuspend: deskapi.KindSuspension, store.ActBan: deskapi.KindBan}[a.Action]
	if kind == "" {
		return
	}
	if len(a.Categories) > 0 {
		// An automatic escalation records its report's categories: counted
		// now, nothing kept. Only reviewer sanctions (as many as reviewers
		// act, not as reports arrive) wait for their reports below.
		t.each(a.App, func(s *section) { s.restrict(kind, a.Categories, !human) })
		return
	}
	t.sanctions = append(t.sanctions, sanction{app: a.App, user: a.User, kind: kind, automated: !human, ids: a.ReportIDs})
	for _, id := range a.ReportIDs {
		if _, ok := t.cats[id]; !ok {
			t.cats[id] = nil
		}
	}
}

// Report counts one report.
func (t *Tally) Report(r store.Report) {
	if cs, wanted := t.cats[r.ID]; wanted && cs == nil {
		t.cats[r.ID] = nonNil(r.Categories)
	}
	if !t.in(r.App, r.Time) {
		return
	}
	if r.Source == store.SourceOperator || r.User == store.OperatorUser {
		t.each(r.App, func(s *section) { s.s.OperatorReports++ })
		return
	}
	kind := deskapi.KindFlag
	if r.Action == "block" || r.Source == "upstream_moderation" {
		kind = deskapi.KindRefusal
	}
	t.each(r.App, func(s *section) {
		s.s.Reports.Total++
		s.s.Reports.BySource[r.Source]++
		s.restrict(kind, r.Categories, true)
		if r.Reviewed && !r.ReviewedAt.IsZero() && !r.ReviewedAt.Before(r.Time) {
			s.s.Reports.Reviewed++
			s.review = append(s.review, r.ReviewedAt.Sub(r.Time).Seconds())
		}
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Casework counts the appeals and notices cw yields for the period.
func (t *Tally) Casework(ctx context.Context, cw Casework) error {
	if cw == nil {
		return nil
	}
	err := cw.EachAppeal(ctx, t.since, t.until, func(a Appeal) error {
		if !t.in(a.App, a.Filed) {
			return nil
		}
		t.each(a.App, func(s *section) {
			st := &s.s.Appeals
			st.Received++
			switch a.Outcome {
			case "upheld":
				st.Upheld++
			case "reversed":
				st.Reversed++
			default:
				st.Open++
			}
			if !a.Decided.IsZero() && a.Outcome != "" {
				s.appeals = append(s.appeals, a.Decided.Sub(a.Filed).Seconds())
			}
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("transparency: appeals: %w", err)
	}
	err = cw.EachNotice(ctx, t.since, t.until, func(n Notice) error {
		if !t.in(n.App, n.Received) {
			return nil
		}
		t.each(n.App, func(s *section) {
			s.s.Notices.Received++
			if n.ActedOn {
				s.s.Notices.ActedOn++
			}
			if !n.Decided.IsZero() {
				s.notices = append(s.notices, n.Decided.Sub(n.Received).Seconds())
			}
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("transparency: notices: %w", err)
	}
	return nil
}

// maxResolvedUsers bounds the per-user lookups of Finish; sanctions of
// further users count under "none" (a period with more sanctioned users
// than this reads their categories from the bundle's own reports).
const maxResolvedUsers = 10_000

// Finish resolves the categories of the sanctions (through resolve for
// reports older than the period; nil: those count under "none") and
// returns the report.
func (t *Tally) Finish(ctx context.Context, now time.Time, resolve Resolver) (deskapi.Transparency, error) {
	if resolve != nil {
		missing := map[[2]string]map[string]bool{}
		for _, s := range t.sanctions {
			for _, id := range s.ids {
				if t.cats[id] == nil {
					k := [2]string{s.app, s.user}
					if missing[k] == nil {
						missing[k] = map[string]bool{}
					}
					missing[k][id] = true
				}
			}
		}
		n := 0
		for _, k := range slices.SortedFunc(maps.Keys(missing), func(a, b [2]string) int {
			return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
		}) {
			if n++; n > maxResolvedUsers {
				break
			}
			found, err := resolve(ctx, k[0], k[1], missing[k])
			if err != nil {
				return deskapi.Transparency{}, fmt.Errorf("transparency: categories of cited reports: %w", err)
			}
			for id, cs := range found {
				t.cats[id] = nonNil(cs)
			}
		}
	}
	for _, s := range t.sanctions {
		var cats []string
		for _, id := range s.ids {
			for _, c := range t.cats[id] {
				if !slices.Contains(cats, c) {
					cats = append(cats, c)
				}
			}
		}
		t.each(s.app, func(sec *section) { sec.restrict(s.kind, cats, s.automated) })
	}
	out := deskapi.Transparency{Since: t.since, Until: t.until, GeneratedAt: now.UTC(), App: t.app,
		Overall: t.overall.finish(), Apps: []deskapi.TransparencySection{}}
	for _, name := range slices.Sorted(maps.Keys(t.apps)) {
		out.Apps = append(out.Apps, t.apps[name].finish())
	}
	return out, nil
}

func (s *section) finish() deskapi.TransparencySection {
	s.s.Reports.MedianSecondsToReview = median(s.review)
	s.s.Appeals.MedianSecondsToDecide = median(s.appeals)
	s.s.Notices.MedianSecondsToDecide = median(s.notices)
	return s.s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// Build counts the report of [since, until) for app ("" for all) from st:
// the audit log, the reports, the older reports sanctions cite (per user,
// through st.Reports), and cw's appeals and notices (nil: none yet).
func Build(ctx context.Context, st store.Store, since, until time.Time, app string, cw Casework, now time.Time) (deskapi.Transparency, error) {
	t := NewTally(since, until, app)
	if err := st.EachAction(ctx, since, until, func(a store.Action) error { t.Action(a); return nil }); err != nil {
		return deskapi.Transparency{}, fmt.Errorf("transparency: audit log: %w", err)
	}
	if err := st.EachReport(ctx, since, until, func(r store.Report) error { t.Report(r); return nil }); err != nil {
		return deskapi.Transparency{}, fmt.Errorf("transparency: reports: %w", err)
	}
	if err := t.Casework(ctx, cw); err != nil {
		return deskapi.Transparency{}, err
	}
	return t.Finish(ctx, now, StoreResolver(st))
}

// maxResolvePages bounds how far back one user's reports are paged.
const maxResolvePages = 20

// StoreResolver pages a user's reports, newest first, until it has found
// every id (or maxResolvePages pages).
func StoreResolver(st store.Store) Resolver {
	return func(ctx context.Context, app, user string, ids map[string]bool) (map[string][]string, error) {
		found := map[string][]string{}
		q := store.ReportQuery{App: app, User: user, Limit: 1000}
		for range maxResolvePages {
			page, err := st.Reports(ctx, q)
			if err != nil {
				return nil, err
			}
			for _, r := range page.Items {
				if ids[r.ID] {
					found[r.ID] = r.Categories
				}
			}
			if len(found) == len(ids) || page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		return found, nil
	}
}
