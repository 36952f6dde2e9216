package main

// aupguard desk notice | appeals | decide: abuse notices and appeals
// (docs/compliance.md) over the admin API of a running gateway.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
)

const complianceUsage = `  aupguard desk notice (--pseudonym P | --user U [--app A]) [--category C] [--reference R]
                       [--notifier N] [--description D] [--json]
      take in an abuse notice from OpenRouter (naming a pseudonym) or a
      third party (naming an end user): opens a case on the user behind it
  aupguard desk appeals [--status open|upheld|reversed|all] [--json]
      the appeals queue, oldest first, with age and deadline
  aupguard desk decide APPEAL --outcome upheld|reversed --reason R [--json]
      decide an appeal; a reversal reinstates the end user
`

// deskCompliance runs the notice and appeal subcommands; ok is false for others.
func deskCompliance(sub string, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int, ok bool) {
	switch sub {
	case "notice", "appeals", "decide":
	default:
		return 0, false
	}
	fs := flag.NewFlagSet("desk "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common deskFlags
	common.register(fs, getenv)
	ctx := context.Background()
	var req deskapi.NoticeRequest
	var status, outcome, reason string
	nargs := 0
	switch sub {
	case "notice":
		fs.StringVar(&req.Pseudonym, "pseudonym", "", "the pseudonym an OpenRouter notice names (aup_…)")
		fs.StringVar(&req.EndUser, "user", "", "the end user a third party's notice names")
		fs.StringVar(&req.App, "app", "", "the app, where several know the user id")
		fs.StringVar(&req.Category, "category", "", "a category of the taxonomy")
		fs.StringVar(&req.Reference, "reference", "", "the notice's own reference")
		fs.StringVar(&req.Notifier, "notifier", "", "who sent the notice")
		fs.StringVar(&req.Description, "description", "", "what the notice says (at most 2000 bytes)")
		deskSubUsage(fs, stderr, "desk notice (--pseudonym P | --user U [--app A]) [--category C] [--reference R] [--notifier N] [--description D] [--json]",
			"Takes in an abuse notice: opens a case on the desk for the user behind it.")
	case "appeals":
		fs.StringVar(&status, "status", "open", "open, upheld, reversed or all")
		deskSubUsage(fs, stderr, "desk appeals [--status S] [--json]", "Lists appeals, oldest first, with their age and deadline.")
	case "decide":
		nargs = 1
		fs.StringVar(&outcome, "outcome", "", "upheld (the restriction stays) or reversed (the end user is reinstated)")
		fs.StringVar(&reason, "reason", "", "why; sent to the end user")
		deskSubUsage(fs, stderr, "desk decide APPEAL --outcome upheld|reversed --reason R [--json]",
			"Decides an appeal; the reviewer who took the contested action may not, where another can.")
	}
	pos, err := deskParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0, true
	}
	if err != nil {
		return 2, true
	}
	usage := func(msg string) (int, bool) {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n\n", sub, msg)
		fs.Usage()
		return 2, true
	}
	switch {
	case len(pos) != nargs && nargs == 0:
		return usage("takes no arguments")
	case len(pos) != nargs:
		return usage("takes one appeal id")
	case sub == "notice" && (req.Pseudonym == "") == (req.EndUser == ""):
		return usage("name either --pseudonym (a notice from OpenRouter) or --user (a third party's)")
	case sub == "decide" && (outcome == "" || reason == ""):
		return usage("--outcome and --reason are required")
	}
	c, err := common.client()
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 1, true
	}
	switch sub {
	case "notice":
		req.Source = "openrouter"
		if req.EndUser != "" {
			req.Source = "third_party"
		}
		ack, raw, err := c.Notice(ctx, req)
		if err == nil && common.json {
			err = deskPrintJSON(stdout, raw)
		} else if err == nil {
			fmt.Fprintf(stdout, "notice %s taken in at %s: case opened on %s (app %s), report %s\n",
				ack.NoticeID, ack.Received.UTC().Format(time.RFC3339), ack.User, ack.App, ack.ReportID)
		}
		return deskDone(stderr, sub, err), true
	case "appeals":
		if status == "all" {
			status = ""
		}
		pg, raw, err := c.Appeals(ctx, status, "")
		if err == nil && common.json {
			err = deskPrintJSON(stdout, raw)
		} else if err == nil {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "APPEAL\tUSER\tAPP\tKIND\tSTATUS\tAGE\tDEADLINE")
			for _, a := range pg.Items {
				overdue := ""
				if a.Overdue {
					overdue = " (overdue)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", a.ID, a.User, a.App, a.Kind, a.Status,
					(time.Duration(a.AgeSeconds) * time.Second).String(), a.Deadline.UTC().Format(time.RFC3339), overdue)
			}
			err = tw.Flush()
		}
		return deskDone(stderr, sub, err), true
	default:
		it, raw, err := c.DecideAppeal(ctx, pos[0], deskapi.AppealDecisionRequest{Outcome: outcome, Reason: reason})
		if err == nil && common.json {
			err = deskPrintJSON(stdout, raw)
		} else if err == nil {
			fmt.Fprintf(stdout, "appeal %s %s by %s\n", it.ID, it.Status, it.DecidedBy)
		}
		return deskDone(stderr, sub, err), true
	}
}

func deskDone(stderr io.Writer, sub string, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 1
	}
	return 0
}
