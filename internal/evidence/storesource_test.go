package evidence

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/transparency"
)

func openBolt(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "bolt://"+filepath.Join(t.TempDir(), "aup.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A bundle made from a real store through StoreSource verifies and holds
// what the filter selects.
func TestStoreSourceExport(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range 6 {
		r := testReport(i)
		r.Time = now.Add(time.Duration(i-6) * time.Minute)
		if _, err := st.AddReport(ctx, r, store.Policy{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.ApplyAction(ctx, store.Action{ID: "a1", Time: now, Actor: "desk-1", App: "web", User: "user-0",
		Action: store.ActWarn, Reason: "first offence"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutPolicyVersion(ctx, "p1", map[string][]byte{"aup/decision.rego": []byte("package aup\n"), "aup/data.json": []byte("{}\n")}); err != nil {
		t.Fatal(err)
	}
	src := StoreSource{Store: st}

	x := &Exporter{Key: testKey(t, 7), TempDir: t.TempDir()}
	b := bundle(t, x, src, Filter{User: "user-0"})
	res := Verify(strings.NewReader(string(b)), nil)
	if !res.OK {
		t.Fatalf("bundle does not verify: %s", res.FirstFailure)
	}
	m := res.Manifest
	// testReport spreads users i%5: user-0 has reports 0 and 5.
	if m.Counts.Reports != 2 || m.Counts.Actions != 1 || m.Counts.PolicyVersions != 1 {
		t.Fatalf("counts %+v", m.Counts)
	}
	if got := string(fileData(t, unpack(t, b), "policies/p1/aup/decision.rego")); got != "package aup\n" {
		t.Fatalf("policy file %q", got)
	}
}

// Stopping early ends the store walk; a store error reaches the consumer.
func TestStoreSourceStopsAndFails(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t)
	for i := range 5 {
		if _, err := st.AddReport(ctx, testReport(i), store.Policy{}); err != nil {
			t.Fatal(err)
		}
	}
	src := StoreSource{Store: st}
	n := 0
	for _, err := range src.Reports(ctx, Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("walked %d", n)
	}
	st.Close()
	var gotErr error
	for _, err := range src.Reports(ctx, Filter{}) {
		gotErr = err
	}
	if gotErr == nil {
		t.Fatal("a closed store gave no error")
	}
	for _, err := range src.Actions(ctx, Filter{}) {
		gotErr = err
	}
	if gotErr == nil || errors.Is(gotErr, errStop) {
		t.Fatalf("actions on a closed store: %v", gotErr)
	}
	if _, err := src.Policy(ctx, "p1"); err == nil {
		t.Fatal("a closed store gave a policy version")
	}
}

// A report citing a version the store lacks: no bundle, and the error
// names the version and how many reports cite it.
func TestStoreSourceMissingPolicy(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t)
	for i := range 3 {
		if _, err := st.AddReport(ctx, testReport(i), store.Policy{}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	_, err := (&Exporter{Key: testKey(t, 7)}).Export(ctx, &buf, StoreSource{Store: st}, Filter{})
	var miss *MissingPoliciesError
	if !errors.As(err, &miss) || miss.Reports["p1"] != 3 || !strings.Contains(err.Error(), "p1 (3 reports)") {
		t.Fatalf("err %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written", buf.Len())
	}
}

// What an export from a store resolves the reports a sanction cites with
// (transparency.StoreResolver, the store's per-user index): every one of
// the user's (past a page of them), and no one else's.
func TestStoreSourceResolvesPerUser(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t)
	batch, ok := st.(interface {
		AddReports(context.Context, []store.Report, store.Policy) ([]store.AddResult, error)
	})
	if !ok {
		t.Fatal("the embedded store has no AddReports")
	}
	var reps []store.Report
	for i := range 6000 { // user-0 has 1200, more than a page
		reps = append(reps, testReport(i))
	}
	if _, err := batch.AddReports(ctx, reps, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range reps {
		if r.User == "user-0" || r.User == "user-1" && len(ids) < 10 {
			ids[r.ID] = true
		}
	}
	found, err := transparency.StoreResolver(st)(ctx, "web", "user-0", ids)
	if err != nil {
		t.Fatal(err)
	}
	for id := range found {
		if !ids[id] {
			t.Fatalf("found %s, not asked for", id)
		}
	}
	if len(found) != 1200 {
		t.Fatalf("found %d of user-0's 1200 reports", len(found))
	}
}
