package compliance

import (
	"fmt"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// StatementView is a statement of reasons as the app receives it, to
// pass on to its end user (DSA Art. 17(3)): what was restricted, the
// facts and grounds, whether automated means were used, for how long,
// and how to seek redress.
type StatementView struct {
	StatementID string    `json:"statement_id"`
	EndUser     string    `json:"end_user"`
	Kind        string    `json:"kind"`  // refusal | suspension | ban
	Scope       string    `json:"scope"` // request | answer | account
	Restriction string    `json:"restriction"`
	Time        time.Time `json:"time"`
	Until       time.Time `json:"until,omitzero"`
	Duration    string    `json:"duration,omitempty"`
	// AutomatedDecision: no human took the decision; AutomatedDetection:
	// the facts were found by automated means (the gateway's checks).
	AutomatedDecision  bool           `json:"automated_decision"`
	AutomatedDetection bool           `json:"automated_detection"`
	Grounds            []store.Ground `json:"grounds"`
	Facts              string         `json:"facts"`
	DecisionID         string         `json:"decision_id,omitempty"`
	Redress            Redress        `json:"redress"`
	Appeal             *AppealView    `json:"appeal,omitempty"`
}

// Redress says how the end user may contest the decision.
type Redress struct {
	Appeal         string `json:"appeal"`
	AppealEndpoint string `json:"appeal_endpoint"`
	DecidedWithin  string `json:"decided_within"`
	Other          string `json:"other"`
}

// AppealView is an appeal as the app sees it: its status and, once
// decided, the outcome and the reviewer's reason (never the reviewer).
type AppealView struct {
	AppealID    string    `json:"appeal_id"`
	StatementID string    `json:"statement_id"`
	EndUser     string    `json:"end_user"`
	Status      string    `json:"status"` // open | upheld | reversed
	Filed       time.Time `json:"filed"`
	Deadline    time.Time `json:"deadline"`
	DecidedAt   time.Time `json:"decided_at,omitzero"`
	Outcome     string    `json:"outcome,omitempty"`
	Reason      string    `json:"reason,omitempty"`
}

// ViewAppeal is a as the app sees it.
func ViewAppeal(a store.Appeal) AppealView {
	v := AppealView{AppealID: a.ID, StatementID: a.StatementID, EndUser: a.User, Status: a.Status,
		Filed: a.Filed, Deadline: a.Deadline, DecidedAt: a.DecidedAt}
	if a.Status != store.AppealOpen {
		v.Outcome, v.Reason = a.Status, a.Reason
	}
	return v
}

// View is st as the app sees it; appeal is the appeal against it, if any.
func (s *Service) View(st store.Statement, appeal *store.Appeal) StatementView {
	v := StatementView{
		StatementID: st.ID, EndUser: st.User, Kind: st.Kind, Scope: st.Scope, Time: st.Time, Until: st.Until,
		AutomatedDecision: st.Automated, AutomatedDetection: st.Automated || len(st.ReportIDs) > 0,
		Grounds: st.Grounds, Facts: st.Explanation, DecisionID: st.DecisionID,
		Redress: Redress{
			Appeal:         "The end user may contest this decision, free of charge, through the operator's appeal process; a person who did not take the decision reviews it.",
			AppealEndpoint: "POST /aup/v1/appeals",
			DecidedWithin:  fmtDays(s.opt.Deadline),
			Other:          "The end user may also turn to a certified out-of-court dispute settlement body or to the courts.",
		},
	}
	if v.Grounds == nil {
		v.Grounds = []store.Ground{}
	}
	if st.Duration > 0 {
		v.Duration = st.Duration.String()
	}
	switch st.Kind {
	case store.RestrictRefusal:
		v.Restriction = "One " + st.Scope + " was refused; the end user's access was not otherwise restricted."
	case store.RestrictSuspension:
		v.Restriction = "The end user's access to the service is suspended"
		if !st.Until.IsZero() {
			v.Restriction += " until " + st.Until.UTC().Format(time.RFC3339)
		}
		v.Restriction += "."
	case store.RestrictBan:
		v.Restriction = "The end user's access to the service is ended (banned) until the decision is reversed."
	}
	if appeal != nil {
		av := ViewAppeal(*appeal)
		v.Appeal = &av
	}
	return v
}

func fmtDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return d.String()
}

// Text renders v as plain text an app can show its end user as it is.
func (v StatementView) Text() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Statement of reasons %s", v.StatementID)
	line("Date: %s", v.Time.UTC().Format(time.RFC3339))
	line("")
	line("What was restricted: %s", v.Restriction)
	if v.Duration != "" {
		line("Duration: %s", v.Duration)
	}
	line("")
	line("Facts and circumstances: %s", v.Facts)
	if len(v.Grounds) > 0 {
		line("")
		line("Grounds:")
		for _, g := range v.Grounds {
			name := g.Title
			if name == "" {
				name = g.Category
			}
			line("- %s (%s)", name, g.Category)
			if g.AUPClause != "" {
				line("  Acceptable use policy: %s", g.AUPClause)
			}
			if g.OperatorTerms != "" {
				line("  Our terms: %s", g.OperatorTerms)
			}
		}
	}
	line("")
	switch {
	case v.AutomatedDecision:
		line("Automated means: the facts were detected and the decision was taken by automated means.")
	case v.AutomatedDetection:
		line("Automated means: the facts were detected by automated means; a person took the decision.")
	default:
		line("Automated means: none; a person took the decision.")
	}
	line("")
	line("How to appeal: %s Appeals are decided within %s.", v.Redress.Appeal, v.Redress.DecidedWithin)
	line("%s", v.Redress.Other)
	if a := v.Appeal; a != nil {
		line("")
		line("Appeal %s: %s (filed %s)", a.AppealID, a.Status, a.Filed.UTC().Format(time.RFC3339))
		if a.Reason != "" {
			line("Decision: %s. %s", a.Outcome, a.Reason)
		}
	}
	return b.String()
}
