package compliance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
)

type fixedPolicy map[string][]byte

func (p fixedPolicy) Hash() string             { return "h1" }
func (p fixedPolicy) Files() map[string][]byte { return p }

const data = `{"categories": {
  "fraud_and_systematic_deception": {"title": "Fraud", "aup_clause": "No scams.", "operator_terms": "ToS §4: no fraud."},
  "hate_and_harassment": {"title": "Hate", "aup_clause": "No hate."}},
 "apps": {"kids": {"categories": {"hate_and_harassment": {"operator_terms": "Kids terms §1: be kind."}}}}}`

func newService(t *testing.T, zdr bool) (*Service, store.Store) {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "c.db"), time.Second, store.BuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Options{Store: st, Policy: fixedPolicy{"aup/data.json": []byte(data)}, ZDR: zdr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestGroundsQuoteTheTaxonomy(t *testing.T) {
	s, st := newService(t, false)
	ctx := context.Background()
	r := store.Report{ID: "r1", Time: time.Now().UTC(), App: "kids", User: "u", Source: "answer", Action: "block",
		Categories: []string{"hate_and_harassment", "fraud_and_systematic_deception"}, Excerpt: "SECRET EXCERPT", DecisionID: "d1"}
	if err := s.Refused(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := st.Statement(ctx, store.RefusalStatementID("r1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Scope != "answer" || len(got.Grounds) != 2 || got.Grounds[0].OperatorTerms != "Kids terms §1: be kind." ||
		got.Grounds[1].OperatorTerms != "ToS §4: no fraud." || got.Grounds[1].AUPClause != "No scams." {
		t.Fatalf("statement: %+v", got)
	}
	v := s.View(got, nil)
	text := v.Text()
	for _, want := range []string{"One answer was refused", "Our terms: Kids terms §1: be kind.", "Acceptable use policy: No scams.", "automated means", "14 days"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "SECRET") {
		t.Fatalf("an excerpt reached the statement:\n%s", text)
	}
	if !s.taxonomy().known("hate_and_harassment") || s.taxonomy().known("nope") {
		t.Fatal("taxonomy ids")
	}
}

type fakeEnforcer struct {
	before, after store.Standing
}

func (f *fakeEnforcer) Standing(context.Context, string, string) (store.Standing, error) {
	return f.before, nil
}
func (f *fakeEnforcer) Allow(context.Context, string, string, int, int) (bool, time.Duration) {
	return true, 0
}
func (f *fakeEnforcer) Report(context.Context, store.Report, string) (store.Standing, error) {
	return f.after, nil
}

func TestObservedAndSanctionLookup(t *testing.T) {
	s, st := newService(t, false)
	ctx := context.Background()
	until := time.Now().Add(time.Hour).UTC()
	fe := &fakeEnforcer{after: store.Standing{Status: store.Suspended, Until: until, Version: 3}}
	e := s.Observed(fe)
	r := store.Report{ID: "r2", Time: time.Now().UTC(), App: "web", User: "u", Action: "flag", Categories: []string{"hate_and_harassment"}}
	if _, err := e.Report(ctx, r, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Statement(ctx, store.RefusalStatementID("r2")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a flag (not refused) got a refusal statement: %v", err)
	}
	got, err := st.Statement(ctx, store.EscalationStatementID("r2"))
	if err != nil || got.Kind != store.RestrictSuspension || !got.Until.Equal(until) || !got.Automated {
		t.Fatalf("escalation statement: %+v %v", got, err)
	}
	if id := s.SanctionStatement(ctx, "web", "u", fe.after); id != got.ID {
		t.Fatalf("sanction lookup: %q", id)
	}
	if id := s.SanctionStatement(ctx, "web", "u", store.Standing{Status: store.Banned, Version: 4}); id != "" {
		t.Fatalf("a ban without a statement: %q", id)
	}
	// The app's own record restricts no end user: no statement.
	op := store.Report{ID: "r3", Time: time.Now().UTC(), App: "web", User: store.OperatorUser, Action: "block"}
	if _, err := e.Report(ctx, op, ""); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.UserStatements(ctx, "web", store.OperatorUser); len(list) != 0 {
		t.Fatalf("statements on the app's own record: %+v", list)
	}
}

func TestExportWithholdsAppealTextUnderZDR(t *testing.T) {
	for _, zdr := range []bool{false, true} {
		s, st := newService(t, zdr)
		ctx := context.Background()
		if _, err := st.PutStatement(ctx, store.Statement{ID: "st_1", Time: time.Now().UTC(), App: "web", User: "u", Kind: store.RestrictBan, Actor: "rita"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.File(ctx, "web", "u", "st_1", "my words"); err != nil {
			t.Fatal(err)
		}
		var lines []any
		for _, x := range s.ExtraChains() {
			if x.File != AppealsFile {
				continue
			}
			if err := x.Records(ctx, evidence.Filter{}, func(v any) error { lines = append(lines, v); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("appeals exported: %d", len(lines))
		}
		a := lines[0].(*store.Appeal)
		if (a.Text == "") != zdr || a.TextLength != len("my words") {
			t.Fatalf("zdr=%v: exported appeal %+v", zdr, a)
		}
	}
}
