package evidence

import (
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

func TestSummaryEscapesRecordStrings(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	src := testSource(2)
	src.reports[0].Categories = []string{evil}
	src.reports[0].Action = `<img src=x onerror=alert(1)>`
	src.actions[0].Action = `"><script>alert(2)</script>`
	f := Filter{User: "user-0", Category: evil}
	b := bundle(t, &Exporter{Key: testKey(t, 1), Generator: "<b>gen</b>"}, src, f)
	html := string(fileData(t, unpack(t, b), SummaryFile))

	for _, bad := range []string{"<script", "<img", "<b>gen"} {
		if strings.Contains(html, bad) {
			t.Errorf("summary holds unescaped %q", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("escaped category missing:\n%s", html)
	}
	// Self-contained: nothing is fetched, and the CSP forbids it anyway.
	for _, ext := range []string{"http://", "https://", "<link", "<iframe", "<img", "@import"} {
		if strings.Contains(html, ext) {
			t.Errorf("summary refers to something outside itself: %q", ext)
		}
	}
	if !strings.Contains(html, "default-src 'none'") {
		t.Error("summary has no restrictive CSP")
	}
}

func TestSummaryCountsAndReviewTime(t *testing.T) {
	src := &memSource{}
	for i := range 4 {
		r := testReport(i)
		r.User = "u"
		r.Time = t0.Add(time.Duration(i) * time.Hour)
		src.reports = append(src.reports, r)
	}
	src.reports[0].Categories = []string{"fraud_scams", "self_harm"}
	src.actions = []store.Action{
		// Names report 0: reviewed 2h after it was flagged.
		{ID: "a1", Time: t0.Add(2 * time.Hour), Actor: "desk", App: "web", User: "u", Action: "warn", ReportIDs: []string{"r000000"}},
		// Automatic escalation and notes are not reviews.
		{ID: "a2", Time: t0.Add(150 * time.Minute), Actor: store.AutoActor, App: "web", User: "u", Action: "suspend"},
		{ID: "a3", Time: t0.Add(160 * time.Minute), Actor: "desk", App: "web", User: "u", Action: "note"},
		{ID: "a4", Time: t0.Add(4 * time.Hour), Actor: "desk", App: "web", User: "u", Action: "ban"},
	}
	// Report 1 (t0+1h) and report 2 (t0+2h) name no action: the first review
	// of their user at or after them counts, a1 at t0+2h: 1h and 0.
	// Report 3 (t0+5h) comes after every review: unreviewed.
	src.reports[3].Time = t0.Add(5 * time.Hour)
	// A ReviewedAt set by the store wins over what the actions suggest: 30m.
	src.reports = append(src.reports, testReport(4))
	src.reports[4].User, src.reports[4].Time, src.reports[4].ReviewedAt = "v", t0, t0.Add(30*time.Minute)
	src.reports[4].PolicyHash = "" // cites no version
	src.policies = []PolicyVersion{{Hash: "p1", From: t0, Files: []PolicyFile{{Path: "a.rego", Data: []byte("package a\n")}}}}

	b := bundle(t, &Exporter{Key: testKey(t, 1)}, src, Filter{})
	html := string(fileData(t, unpack(t, b), SummaryFile))
	for _, want := range []string{
		"<td>fraud_scams</td><td class=\"n\">2</td>",
		"<td>violent_extremism</td><td class=\"n\">1</td>",
		"<td>self_harm</td><td class=\"n\">3</td>",
		"<td>block</td><td class=\"n\">2</td>",
		"<td>suspend</td><td class=\"n\">1</td>",
		"4 of 5", // reviewed
		"<tr><th>Longest</th><td class=\"n\">2h 0m</td>",
		"<tr><th>Mean</th><td class=\"n\">53m</td>", // (2h + 1h + 0 + 30m) / 4, rounded
		"<tr><td><code>p1</code></td><td>2026-11-01T09:00:00Z</td><td class=\"n\">1</td><td class=\"n\">4</td></tr>",
		"whose source is not in this bundle",
		"<tr><td><code>(none)</code></td><td class=\"n\">1</td></tr>",
		"<td>under 1 hour</td><td class=\"n\">2</td>",
		"<td>1 to 4 hours</td><td class=\"n\">2</td>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(html)
	}
}

func TestPercentileWithinBucket(t *testing.T) {
	s := newStats()
	ri := newReviewIndex()
	for i := 1; i <= 100; i++ {
		r := store.Report{ID: "x", App: "a", User: string(rune('A' + i%50)), Time: t0}
		ri.byUser = map[string][]time.Time{userKey("a", r.User): {t0.Add(time.Duration(i) * time.Minute)}}
		s.addReport(&r, ri)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Minute}, {0.9, 90 * time.Minute}, {1, 100 * time.Minute}} {
		got := s.percentile(c.p)
		if got < c.want || float64(got) > float64(c.want)*histBase*histBase {
			t.Errorf("p%v = %v, want about %v", c.p*100, got, c.want)
		}
	}
	if (&stats{}).percentile(0.5) != 0 {
		t.Error("percentile of nothing")
	}
}
