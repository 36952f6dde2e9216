package middleware

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/authguard"
)

// steps is the chain in order, with why each step sits where it does.
// Step n lives in NN_name.go (TestStepFilesReadLikeTheChain keeps the
// files, this list, NewChain and docs/middleware.md in agreement).
var steps = [...]struct{ name, why string }{
	{"requestid", "first, so every log line and refusal after it carries the id"},
	{"accesslog", "outside Recovery, so the 500 it writes is logged; deferred, so broken streams are too"},
	{"metrics", "outside Recovery for the same reason as the access log"},
	{"recovery", "inside logging and metrics, outside every step that may panic"},
	{"readdeadline", "before any refusal: net/http drains a refused request's unread body, bounded by it"},
	{"auththrottle", "right before Auth: a locked-out source is refused before its key is looked at"},
	{"auth", "nothing is spent on an unknown caller; every later step reads the app"},
	{"route", "the path guard, before anything reads the body"},
	{"admission", "before Body: memory and the app's call slot are reserved before the body is read"},
	{"body", "one bounded read and one parse; every later step reads the parsed request"},
	{"enduser", "needs the app and the body; standing, limits and reports are per end user"},
	{"models", "the app's allow-list, before the store is asked anything"},
	{"standing", "banned and suspended users are refused before they spend rate budget or inspection"},
	{"ratelimit", "after standing, before the costliest step"},
	{"inspect", "detection and policy: the last step that refuses before the upstream is called"},
	{"forward", "the upstream hop: pseudonym, ZDR routing and redaction applied"},
	{"answercheck", "Forward's response hook, not a handler: the answer is checked as it streams"},
}

// ChainOptions are the options of every step. NewChain connects what one
// step takes from another: Body reserves through Admission, Forward
// checks answers through AnswerCheck.
type ChainOptions struct {
	Logger       *slog.Logger
	Metrics      *Metrics         // nil: counted but not registered
	ReadDeadline time.Duration    // limits.read_header_timeout; 0: none
	AuthGuard    *authguard.Guard // nil: no throttle
	Apps         []*App
	Route        RouteOptions
	Admission    AdmissionOptions
	Body         BodyOptions // Reserve is set by Chain
	EndUser      Pseudonymizer
	Enforcer     Enforcer // Standing and RateLimit
	// Statements names the statements of reasons refusals carry (Standing
	// and Inspect); nil: refusals carry no statement_id.
	Statements StatementFinder
	Inspect    InspectOptions
	Forward    ForwardOptions // OnResponse is set by Chain when Answer is
	Answer     *AnswerOptions // nil: answers go to the client unchecked
}

// Chain is the proxy listener's steps, in order. Every runs on every
// request, health checks included (gin's Use); Pipeline on the model API
// (gin's NoRoute), ending with the upstream call.
type Chain struct {
	Every    []gin.HandlerFunc
	Pipeline []gin.HandlerFunc
	// AppAuth authenticates the app (the throttle, then the key) on the
	// gateway's own app routes (/aup/v1/); StateOf(c).App is the app.
	AppAuth []gin.HandlerFunc
}

// NewChain builds the chain, one handler per step of steps.
func NewChain(opt ChainOptions) Chain {
	adm := NewAdmitter(opt.Admission)
	body := opt.Body
	body.Reserve = adm.Reserve
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(nil)
	}
	insp := opt.Inspect
	if insp.Statements == nil {
		insp.Statements = opt.Statements
	}
	fwd := opt.Forward
	if opt.Answer != nil {
		ans := *opt.Answer
		if ans.Statements == nil {
			ans.Statements = opt.Statements
		}
		fwd.OnResponse = AnswerCheck(ans)
	}
	every := []gin.HandlerFunc{
		RequestID(),
		AccessLog(opt.Logger),
		opt.Metrics.Handler(),
		Recovery(opt.Logger),
		ReadDeadline(opt.ReadDeadline),
	}
	pipeline := []gin.HandlerFunc{
		AuthThrottle(opt.AuthGuard),
		Auth(opt.Apps, nil), // "no apps" is among config.Warnings, logged at start
		Route(opt.Route),
		adm.Handler(),
		Body(body),
		EndUser(opt.EndUser),
		Models(),
		Standing(opt.Enforcer, opt.Statements),
		RateLimit(opt.Enforcer),
		Inspect(insp),
		Forward(fwd),
	}
	appAuth := []gin.HandlerFunc{AuthThrottle(opt.AuthGuard), Auth(opt.Apps, nil)}
	return Chain{Every: every, Pipeline: pipeline, AppAuth: appAuth}
}
