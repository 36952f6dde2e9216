package middleware

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// HeaderZDR lets a request ask for zero data retention ("1" or "true"); it
// can never turn a configured ZDR off.
const HeaderZDR = "X-AUP-ZDR"

// InspectOptions configure Inspect.
type InspectOptions struct {
	Policy   Policy
	Enforcer Enforcer // records flag/block reports; nil: not recorded
	Digester Digester // required when Enforcer is set
	ZDR      bool     // global zero-data-retention switch
	// ExcerptBytes bounds the redacted excerpt kept outside ZDR (default 200; -1: none).
	ExcerptBytes int
	Logger       *slog.Logger
	// Statements, when set, makes refusals name their statement of
	// reasons (metadata.statement_id); internal/compliance keeps them.
	Statements StatementFinder
}

// Inspect runs the policy on every text of a model call, each with who
// wrote it (the app's operator_roles applied first). block → 403
// aup_blocked (metadata.reasons = categories, decision_id); redact → the
// decision's redaction is applied when forwarding; flag → forwarded. Every
// flag and block is reported against the end user with a keyed digest and
// the length of the end user's own text (and a short redacted excerpt,
// never under ZDR); if the report escalates the user to a suspension or
// ban, a flagged request is refused too. A violation in the operator's text
// (decision.operator) is recorded against the app instead, under
// store.OperatorUser, at most once an hour per operator text and policy
// version, and never refuses the request. A policy error is a 500: an
// undecided request is never let through.
func Inspect(opt InspectOptions) gin.HandlerFunc {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	reports := newReportBuilder(opt.Digester, opt.ExcerptBytes)
	seen := &operatorSeen{}
	return func(c *gin.Context) {
		st := StateOf(c)
		req := st.Request
		if req == nil || st.App == nil {
			c.Next()
			return
		}
		resolveZDR(c, st, opt.ZDR)
		subj := subjectOf(st)
		texts := policy.WithOperatorRoles(req.Texts, st.App.operatorRoles())
		d, err := opt.Policy.CheckRequest(c.Request.Context(), subj, texts)
		if err != nil {
			opt.Logger.Error("policy evaluation failed", "request_id", st.RequestID, "error", err.Error())
			Refuse(c, wire.ReasonInternal, "the request could not be checked", nil)
			return
		}
		st.Decision, st.DecisionID, st.Redact = string(d.Action), d.ID, d.Redact
		user, operator, _, _ := policy.Split(texts)
		if d.Operator.Violation() && opt.Enforcer != nil {
			opt.reportOperator(c, st, reports, seen, operator, d)
		}
		reported := ""
		if d.Violation() && opt.Enforcer != nil {
			r := reports.build(st, "request", user, d.Redact, d)
			// Recorded even if the client has gone away meanwhile.
			s, err := opt.Enforcer.Report(context.WithoutCancel(c.Request.Context()), r, d.Escalation)
			if err != nil {
				opt.Logger.Error("recording a report failed", "request_id", st.RequestID, "decision_id", d.ID, "error", err.Error())
			} else {
				st.Standing, reported = s, r.ID
			}
		}
		if d.Action == policy.Block {
			meta := wire.BlockedMeta(d.Categories, d.ID)
			if opt.Statements != nil && reported != "" {
				// The statement's id is made from the report's (store.RefusalStatementID).
				meta["statement_id"] = store.RefusalStatementID(reported)
			}
			Refuse(c, wire.ReasonAUPBlocked, msgRequestBlocked, meta)
			return
		}
		if d.Violation() && refuseStanding(c, st.Standing, opt.Statements) {
			return
		}
		if pc, ok := opt.Policy.(ParallelClassifier); ok && pc.ClassifierMode() == policy.ModeParallel {
			// The guard model works while the request is forwarded;
			// AnswerCheck applies its verdict to the answer.
			st.Verdict = pc.StartClassify(c.Request.Context(), subj, user)
		}
		c.Next()
	}
}

// operatorEvery is how often the same operator text is recorded against
// its app under one policy version.
const operatorEvery = time.Hour

// operatorSeen remembers which operator texts were recorded this hour, so a
// system prompt sent with every request costs one store write an hour per
// process; the report id, derived from the same key, makes replicas (and
// restarts) agree on one report.
type operatorSeen struct {
	mu sync.Mutex
	m  map[string]int64 // key → start of the hour (Unix ms) it was recorded in
}

func (s *operatorSeen) first(key string, hour int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] == hour {
		return false
	}
	if s.m == nil || len(s.m) >= 4096 {
		s.m = make(map[string]int64)
	}
	s.m[key] = hour
	return true
}

func (s *operatorSeen) forget(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// reportOperator records a violation in the operator's text against the
// app: user store.OperatorUser, no pseudonym, no strike, no escalation;
// the digest and length are of the operator's text alone (an excerpt only
// outside ZDR).
func (opt InspectOptions) reportOperator(c *gin.Context, st *State, reports reportBuilder, seen *operatorSeen, texts []string, d policy.Decision) {
	// The key first: a prompt recorded this hour costs a digest, no more.
	digest := ""
	if opt.Digester != nil {
		digest = opt.Digester.Digest(texts...)
	}
	hour := Now().UTC().Truncate(operatorEvery)
	key := st.App.Name + "\x00" + digest + "\x00" + d.PolicyHash
	if !seen.first(key, hour.UnixMilli()) {
		return
	}
	o := d.Operator
	r := reports.build(st, store.SourceOperator, texts, d.Redact, policy.Decision{
		ID: d.ID, Action: o.Action, Categories: o.Categories, Severity: o.Severity, Rules: o.Rules, PolicyHash: d.PolicyHash,
	})
	r.ID, r.User, r.Pseudonym = operatorReportID(hour, key), store.OperatorUser, ""
	if _, err := opt.Enforcer.Report(context.WithoutCancel(c.Request.Context()), r, ""); err != nil {
		seen.forget(key)
		opt.Logger.Error("recording an operator report failed", "request_id", st.RequestID, "decision_id", d.ID, "error", err.Error())
	}
}

// resolveZDR sets st.ZDR from the global switch, the app and the request header.
func resolveZDR(c *gin.Context, st *State, global bool) {
	if global || (st.App != nil && st.App.ZDR) {
		st.ZDR = true
		return
	}
	switch strings.ToLower(c.GetHeader(HeaderZDR)) {
	case "1", "true", "yes", "on":
		st.ZDR = true
	}
}

// subjectOf is the policy's view of the request's sender.
func subjectOf(st *State) policy.Subject {
	status := string(st.Standing.Status)
	if status == "" {
		status = string(store.Active)
	}
	return policy.Subject{
		App: st.App.Name, EndUser: st.Pseudonym, Standing: status,
		Strikes: st.Standing.Strikes, Reports: st.Standing.Reports, ZDR: st.ZDR,
		Endpoint: st.Request.Endpoint.String(), Model: st.Request.Model, NonText: st.Request.NonText,
		OperatorRoles: st.App.operatorRoles(),
	}
}
