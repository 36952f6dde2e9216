package middleware

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// msgRequestBlocked is the message of every aup_blocked refusal of a request.
const msgRequestBlocked = "this request was refused under the acceptable use policy"

// HeaderZDR lets a request ask for zero data retention ("1" or "true"); it
// can never turn a configured ZDR off.
const HeaderZDR = "X-AUP-ZDR"

// Policy decides a request from its texts with their provenance (who wrote
// each: a text with an empty author is the end user's);
// internal/policy.Engine implements it.
type Policy interface {
	CheckRequest(ctx context.Context, s policy.Subject, texts []wire.Text) (policy.Decision, error)
}

// Digester makes the keyed digest kept in reports instead of content;
// internal/identity.Digester implements it.
type Digester interface {
	Digest(parts ...string) string
}

// InspectOptions configure Inspect.
type InspectOptions struct {
	Policy   Policy
	Enforcer Enforcer // records flag/block reports; nil: not recorded
	Digester Digester // required when Enforcer is set
	ZDR      bool     // global zero-data-retention switch
	// ExcerptBytes bounds the redacted excerpt kept outside ZDR (default 200; -1: none).
	ExcerptBytes int
	Logger       *slog.Logger
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
	if opt.ExcerptBytes == 0 {
		opt.ExcerptBytes = 200
	}
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
			opt.reportOperator(c, st, seen, operator, d)
		}
		if d.Violation() && opt.Enforcer != nil {
			r := newReport(st, "request", user, opt.Digester, opt.ExcerptBytes, d.Redact)
			r.DecisionID, r.Action, r.Categories, r.Severity = d.ID, string(d.Action), d.Categories, d.Severity
			r.Rules, r.Strike, r.PolicyHash, r.Unscanned = d.Rules, d.Strike, d.PolicyHash, d.Unscanned
			// Recorded even if the client has gone away meanwhile.
			s, err := opt.Enforcer.Report(context.WithoutCancel(c.Request.Context()), r, d.Escalation)
			if err != nil {
				opt.Logger.Error("recording a report failed", "request_id", st.RequestID, "decision_id", d.ID, "error", err.Error())
			} else {
				st.Standing = s
			}
		}
		if d.Action == policy.Block {
			Refuse(c, wire.ReasonAUPBlocked, msgRequestBlocked, wire.BlockedMeta(d.Categories, d.ID))
			return
		}
		if d.Violation() && refuseStanding(c, st.Standing) {
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
func (opt InspectOptions) reportOperator(c *gin.Context, st *State, seen *operatorSeen, texts []string, d policy.Decision) {
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
	r := newReport(st, store.SourceOperator, texts, nil, opt.ExcerptBytes, d.Redact)
	r.ID, r.User, r.Pseudonym, r.Digest = operatorReportID(hour, key), store.OperatorUser, "", digest
	o := d.Operator
	r.DecisionID, r.Action, r.Categories, r.Severity = d.ID, string(o.Action), o.Categories, o.Severity
	r.Rules, r.PolicyHash = o.Rules, d.PolicyHash
	if _, err := opt.Enforcer.Report(context.WithoutCancel(c.Request.Context()), r, ""); err != nil {
		seen.forget(key)
		opt.Logger.Error("recording an operator report failed", "request_id", st.RequestID, "decision_id", d.ID, "error", err.Error())
	}
}

// operatorReportID is newReportID's format with the hour for the time and
// a hash of key (app, keyed digest, policy hash) for the random part: the
// same operator text gives the same id all hour, and the store records it
// once.
func operatorReportID(hour time.Time, key string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(hour.UnixMilli())<<16)
	h := sha256.Sum256([]byte(key))
	copy(b[6:], h[:10])
	return idEnc.EncodeToString(b[:])
}

// operatorRoles is the app's operator roles (nil: the default).
func (a *App) operatorRoles() []string {
	if a.OperatorRoles == nil {
		return policy.DefaultOperatorRoles
	}
	return a.OperatorRoles
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

// newReport fills what every report carries about the request.
func newReport(st *State, source string, texts []string, dg Digester, excerptBytes int, redact func(string) string) store.Report {
	r := store.Report{
		ID: newReportID(), Time: Now().UTC(), Source: source, ZDR: st.ZDR,
		Pseudonym: st.Pseudonym, User: st.EndUser,
	}
	if st.App != nil {
		r.App = st.App.Name
	}
	if st.Request != nil {
		r.Model = st.Request.Model
	}
	for _, t := range texts {
		r.Length += len(t)
	}
	if dg != nil {
		r.Digest = dg.Digest(texts...)
	}
	if !st.ZDR && excerptBytes > 0 {
		r.Excerpt = excerpt(texts, excerptBytes, redact)
	}
	return r
}

func excerpt(texts []string, n int, redact func(string) string) string {
	var b strings.Builder
	for _, t := range texts {
		if b.Len() >= n*2 {
			break
		}
		if b.Len() > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(t)
	}
	s := b.String()
	if len(s) > n*2 {
		s = s[:n*2] // redaction needs some context past the cut
	}
	if redact != nil {
		s = redact(s)
	}
	if len(s) > n {
		s = s[:n]
	}
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

var idEnc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newReportID is sortable by time (48-bit milliseconds first) and unique
// (80 random bits): 26 characters of Crockford-style base32.
func newReportID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return idEnc.EncodeToString(b[:])
}
