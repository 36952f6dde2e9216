package compliance

import (
	"context"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/transparency"
)

// The transparency report counts appeals and notices from their records.
var _ transparency.Casework = (*Service)(nil)

// EachAppeal yields the appeals filed in [since, until), decided or not.
func (s *Service) EachAppeal(ctx context.Context, since, until time.Time, fn func(transparency.Appeal) error) error {
	return s.st.EachCompliance(ctx, store.KindAppeal, since, until, func(r store.ComplianceRecord) error {
		a := r.Appeal
		if a == nil {
			return nil
		}
		out := transparency.Appeal{App: a.App, Filed: a.Filed}
		if a.Status == "upheld" || a.Status == "reversed" {
			out.Decided, out.Outcome = a.DecidedAt, a.Status
		}
		return fn(out)
	})
}

// EachNotice yields the notices received in [since, until); a notice is
// acted on once a reviewer acted on the case it opened (Handled).
func (s *Service) EachNotice(ctx context.Context, since, until time.Time, fn func(transparency.Notice) error) error {
	return s.st.EachCompliance(ctx, store.KindNotice, since, until, func(r store.ComplianceRecord) error {
		n := r.Notice
		if n == nil {
			return nil
		}
		at, handled, err := s.Handled(ctx, *n)
		if err != nil {
			return err
		}
		out := transparency.Notice{App: n.App, Received: n.Received, ActedOn: handled}
		if handled {
			out.Decided = at
		}
		return fn(out)
	})
}
