package transparency

import (
	"encoding/csv"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
)

// cell guards a CSV cell against spreadsheet formulas: provider and model
// names come from the upstream, and an app's name from the operator.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func num(n int) string      { return strconv.Itoa(n) }
func secs(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }

// WriteCSV writes the report as rows of since, until, scope ("overall" or
// an app), metric, dimension, value: one figure a row, so a spreadsheet
// can pivot it.
func WriteCSV(w io.Writer, t deskapi.Transparency) error {
	cw := csv.NewWriter(w)
	since, until := t.Since.UTC().Format(time.RFC3339), t.Until.UTC().Format(time.RFC3339)
	_ = cw.Write([]string{"since", "until", "scope", "metric", "dimension", "value"})
	sections := append([]deskapi.TransparencySection{t.Overall}, t.Apps...)
	for i, s := range sections {
		scope := "overall"
		if i > 0 {
			scope = cell(s.App)
		}
		row := func(metric, dim, v string) { _ = cw.Write([]string{since, until, scope, metric, cell(dim), v}) }
		r := s.Restrictions
		row("restrictions", "total", num(r.Total))
		for _, k := range deskapi.Kinds {
			row("restrictions", k, num(r.ByKind[k]))
		}
		row("restrictions", "automated", num(r.Automated))
		row("restrictions", "human", num(r.Human))
		for _, c := range slices.Sorted(maps.Keys(r.ByCategory)) {
			for _, k := range deskapi.Kinds {
				if n := r.ByCategory[c][k]; n > 0 {
					row("restrictions_by_category", c+"/"+k, num(n))
				}
			}
		}
		row("reports", "total", num(s.Reports.Total))
		for _, src := range slices.Sorted(maps.Keys(s.Reports.BySource)) {
			row("reports", "source:"+src, num(s.Reports.BySource[src]))
		}
		row("reports", "reviewed", num(s.Reports.Reviewed))
		row("reports", "median_seconds_to_review", secs(s.Reports.MedianSecondsToReview))
		for _, a := range slices.Sorted(maps.Keys(s.ReviewerActions)) {
			row("reviewer_actions", a, num(s.ReviewerActions[a]))
		}
		row("operator_reports", "total", num(s.OperatorReports))
		row("notices", "received", num(s.Notices.Received))
		row("notices", "acted_on", num(s.Notices.ActedOn))
		row("notices", "median_seconds_to_decide", secs(s.Notices.MedianSecondsToDecide))
		row("appeals", "received", num(s.Appeals.Received))
		row("appeals", "upheld", num(s.Appeals.Upheld))
		row("appeals", "reversed", num(s.Appeals.Reversed))
		row("appeals", "open", num(s.Appeals.Open))
		row("appeals", "median_seconds_to_decide", secs(s.Appeals.MedianSecondsToDecide))
	}
	cw.Flush()
	return cw.Error()
}

// WriteProvidersCSV writes the register's totals: app, provider, model,
// requests, zdr_requests, first_day, last_day (the days are in the JSON).
func WriteProvidersCSV(w io.Writer, p deskapi.ProviderRegister) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"from", "to", "app", "provider", "model", "requests", "zdr_requests", "first_day", "last_day"})
	for _, t := range p.Totals {
		_ = cw.Write([]string{p.From, p.To, cell(t.App), cell(t.Provider), cell(t.Model),
			strconv.FormatInt(t.Requests, 10), strconv.FormatInt(t.ZDRRequests, 10), t.FirstDay, t.LastDay})
	}
	cw.Flush()
	return cw.Error()
}

// Duration renders seconds as the report shows a time to decide.
func Duration(s float64) string {
	if s <= 0 {
		return "–"
	}
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d >= 48*time.Hour:
		return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) + " d"
	case d >= time.Hour:
		return strconv.FormatFloat(d.Hours(), 'f', 1, 64) + " h"
	}
	return d.String()
}

// Funcs are the template functions the report's pages use (the desk's too).
var Funcs = template.FuncMap{
	"kinds":    func() []string { return deskapi.Kinds },
	"duration": Duration,
	"sortedKeys": func(m map[string]map[string]int) []string {
		return slices.Sorted(maps.Keys(m))
	},
	"actionKeys": func(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) },
}

var pages = template.Must(template.New("").Funcs(Funcs).Parse(`
{{define "section"}}
<h2>{{if .App}}App {{.App}}{{else}}All apps{{end}}</h2>
<table><tr><th>Restrictions</th><th>total</th>{{range kinds}}<th>{{.}}</th>{{end}}<th>automated</th><th>human</th></tr>
<tr><td>all categories</td><td>{{.Restrictions.Total}}</td>{{$r := .Restrictions}}{{range kinds}}<td>{{index $r.ByKind .}}</td>{{end}}<td>{{$r.Automated}}</td><td>{{$r.Human}}</td></tr>
{{range $c := sortedKeys $r.ByCategory}}{{$m := index $r.ByCategory $c}}<tr><td>{{$c}}</td><td></td>{{range kinds}}<td>{{index $m .}}</td>{{end}}<td></td><td></td></tr>{{end}}
</table>
<table><tr><th>Reports</th><th>reviewed</th><th>median time to review</th><th>operator's own text</th></tr>
<tr><td>{{.Reports.Total}}</td><td>{{.Reports.Reviewed}}</td><td>{{duration .Reports.MedianSecondsToReview}}</td><td>{{.OperatorReports}}</td></tr></table>
<table><tr><th>Reviewer actions</th><th>count</th></tr>{{range $a := actionKeys .ReviewerActions}}<tr><td>{{$a}}</td><td>{{index $.ReviewerActions $a}}</td></tr>{{else}}<tr><td>none</td><td>0</td></tr>{{end}}</table>
<table><tr><th>Notices received</th><th>acted on</th><th>median time to decide</th></tr>
<tr><td>{{.Notices.Received}}</td><td>{{.Notices.ActedOn}}</td><td>{{duration .Notices.MedianSecondsToDecide}}</td></tr></table>
<table><tr><th>Appeals received</th><th>upheld</th><th>reversed</th><th>open</th><th>median time to decide</th></tr>
<tr><td>{{.Appeals.Received}}</td><td>{{.Appeals.Upheld}}</td><td>{{.Appeals.Reversed}}</td><td>{{.Appeals.Open}}</td><td>{{duration .Appeals.MedianSecondsToDecide}}</td></tr></table>
{{end}}
{{define "transparency"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Transparency report</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>
<h1>Transparency report</h1>
<p>Period {{.Since.UTC.Format "2006-01-02 15:04 MST"}} to {{.Until.UTC.Format "2006-01-02 15:04 MST"}}{{if .App}}, app {{.App}}{{end}}; generated {{.GeneratedAt.UTC.Format "2006-01-02 15:04 MST"}} by aupguard from its reports and audit log (no content).</p>
{{template "section" .Overall}}{{range .Apps}}{{template "section" .}}{{end}}
</body></html>{{end}}
{{define "providers"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Subprocessor register</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style></head><body>
<h1>Subprocessor register</h1>
<p>Upstream providers that served each app's requests through OpenRouter, {{.From}} to {{.To}} (UTC days){{if .App}}, app {{.App}}{{end}}.</p>
<table><tr><th>app</th><th>provider</th><th>model</th><th>requests</th><th>with ZDR routing</th><th>first day</th><th>last day</th></tr>
{{range .Totals}}<tr><td>{{.App}}</td><td>{{.Provider}}</td><td>{{.Model}}</td><td>{{.Requests}}</td><td>{{.ZDRRequests}}</td><td>{{.FirstDay}}</td><td>{{.LastDay}}</td></tr>{{else}}<tr><td colspan="7">no requests served in this period</td></tr>{{end}}
</table></body></html>{{end}}`))

// WriteHTML writes the report as a standalone page.
func WriteHTML(w io.Writer, t deskapi.Transparency) error {
	return pages.ExecuteTemplate(w, "transparency", t)
}

// WriteProvidersHTML writes the register as a standalone page.
func WriteProvidersHTML(w io.Writer, p deskapi.ProviderRegister) error {
	return pages.ExecuteTemplate(w, "providers", p)
}
