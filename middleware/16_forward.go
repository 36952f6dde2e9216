package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/proxy"
	"github.com/aupguard/aupguard/internal/wire"
)

// HeaderZDROverride names, on the response, the client's provider values
// that ZDR routing overrode (e.g. "provider.zdr, provider.data_collection").
const HeaderZDROverride = "X-AUP-ZDR-Override"

// ForwardOptions configure Forward.
type ForwardOptions struct {
	Proxy *proxy.Proxy
	ZDR   bool // global zero-data-retention switch
	// Enforcer records upstream moderation refusals (403 with
	// metadata.reasons) as reports; nil: not recorded.
	Enforcer Enforcer
	Digester Digester
	// ExcerptBytes bounds the redacted excerpt of those reports (default 200; -1: none).
	ExcerptBytes int
	// ModerationStrike is the strike weight of an upstream moderation
	// refusal (default 1).
	ModerationStrike float64
	// OnResponse may wrap the upstream response body (answer checks).
	OnResponse func(c *gin.Context, st *State, resp *http.Response) error
	Logger     *slog.Logger
}

// Forward sends the request upstream: model calls rewritten (end-user
// field → pseudonym, ZDR routing, redaction), allowed other calls with
// their body as read, metadata reads without a body.
func Forward(opt ForwardOptions) gin.HandlerFunc {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ModerationStrike == 0 {
		opt.ModerationStrike = 1
	}
	return func(c *gin.Context) {
		st := StateOf(c)
		call := proxy.Call{Rel: st.Rel, Route: st.Route(), Shape: wire.ShapeFor(st.Endpoint)}
		if req := st.Request; req != nil {
			resolveZDR(c, st, opt.ZDR)
			body, overrides, err := req.Rewrite(wire.Rewrite{Pseudonym: st.Pseudonym, ZDR: st.ZDR, Redact: st.Redact})
			if err != nil {
				opt.Logger.Error("rewriting a request failed", "request_id", st.RequestID, "error", err.Error())
				Refuse(c, wire.ReasonInternal, "the request could not be prepared for the upstream API", nil)
				return
			}
			if len(overrides) > 0 {
				// The client asked for weaker routing than ZDR allows: tell it.
				c.Header(HeaderZDROverride, strings.Join(overrides, ", "))
				opt.Logger.Debug("zdr overrode provider settings", "request_id", st.RequestID, "fields", overrides)
			}
			call.Body = body
			call.DropFlaggedInput = st.ZDR
			if opt.Enforcer != nil {
				call.OnModeration = func(reasons []string) { opt.reportModeration(c, st, reasons) }
			}
		} else if st.Body != nil {
			call.Body = st.Body
		}
		if opt.OnResponse != nil {
			call.OnResponse = func(resp *http.Response) error { return opt.OnResponse(c, st, resp) }
		}
		// Deferred: a stream that breaks unwinds with http.ErrAbortHandler.
		defer func() {
			st.UpstreamStatus, st.UpstreamLatency, st.ClientGone = call.Status, call.Latency, call.Canceled
			if call.Err != nil && !call.Canceled {
				st.Reason, _ = proxy.Classify(call.Err)
			}
			if call.Canceled && !c.Writer.Written() {
				// Nobody to answer; mark the response so gin does not
				// write its own 404 page for an unanswered NoRoute.
				c.Status(statusClientGone)
				c.Writer.WriteHeaderNow()
			}
		}()
		opt.Proxy.Forward(c.Writer, c.Request, &call)
	}
}

func (opt ForwardOptions) reportModeration(c *gin.Context, st *State, reasons []string) {
	r := newReportBuilder(opt.Digester, opt.ExcerptBytes).build(st, "upstream_moderation", requestTexts(st), st.Redact, policy.Decision{
		Action: policy.Flag, Categories: reasons, Strike: opt.ModerationStrike, Rules: []string{"openrouter_moderation"},
	})
	if _, err := opt.Enforcer.Report(context.WithoutCancel(c.Request.Context()), r, ""); err != nil {
		opt.Logger.Error("recording an upstream moderation report failed", "request_id", st.RequestID, "error", err.Error())
	}
}
