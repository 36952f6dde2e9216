package webhook

import (
	"context"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Enforcer is the part of internal/enforce's Enforcer the gateway's
// pipeline uses (middleware.Enforcer).
type Enforcer interface {
	Standing(ctx context.Context, app, user string) (store.Standing, error)
	Allow(ctx context.Context, app, user string, userPerMin, appPerMin int) (ok bool, retryAfter time.Duration)
	Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error)
}

// Observed wraps an Enforcer so every report it records is passed to n's
// Observe with the user's standing before and after. The pipeline stays
// unaware of webhooks: wherever it reports (request checks, answer checks,
// upstream moderation), the notifier hears of it.
func Observed(e Enforcer, n *Notifier) Enforcer {
	if n == nil || len(n.targets) == 0 {
		return e
	}
	return &observed{Enforcer: e, n: n}
}

type observed struct {
	Enforcer
	n *Notifier
}

func (o *observed) Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error) {
	// Standing is answered from the enforcer's memory: no store round trip.
	before, _ := o.Enforcer.Standing(ctx, r.App, r.User)
	after, err := o.Enforcer.Report(ctx, r, escalation)
	if err == nil {
		o.n.Observe(r, before, after, nil)
	}
	return after, err
}
