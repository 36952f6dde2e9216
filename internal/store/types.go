package store

import "time"

// Status is an end user's standing.
type Status string

const (
	Active    Status = "active"
	Warned    Status = "warned"
	Suspended Status = "suspended"
	Banned    Status = "banned"
)

// Standing is what the gateway checks before every upstream call.
type Standing struct {
	Status    Status    `json:"status"`
	Until     time.Time `json:"until,omitzero"` // end of a suspension
	Strikes   float64   `json:"strikes"`        // decayed strike score at StrikesAt
	StrikesAt time.Time `json:"strikes_at,omitzero"`
	Reports   int       `json:"reports"`
}

// Report is one recorded violation. ID is sortable and unique; recording
// the same ID twice is a no-op (spool replays rely on it).
type Report struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	App        string    `json:"app"`
	User       string    `json:"user"`
	Pseudonym  string    `json:"pseudonym"`
	Source     string    `json:"source"` // request | answer | upstream_moderation
	DecisionID string    `json:"decision_id"`
	Action     string    `json:"action"` // flag | block
	Categories []string  `json:"categories"`
	Severity   string    `json:"severity,omitempty"`
	Rules      []string  `json:"rules,omitempty"`
	Strike     float64   `json:"strike"`
	PolicyHash string    `json:"policy_hash"`
	Model      string    `json:"model,omitempty"`
	Digest     string    `json:"digest"`            // keyed HMAC-SHA256 of the content, hex
	Length     int       `json:"length"`            // bytes of content
	Excerpt    string    `json:"excerpt,omitempty"` // short redacted excerpt; never in ZDR mode
	ZDR        bool      `json:"zdr,omitempty"`
	Reviewed   bool      `json:"reviewed,omitempty"`
}

// Action is one reviewer (or automatic) action on an end user, kept in an
// append-only audit log.
type Action struct {
	ID        string        `json:"id"`
	Time      time.Time     `json:"time"`
	Actor     string        `json:"actor"` // admin token name, or "aupguard" for automatic escalation
	App       string        `json:"app"`
	User      string        `json:"user"`
	Action    string        `json:"action"` // warn | suspend | ban | reinstate | dismiss | note
	Duration  time.Duration `json:"duration,omitempty"`
	Reason    string        `json:"reason"`
	ReportIDs []string      `json:"report_ids,omitempty"`
	Before    Status        `json:"before"`
	After     Status        `json:"after"`
	Until     time.Time     `json:"until,omitzero"`
}
