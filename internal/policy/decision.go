package policy

import (
	"slices"

	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/wire"
)

// Action is what a decision asks the gateway to do; the most severe wins
// (allow < redact < flag < block).
type Action string

const (
	Allow  Action = "allow"
	Redact Action = "redact"
	Flag   Action = "flag"
	Block  Action = "block"
)

// Subject is what the policy knows about who asks and how, besides the text.
type Subject struct {
	App      string         `json:"app"`
	EndUser  string         `json:"end_user"`
	Standing string         `json:"standing"` // active | warned | suspended | banned
	Strikes  float64        `json:"strikes"`
	Reports  int            `json:"reports"`
	ZDR      bool           `json:"zdr"`
	Endpoint string         `json:"endpoint"` // chat | completions | responses | messages | embeddings
	Model    string         `json:"model"`
	NonText  map[string]int `json:"non_text,omitempty"`
	// OperatorRoles are the roles whose text the app's operator writes
	// (config apps[].operator_roles; the gateway already charged the
	// others' text to the end user), so a policy can tell.
	OperatorRoles []string `json:"operator_roles,omitempty"`
}

// opaqueByDesign are the non-text kinds that are not unscanned media: a
// provider's encrypted reasoning, which only the model that wrote it reads
// back (Responses reasoning.encrypted_content, Anthropic redacted_thinking).
var opaqueByDesign = map[string]bool{"reasoning.encrypted": true, "redacted_thinking": true}

// Unscanned is input.unscanned without its total: the request's parts no
// detector reads (images, audio, video, files, documents, token arrays),
// by kind, from Subject.NonText; nil when there is none.
func Unscanned(nonText map[string]int) map[string]int {
	var out map[string]int
	for k, n := range nonText {
		if opaqueByDesign[k] || n <= 0 {
			continue
		}
		if out == nil {
			out = make(map[string]int, len(nonText))
		}
		out[k] = n
	}
	return out
}

// hasUnscanned reports whether Unscanned(nonText) is not empty, without
// building it.
func hasUnscanned(nonText map[string]int) bool {
	for k, n := range nonText {
		if !opaqueByDesign[k] && n > 0 {
			return true
		}
	}
	return false
}

// Decision is the typed result of data.aup.decision (or output_decision).
type Decision struct {
	ID         string   `json:"decision_id"`
	Action     Action   `json:"action"`
	Categories []string `json:"categories"`
	Severity   string   `json:"severity"` // highest of the categories: low | medium | high | critical
	Strike     float64  `json:"strike"`
	Reasons    []string `json:"reasons"`
	Rules      []string `json:"rules"`
	// Escalation is the sanction the policy recommends at once: "", "suspend" or "ban".
	Escalation string `json:"escalation,omitempty"`
	// LegalHold: a violated category requires keeping the evidence (CSAM).
	LegalHold bool `json:"legal_hold,omitempty"`
	// Redactions are the PII kinds Redact replaces (email, phone, ...).
	Redactions []string `json:"redact,omitempty"`
	// DryRun is set when shadow-mode categories would have made the action
	// more severe; WouldAction is what it would have been.
	DryRun      bool   `json:"dry_run,omitempty"`
	WouldAction Action `json:"would_action,omitempty"`
	PolicyHash  string `json:"policy_hash"`
	// Unscanned counts the request's parts no detector read, by kind
	// (Unscanned), whatever the action; nil when there were none. Filled by
	// the engine, not the policy.
	Unscanned map[string]int `json:"unscanned,omitempty"`
	// Operator is decision.operator: what the operator's own text (system
	// and developer prompts) violates, to be recorded against the app, never
	// the end user. nil when it decides nothing.
	Operator *OperatorDecision `json:"operator,omitempty"`
	// Redact rewrites one text for forwarding; non-nil when PII must be redacted.
	Redact func(string) string `json:"-"`
}

// Violation reports whether the decision is an AUP violation: reported and struck.
func (d Decision) Violation() bool { return d.Action == Flag || d.Action == Block }

// OperatorDecision is the policy's judgement of the operator's text
// (data.aup.decision.operator): no strike, no escalation.
type OperatorDecision struct {
	Action     Action   `json:"action"`
	Categories []string `json:"categories"`
	Severity   string   `json:"severity,omitempty"`
	Reasons    []string `json:"reasons"`
	Rules      []string `json:"rules"`
}

// Violation reports whether the operator's text violates the AUP (flag or block).
func (o *OperatorDecision) Violation() bool {
	return o != nil && (o.Action == Flag || o.Action == Block)
}

// ByAuthor holds the detectors' signals of the text the end user did not
// write, one Scan per author: input.by_author.operator, .model and .tool.
// input.signals is the end user's own text.
type ByAuthor struct {
	Operator, Model, Tool detect.Signals
}

// signalFree: no author's text scored a category or held PII.
func (b *ByAuthor) signalFree() bool {
	return b == nil || (signalFree(b.Operator) && signalFree(b.Model) && signalFree(b.Tool))
}

func signalFree(sig detect.Signals) bool { return signalFreeBelow(sig, modelBound{}) }

// signalFreeBelow is signalFree, except that learned-tier scores whose harm
// probability is below the bundle's bound for them (modelBound: the
// policy's _model_flag) count as no signal: the bundled policy reads them
// only from that threshold on.
func signalFreeBelow(sig detect.Signals, b modelBound) bool {
	return len(sig.Categories) == 0 && len(sig.PII) == 0 && (sig.Model == nil || sig.Model.Harmful < b.at(sig.Model))
}

// AuthorOf is the author group a text is charged to: it maps an empty or
// unknown author to the end user, so unlabelled text is never ignored.
func AuthorOf(t wire.Text) wire.Author {
	switch t.Author {
	case wire.AuthorOperator, wire.AuthorModel, wire.AuthorTool:
		return t.Author
	}
	return wire.AuthorEndUser
}

// Split groups texts by AuthorOf, keeping body order in each group. The
// four slices share one backing array.
func Split(texts []wire.Text) (user, operator, model, tool []string) {
	var n [4]int
	for i := range texts {
		n[authorIndex(AuthorOf(texts[i]))]++
	}
	all := make([]string, len(texts))
	var off [4]int
	for g := 1; g < 4; g++ {
		off[g] = off[g-1] + n[g-1]
	}
	fill := off
	for i := range texts {
		g := authorIndex(AuthorOf(texts[i]))
		all[fill[g]] = texts[i].Text
		fill[g]++
	}
	part := func(g int) []string { return all[off[g] : off[g]+n[g] : off[g]+n[g]] }
	return part(0), part(1), part(2), part(3)
}

func authorIndex(a wire.Author) int {
	switch a {
	case wire.AuthorOperator:
		return 1
	case wire.AuthorModel:
		return 2
	case wire.AuthorTool:
		return 3
	}
	return 0
}

// EndUserTexts labels plain strings as the end user's own text (check
// --jsonl, evaluations, tests).
func EndUserTexts(ss ...string) []wire.Text {
	out := make([]wire.Text, len(ss))
	for i, s := range ss {
		out[i] = wire.Text{Text: s, Role: wire.RoleUser, Author: wire.AuthorEndUser, New: true}
	}
	return out
}

// DefaultOperatorRoles are the roles whose text the operator writes unless
// an app says otherwise (config apps[].operator_roles).
var DefaultOperatorRoles = []string{string(wire.RoleSystem), string(wire.RoleDeveloper)}

// WithOperatorRoles applies an app's operator roles: operator text in the
// system or developer role that is not one of roles is the end user's (an
// app whose end users write the system prompt sets none). Other operator
// text (e.g. tool definitions) stays the operator's. texts is returned as
// is when nothing changes, else a copy.
func WithOperatorRoles(texts []wire.Text, roles []string) []wire.Text {
	var out []wire.Text
	for i := range texts {
		t := &texts[i]
		if t.Author != wire.AuthorOperator || (t.Role != wire.RoleSystem && t.Role != wire.RoleDeveloper) || slices.Contains(roles, string(t.Role)) {
			continue
		}
		if out == nil {
			out = slices.Clone(texts)
		}
		out[i].Author = wire.AuthorEndUser
	}
	if out == nil {
		return texts
	}
	return out
}
