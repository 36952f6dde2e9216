package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aupguard/aupguard/internal/deskclient"
	"github.com/aupguard/aupguard/internal/transparency"
)

func init() {
	register("report", "compliance reports from a running gateway: transparency | providers [--since T] [--until T] [--app A] [--format json|csv|html]", runReport)
}

func runReport(args []string) int { return reportMain(args, os.Stdout, os.Stderr) }

const reportUsage = `usage: aupguard report transparency [--since T] [--until T] [--app A] [--format json|csv|html]
       aupguard report providers    [--since T] [--until T] [--app A] [--format json|csv|html]

transparency: restrictions by category and kind (refusal, flag, suspension,
ban), automated versus human, notices, appeals and times to decide, overall
and per app (GET /admin/v1/transparency).
providers: the subprocessor register: which upstream providers and models
served each app, with and without ZDR routing (GET /admin/v1/providers; CSV
holds the totals, JSON the days too).

Times are RFC 3339, a date (2026-11-01, midnight UTC) or a duration back
from now (30d); --since defaults to 30 days before --until, --until to now.
Any admin token may read them (reviewer, auditor, admin).
`

// reportMain reads a report from the admin API and writes it to stdout.
func reportMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "transparency" && args[0] != "providers") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stderr, reportUsage)
			return 0
		}
		fmt.Fprint(stderr, reportUsage)
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet("report "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage+"\n"); fs.PrintDefaults() }
	var p deskclient.Period
	fs.StringVar(&p.Since, "since", "", "first moment included (default: 30 days before --until)")
	fs.StringVar(&p.Until, "until", "", "first moment excluded (default: now)")
	fs.StringVar(&p.App, "app", "", "only this app")
	format := fs.String("format", "json", "json, csv or html")
	adminURL := fs.String("admin-url", exportEnvOr("AUPGUARD_ADMIN_URL", "http://127.0.0.1:8081"), "admin listener URL (env AUPGUARD_ADMIN_URL)")
	token := fs.String("token", "", "admin bearer token (default: $AUPGUARD_TOKEN, which is better: a flag shows in the process list)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return evidenceUsageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "report %s: unexpected argument %q\n", kind, fs.Arg(0))
		return 2
	}
	if *format != "json" && *format != "csv" && *format != "html" {
		fmt.Fprintf(stderr, "report %s: --format %q is not json, csv or html\n", kind, *format)
		return 2
	}
	if *token == "" {
		*token = os.Getenv("AUPGUARD_TOKEN")
	}
	c, err := deskclient.New(*adminURL, *token, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "report %s: %v\n", kind, err)
		return 2
	}
	if err := writeReport(context.Background(), c, kind, p, *format, stdout); err != nil {
		fmt.Fprintf(stderr, "report %s: %v\n", kind, err)
		var ae *deskclient.Error
		if errors.As(err, &ae) && ae.Status/100 == 4 && ae.Status != 401 && ae.Status != 403 {
			return 2 // the period or the app was refused: a usage error
		}
		return 1
	}
	return 0
}

func writeReport(ctx context.Context, c *deskclient.Client, kind string, p deskclient.Period, format string, w io.Writer) error {
	if kind == "providers" {
		reg, raw, err := c.Providers(ctx, p)
		switch {
		case err != nil:
			return err
		case format == "csv":
			return transparency.WriteProvidersCSV(w, reg)
		case format == "html":
			return transparency.WriteProvidersHTML(w, reg)
		}
		_, err = w.Write(append(raw, '\n'))
		return err
	}
	rep, raw, err := c.Transparency(ctx, p)
	switch {
	case err != nil:
		return err
	case format == "csv":
		return transparency.WriteCSV(w, rep)
	case format == "html":
		return transparency.WriteHTML(w, rep)
	}
	_, err = w.Write(append(raw, '\n'))
	return err
}
