package answer

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// Response checks an upstream response in place; it is made to be the
// proxy's OnResponse hook (proxy.Call.OnResponse):
//
//	c.OnResponse = func(resp *http.Response) error { return checker.Response(resp, call) }
//
// Only successful (2xx) answers are checked: errors carry no model output.
// A text/event-stream body is replaced by Stream (checked as it flows).
// A plain body is read (up to Options.MaxPlainBytes), checked, and either
// put back untouched or, on a block, replaced by a 403 aup_blocked refusal
// in OpenRouter's error shape after call.OnBlock; a flag calls call.OnFlag
// and returns the answer. A body that cannot be checked (too large, or
// encoded) or a failing check follows Options.FailClosed. Response returns
// an error only when reading the upstream body failed (the proxy answers
// 502).
func (c *Checker) Response(resp *http.Response, call Call) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// The transport decodes what it asked for; anything else is opaque.
		return c.unchecked(resp, call, "encoded answer")
	}
	ctx := context.Background()
	if resp.Request != nil {
		ctx = resp.Request.Context()
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = c.Stream(ctx, call, resp.Body)
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opt.MaxPlainBytes+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > c.opt.MaxPlainBytes {
		// Put back what was read; the rest follows unread.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return c.unchecked(resp, call, "answer larger than max_plain_bytes")
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	d, err := c.Plain(ctx, call.Endpoint, call.Subject, body)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the client left; nobody reads the answer
		}
		return c.unchecked(resp, call, err.Error())
	}
	switch {
	case d.Action == policy.Block:
		c.log.Info("answer refused by policy", "decision_id", d.ID,
			"categories", d.Categories, "endpoint", call.Endpoint.String(), "app", call.Subject.App)
		wire.ShapeFor(call.Endpoint).ReplaceResponse(resp, wire.ReasonAUPBlocked, msgBlocked, call.blocked(d))
	case d.Violation():
		if call.OnFlag != nil {
			call.OnFlag(d)
		}
	}
	return nil
}

// unchecked applies the fail mode to an answer that could not be checked.
func (c *Checker) unchecked(resp *http.Response, call Call, why string) error {
	if !c.opt.FailClosed {
		c.log.Warn("answer not checked; passed on (fail open)",
			"endpoint", call.Endpoint.String(), "app", call.Subject.App, "why", why)
		return nil
	}
	c.log.Warn("answer not checked; refused (fail closed)",
		"endpoint", call.Endpoint.String(), "app", call.Subject.App, "why", why)
	_ = resp.Body.Close()
	wire.ShapeFor(call.Endpoint).ReplaceResponse(resp, wire.ReasonInternal, msgUnchecked, nil)
	return nil
}
