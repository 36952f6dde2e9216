package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Dump returns every byte a store keeps — all keys and values, or the raw
// file — so the erasure tests can search it for a user's id.
type Dump func(t *testing.T, s store.Store) []byte

// RunPrivacy runs the store.Keeper suite: holds, retention sweeps and
// erasure. dump must see everything the store has written.
func RunPrivacy(t *testing.T, newStore NewStore, dump Dump) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, c *Clock, dump Dump)
	}{
		{"Holds", testHolds},
		{"RetentionSweep", testSweep},
		{"ActionRetention", testActionSweep},
		{"EraseLeavesNoTrace", testErase},
		{"EraseKeepsHeld", testEraseKeepsHeld},
		{"EraseHeldUser", testEraseHeldUser},
		{"PolicyVersionsKept", testPolicyVersionsKept},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock()
			s := newStore(t, c.Now)
			t.Cleanup(func() { s.Close() })
			if _, ok := s.(store.Keeper); !ok {
				t.Fatalf("%T does not implement store.Keeper", s)
			}
			tc.fn(t, s, c, dump)
		})
	}
}

func keeper(s store.Store) store.Keeper { return s.(store.Keeper) }

func holdList(t *testing.T, s store.Store) store.Holds {
	t.Helper()
	hs, err := keeper(s).HoldList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return store.NewHolds(hs)
}

func put(t *testing.T, s store.Store, h store.Hold, seed bool) bool {
	t.Helper()
	if h.Actor == "" {
		h.Actor = "admin-1"
	}
	if h.Reason == "" {
		h.Reason = "litigation L-1"
	}
	ok, err := keeper(s).PutHold(ctx, h, seed)
	if err != nil {
		t.Fatalf("PutHold(%+v): %v", h, err)
	}
	return ok
}

func testHolds(t *testing.T, s store.Store, c *Clock, _ Dump) {
	r := report(c, "web", "held", 1)
	add(t, s, r, noDecay)
	if _, err := keeper(s).PutHold(ctx, store.Hold{Kind: store.HoldUser, App: "web", User: "x", Actor: "a"}, false); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("hold without reason: %v", err)
	}
	if !put(t, s, store.Hold{Kind: store.HoldUser, App: "web", User: "held"}, false) {
		t.Fatal("user hold not placed")
	}
	if put(t, s, store.Hold{Kind: store.HoldUser, App: "web", User: "held"}, false) {
		t.Fatal("second hold on the same user placed")
	}
	if !put(t, s, store.Hold{Kind: store.HoldReport, ReportID: r.ID}, false) {
		t.Fatal("report hold not placed")
	}
	if !put(t, s, store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation", Actor: "config", Reason: "configured"}, true) {
		t.Fatal("seeded category hold not placed")
	}
	hs := holdList(t, s)
	if !hs.User("web", "held") || hs.User("web", "other") || hs.Report(&r) != store.HoldUser {
		t.Fatalf("holds: %+v", hs)
	}
	cse := store.Report{ID: "z", App: "web", User: "other", Categories: []string{"fraud", "child_sexual_exploitation"}}
	if got := hs.Report(&cse); got != "category:child_sexual_exploitation" {
		t.Fatalf("category hold reads %q", got)
	}
	list, _ := keeper(s).HoldList(ctx)
	if len(list) != 3 {
		t.Fatalf("%d holds listed, want 3", len(list))
	}
	for _, h := range list {
		if h.Kind == store.HoldReport && (h.App != "web" || h.User != "held") {
			t.Fatalf("report hold does not name its owner: %+v", h)
		}
		if !h.Since.Equal(c.Now()) {
			t.Fatalf("hold since %v, want %v", h.Since, c.Now())
		}
	}

	// Release needs a reason, and is recorded.
	catHold := store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation"}
	if err := keeper(s).ReleaseHold(ctx, catHold, "admin-1", ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("release without reason: %v", err)
	}
	if err := keeper(s).ReleaseHold(ctx, catHold, "admin-1", "case closed"); err != nil {
		t.Fatal(err)
	}
	if err := keeper(s).ReleaseHold(ctx, catHold, "admin-1", "again"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second release: %v", err)
	}
	// A configured hold an admin released is not seeded again on restart.
	if put(t, s, store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation", Actor: "config", Reason: "configured"}, true) {
		t.Fatal("released configured hold was seeded again")
	}
	// ... but an explicit hold may be placed again.
	if !put(t, s, catHold, false) {
		t.Fatal("explicit hold after release not placed")
	}

	audit, err := s.Audit(ctx, store.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range audit.Items {
		kinds = append(kinds, a.Action+" "+a.Hold)
		if a.Action == store.ActRelease && a.Reason != "case closed" {
			t.Fatalf("release reason %q", a.Reason)
		}
	}
	want := []string{"hold category:child_sexual_exploitation", "release category:child_sexual_exploitation",
		"hold category:child_sexual_exploitation", "hold report:" + r.ID, "hold " + store.Hold{Kind: store.HoldUser, App: "web", User: "held"}.Key()}
	if !slices.Equal(kinds, want) {
		t.Fatalf("audit log:\n got %q\nwant %q", kinds, want)
	}
	// The user's own log has the holds about them (access requests show them).
	mine, _ := s.Audit(ctx, store.AuditQuery{App: "web", User: "held"})
	if len(mine.Items) != 2 {
		t.Fatalf("user's audit log has %d entries, want the 2 holds", len(mine.Items))
	}
}

// sweepAll runs sweep steps until a pass ends, as the sweeper does.
func sweepAll(t *testing.T, s store.Store, req store.SweepRequest) store.SweepResult {
	t.Helper()
	var total store.SweepResult
	for i := 0; ; i++ {
		res, err := keeper(s).Sweep(ctx, req)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		total.Purged += res.Purged
		total.PurgedActions += res.PurgedActions
		total.Held += res.Held
		if res.Next == "" {
			return total
		}
		if i > 1000 {
			t.Fatal("sweep does not end")
		}
		req.Cursor = res.Next
	}
}

func testSweep(t *testing.T, s store.Store, c *Clock, _ Dump) {
	day := 24 * time.Hour
	ret := store.Retention{Default: 30 * day, Categories: map[string]time.Duration{"fraud": 90 * day, "child_sexual_exploitation": 0}, Apps: map[string]time.Duration{"kids": 7 * day}}
	mk := func(app, user string, cats ...string) store.Report {
		r := report(c, app, user, 0.5, cats...)
		add(t, s, r, noDecay)
		return r
	}
	a := mk("web", "alice")                                           // 30d: expires
	b := mk("web", "alice", "fraud")                                  // 90d: kept
	cc := mk("kids", "carol")                                         // 7d: expires
	d := mk("web", "dave")                                            // expired, report hold
	e := mk("web", "erin", "harassment", "child_sexual_exploitation") // category hold (and kept for ever)
	g := mk("web", "gina")                                            // expired, user hold
	c.Advance(20 * day)
	f := mk("web", "alice") // expires at 50d
	put(t, s, store.Hold{Kind: store.HoldReport, ReportID: d.ID}, false)
	put(t, s, store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation"}, false)
	put(t, s, store.Hold{Kind: store.HoldUser, App: "web", User: "gina"}, false)
	// Review one of alice's reports, so the unreviewed count is checked too.
	act(t, s, store.Action{App: "web", User: "alice", Action: store.ActDismiss, ReportIDs: []string{a.ID}})

	// Nothing is due yet at 20d but carol's report.
	res := sweepAll(t, s, store.SweepRequest{Retention: ret, Holds: holdList(t, s), Now: c.Now(), Limit: 2})
	if res.Purged != 1 {
		t.Fatalf("at 20d purged %d, want 1 (carol's)", res.Purged)
	}
	c.Advance(11 * day) // 31d
	res = sweepAll(t, s, store.SweepRequest{Retention: ret, Holds: holdList(t, s), Now: c.Now(), Limit: 2})
	if res.Purged != 1 || res.Held != 2 {
		t.Fatalf("at 31d: %+v, want 1 purged (alice's first) and 2 held (dave's, gina's)", res)
	}
	left := ids(allReports(t, s, store.ReportQuery{}))
	want := []string{f.ID, g.ID, e.ID, d.ID, b.ID}
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	for _, gone := range []store.Report{a, cc} {
		for _, q := range []store.ReportQuery{{App: gone.App, User: gone.User}, {Category: gone.Categories[0]}} {
			if slices.Contains(ids(allReports(t, s, q)), gone.ID) {
				t.Fatalf("purged report %s still listed by %+v", gone.ID, q)
			}
		}
	}
	var walked []string
	s.EachReport(ctx, time.Time{}, time.Time{}, func(r store.Report) error { walked = append(walked, r.ID); return nil })
	if slices.Contains(walked, a.ID) || slices.Contains(walked, cc.ID) || len(walked) != 5 {
		t.Fatalf("EachReport walks %v", walked)
	}
	st := standing(t, s, "web", "alice")
	if st.Reports != 2 || st.Unreviewed != 2 {
		t.Fatalf("alice after purge: %+v, want 2 reports, 2 unreviewed", st)
	}
	cs, err := s.User(ctx, "web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cs.Categories["harassment"] != 1 || cs.Categories["fraud"] != 1 || len(cs.Reports) != 2 {
		t.Fatalf("alice's case after purge: %+v", cs)
	}
	q, _ := s.Queue(ctx, store.QueueQuery{})
	for _, it := range q.Items {
		if it.User == "carol" {
			t.Fatalf("carol still queued with no report: %+v", it)
		}
	}
	// The dedupe id went with the report: the same id records anew.
	if res := add(t, s, cc, noDecay); res.Duplicate {
		t.Fatal("purged report id still deduplicated")
	}

	// At 120d alice's fraud report and f are due; holds still keep theirs.
	c.Advance(89 * day)
	res = sweepAll(t, s, store.SweepRequest{Retention: ret, Holds: holdList(t, s), Now: c.Now()})
	left = ids(allReports(t, s, store.ReportQuery{}))
	sort.Strings(left)
	want = []string{d.ID, e.ID, g.ID}
	sort.Strings(want)
	if res.Purged != 3 || !slices.Equal(left, want) {
		t.Fatalf("at 120d: %+v, left %v want %v", res, left, want)
	}
	// Lifting the report hold lets dave's report go at the next pass.
	if err := keeper(s).ReleaseHold(ctx, store.Hold{Kind: store.HoldReport, ReportID: d.ID}, "admin-1", "released by court"); err != nil {
		t.Fatal(err)
	}
	res = sweepAll(t, s, store.SweepRequest{Retention: ret, Holds: holdList(t, s), Now: c.Now()})
	if res.Purged != 1 || res.Held != 1 {
		t.Fatalf("after release: %+v, want dave's purged, gina's held (erin's never expires)", res)
	}
}

func testActionSweep(t *testing.T, s store.Store, c *Clock, _ Dump) {
	day := 24 * time.Hour
	act(t, s, store.Action{App: "web", User: "old", Action: store.ActNote, Reason: "old note"})
	act(t, s, store.Action{App: "web", User: "kept", Action: store.ActNote, Reason: "held user's note"})
	put(t, s, store.Hold{Kind: store.HoldUser, App: "web", User: "kept"}, false)
	// An automatic ban citing a report under a category hold stays with it.
	cse := report(c, "web", "cse-user", 1, "child_sexual_exploitation")
	cse.Escalation = "ban"
	add(t, s, cse, noDecay)
	put(t, s, store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation"}, false)
	c.Advance(40 * day)
	act(t, s, store.Action{App: "web", User: "old", Action: store.ActNote, Reason: "new note"})
	ret := store.Retention{Actions: 30 * day}
	res := sweepAll(t, s, store.SweepRequest{Retention: ret, Holds: holdList(t, s), Now: c.Now(), Limit: 1})
	if res.PurgedActions != 1 || res.Held != 2 {
		t.Fatalf("purged %d actions, held %d; want 1 and 2 (the held user's note, the ban)", res.PurgedActions, res.Held)
	}
	audit, _ := s.Audit(ctx, store.AuditQuery{Limit: 100})
	var reasons []string
	for _, a := range audit.Items {
		reasons = append(reasons, a.Reason)
	}
	if want := []string{"new note", "litigation L-1", "policy escalation: ban", "litigation L-1", "held user's note"}; !slices.Equal(reasons, want) {
		t.Fatalf("audit after sweep %q, want %q", reasons, want)
	}
	mine, _ := s.Audit(ctx, store.AuditQuery{App: "web", User: "old"})
	if len(mine.Items) != 1 || mine.Items[0].Reason != "new note" {
		t.Fatalf("user's log after sweep: %+v", mine.Items)
	}
}

// The marker strings below occur nowhere else, so a dump can be searched.
const (
	eraseUser   = "erasable-7f3a9c"
	erasePseud  = "pseudo-e1b2c3d4"
	erasePseud2 = "pseudo-f5a6b7c8"
)

func eraseReq(app, user string, hs store.Holds) store.EraseRequest {
	return store.EraseRequest{App: app, User: user, Holds: hs, Actor: "admin-1", Reason: "GDPR art. 17 request #42",
		Subject: "hmac-sha256:0123abcd", RateKeys: []string{"user:" + app + ":" + user}}
}

func erasable(t *testing.T, s store.Store, c *Clock, pseud string, cats ...string) store.Report {
	r := report(c, "web", eraseUser, 1, cats...)
	r.Pseudonym = pseud
	add(t, s, r, noDecay)
	return r
}

func mustNotContain(t *testing.T, dump []byte, what ...string) {
	t.Helper()
	for _, w := range what {
		if i := bytes.Index(dump, []byte(w)); i >= 0 {
			t.Errorf("%q still stored: ...%q...", w, dump[max(i-80, 0):min(i+80, len(dump))])
		}
	}
}

func testErase(t *testing.T, s store.Store, c *Clock, dump Dump) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	feed, err := s.Subscribe(sctx)
	if err != nil {
		t.Fatal(err)
	}
	r1 := erasable(t, s, c, erasePseud)
	r2 := erasable(t, s, c, erasePseud2, "fraud")
	r2b := r2
	r2b.ID += "-x"
	r2b.Escalation = "ban" // an automatic escalation action too
	add(t, s, r2b, noDecay)
	act(t, s, store.Action{App: "web", User: eraseUser, Action: store.ActNote, Reason: "called " + eraseUser})
	act(t, s, store.Action{App: "web", User: eraseUser, Action: store.ActSuspend, Duration: time.Hour, ReportIDs: []string{r1.ID}})
	put(t, s, store.Hold{Kind: store.HoldUser, App: "web", User: eraseUser}, false)
	if err := keeper(s).ReleaseHold(ctx, store.Hold{Kind: store.HoldUser, App: "web", User: eraseUser}, "admin-1", "no longer needed"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Take(ctx, "user:web:"+eraseUser, store.Limit{PerMinute: 10}, 1); err != nil {
		t.Fatal(err)
	}
	// A bystander whose records must survive.
	bob := report(c, "web", "bob", 1, "fraud")
	add(t, s, bob, noDecay)
	act(t, s, store.Action{App: "web", User: "bob", Action: store.ActWarn})
	if !bytes.Contains(dump(t, s), []byte(eraseUser)) {
		t.Fatal("the dump does not show the user before erasure: it cannot show erasure")
	}

	e, err := keeper(s).EraseUser(ctx, eraseReq("web", eraseUser, holdList(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	if e.Reports != 3 || e.Actions != 5 || e.Pseudonyms != 2 || !e.Standing || e.HeldReports != 0 {
		t.Fatalf("erasure counts %+v, want 3 reports, 5 actions (ban, note, suspend, hold, release), 2 pseudonyms, standing", e)
	}
	mustNotContain(t, dump(t, s), eraseUser, erasePseud, erasePseud2, r1.ID, r2.ID)

	if st := standing(t, s, "web", eraseUser); st.Status != store.Active || st.Reports != 0 {
		t.Fatalf("standing after erasure %+v", st)
	}
	if apps, _ := s.Apps(ctx, eraseUser); len(apps) != 0 {
		t.Fatalf("apps after erasure %v", apps)
	}
	if _, _, ok, _ := s.FindPseudonym(ctx, erasePseud); ok {
		t.Fatal("pseudonym still resolves")
	}
	sanct, _ := s.ListSanctioned(ctx)
	for _, u := range sanct {
		if u.User == eraseUser {
			t.Fatal("still listed as sanctioned")
		}
	}
	// The bystander is intact.
	if got := ids(allReports(t, s, store.ReportQuery{})); !slices.Equal(got, []string{bob.ID}) {
		t.Fatalf("reports left %v, want bob's", got)
	}
	if st := standing(t, s, "web", "bob"); st.Status != store.Warned || st.Reports != 1 {
		t.Fatalf("bob %+v", st)
	}
	// The erasure itself is on record, without the user.
	audit, _ := s.Audit(ctx, store.AuditQuery{Limit: 100})
	top := audit.Items[0]
	if top.Action != store.ActErase || top.User != "" || top.App != "web" || top.Subject != "hmac-sha256:0123abcd" ||
		top.Counts["reports"] != 3 || top.Actor != "admin-1" || !top.Time.Equal(c.Now()) {
		t.Fatalf("erase record %+v", top)
	}
	if len(audit.Items) != 2 {
		t.Fatalf("audit keeps %d entries, want bob's warn and the erasure", len(audit.Items))
	}
	// Caches must drop their copy: the feed says reload.
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case ch := <-feed:
			got = ch.Resync
		case <-deadline:
			t.Fatal("no resync on the change feed after erasure")
		}
	}
	// The user may come back as a new user.
	again := report(c, "web", eraseUser, 1)
	if res := add(t, s, again, noDecay); res.Standing.Reports != 1 || res.Standing.Status != store.Active {
		t.Fatalf("new record after erasure %+v", res.Standing)
	}
	// Indexes still find what survived: a later purge removes bob's report
	// from every listing.
	c.Advance(48 * time.Hour)
	res := sweepAll(t, s, store.SweepRequest{Retention: store.Retention{Default: 24 * time.Hour}, Holds: holdList(t, s), Now: c.Now()})
	if res.Purged != 2 {
		t.Fatalf("sweep after erasure purged %d, want 2", res.Purged)
	}
	for _, q := range []store.ReportQuery{{}, {Category: "fraud"}, {App: "web", User: "bob"}} {
		if got := allReports(t, s, q); len(got) != 0 {
			t.Fatalf("after the purge %+v lists %v", q, ids(got))
		}
	}
}

func testEraseKeepsHeld(t *testing.T, s store.Store, c *Clock, dump Dump) {
	cse := erasable(t, s, c, erasePseud, "child_sexual_exploitation")
	cse2 := cse
	cse2.ID += "-esc"
	cse2.Escalation = "ban"
	add(t, s, cse2, noDecay)
	plain := erasable(t, s, c, erasePseud2)
	held := erasable(t, s, c, erasePseud, "fraud")
	act(t, s, store.Action{App: "web", User: eraseUser, Action: store.ActNote, Reason: "note-9d8e7f"})
	put(t, s, store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation"}, false)
	put(t, s, store.Hold{Kind: store.HoldReport, ReportID: held.ID}, false)

	e, err := keeper(s).EraseUser(ctx, eraseReq("web", eraseUser, holdList(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	// Kept: three held reports, the automatic ban (it cites cse2) and the
	// report hold's record. Removed: the plain report, the note.
	if e.Reports != 1 || e.HeldReports != 3 || e.Actions != 1 || e.HeldActions != 2 || e.Pseudonyms != 1 || e.Standing {
		t.Fatalf("erasure counts %+v", e)
	}
	d := dump(t, s)
	mustNotContain(t, d, plain.ID, plain.DecisionID, erasePseud2, "note-9d8e7f")
	if !bytes.Contains(d, []byte(cse.ID)) || !bytes.Contains(d, []byte(held.ID)) {
		t.Fatal("held reports were removed")
	}
	got := ids(allReports(t, s, store.ReportQuery{App: "web", User: eraseUser}))
	sort.Strings(got)
	want := []string{cse.ID, cse2.ID, held.ID}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("reports kept %v, want %v", got, want)
	}
	st := standing(t, s, "web", eraseUser)
	if st.Status != store.Banned || st.Reports != 3 || st.Unreviewed != 3 {
		t.Fatalf("held user's standing %+v: the ban and counts of the held reports stay", st)
	}
	if _, _, ok, _ := s.FindPseudonym(ctx, erasePseud); !ok {
		t.Fatal("the held reports' pseudonym link was removed")
	}
	if _, _, ok, _ := s.FindPseudonym(ctx, erasePseud2); ok {
		t.Fatal("the erased report's pseudonym still resolves")
	}
	cs, _ := s.User(ctx, "web", eraseUser)
	if cs.Categories["harassment"] != 0 || cs.Categories["fraud"] != 1 || cs.Categories["child_sexual_exploitation"] != 2 {
		t.Fatalf("categories after erasure %v", cs.Categories)
	}
}

func testEraseHeldUser(t *testing.T, s store.Store, c *Clock, dump Dump) {
	r := erasable(t, s, c, erasePseud)
	put(t, s, store.Hold{Kind: store.HoldUser, App: "web", User: eraseUser}, false)
	e, err := keeper(s).EraseUser(ctx, eraseReq("web", eraseUser, holdList(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	if !e.UserHeld || e.Reports != 0 || e.Actions != 0 {
		t.Fatalf("erasure of a held user %+v", e)
	}
	if got := ids(allReports(t, s, store.ReportQuery{App: "web", User: eraseUser})); !slices.Equal(got, []string{r.ID}) {
		t.Fatalf("held user's reports %v", got)
	}
	audit, _ := s.Audit(ctx, store.AuditQuery{Limit: 10})
	if top := audit.Items[0]; top.Action != store.ActErase || top.User != "" || top.Reason == "" {
		t.Fatalf("erase record %+v", top)
	}
}
