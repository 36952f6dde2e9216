package compliance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Statements are written where a restriction happens: a refused request
// or answer and an automatic escalation (Observed, around the enforcer),
// a reviewer's suspension or ban (Restricted, from the desk). They are
// built from the report's and the action's fields and the taxonomy —
// never from an excerpt, so no prompt or answer text reaches one.

// Refused keeps the statement of the refusal report r recorded.
func (s *Service) Refused(ctx context.Context, r store.Report) error {
	scope := "request"
	if r.Source == "answer" {
		scope = "answer"
	}
	st := store.Statement{
		ID: store.RefusalStatementID(r.ID), Time: r.Time.UTC(), App: r.App, User: r.User,
		Kind: store.RestrictRefusal, Scope: scope, Automated: true, Actor: store.AutoActor,
		Categories: nonNil(store.Uniq(r.Categories)), Grounds: s.taxonomy().grounds(r.App, r.Categories),
		Explanation: fmt.Sprintf("The %s was checked automatically against the acceptable use policy and refused: it was found to fall under %s.", scope, list(r.Categories)),
		ReportIDs:   []string{r.ID}, DecisionID: r.DecisionID, PolicyHash: r.PolicyHash,
	}
	return s.put(ctx, st)
}

// Escalated keeps the statement of the automatic suspension or ban that
// report r brought about (after is the standing it left).
func (s *Service) Escalated(ctx context.Context, r store.Report, after store.Standing) error {
	kind, why := store.RestrictSuspension, "the end user's record of violations reached the threshold for an automatic suspension"
	if after.Status == store.Banned {
		kind, why = store.RestrictBan, "the end user's record of violations reached the threshold for an automatic ban"
	}
	if r.Escalation != "" {
		why = "the policy restricts access at once after a violation of this kind"
	}
	now := s.now().UTC()
	st := store.Statement{
		ID: store.EscalationStatementID(r.ID), Time: now, App: r.App, User: r.User,
		Kind: kind, Scope: "account", Automated: true, Actor: store.AutoActor,
		Categories: nonNil(store.Uniq(r.Categories)), Grounds: s.taxonomy().grounds(r.App, r.Categories),
		Explanation: fmt.Sprintf("Access was restricted automatically: %s (latest violation: %s).", why, list(r.Categories)),
		ReportIDs:   []string{r.ID}, DecisionID: r.DecisionID, PolicyHash: r.PolicyHash,
	}
	if !after.Until.IsZero() {
		st.Until, st.Duration = after.Until.UTC(), after.Until.Sub(now).Round(time.Second)
	}
	return s.put(ctx, st)
}

// Restricted keeps the statement of a reviewer's suspension or ban a (as
// recorded); other actions restrict nothing and are ignored.
func (s *Service) Restricted(ctx context.Context, a store.Action) error {
	var kind string
	switch a.Action {
	case store.ActSuspend:
		kind = store.RestrictSuspension
	case store.ActBan:
		kind = store.RestrictBan
	default:
		return nil
	}
	// The categories are those of the reports the action covered.
	var cats []string
	var policyHash string
	if len(a.ReportIDs) > 0 {
		cs, err := s.st.User(ctx, a.App, a.User)
		if err != nil {
			return err
		}
		for _, r := range cs.Reports {
			if containsID(a.ReportIDs, r.ID) {
				cats = append(cats, r.Categories...)
				policyHash = r.PolicyHash
			}
		}
	}
	cats = nonNil(store.Uniq(cats))
	st := store.Statement{
		ID: store.ActionStatementID(a.ID), Time: a.Time.UTC(), App: a.App, User: a.User,
		Kind: kind, Scope: "account", Automated: false, Actor: a.Actor,
		Categories: cats, Grounds: s.taxonomy().grounds(a.App, cats),
		Explanation: "A reviewer restricted access after reviewing the end user's record: " + a.Reason,
		ReportIDs:   a.ReportIDs, ActionID: a.ID, PolicyHash: policyHash,
	}
	if a.Action == store.ActSuspend {
		st.Duration, st.Until = a.Duration, a.Until.UTC()
		if st.Until.IsZero() {
			st.Until = a.Time.Add(a.Duration).UTC()
		}
	}
	return s.put(ctx, st)
}

func (s *Service) put(ctx context.Context, st store.Statement) error {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	if _, err := s.st.PutStatement(sctx, st); err != nil {
		return fmt.Errorf("compliance: statement %s: %w", st.ID, err)
	}
	s.sanct.forget(st.App, st.User)
	return nil
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func list(cats []string) string {
	if len(cats) == 0 {
		return "no named category"
	}
	return strings.Join(store.Uniq(cats), ", ")
}

// SanctionStatement is the id of the statement behind st, the suspension
// or ban in force that refuses the user's request, or "" when none is
// known. It answers from memory after the first look per standing
// version, so a suspended user retrying costs no store round trip.
func (s *Service) SanctionStatement(ctx context.Context, app, user string, st store.Standing) string {
	kind := store.RestrictSuspension
	if st.Status == store.Banned {
		kind = store.RestrictBan
	}
	now := s.now()
	if id, ok := s.sanct.get(app, user, st.Version, kind, now); ok {
		return id
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(s.opt.StoreTimeout, 500*time.Millisecond))
	defer cancel()
	list, err := s.st.UserStatements(sctx, app, user)
	id := ""
	for i := len(list) - 1; err == nil && i >= 0; i-- {
		if list[i].Kind == kind {
			id = list[i].ID
			break
		}
	}
	s.sanct.set(app, user, sanctionEntry{version: st.Version, kind: kind, id: id, at: now})
	return id
}

type sanctionKey struct{ app, user string }

type sanctionEntry struct {
	version int64
	kind    string
	id      string
	at      time.Time
}

// sanctionCache remembers the statement of each sanctioned user's
// standing version. A miss is remembered only briefly: the reviewer's
// statement is written just after the standing changes.
type sanctionCache struct {
	mu sync.Mutex
	m  map[sanctionKey]sanctionEntry
}

const missTTL = 5 * time.Second

func (c *sanctionCache) get(app, user string, version int64, kind string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sanctionKey{app, user}]
	if !ok || e.version != version || e.kind != kind || (e.id == "" && now.Sub(e.at) > missTTL) {
		return "", false
	}
	return e.id, true
}

func (c *sanctionCache) set(app, user string, e sanctionEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 8192 {
		c.m = map[sanctionKey]sanctionEntry{}
	}
	c.m[sanctionKey{app, user}] = e
}

func (c *sanctionCache) forget(app, user string) {
	c.mu.Lock()
	delete(c.m, sanctionKey{app, user})
	c.mu.Unlock()
}

// Enforcer is the part of the enforcer the pipeline uses (middleware.Enforcer).
type Enforcer interface {
	Standing(ctx context.Context, app, user string) (store.Standing, error)
	Allow(ctx context.Context, app, user string, userPerMin, appPerMin int) (ok bool, retryAfter time.Duration)
	Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error)
}

// Observed wraps e so every refusal report and every automatic
// escalation it records gets its statement, wherever the pipeline
// reports (request and answer checks).
func (s *Service) Observed(e Enforcer) Enforcer { return &observed{Enforcer: e, s: s} }

type observed struct {
	Enforcer
	s *Service
}

func (o *observed) Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error) {
	if r.User == store.OperatorUser {
		return o.Enforcer.Report(ctx, r, escalation) // the app's own text: no end user restricted
	}
	before, _ := o.Enforcer.Standing(ctx, r.App, r.User)
	after, err := o.Enforcer.Report(ctx, r, escalation)
	if err != nil {
		return after, err
	}
	if r.Escalation == "" {
		r.Escalation = escalation
	}
	if r.Action == "block" {
		if err := o.s.Refused(ctx, r); err != nil {
			o.s.log.Error("statement of reasons not kept", "report_id", r.ID, "error", err.Error())
		}
	}
	if after.Blocks(o.s.now()) && (after.Status != before.Status || !after.Until.Equal(before.Until)) {
		if err := o.s.Escalated(ctx, r, after); err != nil {
			o.s.log.Error("statement of reasons not kept", "report_id", r.ID, "error", err.Error())
		}
	}
	return after, nil
}
