package main

import (
	"context"
	"fmt"

	"github.com/aupguard/aupguard/internal/policy"
)

// engineDecider runs the full decision: detection and the Rego policy of the
// bundle (embedded, or policyDir), exactly as the gateway does for a chat
// request.
type engineDecider struct {
	e    *policy.Engine
	name string
}

var policyDir string // set by --policies

func newEngine(ctx context.Context) (decider, error) {
	e, err := policy.New(ctx, policy.Options{Dir: policyDir})
	if err != nil {
		return nil, err
	}
	src := "embedded bundle"
	if policyDir != "" {
		src = policyDir
	}
	return &engineDecider{e: e, name: fmt.Sprintf("policy engine (%s, hash %.12s): caught when the action is flag or block", src, e.Hash())}, nil
}

func (d *engineDecider) Name() string { return d.name }

func (d *engineDecider) Decide(ctx context.Context, text string) (bool, []string, error) {
	dec, err := d.e.CheckRequest(ctx, policy.Subject{App: "aupeval", EndUser: "eval", Standing: "active", Endpoint: "chat"}, policy.EndUserTexts(text))
	if err != nil {
		return false, nil, err
	}
	return dec.Violation(), dec.Categories, nil
}
