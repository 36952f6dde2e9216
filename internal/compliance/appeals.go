package compliance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aupguard/aupguard/internal/store"
)

// File files an end user's appeal against a statement of app's: the
// statement must be the end user's own (anything else is ErrNotFound,
// the same answer as for an id that never existed), the text non-empty
// and within MaxTextBytes (ErrTooLarge). Nothing is stored on any error.
// One appeal per statement: a second is ErrExists, with the first.
func (s *Service) File(ctx context.Context, app, endUser, statementID, text string) (store.Appeal, error) {
	text = strings.TrimSpace(text)
	switch {
	case endUser == "" || statementID == "":
		return store.Appeal{}, fmt.Errorf("%w: end_user and statement_id are required", store.ErrInvalid)
	case text == "":
		return store.Appeal{}, fmt.Errorf("%w: text is required: the end user's reasons for contesting the decision", store.ErrInvalid)
	case len(text) > s.opt.MaxTextBytes:
		return store.Appeal{}, fmt.Errorf("%w: text is %d bytes; an appeal holds at most %d", ErrTooLarge, len(text), s.opt.MaxTextBytes)
	case !utf8.ValidString(text):
		return store.Appeal{}, fmt.Errorf("%w: text is not valid UTF-8", store.ErrInvalid)
	}
	st, err := s.ownStatement(ctx, app, endUser, statementID)
	if err != nil {
		return store.Appeal{}, err
	}
	now := s.now().UTC()
	a := store.Appeal{
		ID: store.AppealID(st.ID), App: app, User: endUser, StatementID: st.ID, Kind: st.Kind,
		Categories: st.Categories, Filed: now, Deadline: now.Add(s.opt.Deadline),
		Text: text, TextLength: len(text), ContestedActor: st.Actor, Status: store.AppealOpen,
	}
	created, err := s.st.PutAppeal(ctx, a)
	if err != nil {
		return store.Appeal{}, err
	}
	if !created {
		prev, err := s.st.Appeal(ctx, a.ID)
		if err != nil {
			return store.Appeal{}, err
		}
		return prev, fmt.Errorf("%w: an appeal against statement %s was filed already (%s, %s)", ErrExists, st.ID, prev.ID, prev.Status)
	}
	s.log.Info("appeal filed", "appeal_id", a.ID, "statement_id", st.ID, "app", app, "deadline", a.Deadline)
	if s.opt.OnAppeal != nil {
		s.opt.OnAppeal(a)
	}
	return a, nil
}

// ownStatement reads a statement of (app, endUser); another's is not found.
func (s *Service) ownStatement(ctx context.Context, app, endUser, id string) (store.Statement, error) {
	st, err := s.st.Statement(ctx, id)
	if err == nil && (st.App != app || st.User != endUser) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("%w: no statement %q for this end user", store.ErrNotFound, id)
	}
	return st, err
}

// OwnAppeal reads an appeal of app's end users; another app's is not found.
func (s *Service) OwnAppeal(ctx context.Context, app, id string) (store.Appeal, error) {
	a, err := s.st.Appeal(ctx, id)
	if err == nil && a.App != app {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("%w: no appeal %q", store.ErrNotFound, id)
	}
	return a, err
}

// Decide closes an open appeal for reviewer. With more than one reviewer
// configured (reviewers > 1), the one who took the contested action may
// not decide it (ErrSameReviewer). "reversed" reinstates the end user
// (status active, strike score cleared, the contested reports reviewed);
// "upheld" leaves the restriction. Either is an audit entry, then the
// appeal's decision; retrying after a failure repeats neither.
func (s *Service) Decide(ctx context.Context, id, reviewer string, reviewers int, outcome, reason string) (store.Appeal, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case outcome != store.AppealUpheld && outcome != store.AppealReversed:
		return store.Appeal{}, fmt.Errorf("%w: outcome %q: want upheld or reversed", store.ErrInvalid, outcome)
	case reason == "":
		return store.Appeal{}, fmt.Errorf("%w: reason is required: it is sent to the end user", store.ErrInvalid)
	case len(reason) > 4000:
		return store.Appeal{}, fmt.Errorf("%w: reason is longer than 4000 bytes", store.ErrInvalid)
	case s.opt.Actor == nil:
		return store.Appeal{}, errors.New("compliance: no actor to apply decisions")
	}
	a, err := s.st.Appeal(ctx, id)
	if err != nil {
		return a, err
	}
	if a.Status != store.AppealOpen {
		return a, fmt.Errorf("%w: appeal %s was %s by %s", store.ErrConflict, id, a.Status, a.DecidedBy)
	}
	if reviewers > 1 && a.ContestedActor == reviewer {
		return a, fmt.Errorf("%w: %s took the contested action; another reviewer must decide the appeal", ErrSameReviewer, reviewer)
	}
	act := store.Action{
		ID: id + ".decision", Actor: reviewer, App: a.App, User: a.User, Action: store.ActNote,
		Reason: fmt.Sprintf("appeal %s against %s upheld: %s", id, a.StatementID, reason),
	}
	if outcome == store.AppealReversed {
		act.Action = store.ActReinstate
		act.Reason = fmt.Sprintf("appeal %s against %s reversed: %s", id, a.StatementID, reason)
		if st, err := s.st.Statement(ctx, a.StatementID); err == nil {
			act.ReportIDs = st.ReportIDs
		}
	}
	_, err = s.opt.Actor.Act(ctx, act)
	if errors.Is(err, store.ErrNotFound) && len(act.ReportIDs) > 0 {
		// A contested report is gone (retention): reinstate all the same.
		act.ReportIDs = nil
		_, err = s.opt.Actor.Act(ctx, act)
	}
	if err != nil {
		return a, err
	}
	d, err := s.st.DecideAppeal(ctx, id, store.AppealDecision{Outcome: outcome, Reason: reason, DecidedBy: reviewer, ActionID: act.ID, At: s.now().UTC()})
	if err != nil {
		return a, err
	}
	s.log.Info("appeal decided", "appeal_id", id, "outcome", outcome, "reviewer", reviewer, "action_id", act.ID)
	return d, nil
}
