package middleware

import (
	"context"
	"errors"
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

// HeaderProviderOverride names, on the response, the client's provider
// values that the app's provider constraint overrode ("provider.only",
// "provider.ignore"): a client may narrow the constraint, never widen it.
const HeaderProviderOverride = "X-AUP-Provider-Override"

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
	// Served counts, per app, which upstream provider and model served each
	// successful model call (the subprocessor register); nil: not counted.
	Served ServedRecorder
	Logger *slog.Logger
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
			body, overrides, err := req.Rewrite(wire.Rewrite{Pseudonym: st.Pseudonym, ZDR: st.ZDR, Redact: st.Redact, Providers: appProviders(st)})
			if errors.Is(err, wire.ErrProviderNotAllowed) {
				Refuse(c, wire.ReasonProviderNotAllowed, "provider.only names no provider this app may use", map[string]any{"providers": st.App.Providers.Only})
				return
			}
			if err != nil {
				opt.Logger.Error("rewriting a request failed", "request_id", st.RequestID, "error", err.Error())
				Refuse(c, wire.ReasonInternal, "the request could not be prepared for the upstream API", nil)
				return
			}
			if len(overrides) > 0 {
				zdr, prov := splitOverrides(overrides, st.ZDR)
				if len(zdr) > 0 {
					// The client asked for weaker routing than ZDR allows: tell it.
					c.Header(HeaderZDROverride, strings.Join(zdr, ", "))
				}
				if len(prov) > 0 {
					// The client asked for providers its app may not use.
					c.Header(HeaderProviderOverride, strings.Join(prov, ", "))
				}
				opt.Logger.Debug("provider settings overridden", "request_id", st.RequestID, "fields", overrides)
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
		if opt.Served != nil && st.Request != nil && st.App != nil {
			call.OnResponse = countServed(opt.Served, st, call.OnResponse)
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

// appProviders is the app's provider constraint, nil when it has none.
func appProviders(st *State) *wire.ProviderRule {
	if st.App == nil {
		return nil
	}
	return st.App.Providers
}

// splitOverrides parts Rewrite's overrides into ZDR's and the app
// provider constraint's. "provider" alone (a client provider that was not
// an object, replaced whole) is ZDR's when ZDR is on, else the constraint's.
func splitOverrides(all []string, zdrOn bool) (zdr, providers []string) {
	for _, o := range all {
		switch {
		case o == "provider.only", o == "provider.ignore", o == "provider" && !zdrOn:
			providers = append(providers, o)
		default:
			zdr = append(zdr, o)
		}
	}
	return zdr, providers
}

// countServed wraps a successful model call's response body so the
// provider and model it names reach the register once, as the body passes
// (the scan stops at wire.MaxServedScan), before next (the answer check)
// wraps it further. The model is the request's when the response names none.
func countServed(rec ServedRecorder, st *State, next func(*http.Response) error) func(*http.Response) error {
	return func(resp *http.Response) error {
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			app, zdr, asked := st.App.Name, st.ZDR, st.Request.Model
			resp.Body = wire.NewServedReader(resp.Body, func(provider, model string) {
				if model == "" {
					model = asked
				}
				rec.Served(app, provider, model, zdr)
			})
		}
		if next != nil {
			return next(resp)
		}
		return nil
	}
}
