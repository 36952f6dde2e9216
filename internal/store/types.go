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

// Rank orders statuses by severity (active < warned < suspended < banned);
// automatic escalation only ever moves a user up this order.
func (s Status) Rank() int {
	switch s {
	case Warned:
		return 1
	case Suspended:
		return 2
	case Banned:
		return 3
	}
	return 0
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case Active, Warned, Suspended, Banned:
		return true
	}
	return false
}

// Standing is what the gateway checks before every upstream call. Stores
// return it as of their clock's now: an expired suspension reads as active
// and Strikes is already decayed to StrikesAt.
type Standing struct {
	Status    Status    `json:"status"`
	Until     time.Time `json:"until,omitzero"` // end of a suspension
	Strikes   float64   `json:"strikes"`        // decayed strike score at StrikesAt
	StrikesAt time.Time `json:"strikes_at,omitzero"`
	Reports   int       `json:"reports"`
	// Unreviewed counts reports no reviewer has acted on yet; > 0 puts the
	// user in the review queue.
	Unreviewed   int       `json:"unreviewed"`
	LastReportAt time.Time `json:"last_report_at,omitzero"`
	// Version grows by one on every change of the user's record; caches keep
	// the highest version they have seen.
	Version int64 `json:"version,omitempty"`
}

// Sanctioned reports whether the standing differs from plain good standing
// (warned users count: the gateway tells the app about them).
func (s Standing) Sanctioned() bool { return s.Status != "" && s.Status != Active }

// Blocks reports whether the standing refuses requests at now.
func (s Standing) Blocks(now time.Time) bool {
	switch s.Status {
	case Banned:
		return true
	case Suspended:
		return s.Until.IsZero() || now.Before(s.Until)
	}
	return false
}

// Report is one recorded violation. ID is sortable and unique; recording
// the same ID twice is a no-op (spool replays rely on it).
type Report struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	App        string    `json:"app"`
	User       string    `json:"user"`
	Pseudonym  string    `json:"pseudonym"`
	Source     string    `json:"source"` // request | answer | upstream_moderation | operator
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
	// Unscanned counts the request's parts no detector read (images,
	// audio, files, ...), by kind; empty when there were none.
	Unscanned map[string]int `json:"unscanned,omitempty"`
	// Escalation is the sanction the policy recommended with this report:
	// "", "suspend" or "ban". Kept with the report so a spooled report
	// replays with the same effect.
	Escalation string    `json:"escalation,omitempty"`
	Reviewed   bool      `json:"reviewed,omitempty"`
	ReviewedAt time.Time `json:"reviewed_at,omitzero"`
	// Hold says why the report is on legal hold ("user", "report",
	// "category:C"); filled by exports (internal/privacy), not stored.
	Hold string `json:"hold,omitempty"`
}

// OperatorUser is the reserved end-user id under which an app's own
// violations are recorded: reports with Source SourceOperator, found in the
// operator's text (system and developer prompts), never with a strike.
// The gateway refuses it as an end-user id, so no end user's record mixes
// with the app's.
const OperatorUser = "aupguard:operator"

// SourceOperator is the Source of a report on the operator's own text.
const SourceOperator = "operator"

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
	// Categories are the distinct categories of the report an automatic
	// escalation cites, recorded with it so that counting sanctions by
	// category (the transparency report) needs no join with the reports.
	// Reviewer actions leave it empty: their reports are looked up.
	Categories []string  `json:"categories,omitempty"`
	Before     Status    `json:"before"`
	After      Status    `json:"after"`
	Until      time.Time `json:"until,omitzero"`
	// Hold is the key of the hold a hold/release action concerns.
	Hold string `json:"hold,omitempty"`
	// Subject and Counts describe an erasure without the erased data:
	// a keyed digest of the user and what was removed and kept.
	Subject string         `json:"subject,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
}

// Action kinds.
const (
	ActWarn      = "warn"
	ActSuspend   = "suspend"
	ActBan       = "ban"
	ActReinstate = "reinstate"
	ActDismiss   = "dismiss"
	ActNote      = "note"
)

// AutoActor is the actor of actions taken by automatic escalation.
const AutoActor = "aupguard"
