package middleware

import (
	"context"
	"time"

	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// What the steps need from the rest of the gateway, in one place. Each is
// as small as its users allow, so a test can pass a fake.

// Enforcer gives standing (Standing), rate limits (RateLimit) and records
// reports (Inspect, Forward, AnswerCheck).
type Enforcer interface {
	Standing(ctx context.Context, app, user string) (store.Standing, error)
	Allow(ctx context.Context, app, user string, userPerMin, appPerMin int) (ok bool, retryAfter time.Duration)
	Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error)
}

// Policy decides a request from its texts with their provenance (who wrote
// each: a text with an empty author is the end user's); used by Inspect.
type Policy interface {
	CheckRequest(ctx context.Context, s policy.Subject, texts []wire.Text) (policy.Decision, error)
}

// ParallelClassifier is a Policy whose guard-model tier runs beside the
// upstream call (classifier mode "parallel") on the end user's own text:
// Inspect starts it, AnswerCheck applies its verdict.
type ParallelClassifier interface {
	ClassifierMode() string
	StartClassify(ctx context.Context, s policy.Subject, texts []string) *policy.Pending
}

// Pseudonymizer maps (app, end user) to the stable pseudonym sent
// upstream; used by EndUser.
type Pseudonymizer interface {
	Pseudonym(app, user string) string
}

// Digester makes the keyed digest kept in reports instead of content.
type Digester interface {
	Digest(parts ...string) string
}

// ServedRecorder counts which upstream provider and model served a model
// call, for the subprocessor register (internal/register's Recorder); used
// by Forward. It must not block: it is called as the answer streams.
type ServedRecorder interface {
	Served(app, provider, model string, zdr bool)
}

// StatementFinder names the statement of reasons behind the suspension
// or ban in force that refuses a user (internal/compliance); "" when none
// is known. With one set, refusals carry metadata.statement_id.
type StatementFinder func(ctx context.Context, app, user string, s store.Standing) string

// The gateway's own implementations; a change to either side that breaks
// the fit fails the build here, not at wiring time.
var (
	_ Enforcer           = (*enforce.Enforcer)(nil)
	_ Policy             = (*policy.Engine)(nil)
	_ ParallelClassifier = (*policy.Engine)(nil)
	_ Pseudonymizer      = (*identity.Pseudonymizer)(nil)
	_ Digester           = (*identity.Digester)(nil)
)

// Now is the clock of suspensions and report times; tests replace it.
var Now = time.Now
