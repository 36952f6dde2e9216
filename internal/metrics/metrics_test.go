package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestTallyIsBounded(t *testing.T) {
	var tl Tally
	for i := range maxKeys + 10 {
		tl.Inc(fmt.Sprint("c", i), "block", "request")
	}
	tl.Inc("c0", "block", "request") // a known key still counts as itself
	if got := len(tl.Snapshot()); got != maxKeys+1 {
		t.Fatalf("%d keys, want %d (the bound plus the overflow key)", got, maxKeys+1)
	}
	if n := tl.Get("other", "other", "other"); n != 10 {
		t.Fatalf("overflow = %d, want 10", n)
	}
	if n := tl.Get("c0", "block", "request"); n != 2 {
		t.Fatalf("c0 = %d", n)
	}
}

func TestHistogramBuckets(t *testing.T) {
	var h Histogram
	h.Observe(3 * time.Millisecond)   // <= 0.005
	h.Observe(5 * time.Millisecond)   // <= 0.005 (bounds are inclusive)
	h.Observe(300 * time.Millisecond) // <= 0.5
	h.Observe(time.Minute)            // +Inf only
	n, sum, cum := h.Snapshot()
	if n != 4 || cum[0.005] != 2 || cum[0.25] != 2 || cum[0.5] != 3 || cum[10] != 3 {
		t.Fatalf("count %d, buckets %v", n, cum)
	}
	if want := 60.308; sum < want-1e-9 || sum > want+1e-9 {
		t.Fatalf("sum %v, want %v", sum, want)
	}
}

func TestRegisterExposesEverySeries(t *testing.T) {
	var e Enforcement
	var p Policy
	e.Reports.Inc("hate", "flag", "request")
	e.Escalations.Inc("ban")
	e.StoreErrors.Inc("report")
	e.Spooled.Add(2)
	p.ReloadsFailed.Add(1)
	p.Classifier.Calls.Inc("timeout")
	p.UnscannedParts.Add(Key{"image_url"}, 2)
	p.UnscannedRequests.Inc("block")
	p.Classifier.Latency.Observe(2 * time.Second)
	reg := prometheus.NewPedanticRegistry()
	err := Register(reg, Sources{
		Enforcement: &e, SpoolDepth: func() int { return 2 }, StoreUp: func() bool { return false },
		Webhooks: func() (int64, int64, int64) { return 5, 1, 2 }, Policy: &p, PolicyHash: func() string { return "abc" },
		Auth: func() (uint64, uint64, uint64) { return 3, 2, 1 },
	})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, n := range Names {
		if !got[n] {
			t.Errorf("%s listed in Names but not exposed", n)
		}
	}
	if len(got) != len(Names) {
		t.Errorf("exposed %d series, Names lists %d", len(got), len(Names))
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"aupguard_reports_total", `category="hate",action="flag",source="request"`, 1},
		{"aupguard_escalations_total", `action="ban"`, 1},
		{"aupguard_escalations_total", `action="suspend"`, 0},
		{"aupguard_webhook_deliveries_total", `outcome="sent"`, 5},
		{"aupguard_webhook_deliveries_total", `outcome="dropped"`, 1},
		{"aupguard_webhook_deliveries_total", `outcome="failed"`, 2},
		{"aupguard_store_errors_total", `operation="report"`, 1},
		{"aupguard_spool_reports_total", `event="spooled"`, 2},
		{"aupguard_spool_depth", ``, 2},
		{"aupguard_store_up", ``, 0},
		{"aupguard_policy_reloads_total", `result="failed"`, 1},
		{"aupguard_policy_info", `hash="abc"`, 1},
		{"aupguard_classifier_calls_total", `verdict="timeout"`, 1},
		{"aupguard_unscanned_parts_total", `kind="image_url"`, 2},
		{"aupguard_unscanned_requests_total", `action="block"`, 1},
		{"aupguard_unscanned_requests_total", `action="allow"`, 0},
	} {
		if !hasSample(mfs, c.name, c.labels, c.want) {
			t.Errorf("%s{%s} != %v", c.name, c.labels, c.want)
		}
	}
}

// A gateway without a guard model or webhooks still registers cleanly.
func TestRegisterPartialSources(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg, Sources{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}
