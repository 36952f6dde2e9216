package deskapi

import (
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// The compliance routes (docs/desk.md, docs/compliance.md).

// AppealItem is an appeal on the desk: the record, how long it has
// waited and whether its deadline has passed.
type AppealItem struct {
	store.Appeal
	AgeSeconds int64 `json:"age_seconds"`
	Overdue    bool  `json:"overdue"`
}

// AppealCase is GET appeals/{id}: the appeal and the contested statement.
type AppealCase struct {
	Appeal    AppealItem       `json:"appeal"`
	Statement *store.Statement `json:"statement,omitempty"`
}

// AppealDecisionRequest is the body of POST appeals/{id}/decision.
type AppealDecisionRequest struct {
	Outcome string `json:"outcome"` // upheld | reversed
	Reason  string `json:"reason"`
}

// NoticeRequest is the body of POST notices: from OpenRouter (source
// "openrouter", naming the pseudonym it saw) or a third party (source
// "third_party", naming the end user, and the app where several know the id).
type NoticeRequest struct {
	Source      string `json:"source"`
	Pseudonym   string `json:"pseudonym,omitempty"`
	EndUser     string `json:"end_user,omitempty"`
	App         string `json:"app,omitempty"`
	Category    string `json:"category,omitempty"`
	Reference   string `json:"reference,omitempty"`
	Description string `json:"description,omitempty"`
	Notifier    string `json:"notifier,omitempty"`
}

// NoticeItem is a notice with its handling: handled once a reviewer has
// acted on the case it opened (its report reviewed).
type NoticeItem struct {
	store.Notice
	Handled         bool      `json:"handled"`
	HandledAt       time.Time `json:"handled_at,omitzero"`
	HandlingSeconds int64     `json:"handling_seconds,omitempty"`
}

// NoticeAck is the answer to POST notices (201).
type NoticeAck struct {
	NoticeID string    `json:"notice_id"`
	App      string    `json:"app"`
	User     string    `json:"user"`
	ReportID string    `json:"report_id"`
	Received time.Time `json:"received"`
}
