// Package deskapi holds the types of the desk's JSON API under /admin/v1/
// (docs/desk.md): what internal/desk answers and accepts, and what
// internal/deskclient (the aupguard desk CLI) reads and sends. Records the
// store keeps (reports, standing, queue items, holds, erasure counts)
// travel as their internal/store types.
package deskapi

import (
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Prefix is the API's path on the admin listener.
const Prefix = "/admin/v1/"

// GET queue answers a store.Page[store.QueueItem]: the end users with
// unreviewed reports, riskiest first.

// Case is GET users/{user}: one end user's record.
type Case struct {
	App        string         `json:"app"`
	User       string         `json:"user"`
	Standing   store.Standing `json:"standing"`
	Reports    []store.Report `json:"reports"`
	Actions    []Action       `json:"actions"`
	Notes      []Action       `json:"notes"`
	Categories map[string]int `json:"categories"`
	Pseudonyms []string       `json:"pseudonyms"`
}

// Action is an audit-log entry (GET audit, a case's actions and notes),
// its duration written as the desk reads it ("7d", "24h").
type Action struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	App       string    `json:"app"`
	User      string    `json:"user"`
	Action    string    `json:"action"`
	Duration  string    `json:"duration,omitempty"`
	Reason    string    `json:"reason"`
	ReportIDs []string  `json:"report_ids,omitempty"`
	// Categories: an automatic escalation's, those of the report it cites.
	Categories []string     `json:"categories,omitempty"`
	Before     store.Status `json:"before"`
	After      store.Status `json:"after"`
	Until      time.Time    `json:"until,omitzero"`
	// Legal holds and erasures (docs/privacy.md).
	Hold    string         `json:"hold,omitempty"`
	Subject string         `json:"subject,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
}

// ActionRequest is the body of POST users/{user}/actions.
type ActionRequest struct {
	Action    string   `json:"action"`
	Duration  string   `json:"duration,omitempty"`
	Reason    string   `json:"reason"`
	ReportIDs []string `json:"report_ids,omitempty"`
	App       string   `json:"app,omitempty"` // or ?app=
}

// ActionResult answers POST users/{user}/actions: the action as recorded
// and the standing it left.
type ActionResult struct {
	Action   Action         `json:"action"`
	Standing store.Standing `json:"standing"`
}

// Decision is GET decisions/{id}: the reports that carry a decision id a
// customer quotes from a refusal.
type Decision struct {
	DecisionID string         `json:"decision_id"`
	Time       time.Time      `json:"time"` // when the decision was made (from the id)
	Reports    []store.Report `json:"reports"`
}

// PseudonymOwner answers GET users?pseudonym=P.
type PseudonymOwner struct {
	App       string `json:"app"`
	Pseudonym string `json:"pseudonym"`
	User      string `json:"user"`
}

// UserApps answers GET users?user=U: the apps that know an id.
type UserApps struct {
	Apps []string `json:"apps"`
	User string   `json:"user"`
}

// EraseRequest is the body of POST users/{user}/erase.
type EraseRequest struct {
	Reason string `json:"reason"`
	App    string `json:"app,omitempty"` // or ?app=
}

// EraseResult answers POST users/{user}/erase, one entry per app.
type EraseResult struct {
	Erasures []Erasure `json:"erasures"`
}

// Erasure is what one app's erasure removed and kept.
type Erasure struct {
	App     string        `json:"app"`
	Subject string        `json:"subject"` // the keyed digest the audit record carries instead of the id
	Erasure store.Erasure `json:"erasure"`
	Spooled int           `json:"spooled_reports"`
}

// Holds answers GET holds.
type Holds struct {
	Items []store.Hold `json:"items"`
}

// HoldRequest is the body of POST holds and POST holds/release.
type HoldRequest struct {
	Kind     string `json:"kind"` // user | report | category
	App      string `json:"app,omitempty"`
	User     string `json:"user,omitempty"`
	ReportID string `json:"report_id,omitempty"`
	Category string `json:"category,omitempty"`
	Reason   string `json:"reason"`
}

// HoldPlaced answers POST holds.
type HoldPlaced struct {
	Hold   string `json:"hold"`
	Placed bool   `json:"placed"` // false: the target was already held
}

// HoldReleased answers POST holds/release.
type HoldReleased struct {
	Released string `json:"released"`
}

// Error is every refusal's body: OpenRouter's error shape, as on the proxy.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is Error's object. Metadata always holds reason and
// provider_name; a 409 for an id several apps know adds apps.
type ErrorBody struct {
	Code     int            `json:"code"`
	Message  string         `json:"message"`
	Metadata map[string]any `json:"metadata"`
}
