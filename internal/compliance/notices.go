package compliance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Bounds of a notice's free-text fields.
const (
	MaxDescription = 2000
	maxShortField  = 200
)

// NoticeRequest is an abuse notice as the desk takes it in: from
// OpenRouter, naming the pseudonym it saw; or from a third party, naming
// the end user (and the app, where several know the id; the desk
// resolves it before calling TakeNotice).
type NoticeRequest struct {
	Source      string
	Pseudonym   string
	App, User   string
	Category    string
	Reference   string
	Description string
	Notifier    string
}

// TakeNotice opens a case on the desk for the end user behind a notice:
// a report (source "notice", action flag, no strike) that puts the user
// in the review queue, the notice kept beside it, and an audit entry.
// The handling time runs until a reviewer acts on that report.
func (s *Service) TakeNotice(ctx context.Context, req NoticeRequest, actor string) (store.Notice, error) {
	if err := s.checkNotice(&req); err != nil {
		return store.Notice{}, err
	}
	if s.opt.Reporter == nil || s.opt.Actor == nil {
		return store.Notice{}, fmt.Errorf("compliance: no enforcer to open cases")
	}
	if req.Source == store.NoticeOpenRouter {
		app, user, ok, err := s.st.FindPseudonym(ctx, req.Pseudonym)
		if err != nil {
			return store.Notice{}, err
		}
		if !ok {
			return store.Notice{}, fmt.Errorf("%w: no record of pseudonym %q: a pseudonym is a keyed one-way digest, resolved only through the reports that carried it", store.ErrNotFound, req.Pseudonym)
		}
		req.App, req.User = app, user
	}
	if s.opt.Pseudonyms != nil {
		p := s.opt.Pseudonyms.Pseudonym(req.App, req.User)
		if req.Pseudonym != "" && p != req.Pseudonym {
			// The pseudonym key changed since that report: the report's link stands.
			s.log.Warn("notice: the pseudonym named is not the one the current key gives this user", "app", req.App)
		}
		if req.Pseudonym == "" {
			req.Pseudonym = p
		}
	}
	now := s.now().UTC()
	n := store.Notice{
		ID: "nt_" + strings.ToLower(store.NewID(now)), Received: now, Source: req.Source, Pseudonym: req.Pseudonym,
		App: req.App, User: req.User, Category: req.Category, Reference: req.Reference,
		Description: req.Description, Notifier: req.Notifier, Actor: actor,
	}
	n.ReportID = n.ID
	r := store.Report{
		ID: n.ReportID, Time: now, App: n.App, User: n.User, Pseudonym: n.Pseudonym, Source: "notice",
		DecisionID: n.ID, Action: "flag",
	}
	if n.Category != "" {
		r.Categories = []string{n.Category}
	}
	if _, err := s.opt.Reporter.Report(ctx, r, ""); err != nil {
		return store.Notice{}, err
	}
	if _, err := s.st.PutNotice(ctx, n); err != nil {
		return store.Notice{}, err
	}
	what := "from OpenRouter"
	if n.Source == store.NoticeThirdParty {
		what = "from a third party"
	}
	if n.Reference != "" {
		what += " (reference " + n.Reference + ")"
	}
	_, err := s.opt.Actor.Act(ctx, store.Action{
		ID: n.ID + ".received", Actor: actor, App: n.App, User: n.User, Action: store.ActNote,
		Reason: fmt.Sprintf("abuse notice %s received %s; case opened with report %s", n.ID, what, n.ReportID),
	})
	if err != nil {
		return n, err
	}
	s.log.Info("notice taken", "notice_id", n.ID, "source", n.Source, "app", n.App, "actor", actor)
	return n, nil
}

func (s *Service) checkNotice(req *NoticeRequest) error {
	for _, f := range []*string{&req.Source, &req.Pseudonym, &req.App, &req.User, &req.Category, &req.Reference, &req.Description, &req.Notifier} {
		*f = strings.TrimSpace(*f)
	}
	switch req.Source {
	case store.NoticeOpenRouter:
		if req.Pseudonym == "" {
			return fmt.Errorf("%w: a notice from openrouter names the pseudonym it saw (pseudonym)", store.ErrInvalid)
		}
	case store.NoticeThirdParty:
		if req.User == "" || req.App == "" {
			return fmt.Errorf("%w: a third-party notice names the end user and the app", store.ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: source %q: want openrouter or third_party", store.ErrInvalid, req.Source)
	}
	if req.Category != "" && !s.taxonomy().known(req.Category) {
		return fmt.Errorf("%w: category %q is not in the taxonomy (%s)", store.ErrInvalid, req.Category, strings.Join(s.taxonomy().ids(), ", "))
	}
	if len(req.Description) > MaxDescription {
		return fmt.Errorf("%w: description is %d bytes; at most %d", ErrTooLarge, len(req.Description), MaxDescription)
	}
	for name, v := range map[string]string{"reference": req.Reference, "notifier": req.Notifier, "pseudonym": req.Pseudonym, "user": req.User} {
		if len(v) > maxShortField {
			return fmt.Errorf("%w: %s is longer than %d bytes", store.ErrInvalid, name, maxShortField)
		}
	}
	return nil
}

// Handled says when a reviewer first acted on the notice's case (its
// report reviewed); false while it waits.
func (s *Service) Handled(ctx context.Context, n store.Notice) (time.Time, bool, error) {
	cs, err := s.st.User(ctx, n.App, n.User)
	if err != nil {
		return time.Time{}, false, err
	}
	for _, r := range cs.Reports {
		if r.ID == n.ReportID && r.Reviewed {
			return r.ReviewedAt, true, nil
		}
	}
	return time.Time{}, false, nil
}
