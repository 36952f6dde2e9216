package main

// aupguard desk subject-export | erase: personal-data requests (access and
// erasure) over the admin API of a running gateway; admin role.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/deskclient"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/store"
)

const privacyUsage = `usage:
  aupguard desk subject-export USER [--app A] --out FILE [--pubkey FILE] [--force]
      access request: a signed evidence bundle of everything kept about USER
      (standing, reports, actions, notes, holds); checked before it is kept
  aupguard desk erase USER [--app A] --reason R [--json]
      erasure request: removes everything about USER not on legal hold, in
      the store and the gateway's spool; the audit log records who, when and
      what was removed and kept, under a keyed digest instead of the id

  aupguard desk holds [--json]
      list the legal holds in force
  aupguard desk hold    (--user U --app A | --report ID | --category C) --reason R
  aupguard desk release (--user U --app A | --report ID | --category C) --reason R
      place or lift a legal hold: held records are never purged or erased

Without --app, subject-export and erase cover every app that knows the id.
All need an admin token (--token or AUPGUARD_TOKEN; holds may be listed by
any role) and --admin-url (or AUPGUARD_ADMIN_URL).
`

// deskPrivacy runs the desk's personal-data subcommands; ok is false for
// any other subcommand (desk.go handles those).
func deskPrivacy(sub string, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int, ok bool) {
	switch sub {
	case "subject-export", "erase":
	case "holds", "hold", "release":
		return deskHolds(sub, args, stdout, stderr, getenv), true
	default:
		return 0, false
	}
	fs := flag.NewFlagSet("desk "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if sub == "subject-export" {
		deskSubUsage(fs, stderr, "desk subject-export USER [--app A] --out FILE [--pubkey FILE] [--force]",
			"Access request: a signed evidence bundle of everything kept about USER\n(standing, reports, actions, notes, holds), checked before it is kept.\nAdmin role.")
	} else {
		deskSubUsage(fs, stderr, "desk erase USER [--app A] --reason R [--json]",
			"Erasure request: removes everything about USER not on legal hold, in the\nstore and the gateway's spool; the audit log records who, when and what was\nremoved and kept, under a keyed digest instead of the id. Admin role.")
	}
	var common deskFlags
	common.register(fs, getenv)
	var app, out, pubFile, reason string
	var force bool
	fs.StringVar(&app, "app", "", "only this app's user (default: every app that knows the id)")
	if sub == "subject-export" {
		fs.StringVar(&out, "out", "", "bundle file to write (.tar.gz)")
		fs.StringVar(&pubFile, "pubkey", "", "also check the bundle against the operator's public key")
		fs.BoolVar(&force, "force", false, "overwrite --out if it exists")
	} else {
		fs.StringVar(&reason, "reason", "", "why (required; kept in the audit log, e.g. the request's reference)")
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
	if len(pos) != 1 || pos[0] == "" {
		return usage("takes one USER")
	}
	c, err := common.client()
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 2, true
	}
	if sub == "erase" {
		if strings.TrimSpace(reason) == "" {
			return usage("--reason is required")
		}
		err = deskErase(c, pos[0], app, reason, common.json, stdout)
	} else {
		if out == "" {
			return usage("--out FILE is required")
		}
		if !force {
			if _, err := os.Stat(out); err == nil {
				fmt.Fprintf(stderr, "aupguard desk subject-export: %s exists (pass --force to overwrite)\n", out)
				return 2, true
			}
		}
		var pub ed25519.PublicKey
		if pubFile != "" {
			data, err := os.ReadFile(pubFile)
			if err == nil {
				pub, err = evidence.ParsePublicKey(data)
			}
			if err != nil {
				fmt.Fprintf(stderr, "aupguard desk subject-export: --pubkey: %v\n", err)
				return 2, true
			}
		}
		err = deskSubjectExport(c, pos[0], app, out, pub, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 1, true
	}
	return 0, true
}

func deskErase(c *deskclient.Client, user, app, reason string, asJSON bool, stdout io.Writer) error {
	res, raw, err := c.Erase(context.Background(), app, user, reason)
	if err != nil {
		return err
	}
	if asJSON {
		return deskPrintJSON(stdout, raw)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tREMOVED\tKEPT (LEGAL HOLD)\tAUDIT REFERENCE")
	for _, e := range res.Erasures {
		x := e.Erasure
		removed := fmt.Sprintf("%d reports, %d actions, %d pseudonyms, %d spooled", x.Reports, x.Actions, x.Pseudonyms, e.Spooled)
		if x.Standing {
			removed += ", standing"
		}
		kept := "nothing"
		switch {
		case x.UserHeld:
			kept = "everything: the user is on hold"
			removed = "nothing"
		case x.HeldReports > 0:
			kept = fmt.Sprintf("%d reports, %d actions, standing", x.HeldReports, x.HeldActions)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", deskClean(e.App), removed, kept, deskClean(e.Subject))
	}
	return tw.Flush()
}

// deskSubjectExport downloads the bundle next to out, verifies it and only
// then moves it into place.
func deskSubjectExport(c *deskclient.Client, user, app, out string, pub ed25519.PublicKey, stdout io.Writer) error {
	body, err := c.SubjectExport(context.Background(), app, user)
	if err != nil {
		return err
	}
	defer body.Close()
	return saveVerified(body, out, pub, stdout)
}

// deskHolds lists, places or lifts legal holds.
func deskHolds(sub string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("desk "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch sub {
	case "holds":
		deskSubUsage(fs, stderr, "desk holds [--json]", "Lists the legal holds in force (any role).")
	case "hold":
		deskSubUsage(fs, stderr, "desk hold (--user U --app A | --report ID | --category C) --reason R",
			"Places a legal hold: held records are never purged or erased. Admin role.")
	default:
		deskSubUsage(fs, stderr, "desk release (--user U --app A | --report ID | --category C) --reason R",
			"Lifts a legal hold. Admin role.")
	}
	var common deskFlags
	common.register(fs, getenv)
	var user, app, report, category, reason string
	if sub != "holds" {
		fs.StringVar(&user, "user", "", "hold everything about this end user (with --app)")
		fs.StringVar(&app, "app", "", "the user's app")
		fs.StringVar(&report, "report", "", "hold one report")
		fs.StringVar(&category, "category", "", "hold every report of this category")
		fs.StringVar(&reason, "reason", "", "why (required; kept in the audit log)")
	}
	pos, err := deskParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n\n", sub, msg)
		fs.Usage()
		return 2
	}
	if len(pos) != 0 {
		return usage("takes no arguments")
	}
	req := deskapi.HoldRequest{Reason: strings.TrimSpace(reason)}
	if sub != "holds" {
		n := 0
		for _, v := range []string{user, report, category} {
			if v != "" {
				n++
			}
		}
		switch {
		case n != 1:
			return usage("name exactly one of --user, --report, --category")
		case user != "" && app == "":
			return usage("--user needs --app")
		case req.Reason == "":
			return usage("--reason is required")
		case user != "":
			req.Kind, req.User, req.App = store.HoldUser, user, app
		case report != "":
			req.Kind, req.ReportID = store.HoldReport, report
		default:
			req.Kind, req.Category = store.HoldCategory, category
		}
	}
	c, err := common.client()
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 2
	}
	ctx := context.Background()
	var raw json.RawMessage
	switch sub {
	case "holds":
		var hs deskapi.Holds
		if hs, raw, err = c.Holds(ctx); err == nil && !common.json {
			err = deskPrintHolds(stdout, hs)
			raw = nil
		}
	case "hold":
		_, raw, err = c.Hold(ctx, req)
	default:
		_, raw, err = c.Release(ctx, req)
	}
	if err == nil && raw != nil {
		err = deskPrintJSON(stdout, raw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "aupguard desk %s: %s\n", sub, err)
		return 1
	}
	return 0
}

func deskPrintHolds(w io.Writer, res deskapi.Holds) error {
	if len(res.Items) == 0 {
		_, err := fmt.Fprintln(w, "no legal holds")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTARGET\tSINCE\tBY\tREASON")
	for _, h := range res.Items {
		target := h.Category
		switch h.Kind {
		case "user":
			target = h.App + "/" + h.User
		case "report":
			target = h.ReportID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", deskClean(h.Kind), deskClean(target), deskWhen(h.Since), deskClean(h.Actor), deskClean(h.Reason))
	}
	return tw.Flush()
}
