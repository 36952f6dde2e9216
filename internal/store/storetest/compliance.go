package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// RunCompliance is the conformance suite of the compliance block
// (statements of reasons, appeals, notices); both stores pass it.
func RunCompliance(t *testing.T, newStore NewStore) {
	runs(t, newStore, []storeCase{
		{"Statements", testStatements},
		{"Appeals", testAppeals},
		{"AppealDecidedOnce", testAppealDecidedOnce},
		{"Notices", testNotices},
		{"EachCompliance", testEachCompliance},
		{"EraseCompliance", testEraseCompliance},
		{"PurgeCompliance", testPurgeCompliance},
	})
}

func stmt(c *Clock, id, app, user, kind string) store.Statement {
	return store.Statement{ID: id, Time: c.Now(), App: app, User: user, Kind: kind, Scope: "account",
		Automated: true, Actor: store.AutoActor, Categories: []string{"fraud"}, Grounds: []store.Ground{{Category: "fraud", AUPClause: "no fraud"}}}
}

func testStatements(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	a := stmt(c, "st_1", "web", "u1", store.RestrictRefusal)
	if ok, err := s.PutStatement(ctx, a); err != nil || !ok {
		t.Fatalf("put: %v %v", ok, err)
	}
	b := a
	b.Explanation = "second writer"
	if ok, err := s.PutStatement(ctx, b); err != nil || ok {
		t.Fatalf("second put of the same id: created=%v err=%v, want false nil", ok, err)
	}
	got, err := s.Statement(ctx, "st_1")
	if err != nil || got.Explanation != "" || got.Grounds[0].AUPClause != "no fraud" || !got.Time.Equal(a.Time) {
		t.Fatalf("get: %+v %v (first writer must win)", got, err)
	}
	if _, err := s.Statement(ctx, "st_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown statement: %v, want ErrNotFound", err)
	}
	for _, bad := range []store.Statement{{ID: "x", App: "web", User: "u", Time: c.Now(), Kind: "nope"},
		{ID: "", App: "web", User: "u", Time: c.Now(), Kind: store.RestrictBan},
		{ID: "y", App: "web", User: "u", Kind: store.RestrictBan}} {
		if _, err := s.PutStatement(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("put %+v: %v, want ErrInvalid", bad, err)
		}
	}
	c.Advance(time.Minute)
	if _, err := s.PutStatement(ctx, stmt(c, "st_0", "web", "u1", store.RestrictSuspension)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutStatement(ctx, stmt(c, "st_2", "other", "u1", store.RestrictBan)); err != nil {
		t.Fatal(err)
	}
	list, err := s.UserStatements(ctx, "web", "u1")
	if err != nil || len(list) != 2 || list[0].ID != "st_1" || list[1].ID != "st_0" {
		t.Fatalf("user statements: %+v %v (want st_1 then st_0, by time, in app web only)", list, err)
	}
	if list, _ := s.UserStatements(ctx, "web", "nobody"); len(list) != 0 {
		t.Fatalf("nobody's statements: %+v", list)
	}
}

func appeal(c *Clock, id, app, user, stmtID string) store.Appeal {
	return store.Appeal{ID: id, App: app, User: user, StatementID: stmtID, Filed: c.Now(), Deadline: c.Now().Add(14 * 24 * time.Hour),
		Text: "I was only quoting the news", TextLength: 27, ContestedActor: store.AutoActor, Status: "ignored on put"}
}

func testAppeals(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	for i, id := range []string{"ap_a", "ap_b", "ap_c"} {
		app := "web"
		if i == 2 {
			app = "other"
		}
		if ok, err := s.PutAppeal(ctx, appeal(c, id, app, "u", "st_"+id)); err != nil || !ok {
			t.Fatalf("put %s: %v %v", id, ok, err)
		}
		c.Advance(time.Second)
	}
	if ok, err := s.PutAppeal(ctx, appeal(c, "ap_a", "web", "u", "st_x")); err != nil || ok {
		t.Fatalf("second appeal with the same id: %v %v, want false nil", ok, err)
	}
	if _, err := s.PutAppeal(ctx, store.Appeal{ID: "ap_bad", App: "web", User: "u", Filed: c.Now()}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("appeal without statement: %v", err)
	}
	got, err := s.Appeal(ctx, "ap_a")
	if err != nil || got.Status != store.AppealOpen || got.StatementID != "st_ap_a" || got.Text == "" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Appeal(ctx, "ap_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown appeal: %v", err)
	}
	p, err := s.Appeals(ctx, store.AppealQuery{Limit: 2})
	if err != nil || len(p.Items) != 2 || p.Items[0].ID != "ap_a" || p.Items[1].ID != "ap_b" || p.Next == "" {
		t.Fatalf("first page: %+v %v", p, err)
	}
	p, err = s.Appeals(ctx, store.AppealQuery{Limit: 2, Cursor: p.Next})
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != "ap_c" || p.Next != "" {
		t.Fatalf("second page: %+v %v", p, err)
	}
	if _, err := s.Appeals(ctx, store.AppealQuery{Cursor: "garbage"}); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	p, _ = s.Appeals(ctx, store.AppealQuery{App: "other"})
	if len(p.Items) != 1 || p.Items[0].ID != "ap_c" {
		t.Fatalf("app filter: %+v", p)
	}
	d := store.AppealDecision{Outcome: store.AppealReversed, Reason: "quoting the news is fine", DecidedBy: "desk-2", ActionID: "act1", At: c.Now()}
	a, err := s.DecideAppeal(ctx, "ap_b", d)
	if err != nil || a.Status != store.AppealReversed || a.DecidedBy != "desk-2" || a.Text == "" {
		t.Fatalf("decide: %+v %v", a, err)
	}
	p, _ = s.Appeals(ctx, store.AppealQuery{Status: store.AppealOpen})
	if len(p.Items) != 2 || p.Items[0].ID != "ap_a" || p.Items[1].ID != "ap_c" {
		t.Fatalf("open appeals: %+v", p)
	}
	if got, _ := s.Appeal(ctx, "ap_b"); got.Status != store.AppealReversed || got.Reason != d.Reason || !got.DecidedAt.Equal(d.At) {
		t.Fatalf("decided appeal read back: %+v", got)
	}
	for _, bad := range []store.AppealDecision{{Outcome: "maybe", Reason: "r", DecidedBy: "x", At: c.Now()}, {Outcome: store.AppealUpheld, DecidedBy: "x", At: c.Now()}} {
		if _, err := s.DecideAppeal(ctx, "ap_a", bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("decision %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.DecideAppeal(ctx, "ap_none", d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deciding an unknown appeal: %v", err)
	}
}

func testAppealDecidedOnce(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	if _, err := s.PutAppeal(ctx, appeal(c, "ap_1", "web", "u", "st_1")); err != nil {
		t.Fatal(err)
	}
	// Two reviewers at once: exactly one decision stands.
	errs := make(chan error, 2)
	for _, o := range []string{store.AppealUpheld, store.AppealReversed} {
		go func() {
			_, err := s.DecideAppeal(ctx, "ap_1", store.AppealDecision{Outcome: o, Reason: "r", DecidedBy: o, At: c.Now()})
			errs <- err
		}()
	}
	var ok, conflict int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflict++
		default:
			t.Fatal(err)
		}
	}
	a, _ := s.Appeal(ctx, "ap_1")
	if ok != 1 || conflict != 1 || a.DecidedBy != a.Status {
		t.Fatalf("ok=%d conflict=%d appeal=%+v", ok, conflict, a)
	}
}

func testNotices(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	n1 := store.Notice{ID: "nt_1", Received: c.Now(), Source: store.NoticeOpenRouter, Pseudonym: "aup_x", App: "web", User: "u1", ReportID: "r1", Actor: "desk-1"}
	c.Advance(time.Second)
	n2 := store.Notice{ID: "nt_2", Received: c.Now(), Source: store.NoticeThirdParty, App: "kids", User: "u2", Category: "fraud", Reference: "T-1", Description: "scam", ReportID: "r2", Actor: "desk-1"}
	for _, n := range []store.Notice{n1, n2} {
		if ok, err := s.PutNotice(ctx, n); err != nil || !ok {
			t.Fatalf("put %s: %v %v", n.ID, ok, err)
		}
	}
	if ok, _ := s.PutNotice(ctx, n1); ok {
		t.Fatal("the same notice kept twice")
	}
	if _, err := s.PutNotice(ctx, store.Notice{ID: "nt_3", Received: c.Now(), Source: "email", App: "web", User: "u"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad source: %v", err)
	}
	if got, err := s.Notice(ctx, "nt_2"); err != nil || got.Reference != "T-1" || got.Description != "scam" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Notice(ctx, "nt_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown notice: %v", err)
	}
	p, err := s.Notices(ctx, store.NoticeQuery{})
	if err != nil || len(p.Items) != 2 || p.Items[0].ID != "nt_2" {
		t.Fatalf("list (newest first): %+v %v", p, err)
	}
	if p, _ := s.Notices(ctx, store.NoticeQuery{App: "web"}); len(p.Items) != 1 || p.Items[0].ID != "nt_1" {
		t.Fatalf("app filter: %+v", p)
	}
}

func testEachCompliance(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	start := c.Now()
	for _, id := range []string{"st_a", "st_b", "st_c"} {
		if _, err := s.PutStatement(ctx, stmt(c, id, "web", "u", store.RestrictRefusal)); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
	}
	var got []string
	err := s.EachCompliance(ctx, store.KindStatement, start.Add(time.Hour), time.Time{}, func(r store.ComplianceRecord) error {
		got = append(got, r.Statement.ID)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != "st_b" || got[1] != "st_c" {
		t.Fatalf("walk from the second hour: %v %v", got, err)
	}
	n := 0
	s.EachCompliance(ctx, store.KindAppeal, time.Time{}, time.Time{}, func(store.ComplianceRecord) error { n++; return nil })
	if n != 0 {
		t.Fatalf("appeals walked: %d", n)
	}
}

func testEraseCompliance(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	s.PutStatement(ctx, stmt(c, "st_1", "web", "gone", store.RestrictBan))
	s.PutStatement(ctx, stmt(c, "st_2", "web", "stays", store.RestrictBan))
	s.PutStatement(ctx, stmt(c, "st_3", "other", "gone", store.RestrictBan))
	s.PutAppeal(ctx, appeal(c, "ap_1", "web", "gone", "st_1"))
	s.PutNotice(ctx, store.Notice{ID: "nt_1", Received: c.Now(), Source: store.NoticeThirdParty, App: "web", User: "gone", ReportID: "r"})
	counts, err := s.EraseCompliance(ctx, "web", "gone")
	if err != nil || counts[store.KindStatement] != 1 || counts[store.KindAppeal] != 1 || counts[store.KindNotice] != 1 {
		t.Fatalf("erase: %v %v", counts, err)
	}
	for _, id := range []string{"st_1"} {
		if _, err := s.Statement(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s survived erasure: %v", id, err)
		}
	}
	if _, err := s.Appeal(ctx, "ap_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("appeal survived erasure: %v", err)
	}
	if _, err := s.Notice(ctx, "nt_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("notice survived erasure: %v", err)
	}
	for _, id := range []string{"st_2", "st_3"} {
		if _, err := s.Statement(ctx, id); err != nil {
			t.Errorf("%s (another user's) erased: %v", id, err)
		}
	}
	if list, _ := s.UserStatements(ctx, "web", "gone"); len(list) != 0 {
		t.Errorf("index still lists %+v", list)
	}
}

func testPurgeCompliance(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	s.PutStatement(ctx, stmt(c, "st_old", "web", "u", store.RestrictRefusal))
	s.PutStatement(ctx, stmt(c, "st_contested", "web", "u", store.RestrictBan))
	s.PutStatement(ctx, stmt(c, "st_held", "web", "held", store.RestrictBan))
	s.PutAppeal(ctx, appeal(c, "ap_open", "web", "u", "st_contested"))
	s.PutAppeal(ctx, appeal(c, "ap_done", "web", "u", "st_old"))
	s.DecideAppeal(ctx, "ap_done", store.AppealDecision{Outcome: store.AppealUpheld, Reason: "r", DecidedBy: "d", At: c.Now()})
	c.Advance(48 * time.Hour)
	s.PutStatement(ctx, stmt(c, "st_new", "web", "u", store.RestrictRefusal))
	n, err := s.PurgeCompliance(ctx, c.Now().Add(-24*time.Hour), func(app, user string) bool { return user == "held" })
	if err != nil || n != 2 {
		t.Fatalf("purge: %d %v, want 2 (st_old, ap_done)", n, err)
	}
	for id, want := range map[string]bool{"st_old": false, "st_contested": true, "st_held": true, "st_new": true} {
		_, err := s.Statement(ctx, id)
		if (err == nil) != want {
			t.Errorf("statement %s kept=%v, want %v", id, err == nil, want)
		}
	}
	if _, err := s.Appeal(ctx, "ap_open"); err != nil {
		t.Errorf("open appeal purged: %v", err)
	}
	if _, err := s.Appeal(ctx, "ap_done"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("decided old appeal kept: %v", err)
	}
}
