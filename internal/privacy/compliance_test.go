package privacy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

// TestEraseAndSweepComplianceRecords: an erasure removes the user's
// statements and appeals; retention purges them with the audit log.
func TestEraseAndSweepComplianceRecords(t *testing.T) {
	stores(t, func(t *testing.T, open func(now func() time.Time) store.Store) {
		c := storetest.NewClock()
		s := open(c.Now)
		mustAdd(t, s, report(c, "web", "gone"))
		mustAdd(t, s, report(c, "web", "old"))
		for _, u := range []string{"gone", "old"} {
			st := store.Statement{ID: "st_" + u, Time: c.Now(), App: "web", User: u, Kind: store.RestrictBan, Actor: store.AutoActor}
			if _, err := s.PutStatement(ctx, st); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutAppeal(ctx, store.Appeal{ID: "ap_" + u, App: "web", User: u, StatementID: st.ID, Filed: c.Now(), Text: "text of " + u}); err != nil {
				t.Fatal(err)
			}
		}
		svc, err := privacy.New(s, privacy.Options{Retention: config.Retention{Default: "365d", Actions: "30d", SweepInterval: time.Hour, SweepBatch: 500}, Logger: quiet, Clock: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Erase(ctx, "web", "gone", "adam", "data-subject request")
		if err != nil || len(res) != 1 || res[0].Compliance[store.KindStatement] != 1 || res[0].Compliance[store.KindAppeal] != 1 {
			t.Fatalf("erase: %+v %v", res, err)
		}
		if _, err := s.Statement(ctx, "st_gone"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("statement survived erasure: %v", err)
		}
		// The open appeal keeps itself and its statement past retention;
		// decided, both go.
		c.Advance(31 * 24 * time.Hour)
		if _, err := svc.SweepOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Statement(ctx, "st_old"); err != nil {
			t.Fatalf("a contested statement was purged: %v", err)
		}
		if _, err := s.DecideAppeal(ctx, "ap_old", store.AppealDecision{Outcome: store.AppealUpheld, Reason: "r", DecidedBy: "d", At: c.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SweepOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Appeal(ctx, "ap_old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a decided appeal past retention kept: %v", err)
		}
		if _, err := s.Statement(ctx, "st_old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("its statement kept: %v", err)
		}
	})
}
