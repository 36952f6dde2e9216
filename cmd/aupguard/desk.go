package main

// aupguard desk: the abuse desk from a terminal, over the admin API of a
// running gateway (so it never competes with it for the store).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/deskclient"
)

func init() {
	register("desk", "review flagged end users: desk queue | show | act | decision | notice | appeals | decide | holds | hold | release | subject-export | erase",
		func(args []string) int { return deskMain(args, os.Stdout, os.Stderr, os.Getenv) })
}

const deskUsage = `usage:
  aupguard desk queue [--category C] [--status S] [--app A] [--risk MIN] [--limit N] [--cursor C] [--json]
  aupguard desk show USER [--app A] [--json]
  aupguard desk act USER --action warn|suspend|ban|reinstate|dismiss|note [--for DUR] --reason R
                         [--app A] [--report ID]... [--json]
  aupguard desk decision ID [--json]
` + complianceUsage + `
"aupguard desk SUB --help" prints one subcommand's usage and flags.

Every subcommand takes --admin-url URL (or AUPGUARD_ADMIN_URL; default
http://127.0.0.1:8081) and --token TOKEN (or AUPGUARD_TOKEN; prefer the
variable: a flag shows in the process list).
`

// deskFlags are the flags every subcommand shares.
type deskFlags struct {
	url, token string
	json       bool
	getenv     func(string) string
}

func (f *deskFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	def := getenv("AUPGUARD_ADMIN_URL")
	if def == "" {
		def = "http://127.0.0.1:8081"
	}
	fs.StringVar(&f.url, "admin-url", def, "admin listener URL (env AUPGUARD_ADMIN_URL)")
	// The variable is read at use, not made the flag's default: --help
	// prints defaults, and must never print a token.
	f.getenv = getenv
	fs.StringVar(&f.token, "token", "", "admin token (default: $AUPGUARD_TOKEN, which is better: a flag shows in the process list)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON")
}

func (f *deskFlags) client() (*deskclient.Client, error) {
	if f.token == "" && f.getenv != nil {
		f.token = f.getenv("AUPGUARD_TOKEN")
	}
	return deskclient.New(f.url, f.token, 5*time.Minute)
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments ("show alice --app web" and "show --app web alice" both work).
func deskParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type deskMultiFlag []string

func (m *deskMultiFlag) String() string     { return strings.Join(*m, ",") }
func (m *deskMultiFlag) Set(v string) error { *m = append(*m, strings.Split(v, ",")...); return nil }

func deskMain(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, deskUsage+"\nLegal holds and data-subject requests (docs/privacy.md):\n"+strings.TrimPrefix(privacyUsage, "usage:\n"))
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, args := args[0], args[1:]
	ctx := context.Background()
	if code, ok := deskPrivacy(sub, args, stdout, stderr, getenv); ok { // subject-export, erase: privacy.go
		return code
	}
	if code, ok := deskCompliance(sub, args, stdout, stderr, getenv); ok { // notice, appeals, decide: compliance.go
		return code
	}
	fs := flag.NewFlagSet("desk "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common deskFlags
	common.register(fs, getenv)

	var run func(c *deskclient.Client, pos []string) error
	var nargs int // positional arguments the subcommand takes
	switch sub {
	case "queue":
		deskSubUsage(fs, stderr, "desk queue [--category C] [--status S] [--app A] [--risk MIN] [--limit N] [--cursor C] [--json]",
			"Lists the end users with unreviewed reports, riskiest first.")
		var category, status, app, risk, cursor string
		var limit int
		fs.StringVar(&category, "category", "", "only users with reports in this category")
		fs.StringVar(&status, "status", "", "only users with this status: active, warned, suspended, banned")
		fs.StringVar(&app, "app", "", "only this app's users")
		fs.StringVar(&risk, "risk", "", "only users with at least this risk (decayed strike score)")
		fs.StringVar(&cursor, "cursor", "", "page cursor from a previous listing")
		fs.IntVar(&limit, "limit", 0, "users per page (default 50)")
		run = func(c *deskclient.Client, pos []string) error {
			if len(pos) != 0 {
				return deskUsageErr("queue takes no arguments")
			}
			page, raw, err := c.Queue(ctx, deskclient.QueueFilter{Category: category, Status: status, App: app, Risk: risk, Cursor: cursor, Limit: limit})
			if err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			// The next page's command repeats every filter.
			var again []string
			for _, f := range []struct{ name, v string }{{"category", category}, {"status", status}, {"app", app}, {"risk", risk}} {
				if f.v != "" {
					again = append(again, "--"+f.name, deskShellQuote(f.v))
				}
			}
			if limit > 0 {
				again = append(again, "--limit", fmt.Sprint(limit))
			}
			return deskPrintQueue(stdout, page, again)
		}
	case "show":
		nargs = 1
		deskSubUsage(fs, stderr, "desk show USER [--app A] [--json]",
			"Shows one end user's case: standing, reports (newest first), actions, notes.")
		var app string
		fs.StringVar(&app, "app", "", "the app, when several know this user id")
		run = func(c *deskclient.Client, pos []string) error {
			if len(pos) != 1 {
				return deskUsageErr("show takes one USER")
			}
			cv, raw, err := c.Case(ctx, app, pos[0])
			if err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			return deskPrintCase(stdout, cv)
		}
	case "act":
		nargs = 1
		deskSubUsage(fs, stderr, "desk act USER --action warn|suspend|ban|reinstate|dismiss|note [--for DUR] --reason R [--app A] [--report ID]... [--json]",
			"Acts on one end user; the reason is kept in the audit log.")
		var app, action, dur, reason string
		var reports deskMultiFlag
		fs.StringVar(&app, "app", "", "the app, when several know this user id")
		fs.StringVar(&action, "action", "", "warn, suspend, ban, reinstate, dismiss or note")
		fs.StringVar(&dur, "for", "", "suspension length, e.g. 24h or 7d (suspend only)")
		fs.StringVar(&reason, "reason", "", "why (required; kept in the audit log)")
		fs.Var(&reports, "report", "report id the action covers (repeatable; default: every unreviewed report)")
		run = func(c *deskclient.Client, pos []string) error {
			if len(pos) != 1 {
				return deskUsageErr("act takes one USER")
			}
			if action == "" || strings.TrimSpace(reason) == "" {
				return deskUsageErr("act needs --action and --reason")
			}
			res, raw, err := c.Act(ctx, pos[0], deskapi.ActionRequest{Action: action, Duration: dur, Reason: reason, ReportIDs: reports, App: app})
			if err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			return deskPrintActed(stdout, res)
		}
	case "decision":
		nargs = 1
		deskSubUsage(fs, stderr, "desk decision ID [--json]",
			"Looks up a decision id a customer quotes (a refusal's metadata.decision_id): the reports that carry it, with their app and user.")
		run = func(c *deskclient.Client, pos []string) error {
			v, raw, err := c.Decision(ctx, pos[0])
			if err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			return deskPrintDecision(stdout, v)
		}
	default:
		fmt.Fprintf(stderr, "aupguard desk: unknown subcommand %q\n\n%s", sub, deskUsage)
		return 2
	}
	pos, err := deskParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(pos) != nargs {
		what := "no arguments"
		if nargs == 1 {
			what = "one USER"
			if sub == "decision" {
				what = "one decision ID"
			}
		}
		fmt.Fprintf(stderr, "aupguard desk %s: takes %s\n\n", sub, what)
		fs.Usage()
		return 2
	}
	c, err := common.client()
	if err == nil {
		err = run(c, pos)
	}
	var ue deskUsageErr
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n\n", sub, err)
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 1
	}
	return 0
}

// deskSubUsage sets a desk subcommand's usage: its synopsis, what it does,
// then every flag with its description.
func deskSubUsage(fs *flag.FlagSet, stderr io.Writer, synopsis, what string) {
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: aupguard %s\n\n%s\n\nflags:\n", synopsis, what)
		fs.PrintDefaults()
	}
}

type deskUsageErr string

func (u deskUsageErr) Error() string { return string(u) }
