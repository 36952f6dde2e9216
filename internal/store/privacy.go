package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Personal-data duties: legal holds, retention sweeps and erasure. Both
// stores implement Keeper; internal/privacy drives it (the sweeper, the
// erasure and access requests), and storetest.RunPrivacy checks that both
// agree.

// Hold kinds.
const (
	HoldUser     = "user"
	HoldReport   = "report"
	HoldCategory = "category"
)

// Privacy action kinds in the audit log. Hold and release carry the hold
// in Action.Hold; erase carries no user id, only Action.Subject (a keyed
// digest) and Action.Counts.
const (
	ActHold    = "hold"
	ActRelease = "release"
	ActErase   = "erase"
)

// Hold keeps records from retention purges and erasure until an admin
// releases it. Exactly one target: a user (App and User), a report
// (ReportID; App and User name its owner when known) or a category.
type Hold struct {
	Kind     string    `json:"kind"`
	App      string    `json:"app,omitempty"`
	User     string    `json:"user,omitempty"`
	ReportID string    `json:"report_id,omitempty"`
	Category string    `json:"category,omitempty"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
}

// Key names the hold's target; a target has at most one hold.
func (h Hold) Key() string {
	switch h.Kind {
	case HoldUser:
		return "user:" + string(member2(h.App, h.User))
	case HoldReport:
		return "report:" + h.ReportID
	case HoldCategory:
		return "category:" + h.Category
	}
	return ""
}

func member2(app, user string) []byte { return fmt.Appendf(nil, "%q:%q", app, user) }

// Validate checks the hold names exactly one target and says why.
func (h Hold) Validate() error {
	switch {
	case h.Kind == HoldUser && (h.App == "" || h.User == ""):
		return fmt.Errorf("%w: a user hold needs app and user", ErrInvalid)
	case h.Kind == HoldReport && h.ReportID == "":
		return fmt.Errorf("%w: a report hold needs a report id", ErrInvalid)
	case h.Kind == HoldCategory && h.Category == "":
		return fmt.Errorf("%w: a category hold needs a category", ErrInvalid)
	case h.Kind != HoldUser && h.Kind != HoldReport && h.Kind != HoldCategory:
		return fmt.Errorf("%w: hold kind %q (want user, report or category)", ErrInvalid, h.Kind)
	case h.Actor == "":
		return fmt.Errorf("%w: hold without actor", ErrInvalid)
	case h.Reason == "":
		return fmt.Errorf("%w: a hold needs a reason", ErrInvalid)
	}
	return nil
}

// Holds is the set of holds in force, for deciding what a sweep or an
// erasure must keep.
type Holds struct {
	users   map[string]bool
	reports map[string]bool
	cats    map[string]bool
}

// NewHolds indexes hs.
func NewHolds(hs []Hold) Holds {
	x := Holds{users: map[string]bool{}, reports: map[string]bool{}, cats: map[string]bool{}}
	for _, h := range hs {
		switch h.Kind {
		case HoldUser:
			x.users[string(member2(h.App, h.User))] = true
		case HoldReport:
			x.reports[h.ReportID] = true
		case HoldCategory:
			x.cats[h.Category] = true
		}
	}
	return x
}

// User reports whether the user is on hold.
func (x Holds) User(app, user string) bool { return x.users[string(member2(app, user))] }

// Report returns why r is held ("user", "report", "category:C"), or "".
func (x Holds) Report(r *Report) string {
	switch {
	case x.users[string(member2(r.App, r.User))]:
		return HoldUser
	case x.reports[r.ID]:
		return HoldReport
	}
	for _, c := range r.Categories {
		if x.cats[c] {
			return HoldCategory + ":" + c
		}
	}
	return ""
}

// Retention says how long reports are kept. Period picks, for a report,
// the longest period of its categories that have a rule; without one, its
// app's rule; without one, Default. A period of 0 keeps for ever.
type Retention struct {
	Default    time.Duration
	Categories map[string]time.Duration
	Apps       map[string]time.Duration
	// Actions is how long audit-log actions about a user are kept (0: for
	// ever). Hold, release and erase records are never purged.
	Actions time.Duration
}

// Period returns how long r is kept (0: for ever).
func (rt Retention) Period(r *Report) time.Duration {
	var best time.Duration
	found := false
	for _, c := range r.Categories {
		if d, ok := rt.Categories[c]; ok {
			if d == 0 {
				return 0
			}
			found = true
			best = max(best, d)
		}
	}
	if found {
		return best
	}
	if d, ok := rt.Apps[r.App]; ok {
		return d
	}
	return rt.Default
}

// Expired reports whether r's retention ended before now.
func (rt Retention) Expired(r *Report, now time.Time) bool {
	p := rt.Period(r)
	return p > 0 && !r.Time.Add(p).After(now)
}

// ActionExpired reports whether an audit-log action is past retention.
func (rt Retention) ActionExpired(a *Action, now time.Time) bool {
	if rt.Actions <= 0 || a.Action == ActHold || a.Action == ActRelease || a.Action == ActErase {
		return false
	}
	return !a.Time.Add(rt.Actions).After(now)
}

// SweepRequest is one bounded step of a retention sweep.
type SweepRequest struct {
	Retention Retention
	Holds     Holds
	Now       time.Time
	// Cursor is where the previous step stopped ("" = from the start).
	Cursor string
	// Limit bounds the records read in this step (default 500).
	Limit int
}

// SweepResult is what one step did; Next is "" when the pass reached the end.
type SweepResult struct {
	Purged        int // reports deleted
	PurgedActions int // audit actions deleted
	Held          int // expired but kept by a hold
	Next          string
}

// Erasure counts what EraseUser removed and kept.
type Erasure struct {
	Reports     int  `json:"reports"`      // removed
	Actions     int  `json:"actions"`      // removed
	Pseudonyms  int  `json:"pseudonyms"`   // pseudonym links removed
	Standing    bool `json:"standing"`     // the standing record was removed
	HeldReports int  `json:"held_reports"` // kept by a hold
	HeldActions int  `json:"held_actions"` // kept with held reports
	UserHeld    bool `json:"user_held"`    // the whole user is on hold: nothing removed
}

// Keeper is the personal-data side of a store. Both implementations
// satisfy it; it is separate from Store so test doubles of Store need not.
type Keeper interface {
	// PutHold places h (Since set by the store) and records a "hold"
	// action in the audit log. With seed, the hold is placed only when no
	// hold with h's key ever existed (configured holds: an admin's release
	// sticks across restarts). Returns whether it was placed now; a hold
	// already in force is not an error.
	PutHold(ctx context.Context, h Hold, seed bool) (bool, error)
	// ReleaseHold lifts the hold with h's key, recording a "release"
	// action by actor with reason; ErrNotFound when none is in force.
	ReleaseHold(ctx context.Context, h Hold, actor, reason string) error
	// HoldList lists the holds in force.
	HoldList(ctx context.Context) ([]Hold, error)
	// Sweep purges expired, unheld reports (with every index entry, stream
	// entry and dedupe id) and expired audit actions, reading at most
	// req.Limit records.
	Sweep(ctx context.Context, req SweepRequest) (SweepResult, error)
	// EraseUser removes everything about (app, user) that holds do not
	// keep, including rate-limit state under rateKeys (Take keys), then
	// records an "erase" action: actor, reason, subject digest, counts —
	// never the user id. When anything of the user is held, the standing
	// and the held reports (and the actions about them) are kept.
	EraseUser(ctx context.Context, req EraseRequest) (Erasure, error)
}

// EraseRequest is one erasure.
type EraseRequest struct {
	App, User string
	Holds     Holds
	RateKeys  []string
	// The audit record: Actor, Reason and Subject (a keyed digest of app
	// and user, so a later request can be matched without the id).
	Actor, Reason, Subject string
	// Spooled counts reports removed from the gateway's spool, recorded
	// with the rest.
	Spooled int
}

// ErasureAction is the audit record of an erasure.
func ErasureAction(id string, now time.Time, req EraseRequest, e Erasure) Action {
	counts := map[string]int{
		"reports": e.Reports, "actions": e.Actions, "pseudonyms": e.Pseudonyms,
		"held_reports": e.HeldReports, "held_actions": e.HeldActions, "spooled_reports": req.Spooled,
	}
	if e.Standing {
		counts["standing"] = 1
	}
	kept := "nothing kept"
	switch {
	case e.UserHeld:
		kept = "nothing erased: the user is on legal hold"
	case e.HeldReports > 0:
		kept = fmt.Sprintf("kept %d held report(s), their actions and the standing (legal hold)", e.HeldReports)
	}
	return Action{
		ID: id, Time: now, Actor: req.Actor, App: req.App, Action: ActErase,
		Reason: req.Reason + " (" + kept + ")", Subject: req.Subject, Counts: counts,
	}
}

// HoldAction is the audit record of placing or releasing h.
func HoldAction(id string, now time.Time, kind string, h Hold, actor, reason string) Action {
	a := Action{ID: id, Time: now, Actor: actor, App: h.App, User: h.User, Action: kind, Reason: reason, Hold: h.Key()}
	if h.ReportID != "" {
		a.ReportIDs = []string{h.ReportID}
	}
	return a
}

// KeepAction reports whether an action of an erased user stays because it
// cites a held report (the report hold records included).
func KeepAction(a *Action, held map[string]bool) bool {
	return slices.ContainsFunc(a.ReportIDs, func(id string) bool { return held[id] })
}
