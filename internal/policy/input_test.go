package policy

import (
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestDecodeDecision(t *testing.T) {
	good := `{"action": "redact", "categories": ["pii_email"], "reasons": ["pii_email: redact (1 found)"], "strike": 0,
		"severity": "low", "rules": ["pii.email"], "escalation": "", "legal_hold": false, "redact": ["email"],
		"dry_run": true, "would_action": "block"}`
	d, err := decodeDecision(ast.MustParseTerm(good).Value)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != Redact || d.Categories[0] != "pii_email" || d.Redactions[0] != "email" || !d.DryRun || d.WouldAction != Block || d.Severity != "low" {
		t.Fatalf("%+v", d)
	}
	// Only what the contract requires must be there.
	if _, err := decodeDecision(ast.MustParseTerm(`{"action": "allow", "categories": [], "reasons": [], "strike": 0}`).Value); err != nil {
		t.Fatal(err)
	}
	for want, bad := range map[string]string{
		"not an object":           `["allow"]`,
		`no "action"`:             `{"categories": [], "reasons": [], "strike": 0}`,
		`no "categories"`:         `{"action": "allow", "reasons": [], "strike": 0}`,
		`no "reasons"`:            `{"action": "allow", "categories": [], "strike": 0}`,
		`no "strike"`:             `{"action": "allow", "categories": [], "reasons": []}`,
		"unknown action":          `{"action": "deny", "categories": [], "reasons": [], "strike": 0}`,
		`"action" is number`:      `{"action": 1, "categories": [], "reasons": [], "strike": 0}`,
		"list of strings":         `{"action": "flag", "categories": [1], "reasons": [], "strike": 0}`,
		"strike must":             `{"action": "flag", "categories": [], "reasons": [], "strike": -1}`,
		"unknown escalation":      `{"action": "block", "categories": [], "reasons": [], "strike": 0, "escalation": "exile"}`,
		`"dry_run" is string`:     `{"action": "allow", "categories": [], "reasons": [], "strike": 0, "dry_run": "yes"}`,
		"strike must be a number": `{"action": "allow", "categories": [], "reasons": [], "strike": "0"}`,
	} {
		_, err := decodeDecision(ast.MustParseTerm(bad).Value)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", bad, err, want)
		}
	}
}
