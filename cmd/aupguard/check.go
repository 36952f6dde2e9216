package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/aupguard/aupguard/internal/gateway"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

func init() {
	register("check", "decide offline: a request JSON on stdin, or --jsonl lines of {\"id\",\"text\"}; exit 0 allow/redact, 1 flag, 3 block", runCheck)
}

// Exit codes of check: the most severe outcome over every input wins, in
// the order checkAllowed < checkFlagged < checkBlocked < checkFailed
// (checkUsage stops before anything is decided).
const (
	checkAllowed = 0 // every decision is allow or redact (dry-run decisions included: their action is allow)
	checkFlagged = 1 // at least one flag, no block
	checkUsage   = 2 // bad flags or arguments, or input that is not what the mode reads (nothing decided)
	checkBlocked = 3 // at least one block
	checkFailed  = 4 // an input could not be decided: unreadable, not JSON, a bad --jsonl line, a policy error
)

const checkExitHelp = `
Exit status (the most severe over every input wins; the JSON output is the same):
  0  every decision is allow or redact (a dry_run decision's action is allow)
  1  at least one flag, none blocked
  3  at least one block
  4  an input could not be decided: unreadable or not JSON, a --jsonl line
     without a string "text" (reported in place as {"id","error"}), a policy
     that does not load or evaluate
  2  usage: bad flags or arguments, or a request body that holds no
     end-user text but looks like a --jsonl line ({"id","text"})
A decision counts by its action and by its operator.action (a violation in
the operator's own text, which the gateway records against the app).
`

// checkSeverity orders the exit codes: a later code overrides an earlier one.
var checkSeverity = map[int]int{checkAllowed: 0, checkFlagged: 1, checkBlocked: 2, checkFailed: 3}

// worse returns the more severe of two exit codes.
func worse(a, b int) int {
	if checkSeverity[b] > checkSeverity[a] {
		return b
	}
	return a
}

// decisionExit is the exit code one decision asks for.
func decisionExit(d policy.Decision) int {
	code := checkAllowed
	for _, a := range []policy.Action{d.Action, operatorAction(d)} {
		switch a {
		case policy.Block:
			code = worse(code, checkBlocked)
		case policy.Flag:
			code = worse(code, checkFlagged)
		}
	}
	return code
}

func operatorAction(d policy.Decision) policy.Action {
	if d.Operator == nil {
		return ""
	}
	return d.Operator.Action
}

// maxCheckLine bounds one --jsonl line (and the stdin request).
const maxCheckLine = 16 << 20

func runCheck(args []string) int {
	return checkMain(args, os.Stdin, os.Stdout, os.Stderr)
}

func checkMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file: only `policies` and `policy.dry_run` are used (offline: never the classifier)")
	jsonl := fs.Bool("jsonl", false, `read one {"id","text"} per line and print one decision per line`)
	dir := fs.String("policies", "", "policy directory (overrides the config; default: the bundled policies)")
	app := fs.String("app", "", "app name, for per-app overrides in data.aup.apps and the app's operator_roles in the config")
	output := fs.Bool("output", false, "decide the text as a model answer (data.aup.output_decision)")
	endpoint := fs.String("endpoint", "", "endpoint of the request body: chat, completions, responses, messages or embeddings (default: guessed from its keys)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: aupguard check [--config FILE] [--policies DIR] [--app NAME] [--endpoint EP] [--output] [--jsonl] < INPUT

Decides offline, with no server: one OpenRouter request body (chat,
completions, responses, messages or embeddings JSON) on stdin, or with
--jsonl one {"id","text"} per line (the end user's own text). Prints one
decision JSON per input: action, categories, reasons, ... (id repeated).

`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, checkExitHelp)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ep, ok := gateway.Endpoints[*endpoint]
	if !ok {
		fmt.Fprintf(stderr, "aupguard check: --endpoint %q: want chat, completions, responses, messages or embeddings\n", *endpoint)
		return 2
	}
	opt, roles, err := gateway.OfflinePolicy(*cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "aupguard check:", err)
		return 2
	}
	if *dir != "" {
		opt.Dir = *dir
	}
	ctx := context.Background()
	eng, err := policy.New(ctx, opt)
	if err != nil {
		fmt.Fprintln(stderr, "aupguard check:", err)
		return checkFailed
	}
	defer eng.Close()

	appRoles, ok := roles[*app]
	if !ok {
		appRoles = policy.DefaultOperatorRoles
	}
	subject := policy.Subject{App: *app, EndUser: "aupguard-check", Standing: "active", Endpoint: "chat", OperatorRoles: appRoles}
	decide := func(texts []wire.Text) (policy.Decision, error) {
		if *output {
			all := make([]string, len(texts))
			for i := range texts {
				all[i] = texts[i].Text
			}
			return eng.CheckOutput(ctx, subject, all)
		}
		return eng.CheckRequest(ctx, subject, texts)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)

	if !*jsonl {
		body, err := io.ReadAll(io.LimitReader(stdin, maxCheckLine+1))
		if err != nil || len(body) > maxCheckLine {
			fmt.Fprintln(stderr, "aupguard check: cannot read the request from stdin (at most 16 MiB)")
			return checkFailed
		}
		texts, s, err := gateway.RequestTexts(body, ep)
		if err != nil {
			if gateway.LooksLikeJSONL(body) {
				fmt.Fprintln(stderr, "aupguard check: stdin holds {\"id\",\"text\"} lines, not a request body: run aupguard check --jsonl")
				return checkUsage
			}
			fmt.Fprintln(stderr, "aupguard check:", err)
			return checkFailed
		}
		texts = policy.WithOperatorRoles(texts, appRoles)
		switch {
		case !hasEndUserText(texts) && gateway.LooksLikeJSONL(body):
			// A top-level "text" is not a message: the parser reads it
			// as operator set-up, and the end user's decision would be
			// an allow of nothing.
			fmt.Fprintln(stderr, `aupguard check: no end-user text found: the input looks like a --jsonl line ({"id","text"}), not a request body; run aupguard check --jsonl`)
			return checkUsage
		case !hasText(texts):
			fmt.Fprintf(stderr, "aupguard check: warning: the request holds no text to inspect%s; the decision is about nothing\n", nonTextNote(s.NonText))
		}
		subject.Endpoint, subject.Model, subject.NonText = s.Endpoint, s.Model, s.NonText
		d, err := decide(texts)
		if err != nil {
			fmt.Fprintln(stderr, "aupguard check:", err)
			return checkFailed
		}
		_ = enc.Encode(checkLine{Decision: d})
		return decisionExit(d)
	}

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxCheckLine)
	code := checkAllowed
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var in struct {
			ID   json.RawMessage `json:"id"`
			Text *string         `json:"text"`
		}
		if err := json.Unmarshal(line, &in); err != nil || in.Text == nil {
			// One bad line does not stop a batch; it is reported in place.
			msg := "line is not a JSON object with a string \"text\""
			if err != nil {
				msg = err.Error()
			}
			_ = enc.Encode(checkError{ID: in.ID, Error: fmt.Sprintf("line %d: %s", n, msg)})
			code = worse(code, checkFailed)
			continue
		}
		if strings.TrimSpace(*in.Text) == "" {
			fmt.Fprintf(stderr, "aupguard check: warning: line %d: empty \"text\": nothing to inspect\n", n)
		}
		d, err := decide(policy.EndUserTexts(*in.Text)) // a line is the end user's own text
		if err != nil {
			_ = enc.Encode(checkError{ID: in.ID, Error: err.Error()})
			code = worse(code, checkFailed)
			continue
		}
		_ = enc.Encode(checkLine{ID: in.ID, Decision: d})
		code = worse(code, decisionExit(d))
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "aupguard check:", err)
		return checkFailed
	}
	return code
}

func hasText(texts []wire.Text) bool {
	for i := range texts {
		if strings.TrimSpace(texts[i].Text) != "" {
			return true
		}
	}
	return false
}

func hasEndUserText(texts []wire.Text) bool {
	for i := range texts {
		if policy.AuthorOf(texts[i]) == wire.AuthorEndUser && strings.TrimSpace(texts[i].Text) != "" {
			return true
		}
	}
	return false
}

// nonTextNote names the non-text parts a request carries, which no
// detector reads.
func nonTextNote(nt map[string]int) string {
	if len(nt) == 0 {
		return ""
	}
	kinds := make([]string, 0, len(nt))
	for k, n := range nt {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	return " (" + strings.Join(kinds, ", ") + " not inspected)"
}

// checkLine is one decision as printed: the input's id, then the decision.
type checkLine struct {
	ID json.RawMessage `json:"id,omitempty"`
	policy.Decision
}

type checkError struct {
	ID    json.RawMessage `json:"id,omitempty"`
	Error string          `json:"error"`
}
