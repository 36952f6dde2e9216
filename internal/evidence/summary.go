package evidence

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// reviewIndex finds when a report was first reviewed: its ReviewedAt when
// the store set it, else the first human action
// (not a note, not automatic escalation) naming the report, or else the
// first one on the same end user at or after the report. It holds one entry
// per reviewed report id and per action, never one per report.
type reviewIndex struct {
	byReport map[string]time.Time
	byUser   map[string][]time.Time
}

func newReviewIndex() *reviewIndex {
	return &reviewIndex{byReport: map[string]time.Time{}, byUser: map[string][]time.Time{}}
}

func isReview(a *store.Action) bool {
	if a.Actor == store.AutoActor {
		return false
	}
	switch a.Action {
	case store.ActWarn, store.ActSuspend, store.ActBan, store.ActReinstate, store.ActDismiss:
		return true
	}
	return false
}

func (ri *reviewIndex) add(a *store.Action) {
	if !isReview(a) {
		return
	}
	for _, id := range a.ReportIDs {
		if t, ok := ri.byReport[id]; !ok || a.Time.Before(t) {
			ri.byReport[id] = a.Time
		}
	}
	k := userKey(a.App, a.User)
	ri.byUser[k] = append(ri.byUser[k], a.Time)
}

func (ri *reviewIndex) sort() {
	for _, ts := range ri.byUser {
		slices.SortFunc(ts, time.Time.Compare)
	}
}

func (ri *reviewIndex) reviewedAt(r *store.Report) (time.Time, bool) {
	if !r.ReviewedAt.IsZero() && !r.ReviewedAt.Before(r.Time) {
		return r.ReviewedAt, true // the store's own record wins
	}
	if t, ok := ri.byReport[r.ID]; ok && !t.Before(r.Time) {
		return t, true
	}
	ts := ri.byUser[userKey(r.App, r.User)]
	i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(r.Time) })
	if i < len(ts) {
		return ts[i], true
	}
	return time.Time{}, false
}

// Flag-to-review latencies go into a fixed log-scale histogram (5% wide
// buckets), so percentiles cost constant memory.
const (
	histBase    = 1.05
	histBuckets = 420 // 1.05^420 s is far beyond any review time
)

type stats struct {
	byCategory, byDecision, bySeverity, bySource, byReviewAction map[string]int
	byPolicy                                                     map[string]int // reports per policy hash
	first, last                                                  time.Time
	reports, reviewed                                            int
	latSum, latMax                                               time.Duration
	hist                                                         [histBuckets]int
	coarse                                                       [len(coarseBounds) + 1]int
}

var coarseBounds = [...]time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}
var coarseLabels = [...]string{"under 1 hour", "1 to 4 hours", "4 to 24 hours", "1 to 3 days", "3 to 7 days", "7 days or more"}

func newStats() *stats {
	return &stats{byCategory: map[string]int{}, byDecision: map[string]int{}, bySeverity: map[string]int{},
		bySource: map[string]int{}, byReviewAction: map[string]int{}, byPolicy: map[string]int{}}
}

func (s *stats) addReport(r *store.Report, ri *reviewIndex) {
	s.reports++
	for _, c := range r.Categories {
		s.byCategory[c]++
	}
	if len(r.Categories) == 0 {
		s.byCategory["(none)"]++
	}
	s.byDecision[cmp.Or(r.Action, "(none)")]++
	s.bySeverity[cmp.Or(r.Severity, "(none)")]++
	s.bySource[cmp.Or(r.Source, "(none)")]++
	s.byPolicy[cmp.Or(r.PolicyHash, "(none)")]++
	if s.first.IsZero() || r.Time.Before(s.first) {
		s.first = r.Time
	}
	if r.Time.After(s.last) {
		s.last = r.Time
	}
	t, ok := ri.reviewedAt(r)
	if !ok {
		return
	}
	d := t.Sub(r.Time)
	s.reviewed++
	s.latSum += d
	s.latMax = max(s.latMax, d)
	i := 0
	if sec := d.Seconds(); sec >= 1 {
		i = min(histBuckets-1, 1+int(math.Log(sec)/math.Log(histBase)))
	}
	s.hist[i]++
	c := 0
	for c < len(coarseBounds) && d >= coarseBounds[c] {
		c++
	}
	s.coarse[c]++
}

func (s *stats) addAction(a *store.Action) { s.byReviewAction[cmp.Or(a.Action, "(none)")]++ }

// percentile returns an upper bound of the p-th percentile latency, within 5%.
func (s *stats) percentile(p float64) time.Duration {
	if s.reviewed == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(s.reviewed)))
	seen := 0
	for i, n := range s.hist {
		if seen += n; seen >= max(rank, 1) {
			if i == 0 {
				return time.Second
			}
			return min(s.latMax, time.Duration(math.Pow(histBase, float64(i))*float64(time.Second)))
		}
	}
	return s.latMax
}

type countRow struct {
	Name  string
	Count int
}

func rows(m map[string]int) []countRow {
	out := make([]countRow, 0, len(m))
	for k, v := range m {
		out = append(out, countRow{k, v})
	}
	slices.SortFunc(out, func(a, b countRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtDur(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	d = d.Round(time.Minute)
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

// The page is self-contained: no scripts, no external fetches (the CSP
// forbids them), and html/template escapes every string from the records.
var summaryTmpl = template.Must(template.New("summary").Funcs(template.FuncMap{
	"time": fmtTime, "dur": fmtDur,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>aupguard evidence bundle</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px;word-break:break-all}
.note{color:#555}
</style>
</head>
<body>
<h1>aupguard evidence bundle</h1>
<p class="note">This page summarises the bundle for people. What counts as evidence is
reports.jsonl and actions.jsonl, whose hashes the signed manifest.json lists;
check them with <code>aupguard verify BUNDLE --pubkey OPERATOR_KEY</code>.</p>
<table>
<tr><th>Created</th><td>{{time .M.CreatedAt}}</td></tr>
<tr><th>Generator</th><td>{{.M.Generator}}</td></tr>
<tr><th>Period</th><td>{{if .M.Filter.Since.IsZero}}(start){{else}}{{time .M.Filter.Since}}{{end}} to {{if .M.Filter.Until.IsZero}}{{time .M.CreatedAt}}{{else}}{{time .M.Filter.Until}}{{end}}</td></tr>
{{with .M.Filter.App}}<tr><th>App</th><td>{{.}}</td></tr>{{end}}
{{with .M.Filter.User}}<tr><th>End user</th><td>{{.}}</td></tr>{{end}}
{{with .M.Filter.Category}}<tr><th>Category</th><td>{{.}}</td></tr>{{end}}
<tr><th>Zero data retention</th><td>{{if .M.ZDR}}yes: no prompt or answer text in this bundle{{else}}no{{end}}</td></tr>
<tr><th>Signing key</th><td><code>{{.M.KeyFingerprint}}</code></td></tr>
</table>

<h2>Counts</h2>
<table>
<tr><th>Reports</th><td class="n">{{.M.Counts.Reports}}</td></tr>
<tr><th>Reviewer and automatic actions</th><td class="n">{{.M.Counts.Actions}}</td></tr>
<tr><th>Policy versions cited</th><td class="n">{{.M.Counts.PolicyVersions}}</td></tr>
{{if .M.Counts.ExcerptsWithheld}}<tr><th>Excerpts withheld (ZDR)</th><td class="n">{{.M.Counts.ExcerptsWithheld}}</td></tr>{{end}}
<tr><th>First report</th><td>{{time .First}}</td></tr>
<tr><th>Last report</th><td>{{time .Last}}</td></tr>
</table>

<h2>Reports by category</h2>
<table><tr><th>Category</th><th>Reports</th></tr>
{{range .Categories}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>

<h2>Reports by decision</h2>
<table><tr><th>Decision</th><th>Reports</th></tr>
{{range .Decisions}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>

<h2>Reports by severity and source</h2>
<table><tr><th>Severity</th><th>Reports</th></tr>
{{range .Severities}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>
<table><tr><th>Source</th><th>Reports</th></tr>
{{range .Sources}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>

<h2>Actions</h2>
<table><tr><th>Action</th><th>Count</th></tr>
{{range .Actions}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="2">none</td></tr>{{end}}</table>

<h2>Time from flag to review</h2>
<p class="note">A report counts as reviewed when the store marked it reviewed, else at the first
reviewer action (warn, suspend, ban, reinstate, dismiss; not notes, not automatic escalation) that
names it, or else at the first such action on the same end user after it. Percentiles are
approximate (within 5%).</p>
<table>
<tr><th>Reviewed</th><td class="n">{{.Reviewed}} of {{.Reports}}</td></tr>
{{if .Reviewed}}<tr><th>Median</th><td class="n">≈ {{dur .P50}}</td></tr>
<tr><th>90th percentile</th><td class="n">≈ {{dur .P90}}</td></tr>
<tr><th>Mean</th><td class="n">{{dur .Mean}}</td></tr>
<tr><th>Longest</th><td class="n">{{dur .Longest}}</td></tr>{{end}}
</table>
{{if .Reviewed}}<table><tr><th>Reviewed within</th><th>Reports</th></tr>
{{range .Coarse}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</table>{{end}}

<h2>Policy versions</h2>
<table><tr><th>Hash</th><th>First loaded</th><th>Files</th><th>Reports decided</th></tr>
{{range .Policies}}<tr><td><code>{{.Hash}}</code></td><td>{{time .From}}</td><td class="n">{{.Files}}</td><td class="n">{{.Reports}}</td></tr>
{{else}}<tr><td colspan="4">none cited</td></tr>{{end}}</table>
{{with .MissingPolicies}}<p>Reports decided by policy versions whose source is not in this bundle:</p>
<table><tr><th>Hash</th><th>Reports</th></tr>
{{range .}}<tr><td><code>{{.Name}}</code></td><td class="n">{{.Count}}</td></tr>
{{end}}</table>{{end}}
</body>
</html>
`))

type summaryData struct {
	M                                                   *Manifest
	First, Last                                         time.Time
	Reports, Reviewed                                   int
	Longest                                             time.Duration
	Categories, Decisions, Severities, Sources, Actions []countRow
	Coarse                                              []countRow
	P50, P90, Mean                                      time.Duration
	Policies                                            []policyRow
	MissingPolicies                                     []countRow
}

type policyRow struct {
	Hash           string
	From           time.Time
	Files, Reports int
}

func renderSummary(m *Manifest, s *stats) ([]byte, error) {
	d := summaryData{M: m, First: s.first, Last: s.last, Reports: s.reports, Reviewed: s.reviewed, Longest: s.latMax, Categories: rows(s.byCategory), Decisions: rows(s.byDecision),
		Severities: rows(s.bySeverity), Sources: rows(s.bySource), Actions: rows(s.byReviewAction),
		P50: s.percentile(0.5), P90: s.percentile(0.9)}
	if s.reviewed > 0 {
		d.Mean = s.latSum / time.Duration(s.reviewed)
	}
	for i, n := range s.coarse {
		d.Coarse = append(d.Coarse, countRow{coarseLabels[i], n})
	}
	included := map[string]bool{}
	for _, p := range m.Policies {
		included[p.Hash] = true
		d.Policies = append(d.Policies, policyRow{p.Hash, p.From, len(p.Files), s.byPolicy[p.Hash]})
	}
	for _, r := range rows(s.byPolicy) {
		if !included[r.Name] {
			d.MissingPolicies = append(d.MissingPolicies, r)
		}
	}
	var buf bytes.Buffer
	if err := summaryTmpl.Execute(&buf, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
