package main

// aupguard desk: the abuse desk from a terminal, over the admin API of a
// running gateway (so it never competes with it for the store).

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register("desk", "review flagged end users: desk queue | show | act | decision | holds | hold | release | subject-export | erase",
		func(args []string) int { return deskMain(args, os.Stdout, os.Stderr, os.Getenv) })
}

const deskUsage = `usage:
  aupguard desk queue [--category C] [--status S] [--app A] [--risk MIN] [--limit N] [--cursor C] [--json]
  aupguard desk show USER [--app A] [--json]
  aupguard desk act USER --action warn|suspend|ban|reinstate|dismiss|note [--for DUR] --reason R
                         [--app A] [--report ID]... [--json]
  aupguard desk decision ID [--json]

"aupguard desk SUB --help" prints one subcommand's usage and flags.

Every subcommand takes --admin-url URL (or AUPGUARD_ADMIN_URL; default
http://127.0.0.1:8081) and --token TOKEN (or AUPGUARD_TOKEN; prefer the
variable: a flag shows in the process list).
`

// deskClient talks to /admin/v1/.
type deskClient struct {
	base  string
	token string
	hc    *http.Client
}

// deskAPIError is the API's OpenRouter-shaped error.
type deskAPIError struct {
	Status  int
	Message string
	Reason  string
	Apps    []string
}

func (e *deskAPIError) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d", e.Message, e.Status)
	if e.Reason != "" {
		msg += ", " + e.Reason
	}
	msg += ")"
	if len(e.Apps) > 0 {
		msg += "\napps that know this id: " + strings.Join(e.Apps, ", ") + " — add --app NAME"
	}
	return msg
}

func (c *deskClient) do(method, path string, q url.Values, body, out any) error {
	u := c.base + "/admin/v1/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct {
				Message  string `json:"message"`
				Metadata struct {
					Reason string   `json:"reason"`
					Apps   []string `json:"apps"`
				} `json:"metadata"`
			} `json:"error"`
		}
		ae := &deskAPIError{Status: resp.StatusCode}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			ae.Message, ae.Reason, ae.Apps = eb.Error.Message, eb.Error.Metadata.Reason, eb.Error.Metadata.Apps
		} else {
			ae.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
			if ae.Message == "" {
				ae.Message = resp.Status
			}
		}
		return ae
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *json.RawMessage:
		*o = data
		return nil
	default:
		return json.Unmarshal(data, out)
	}
}

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

func (f *deskFlags) client() (*deskClient, error) {
	if f.token == "" && f.getenv != nil {
		f.token = f.getenv("AUPGUARD_TOKEN")
	}
	if f.token == "" {
		return nil, errors.New("no admin token: set AUPGUARD_TOKEN (or --token)")
	}
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin-url %q is not an http(s) URL", f.url)
	}
	return &deskClient{base: strings.TrimSuffix(f.url, "/"), token: f.token, hc: &http.Client{Timeout: 5 * time.Minute}}, nil
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
	if code, ok := deskPrivacy(sub, args, stdout, stderr, getenv); ok { // subject-export, erase: privacy.go
		return code
	}
	fs := flag.NewFlagSet("desk "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common deskFlags
	common.register(fs, getenv)

	var run func(c *deskClient, pos []string) error
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
		run = func(c *deskClient, pos []string) error {
			if len(pos) != 0 {
				return deskUsageErr("queue takes no arguments")
			}
			q := url.Values{}
			for k, v := range map[string]string{"category": category, "status": status, "app": app, "risk": risk, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			var raw json.RawMessage
			if err := c.do("GET", "queue", q, nil, &raw); err != nil {
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
			return deskPrintQueue(stdout, raw, again)
		}
	case "show":
		nargs = 1
		deskSubUsage(fs, stderr, "desk show USER [--app A] [--json]",
			"Shows one end user's case: standing, reports (newest first), actions, notes.")
		var app string
		fs.StringVar(&app, "app", "", "the app, when several know this user id")
		run = func(c *deskClient, pos []string) error {
			if len(pos) != 1 {
				return deskUsageErr("show takes one USER")
			}
			q := url.Values{}
			if app != "" {
				q.Set("app", app)
			}
			var raw json.RawMessage
			if err := c.do("GET", "users/"+url.PathEscape(pos[0]), q, nil, &raw); err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			return deskPrintCase(stdout, raw)
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
		run = func(c *deskClient, pos []string) error {
			if len(pos) != 1 {
				return deskUsageErr("act takes one USER")
			}
			if action == "" || strings.TrimSpace(reason) == "" {
				return deskUsageErr("act needs --action and --reason")
			}
			body := map[string]any{"action": action, "reason": reason}
			if dur != "" {
				body["duration"] = dur
			}
			if len(reports) > 0 {
				body["report_ids"] = []string(reports)
			}
			q := url.Values{}
			if app != "" {
				q.Set("app", app)
			}
			var raw json.RawMessage
			if err := c.do("POST", "users/"+url.PathEscape(pos[0])+"/actions", q, body, &raw); err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			return deskPrintActed(stdout, raw)
		}
	case "decision":
		nargs = 1
		deskSubUsage(fs, stderr, "desk decision ID [--json]",
			"Looks up a decision id a customer quotes (a refusal's metadata.decision_id): the reports that carry it, with their app and user.")
		run = func(c *deskClient, pos []string) error {
			var raw json.RawMessage
			if err := c.do("GET", "decisions/"+url.PathEscape(pos[0]), nil, nil, &raw); err != nil {
				return err
			}
			if common.json {
				return deskPrintJSON(stdout, raw)
			}
			return deskPrintDecision(stdout, raw)
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

type deskStanding struct {
	Status       string    `json:"status"`
	Until        time.Time `json:"until"`
	Strikes      float64   `json:"strikes"`
	Reports      int       `json:"reports"`
	Unreviewed   int       `json:"unreviewed"`
	LastReportAt time.Time `json:"last_report_at"`
}

func deskStatusText(st string, until time.Time) string {
	if !until.IsZero() {
		return st + " until " + deskWhen(until)
	}
	return st
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
func deskPrintQueue(w io.Writer, raw json.RawMessage, filters []string) error {
	var page struct {
		Items []struct {
			User         string    `json:"user"`
			App          string    `json:"app"`
			Risk         float64   `json:"risk"`
			Status       string    `json:"status"`
			Until        time.Time `json:"until"`
			Reports      int       `json:"reports"`
			Unreviewed   int       `json:"unreviewed"`
			Categories   []string  `json:"categories"`
			LastReportAt time.Time `json:"last_report_at"`
		} `json:"items"`
		Next string `json:"next_cursor"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
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

type deskAction struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Duration string    `json:"duration"`
	Reason   string    `json:"reason"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
	Until    time.Time `json:"until"`
}

func deskPrintCase(w io.Writer, raw json.RawMessage) error {
	var cv struct {
		App      string       `json:"app"`
		User     string       `json:"user"`
		Standing deskStanding `json:"standing"`
		Reports  []struct {
			ID         string    `json:"id"`
			Time       time.Time `json:"time"`
			Source     string    `json:"source"`
			Action     string    `json:"action"`
			Categories []string  `json:"categories"`
			Severity   string    `json:"severity"`
			Rules      []string  `json:"rules"`
			Reviewed   bool      `json:"reviewed"`
			Excerpt    string    `json:"excerpt"`
		} `json:"reports"`
		Actions    []deskAction `json:"actions"`
		Notes      []deskAction `json:"notes"`
		Pseudonyms []string     `json:"pseudonyms"`
	}
	if err := json.Unmarshal(raw, &cv); err != nil {
		return err
	}
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
		list []deskAction
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

func deskPrintActed(w io.Writer, raw json.RawMessage) error {
	var out struct {
		Action struct {
			deskAction
			App       string   `json:"app"`
			User      string   `json:"user"`
			ReportIDs []string `json:"report_ids"`
		} `json:"action"`
		Standing deskStanding `json:"standing"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	a := out.Action
	fmt.Fprintf(w, "%s: %s in app %s is now %s (was %s); %d report(s) reviewed; action %s\n",
		a.Action, deskClean(a.User), deskClean(a.App), deskStatusText(out.Standing.Status, out.Standing.Until), a.Before, len(a.ReportIDs), a.ID)
	return nil
}

func deskPrintDecision(w io.Writer, raw json.RawMessage) error {
	var v struct {
		DecisionID string    `json:"decision_id"`
		Time       time.Time `json:"time"`
		Reports    []struct {
			ID         string    `json:"id"`
			Time       time.Time `json:"time"`
			App        string    `json:"app"`
			User       string    `json:"user"`
			Source     string    `json:"source"`
			Action     string    `json:"action"`
			Categories []string  `json:"categories"`
			Reviewed   bool      `json:"reviewed"`
		} `json:"reports"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
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
