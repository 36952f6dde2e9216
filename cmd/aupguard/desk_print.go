package main

// What the desk subcommands print: the API's answers as tables for a
// terminal (--json prints the API's JSON instead).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

func deskPrintJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func deskWhen(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// clean keeps a terminal safe from ids and reasons holding control
// characters (escape sequences).
func deskClean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func deskStatusText(st store.Status, until time.Time) string {
	if !until.IsZero() {
		return string(st) + " until " + deskWhen(until)
	}
	return string(st)
}

// deskShellQuote quotes s for a POSIX shell when it needs it.
func deskShellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,:/=+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(deskClean(s), "'", `'\''`) + "'"
}

// deskPrintQueue prints a queue page; filters are the flags that made it,
// repeated in the next page's command.
func deskPrintQueue(w io.Writer, page store.Page[store.QueueItem], filters []string) error {
	if len(page.Items) == 0 {
		fmt.Fprintln(w, "nothing to review")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tAPP\tRISK\tSTATUS\tUNREVIEWED/REPORTS\tCATEGORIES\tLAST REPORT")
	for _, it := range page.Items {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%d/%d\t%s\t%s\n", deskClean(it.User), deskClean(it.App), it.Risk,
			deskStatusText(it.Status, it.Until), it.Unreviewed, it.Reports, deskClean(strings.Join(it.Categories, ",")), deskWhen(it.LastReportAt))
	}
	tw.Flush()
	if page.Next != "" {
		args := append(append([]string{"aupguard", "desk", "queue"}, filters...), "--cursor", deskShellQuote(page.Next))
		fmt.Fprintf(w, "\nmore: %s\n", strings.Join(args, " "))
	}
	return nil
}

func deskPrintCase(w io.Writer, cv deskapi.Case) error {
	st := cv.Standing
	fmt.Fprintf(w, "user      %s\napp       %s\nstatus    %s\nstrikes   %.2f\nreports   %d (%d unreviewed), last %s\n",
		deskClean(cv.User), deskClean(cv.App), deskStatusText(st.Status, st.Until), st.Strikes, st.Reports, st.Unreviewed, deskWhen(st.LastReportAt))
	if len(cv.Pseudonyms) > 0 {
		fmt.Fprintf(w, "pseudonym %s\n", deskClean(strings.Join(cv.Pseudonyms, ", ")))
	}
	fmt.Fprintln(w, "\nreports (newest first):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range cv.Reports {
		rev := "unreviewed"
		if r.Reviewed {
			rev = "reviewed"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", deskWhen(r.Time), deskClean(r.ID), deskClean(r.Source), deskClean(r.Action),
			deskClean(strings.Join(r.Categories, ",")), deskClean(r.Severity), deskClean(strings.Join(r.Rules, ",")), rev)
		if r.Excerpt != "" {
			fmt.Fprintf(tw, "  \t\texcerpt: %q\n", r.Excerpt)
		}
	}
	tw.Flush()
	for _, sec := range []struct {
		name string
		list []deskapi.Action
	}{{"actions", cv.Actions}, {"notes", cv.Notes}} {
		if len(sec.list) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (newest first):\n", sec.name)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, a := range sec.list {
			what := a.Action
			if a.Duration != "" {
				what += " " + a.Duration
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s -> %s\t%s\n", deskWhen(a.Time), deskClean(a.Actor), what, a.Before, a.After, deskClean(a.Reason))
		}
		tw.Flush()
	}
	return nil
}

func deskPrintActed(w io.Writer, out deskapi.ActionResult) error {
	a := out.Action
	fmt.Fprintf(w, "%s: %s in app %s is now %s (was %s); %d report(s) reviewed; action %s\n",
		a.Action, deskClean(a.User), deskClean(a.App), deskStatusText(out.Standing.Status, out.Standing.Until), a.Before, len(a.ReportIDs), a.ID)
	return nil
}

func deskPrintDecision(w io.Writer, v deskapi.Decision) error {
	fmt.Fprintf(w, "decision  %s\ntime      %s\nreports   %d\n\n", deskClean(v.DecisionID), deskWhen(v.Time), len(v.Reports))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tREPORT\tAPP\tUSER\tSOURCE\tACTION\tCATEGORIES\tREVIEW")
	seen := map[[2]string]bool{}
	var cases [][2]string
	for _, r := range v.Reports {
		rev := "unreviewed"
		if r.Reviewed {
			rev = "reviewed"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", deskWhen(r.Time), deskClean(r.ID), deskClean(r.App), deskClean(r.User),
			deskClean(r.Source), deskClean(r.Action), deskClean(strings.Join(r.Categories, ",")), rev)
		if k := [2]string{r.App, r.User}; !seen[k] {
			seen[k] = true
			cases = append(cases, k)
		}
	}
	tw.Flush()
	for _, k := range cases {
		fmt.Fprintf(w, "\ncase: aupguard desk show %s --app %s", deskShellQuote(k[1]), deskShellQuote(k[0]))
	}
	if len(cases) > 0 {
		fmt.Fprintln(w)
	}
	return nil
}
