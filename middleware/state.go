package middleware

import (
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// State is what the pipeline knows about one request. It never goes into
// logs whole: EndUser and Body hold client data.
type State struct {
	RequestID string
	Start     time.Time

	// Set by Route.
	Endpoint wire.Endpoint
	Rel      string // path below the API root, cleaned, no leading slash
	Routed   bool   // the path guard accepted the path
	// Label names the route of requests the pipeline does not serve
	// (health, ready, metrics); it wins over the endpoint.
	Label string

	// ReadDeadlineSet says that the server already gave the body a read
	// deadline (it covers refusals before Body too); Body then only lifts it.
	ReadDeadlineSet bool

	// Set by Auth.
	App *App

	// Set by Body.
	Body    []byte
	Request *wire.Request // parsed model call; nil for other calls

	// Set by EndUser.
	EndUser   string // as the app sent it: never logged, never sent upstream
	Pseudonym string

	// Set by Standing / RateLimit.
	Standing store.Standing

	// Set by Inspect.
	Decision   string // allow | redact | flag | block; "" when not inspected
	DecisionID string
	Redact     func(string) string
	ZDR        bool
	// Verdict is the guard model's decision under way (classifier mode
	// "parallel"); AnswerCheck applies it to the answer.
	Verdict *policy.Pending

	// Set by whoever refuses or forwards.
	Reason          wire.Reason // refusal reason, "" when none
	UpstreamStatus  int
	UpstreamLatency time.Duration
	ClientGone      bool // the client left before the upstream answered

	held int64 // bytes this request holds of Admission's budget
}

// statusClientGone is logged (nginx's convention) when the client left
// before any answer was written.
const statusClientGone = 499

// status is the status to log and count for the request.
func (s *State) status(c *gin.Context) int {
	if s.ClientGone && !c.Writer.Written() {
		return statusClientGone
	}
	return c.Writer.Status()
}

// Route is the metric/log label of the request's endpoint.
func (s *State) Route() string {
	if s.Label != "" {
		return s.Label
	}
	if !s.Routed {
		return "other"
	}
	return s.Endpoint.String()
}

type stateKey struct{}

// StateOf returns the request's State, creating it on first use.
func StateOf(c *gin.Context) *State {
	if v, ok := c.Get(stateKey{}); ok {
		return v.(*State)
	}
	s := &State{Start: time.Now()}
	c.Set(stateKey{}, s)
	return s
}

// msgRequestBlocked is the message of every aup_blocked refusal of a request.
const msgRequestBlocked = "this request was refused under the acceptable use policy"

// Refuse answers with OpenRouter's error shape (Anthropic's on the
// messages endpoint, see ErrorShape) and stops the chain.
func Refuse(c *gin.Context, r wire.Reason, message string, meta map[string]any) {
	st := StateOf(c)
	st.Reason = r
	ErrorShape(c, st).WriteError(c.Writer, r, message, meta)
	c.Abort()
}

// ErrorShape is the error shape the request's client reads: Anthropic's on
// the messages endpoint, OpenRouter's elsewhere. Before the path guard has
// accepted the path (refusals by Auth or Route), a path ending in
// "/messages" or an anthropic-version header (sent by every Anthropic SDK)
// says the client is an Anthropic SDK.
func ErrorShape(c *gin.Context, st *State) wire.Shape {
	if st.Routed {
		return wire.ShapeFor(st.Endpoint)
	}
	if strings.HasSuffix(c.Request.URL.Path, "/messages") || c.Request.Header.Get("Anthropic-Version") != "" {
		return wire.ShapeAnthropic
	}
	return wire.ShapeOpenRouter
}
