package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// What aupguard check needs to decide as the gateway would, without one.

// Endpoints are the names aupguard check --endpoint takes; "" means
// RequestTexts guesses from the body.
var Endpoints = map[string]wire.Endpoint{
	"":            wire.EndpointOther,
	"chat":        wire.EndpointChat,
	"completions": wire.EndpointCompletions,
	"responses":   wire.EndpointResponses,
	"messages":    wire.EndpointMessages,
	"embeddings":  wire.EndpointEmbeddings,
}

// LooksLikeJSONL reports whether a request body is rather a --jsonl
// input: its first JSON value is an object with a string "text" and none of
// the keys a request body carries its text in.
func LooksLikeJSONL(body []byte) bool {
	var first map[string]json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&first); err != nil {
		return false
	}
	var text string
	if json.Unmarshal(first["text"], &text) != nil {
		return false
	}
	for _, k := range []string{"messages", "input", "prompt", "instructions", "system"} {
		if _, ok := first[k]; ok {
			return false
		}
	}
	return true
}

// RequestTexts extracts every text a model would read from an
// OpenRouter-style request body, with its provenance, with the gateway's
// own parser; ep EndpointOther guesses the endpoint from the body's keys.
// System and developer text is the operator's unless the config's app
// (--app) says otherwise in apps[].operator_roles.
func RequestTexts(body []byte, ep wire.Endpoint) ([]wire.Text, policy.Subject, error) {
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

// OfflinePolicy is the policy engine's options for deciding offline
// (aupguard check, never the classifier): the policy directory, the
// dry-run list, the unscanned rules and each app's operator_roles from the
// config at path ("" : none). A config that does not validate as a
// whole (e.g. no upstream key on an offline machine) still gives them, with
// a warning.
func OfflinePolicy(path string, stderr io.Writer) (policy.Options, map[string][]string, error) {
	if path == "" {
		return policy.Options{}, nil, nil
	}
	cfg, err := config.Load(path)
	if err == nil {
		roles := map[string][]string{}
		for _, a := range cfg.Apps {
			roles[a.Name] = a.OperatorRoles
		}
		return policy.Options{Dir: cfg.Policies, DryRun: cfg.Policy.DryRun,
			Unscanned: cfg.Policy.Unscanned, AppUnscanned: cfg.AppUnscanned()}, roles, nil
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
			DryRun    []string `yaml:"dry_run"`
			Unscanned string   `yaml:"unscanned"`
		} `yaml:"policy"`
		Apps []struct {
			Name          string   `yaml:"name"`
			OperatorRoles []string `yaml:"operator_roles"`
			Unscanned     string   `yaml:"unscanned"`
		} `yaml:"apps"`
	}
	if yerr := yaml.Unmarshal(raw, &min); yerr != nil {
		return policy.Options{}, nil, err
	}
	roles, unscanned := map[string][]string{}, map[string]string{}
	for _, a := range min.Apps {
		if a.OperatorRoles != nil {
			roles[a.Name] = a.OperatorRoles
		}
		if a.Unscanned != "" {
			unscanned[a.Name] = a.Unscanned // the policy engine validates it
		}
	}
	fmt.Fprintf(stderr, "aupguard check: warning: %v\naupguard check: using only policies, policy.dry_run, policy.unscanned and apps[].operator_roles and .unscanned from %s\n", err, path)
	return policy.Options{Dir: min.Policies, DryRun: min.Policy.DryRun, Unscanned: min.Policy.Unscanned, AppUnscanned: unscanned}, roles, nil
}
