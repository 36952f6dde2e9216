package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Batcher is a store with a bulk write path (both stores have one).
type Batcher interface {
	AddReports(ctx context.Context, reps []store.Report, p store.Policy) ([]store.AddResult, error)
}

// RunBatch checks that AddReports records reports exactly as AddReport
// does one by one: results, escalations, duplicates and the queue.
func RunBatch(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	c := NewClock()
	one, many := newStore(t, c.Now), newStore(t, c.Now)
	b, ok := many.(Batcher)
	if !ok {
		t.Fatalf("%T has no AddReports", many)
	}
	p := store.Policy{HalfLife: time.Hour, SuspendAt: 5, SuspendFor: time.Hour, BanAt: 9}
	var reps []store.Report
	for i := range 18 {
		reps = append(reps, store.Report{
			ID: fmt.Sprintf("r%03d", i), Time: c.Now(), App: "web", User: fmt.Sprintf("u%d", i%3),
			Pseudonym: fmt.Sprintf("ps%d", i%3), Action: "flag", Categories: []string{[]string{"a", "b"}[i%2]},
			Strike: float64(1 + i%3),
		})
	}
	reps = append(reps, reps[4]) // a duplicate inside the batch
	var want []store.AddResult
	for _, r := range reps {
		res, err := one.AddReport(ctx, r, p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res)
	}
	got, err := b.AddReports(ctx, reps[:7], p)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := b.AddReports(ctx, reps[7:], p)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Duplicate != w.Duplicate || g.Changed != w.Changed || g.Standing.Status != w.Standing.Status ||
			g.Standing.Reports != w.Standing.Reports || g.Standing.Unreviewed != w.Standing.Unreviewed ||
			g.Standing.Strikes != w.Standing.Strikes || (g.Action == nil) != (w.Action == nil) {
			t.Fatalf("report %d: batch %+v, one by one %+v", i, g, w)
		}
	}
	qw, err := one.Queue(ctx, store.QueueQuery{})
	if err != nil {
		t.Fatal(err)
	}
	qg, err := many.Queue(ctx, store.QueueQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(qg.Items) != fmt.Sprint(qw.Items) {
		t.Fatalf("queue after batches %v, one by one %v", qg.Items, qw.Items)
	}
	if _, err := b.AddReports(ctx, []store.Report{{ID: "bad"}}, p); err == nil {
		t.Fatal("an invalid report in a batch was accepted")
	}
}
