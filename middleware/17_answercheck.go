package middleware

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/answer"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// AnswerOptions configure AnswerCheck.
type AnswerOptions struct {
	// Checker checks model answers for apps with answer checking on; nil:
	// answers are not checked (a parallel classifier verdict still applies).
	Checker  *answer.Checker
	Enforcer Enforcer // records reports; nil: not recorded
	Digester Digester
	// ExcerptBytes bounds the redacted excerpt of reports (default 200; -1: none).
	ExcerptBytes int
	Logger       *slog.Logger
	// Statements, when set, makes a refused answer name its statement of
	// reasons (metadata.statement_id), like a refused request.
	Statements StatementFinder
}

// AnswerCheck is Forward's OnResponse hook: it applies a parallel
// classifier's verdict to the answer (the answer flows until the verdict
// arrives; a block cuts it) and, for apps with answer checking on, checks
// the model's output as it streams (internal/answer). A blocked or flagged
// answer is reported against the end user whose request drew it out; the
// report holds the request's digest, never the answer's text.
func AnswerCheck(opt AnswerOptions) func(c *gin.Context, st *State, resp *http.Response) error {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return func(c *gin.Context, st *State, resp *http.Response) error {
		if st.Request == nil || st.App == nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil
		}
		if opt.Checker != nil && st.App.AnswerCheck {
			call := answer.Call{
				Endpoint: st.Endpoint,
				Subject:  subjectOf(st),
				// The access log carries the id the client's refusal quotes.
				OnBlock: func(d policy.Decision) map[string]any {
					st.DecisionID = d.ID
					id := opt.report(c, st, "answer", d)
					if opt.Statements == nil || id == "" {
						return nil
					}
					// The statement's id is made from the report's (store.RefusalStatementID).
					return map[string]any{"statement_id": store.RefusalStatementID(id)}
				},
				OnFlag: func(d policy.Decision) { opt.report(c, st, "answer", d) },
			}
			if err := opt.Checker.Response(resp, call); err != nil {
				return err
			}
		}
		if st.Verdict != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			opt.gate(c, st, resp)
		}
		return nil
	}
}

// gate applies the parallel classifier's verdict. A plain answer waits for
// it (bounded by the classifier's timeout); a stream is cut at the first
// chunk after a block verdict, and its end is held until the verdict.
func (opt AnswerOptions) gate(c *gin.Context, st *State, resp *http.Response) {
	onBlock := func(d policy.Decision) {
		st.DecisionID = d.ID // the id the client's refusal quotes
		if d.Action.Rank() > policy.Action(st.Decision).Rank() {
			opt.report(c, st, "request", d)
		}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		select {
		case <-st.Verdict.Done():
		case <-resp.Request.Context().Done():
			return
		}
		if d, err := st.Verdict.Result(); err == nil && d.Action == policy.Block {
			onBlock(d)
			_ = resp.Body.Close()
			wire.ShapeFor(st.Endpoint).ReplaceResponse(resp, wire.ReasonAUPBlocked, msgRequestBlocked, wire.BlockedMeta(d.Categories, d.ID))
		}
		return
	}
	resp.Body = &verdictGate{body: resp.Body, p: st.Verdict, onBlock: onBlock, shape: wire.ShapeFor(st.Endpoint)}
}

// report records a violation found after forwarding; it returns the
// report's id, "" when none was recorded.
func (opt AnswerOptions) report(c *gin.Context, st *State, source string, d policy.Decision) string {
	if opt.Enforcer == nil || !d.Violation() {
		return ""
	}
	r := newReportBuilder(opt.Digester, opt.ExcerptBytes).build(st, source, requestTexts(st), st.Redact, d)
	if _, err := opt.Enforcer.Report(context.WithoutCancel(c.Request.Context()), r, d.Escalation); err != nil {
		opt.Logger.Error("recording a report failed", "request_id", st.RequestID, "decision_id", d.ID, "error", err.Error())
		return ""
	}
	return r.ID
}

// verdictGate passes a stream on while the parallel classifier works. Once
// its verdict is a block, the next read ends the stream with one SSE error
// event and closes the upstream body (cancelling the upstream call). The
// end of the stream waits for the verdict, so a short answer cannot slip
// through whole before it.
type verdictGate struct {
	body    io.ReadCloser
	p       *policy.Pending
	onBlock func(policy.Decision)
	shape   wire.Shape
	decided bool
	tail    []byte // the refusal event still to send
	cut     bool
}

func (g *verdictGate) Read(b []byte) (int, error) {
	if g.cut {
		if len(g.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(b, g.tail)
		g.tail = g.tail[n:]
		return n, nil
	}
	if !g.decided {
		select {
		case <-g.p.Done():
			if g.decide() {
				return g.Read(b)
			}
		default:
		}
	}
	n, err := g.body.Read(b)
	if err == io.EOF && !g.decided {
		if n > 0 {
			return n, nil
		}
		<-g.p.Done() // bounded by the classifier's timeout or the request's end
		if g.decide() {
			return g.Read(b)
		}
	}
	return n, err
}

// decide reads the verdict; it reports whether the stream is cut.
func (g *verdictGate) decide() bool {
	g.decided = true
	d, err := g.p.Result()
	if err != nil || d.Action != policy.Block {
		return false
	}
	g.cut = true
	_ = g.body.Close()
	g.onBlock(d)
	g.tail = g.shape.StreamError(wire.ReasonAUPBlocked, msgRequestBlocked, wire.BlockedMeta(d.Categories, d.ID))
	return true
}

func (g *verdictGate) Close() error { return g.body.Close() }
