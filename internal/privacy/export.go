package privacy

import (
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/store"
)

// ActStanding is the kind of the record an access export adds per app:
// the user's standing at export time (status, strike score, counts),
// which the evidence format has no file of its own for. It is made at
// export time (Actor "aupguard", Time = the export), never stored.
const ActStanding = "standing"

// subjectSource is an evidence.Source of one end user's records, read
// through the store's per-user indexes; reports carry their hold.
type subjectSource struct {
	s        *Service
	apps     []string
	user     string
	holds    store.Holds
	now      time.Time
	policies evidence.Source
}

var _ evidence.Source = (*subjectSource)(nil)

// Export writes an access-request bundle: everything kept about user (in
// app, or in every app when app is ""): standing, reports (with holds
// marked), actions and notes (including holds placed on the user), signed
// by x in the evidence format, so `aupguard verify` checks it. policies,
// when not nil, supplies the policy versions the reports cite; nil reads
// them from the service's store.
func (s *Service) Export(ctx context.Context, w io.Writer, x *evidence.Exporter, policies evidence.Source, app, user string) (*evidence.Manifest, error) {
	if user == "" {
		return nil, fmt.Errorf("%w: an access export needs a user", store.ErrInvalid)
	}
	apps := []string{app}
	if app == "" {
		var err error
		if apps, err = s.st.Apps(ctx, user); err != nil {
			return nil, err
		}
	}
	holds, err := s.Holds(ctx)
	if err != nil {
		return nil, err
	}
	src := &subjectSource{s: s, apps: apps, user: user, holds: holds, now: s.now().UTC(), policies: policies}
	return x.Export(ctx, w, src, evidence.Filter{App: app, User: user})
}

func (src *subjectSource) Reports(ctx context.Context, f evidence.Filter) iter.Seq2[store.Report, error] {
	return func(yield func(store.Report, error) bool) {
		for _, app := range src.apps {
			var all []store.Report
			q := store.ReportQuery{App: app, User: src.user, Limit: 1000}
			for {
				p, err := src.s.st.Reports(ctx, q)
				if err != nil {
					yield(store.Report{}, err)
					return
				}
				all = append(all, p.Items...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			slices.Reverse(all) // the bundle is oldest first
			for _, r := range all {
				r.Hold = src.holds.Report(&r)
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

func (src *subjectSource) Actions(ctx context.Context, f evidence.Filter) iter.Seq2[store.Action, error] {
	return func(yield func(store.Action, error) bool) {
		for _, app := range src.apps {
			var all []store.Action
			q := store.AuditQuery{App: app, User: src.user, Limit: 1000}
			for {
				p, err := src.s.st.Audit(ctx, q)
				if err != nil {
					yield(store.Action{}, err)
					return
				}
				all = append(all, p.Items...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			slices.Reverse(all)
			for _, a := range all {
				if !yield(a, nil) {
					return
				}
			}
			st, err := src.s.st.GetStanding(ctx, app, src.user)
			if err != nil {
				yield(store.Action{}, err)
				return
			}
			rec := store.Action{
				ID: "standing-at-export", Time: src.now, Actor: store.AutoActor, App: app, User: src.user,
				Action: ActStanding, Before: st.Status, After: st.Status, Until: st.Until,
				Reason: fmt.Sprintf("standing at export: %s, strike score %.2f, %d reports (%d unreviewed)",
					st.Status, st.Strikes, st.Reports, st.Unreviewed),
			}
			if src.holds.User(app, src.user) {
				rec.Hold = store.Hold{Kind: store.HoldUser, App: app, User: src.user}.Key()
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func (src *subjectSource) Policy(ctx context.Context, hash string) (evidence.PolicyVersion, error) {
	if src.policies == nil {
		return evidence.StoreSource{Store: src.s.st}.Policy(ctx, hash)
	}
	return src.policies.Policy(ctx, hash)
}

// MarkHolds wraps an export Source (the gateway's evidence.StoreSource) so
// that every report in a bundle says whether, and why, it is on legal hold
// (Report.Hold). Holds are read once per bundle, when its reports are read;
// the hold and release records themselves are in the audit log and so in
// actions.jsonl already.
func (s *Service) MarkHolds(src evidence.Source) evidence.Source { return holdMarker{src, s} }

type holdMarker struct {
	evidence.Source
	s *Service
}

func (m holdMarker) Reports(ctx context.Context, f evidence.Filter) iter.Seq2[store.Report, error] {
	return func(yield func(store.Report, error) bool) {
		holds, err := m.s.Holds(ctx)
		if err != nil {
			yield(store.Report{}, err)
			return
		}
		for r, err := range m.Source.Reports(ctx, f) {
			if err == nil {
				r.Hold = holds.Report(&r)
			}
			if !yield(r, err) {
				return
			}
		}
	}
}
