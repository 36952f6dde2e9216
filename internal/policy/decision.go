package policy

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
	// Redact rewrites one text for forwarding; non-nil when PII must be redacted.
	Redact func(string) string `json:"-"`
}

// Violation reports whether the decision is an AUP violation: reported and struck.
func (d Decision) Violation() bool { return d.Action == Flag || d.Action == Block }
