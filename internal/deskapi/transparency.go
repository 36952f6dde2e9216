package deskapi

import (
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Restriction kinds of the transparency report.
const (
	KindRefusal    = "refusal"    // a request (or answer) refused: a block report, or OpenRouter's moderation
	KindFlag       = "flag"       // a violation recorded, the request served
	KindSuspension = "suspension" // a suspend action, automatic or a reviewer's
	KindBan        = "ban"        // a ban action, automatic or a reviewer's
)

// Kinds lists the restriction kinds in report order.
var Kinds = []string{KindRefusal, KindFlag, KindSuspension, KindBan}

// Transparency is GET transparency?since=&until=&app=: what was restricted
// in the period and how (DSA Art. 15 and 24 figures), overall and per app.
// It is counted from reports and the audit log, never from content.
type Transparency struct {
	Since       time.Time             `json:"since"` // inclusive
	Until       time.Time             `json:"until"` // exclusive
	GeneratedAt time.Time             `json:"generated_at"`
	App         string                `json:"app,omitempty"` // the app asked for; "" for all
	Overall     TransparencySection   `json:"overall"`
	Apps        []TransparencySection `json:"apps"` // by app name
}

// TransparencySection is the report's figures for one app or overall.
type TransparencySection struct {
	App          string       `json:"app,omitempty"`
	Restrictions Restrictions `json:"restrictions"`
	Reports      ReportStats  `json:"reports"`
	// ReviewerActions counts the actions reviewers took (warn, suspend,
	// ban, reinstate, dismiss, note, ...), automatic ones not included.
	ReviewerActions map[string]int `json:"reviewer_actions"`
	// OperatorReports counts violations in the operator's own text
	// (system prompts): the app's record, no end user restricted.
	OperatorReports int         `json:"operator_reports"`
	Notices         NoticeStats `json:"notices"`
	Appeals         AppealStats `json:"appeals"`
}

// Restrictions are the restrictions imposed on end users.
type Restrictions struct {
	Total  int            `json:"total"`
	ByKind map[string]int `json:"by_kind"` // every kind of Kinds, 0 included
	// ByCategory: category → kind → count. A restriction naming several
	// categories counts once under each; one naming none under "none".
	ByCategory map[string]map[string]int `json:"by_category"`
	Automated  int                       `json:"automated"` // by detection, policy or automatic escalation
	Human      int                       `json:"human"`     // by a reviewer
}

// ReportStats describe the abuse reports of the period.
type ReportStats struct {
	Total    int            `json:"total"`
	BySource map[string]int `json:"by_source"` // request, answer, upstream_moderation
	Reviewed int            `json:"reviewed"`
	// MedianSecondsToReview is the median time from report to a
	// reviewer's action on it, over the reviewed reports; 0 when none.
	MedianSecondsToReview float64 `json:"median_seconds_to_review"`
}

// NoticeStats count abuse notices (DSA Art. 16) received in the period.
type NoticeStats struct {
	Received              int     `json:"received"`
	ActedOn               int     `json:"acted_on"`
	MedianSecondsToDecide float64 `json:"median_seconds_to_decide"`
}

// AppealStats count appeals (DSA Art. 20) filed in the period.
type AppealStats struct {
	Received              int     `json:"received"`
	Upheld                int     `json:"upheld"`
	Reversed              int     `json:"reversed"`
	Open                  int     `json:"open"`
	MedianSecondsToDecide float64 `json:"median_seconds_to_decide"`
}

// ProviderRegister is GET providers?since=&until=&app=: which upstream
// providers and models served each app's requests, per UTC day, for the
// operator's subprocessor documentation. No content, no end user.
type ProviderRegister struct {
	From        string                `json:"from"` // first day, UTC (2006-01-02)
	To          string                `json:"to"`   // last day, included
	GeneratedAt time.Time             `json:"generated_at"`
	App         string                `json:"app,omitempty"`
	Totals      []ProviderTotal       `json:"totals"` // over the period, by app, provider, model
	Days        []store.ProviderCount `json:"days"`   // per day
}

// ProviderTotal is one app's requests served by one provider and model
// over the register's period.
type ProviderTotal struct {
	App         string `json:"app"`
	Provider    string `json:"provider"`
	Model       string `json:"model"`
	Requests    int64  `json:"requests"`
	ZDRRequests int64  `json:"zdr_requests"` // of which with ZDR routing
	FirstDay    string `json:"first_day"`
	LastDay     string `json:"last_day"`
}
