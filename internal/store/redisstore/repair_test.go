package redisstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
)

// TestReplayRepairsHalfDoneReport: a crash after the user-slot script and
// before the global one leaves the report counted but not indexed
// globally; replaying the same report (what the spool does) completes the
// indexes without counting the strike again.
func TestReplayRepairsHalfDoneReport(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, err := OpenURL(ctx, srv.URLWithPrefix("repair"), store.BuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	r := store.Report{ID: "half", Time: now, App: "web", User: "u", Categories: []string{"fraud"}, Strike: 2, Escalation: "ban"}
	js, _ := json.Marshal(r)
	uk := s.k.user(r.App, r.User)
	// Only the first half of AddReport.
	err = reportScript.Run(ctx, s.c, []string{uk.st, uk.reports, uk.rid, uk.unrev, uk.actions, uk.esc, uk.cats, uk.aids, uk.pseud},
		r.ID, js, ms(now), ms(r.Time), "2", 0, "0", "0", int64(86400000), r.Escalation, "act-1", r.App, r.User, s.k.channel(), "", "fraud").Err()
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Reports(ctx, store.ReportQuery{}); len(p.Items) != 0 {
		t.Fatal("global index written by the user script")
	}
	res, err := s.AddReport(ctx, r, store.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Duplicate || res.Standing.Strikes != 2 || res.Standing.Reports != 1 || res.Standing.Status != store.Banned {
		t.Fatalf("replay: %+v", res)
	}
	for _, q := range []store.ReportQuery{{}, {Category: "fraud"}, {App: "web", User: "u"}} {
		if p, _ := s.Reports(ctx, q); len(p.Items) != 1 {
			t.Fatalf("%+v: %d reports after the replay", q, len(p.Items))
		}
	}
	if a, _ := s.Audit(ctx, store.AuditQuery{}); len(a.Items) != 1 || a.Items[0].ID != "act-1" {
		t.Fatalf("escalation missing from the audit log: %+v", a.Items)
	}
	if q, _ := s.Queue(ctx, store.QueueQuery{}); len(q.Items) != 1 {
		t.Fatalf("queue: %+v", q.Items)
	}
	if l, _ := s.ListSanctioned(ctx); len(l) != 1 {
		t.Fatalf("sanctioned: %+v", l)
	}
	// A second replay changes nothing more.
	s.AddReport(ctx, r, store.Policy{})
	if p, _ := s.Reports(ctx, store.ReportQuery{}); len(p.Items) != 1 {
		t.Fatal("second replay duplicated the report")
	}
}
