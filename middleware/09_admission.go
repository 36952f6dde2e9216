package middleware

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/memguard"
	"github.com/aupguard/aupguard/internal/wire"
)

// AdmissionOptions bound what requests hold at once (internal/memguard).
type AdmissionOptions struct {
	// Bodies is the memory requests' bodies may take at once: each body's
	// length, and for a model call its parse (wire.ParseCost) and the
	// rewritten copy sent upstream. nil: unbounded.
	Bodies   *memguard.Budget
	Calls    *memguard.Calls // model calls in flight per app; nil: unbounded
	MaxBody  int64           // limits.max_body_bytes: what a body of unknown length may reach
	MaxDepth int             // limits.max_json_depth, for ParseCost
}

// Admitter admits requests within AdmissionOptions: Handler before the
// body is read, Reserve (BodyOptions.Reserve) once it is and before it is
// parsed.
type Admitter struct{ opt AdmissionOptions }

// NewAdmitter returns an Admitter.
func NewAdmitter(opt AdmissionOptions) *Admitter { return &Admitter{opt: opt} }

// Handler goes after Route and before Body. A request with a body reserves
// its Content-Length (a body of unknown length: MaxBody) until the request
// is done, the forwarded call and its stream included; a model call also
// takes one of its app's slots. When either is full the request is refused
// at once with 503 overloaded and Retry-After: 1 (its body read and thrown
// away, so the client sees the answer). A body over MaxBody is left to
// Body's 413, holding nothing.
func (a *Admitter) Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		r := c.Request
		var n int64
		if r.Method != "GET" && r.Method != "HEAD" && r.ContentLength != 0 {
			n = r.ContentLength
			if n < 0 {
				n = a.opt.MaxBody
			}
			if n > a.opt.MaxBody {
				c.Next()
				return
			}
		}
		if n > 0 {
			if !a.opt.Bodies.TryAcquire(n) {
				a.overloaded(c, true, "the gateway is holding as many request bodies as it may; retry shortly")
				return
			}
			st.held = n
			defer func() { a.opt.Bodies.Release(st.held) }()
		}
		if st.App != nil && st.Endpoint.IsModelCall() {
			if !a.opt.Calls.TryAcquire(st.App.Name) {
				a.overloaded(c, true, "this app has as many model calls in flight as it may; retry shortly")
				return
			}
			defer a.opt.Calls.Release(st.App.Name)
		}
		c.Next()
	}
}

// Reserve adjusts the request's reservation to what its body really takes
// (its length; for a model call also its parse and rewritten copy) before
// the parse allocates any of it; false when that does not fit, after
// refusing the request.
func (a *Admitter) Reserve(c *gin.Context, body []byte) bool {
	if a.opt.Bodies == nil {
		return true
	}
	st := StateOf(c)
	need := int64(len(body))
	if st.Endpoint.IsModelCall() {
		need += wire.ParseCost(body, a.opt.MaxDepth) + int64(len(body))
	}
	switch d := need - st.held; {
	case d > 0:
		if !a.opt.Bodies.TryAcquire(d) {
			a.overloaded(c, false, "the gateway is holding as many request bodies as it may; retry shortly")
			return false
		}
	case d < 0:
		a.opt.Bodies.Release(-d)
	}
	st.held = need
	return true
}

func (a *Admitter) overloaded(c *gin.Context, unread bool, msg string) {
	if unread {
		// Refused before its body was read: read it to the end (into
		// nothing) so a client still sending it sees the 503, not a reset.
		BodyOptions{DrainBytes: 4 * a.opt.MaxBody, DrainTimeout: 10 * time.Second}.drain(c, false)
	}
	c.Writer.Header().Set("Retry-After", "1")
	Refuse(c, wire.ReasonOverloaded, msg, map[string]any{"retry_after": 1})
}
