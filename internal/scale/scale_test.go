package scale

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A tiny run of both stores, so the command cannot rot: every figure is
// measured, the bundle verifies, and the table renders.
func TestRunTiny(t *testing.T) {
	for _, kind := range []string{"redis", "embedded"} {
		t.Run(kind, func(t *testing.T) {
			rows, err := Run(context.Background(), Config{Store: kind, Steps: []int{600, 1500}, Users: 100,
				Writers: 2, TempDir: t.TempDir(), WriteFor: 100 * time.Millisecond, QueueCalls: 3, CaseCalls: 5, Erasures: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 {
				t.Fatalf("%d rows", len(rows))
			}
			for _, r := range rows {
				if r.Reports < 600 || r.Users == 0 || r.BytesPerReport <= 0 || r.BytesPerUser <= 0 || r.QueueP50 <= 0 ||
					r.CaseP50 <= 0 || r.WriteRate <= 0 || r.ExportRate <= 0 || r.VerifyRate <= 0 || r.SweepTime <= 0 || r.EraseP50 <= 0 {
					t.Fatalf("a figure is missing: %+v", r)
				}
			}
			if rows[1].Reports <= rows[0].Reports {
				t.Fatalf("the second step did not grow the record: %d then %d", rows[0].Reports, rows[1].Reports)
			}
			var b strings.Builder
			Markdown(&b, rows, 2)
			if !strings.Contains(b.String(), "| "+kind+" | ") {
				t.Fatalf("table:\n%s", b.String())
			}
		})
	}
}

func TestFlags(t *testing.T) {
	a := Row{Store: "x", BytesPerReport: 1000, WriteRate: 100, QueueP50: 2 * time.Millisecond, SweepRead: 10, SweepTime: time.Second}
	b := a
	b.BytesPerReport, b.WriteRate, b.QueueP50 = 1100, 50, 20*time.Millisecond
	got := strings.Join(Flags([]Row{a, b}, 1), ",")
	if got != "queue,writes" {
		t.Fatalf("flags %q", got)
	}
}
