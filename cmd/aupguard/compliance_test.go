package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/desk"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
)

// storeEnforcer opens cases and applies actions straight on the store.
type storeEnforcer struct{ st store.Store }

func (s storeEnforcer) Act(ctx context.Context, a store.Action) (store.Standing, error) {
	_, st, err := s.st.ApplyAction(ctx, a)
	return st, err
}

func (s storeEnforcer) Report(ctx context.Context, r store.Report, _ string) (store.Standing, error) {
	res, err := s.st.AddReport(ctx, r, store.Policy{HalfLife: 168 * time.Hour})
	return res.Standing, err
}

func TestDeskNoticeAndAppeals(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "cli.db"), time.Second, store.BuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	r := store.Report{ID: "r1", Time: time.Now().UTC(), App: "web", User: "mallory", Pseudonym: "aup_mallory", Action: "block", Strike: 1, Source: "request"}
	if _, err := st.AddReport(ctx, r, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, _ := compliance.New(compliance.Options{Store: st, Actor: storeEnforcer{st}, Reporter: storeEnforcer{st}, Logger: log})
	d, err := desk.New(desk.Options{Store: st, Logger: log, Compliance: svc, Apps: []string{"web"},
		Tokens: []config.AdminToken{{Name: "cli-rev", Role: "reviewer", Token: deskTestReviewer}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": deskTestReviewer}

	code, out, errs := runDesk(env, "notice", "--pseudonym", "aup_mallory", "--reference", "OR-1")
	if code != 0 || !strings.Contains(out, "case opened on mallory (app web)") {
		t.Fatalf("notice: %d %q %q", code, out, errs)
	}
	if code, _, errs := runDesk(env, "notice", "--pseudonym", "aup_nobody"); code != 1 || !strings.Contains(errs, "no record of pseudonym") {
		t.Fatalf("unknown pseudonym: %d %q", code, errs)
	}
	if code, _, _ := runDesk(env, "notice"); code != 2 {
		t.Fatalf("notice without a subject: %d", code)
	}

	s := store.Statement{ID: store.RefusalStatementID("r1"), Time: time.Now().UTC(), App: "web", User: "mallory", Kind: store.RestrictRefusal, Actor: store.AutoActor, ReportIDs: []string{"r1"}}
	if _, err := st.PutStatement(ctx, s); err != nil {
		t.Fatal(err)
	}
	a, err := svc.File(ctx, "web", "mallory", s.ID, "a mistake")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runDesk(env, "appeals")
	if code != 0 || !strings.Contains(out, a.ID) || !strings.Contains(out, "DEADLINE") {
		t.Fatalf("appeals: %d %q", code, out)
	}
	code, out, errs = runDesk(env, "decide", a.ID, "--outcome", "reversed", "--reason", "agreed")
	if code != 0 || !strings.Contains(out, "reversed by cli-rev") {
		t.Fatalf("decide: %d %q %q", code, out, errs)
	}
}
