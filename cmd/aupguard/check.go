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

	"go.yaml.in/yaml/v3"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

func init() {
	register("check", "decide offline: a request JSON on stdin, or --jsonl lines of {\"id\",\"text\"}", runCheck)
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
		fmt.Fprintln(stderr, "usage: aupguard check [--config FILE] [--policies DIR] [--app NAME] [--endpoint EP] [--output] [--jsonl] < INPUT")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ep, ok := checkEndpoints[*endpoint]
	if !ok {
		fmt.Fprintf(stderr, "aupguard check: --endpoint %q: want chat, completions, responses, messages or embeddings\n", *endpoint)
		return 2
	}
	opt, roles, err := checkOptions(*cfgPath, stderr)
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
		return 1
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
			return 1
		}
		texts, s, err := requestTexts(body, ep)
		if err != nil {
			fmt.Fprintln(stderr, "aupguard check:", err)
			return 1
		}
		subject.Endpoint, subject.Model, subject.NonText = s.Endpoint, s.Model, s.NonText
		texts = policy.WithOperatorRoles(texts, appRoles)
		d, err := decide(texts)
		if err != nil {
			fmt.Fprintln(stderr, "aupguard check:", err)
			return 1
		}
		_ = enc.Encode(checkLine{Decision: d})
		return 0
	}

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxCheckLine)
	code := 0
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
			code = 1
			continue
		}
		d, err := decide(policy.EndUserTexts(*in.Text)) // a line is the end user's own text
		if err != nil {
			_ = enc.Encode(checkError{ID: in.ID, Error: err.Error()})
			code = 1
			continue
		}
		_ = enc.Encode(checkLine{ID: in.ID, Decision: d})
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "aupguard check:", err)
		return 1
	}
	return code
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

// checkEndpoints are the --endpoint values; "" guesses from the body.
var checkEndpoints = map[string]wire.Endpoint{
	"":            wire.EndpointOther,
	"chat":        wire.EndpointChat,
	"completions": wire.EndpointCompletions,
	"responses":   wire.EndpointResponses,
	"messages":    wire.EndpointMessages,
	"embeddings":  wire.EndpointEmbeddings,
}

// requestTexts extracts every text a model would read from an
// OpenRouter-style request body, with its provenance, with the gateway's
// own parser; ep EndpointOther guesses the endpoint from the body's keys.
// System and developer text is the operator's unless the config's app
// (--app) says otherwise in apps[].operator_roles.
func requestTexts(body []byte, ep wire.Endpoint) ([]wire.Text, policy.Subject, error) {
	if ep == wire.EndpointOther {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(body, &keys); err != nil {
			return nil, policy.Subject{}, fmt.Errorf("request is not a JSON object: %w", err)
		}
		ep = wire.EndpointChat
		switch {
		case keys["messages"] != nil:
		case keys["input"] != nil:
			ep = wire.EndpointResponses
		case keys["prompt"] != nil:
			ep = wire.EndpointCompletions
		}
	}
	req, err := wire.ParseRequest(ep, body, wire.ParseOptions{})
	if err != nil {
		return nil, policy.Subject{}, err
	}
	return req.Texts, policy.Subject{Endpoint: ep.String(), Model: req.Model, NonText: req.NonText}, nil
}

// checkOptions reads the policy directory, the dry-run list and each app's
// operator_roles from the config. A config that does not validate as a
// whole (e.g. no upstream key on an offline machine) still gives them, with
// a warning.
func checkOptions(path string, stderr io.Writer) (policy.Options, map[string][]string, error) {
	if path == "" {
		return policy.Options{}, nil, nil
	}
	cfg, err := config.Load(path)
	if err == nil {
		roles := map[string][]string{}
		for _, a := range cfg.Apps {
			roles[a.Name] = a.OperatorRoles
		}
		return policy.Options{Dir: cfg.Policies, DryRun: cfg.Policy.DryRun}, roles, nil
	}
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		return policy.Options{}, nil, err
	}
	raw, rerr := os.ReadFile(path)
	if rerr != nil {
		return policy.Options{}, nil, rerr
	}
	var min struct {
		Policies string `yaml:"policies"`
		Policy   struct {
			DryRun []string `yaml:"dry_run"`
		} `yaml:"policy"`
		Apps []struct {
			Name          string   `yaml:"name"`
			OperatorRoles []string `yaml:"operator_roles"`
		} `yaml:"apps"`
	}
	if yerr := yaml.Unmarshal(raw, &min); yerr != nil {
		return policy.Options{}, nil, err
	}
	roles := map[string][]string{}
	for _, a := range min.Apps {
		if a.OperatorRoles != nil {
			roles[a.Name] = a.OperatorRoles
		}
	}
	fmt.Fprintf(stderr, "aupguard check: warning: %v\naupguard check: using only policies, policy.dry_run and apps[].operator_roles from %s\n", err, path)
	return policy.Options{Dir: min.Policies, DryRun: min.Policy.DryRun}, roles, nil
}
