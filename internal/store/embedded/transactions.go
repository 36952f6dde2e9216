package embedded

// The write paths: standing, reports and actions, each one bbolt transaction.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

// --- standing ---

func (s *Store) GetStanding(ctx context.Context, app, user string) (store.Standing, error) {
	var st store.Standing
	err := s.view(func(tx *bolt.Tx) error {
		r, err := getRecord(tx, member(app, user))
		if err != nil {
			return err
		}
		st = r.standing(s.now())
		return nil
	})
	return st, err
}

func (s *Store) ListSanctioned(ctx context.Context) ([]store.UserStanding, error) {
	var out []store.UserStanding
	now := s.now()
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bStanding).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			st := r.standing(now)
			if !st.Sanctioned() {
				return nil
			}
			app, user, _ := parseMember(k)
			out = append(out, store.UserStanding{App: app, User: user, Standing: st})
			return nil
		})
	})
	return out, err
}

// --- reports ---

func (s *Store) AddReport(ctx context.Context, rep store.Report, p store.Policy) (store.AddResult, error) {
	if err := store.ValidateReport(rep); err != nil {
		return store.AddResult{}, err
	}
	rep.Reviewed, rep.ReviewedAt = false, time.Time{}
	var res store.AddResult
	now := s.now()
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		res, err = s.addTx(tx, rep, p, now)
		return err
	})
	if err != nil {
		return store.AddResult{}, err
	}
	if !res.Duplicate {
		s.publish(rep.App, rep.User, res.Standing)
	}
	return res, nil
}

// AddReports records reps in one transaction, each exactly as AddReport
// would (bulk loads: one fsync for the lot instead of one per report).
// Nothing is recorded when any report is invalid or the write fails.
func (s *Store) AddReports(ctx context.Context, reps []store.Report, p store.Policy) ([]store.AddResult, error) {
	for i := range reps {
		if err := store.ValidateReport(reps[i]); err != nil {
			return nil, err
		}
		reps[i].Reviewed, reps[i].ReviewedAt = false, time.Time{}
	}
	out := make([]store.AddResult, len(reps))
	now := s.now()
	err := s.update(func(tx *bolt.Tx) error {
		for i := range reps {
			var err error
			if out[i], err = s.addTx(tx, reps[i], p, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, r := range reps {
		if !out[i].Duplicate {
			s.publish(r.App, r.User, out[i].Standing)
		}
	}
	return out, nil
}

// addTx is AddReport's work inside tx.
func (s *Store) addTx(tx *bolt.Tx, rep store.Report, p store.Policy, now time.Time) (store.AddResult, error) {
	var res store.AddResult
	m := member(rep.App, rep.User)
	rec, err := getRecord(tx, m)
	if err != nil {
		return store.AddResult{}, err
	}
	if tx.Bucket(bRID).Get([]byte(rep.ID)) != nil {
		res.Duplicate = true
		res.Standing = rec.standing(now)
		if seq := tx.Bucket(bEsc).Get([]byte(rep.ID)); seq != nil {
			var a store.Action
			if err := json.Unmarshal(tx.Bucket(bActions).Get(seq), &a); err == nil {
				res.Action = &a
			}
		}
		return res, nil
	}
	reports := tx.Bucket(bReports)
	n, err := reports.NextSequence()
	if err != nil {
		return store.AddResult{}, err
	}
	sq := seq8(n)
	if err := putJSON(reports, sq, rep); err != nil {
		return store.AddResult{}, err
	}
	if err := tx.Bucket(bRID).Put([]byte(rep.ID), sq); err != nil {
		return store.AddResult{}, err
	}
	if err := tx.Bucket(bRUser).Put(cat(m, sq), nil); err != nil {
		return store.AddResult{}, err
	}
	if err := putNew(tx.Bucket(bUserApps), []byte(rep.User+"\x00"+rep.App), nil); err != nil {
		return store.AddResult{}, err
	}
	if rec.Cats == nil {
		rec.Cats = map[string]int{}
	}
	for _, c := range store.Uniq(rep.Categories) {
		if err := tx.Bucket(bRCat).Put(cat(lp(nil, c), sq), nil); err != nil {
			return store.AddResult{}, err
		}
		rec.Cats[c]++
	}
	if rep.Pseudonym != "" {
		if err := putNew(tx.Bucket(bPseud), []byte(rep.Pseudonym), m); err != nil {
			return store.AddResult{}, err
		}
		if !slices.Contains(rec.Pseudonyms, rep.Pseudonym) {
			rec.Pseudonyms = append(rec.Pseudonyms, rep.Pseudonym)
		}
	}

	// Standing: the same steps as redisstore's reportScript.
	eff := store.Effective(rec.Status, rec.Until, now)
	if eff != rec.Status {
		rec.Status, rec.Until = eff, time.Time{}
	}
	rec.Strikes = store.Decay(rec.Strikes, rec.StrikesAt, now, p.HalfLife) + store.Decay(rep.Strike, rep.Time, now, p.HalfLife)
	rec.StrikesAt, rec.HalfLife = now, p.HalfLife
	rec.Reports++
	rec.Unreviewed++
	if rep.Time.After(rec.LastReportAt) {
		rec.LastReportAt = rep.Time
	}
	rec.Version++
	if target := store.Escalate(rec.Strikes, rep.Escalation, p); target.Rank() > eff.Rank() {
		a := store.Action{
			ID: store.NewID(now), Time: now, Actor: store.AutoActor, App: rep.App, User: rep.User,
			Action: escAction(target), Reason: store.EscalationReason(target, rec.Strikes, rep.Escalation, p),
			ReportIDs: []string{rep.ID}, Before: eff, After: target,
		}
		if cs := store.Uniq(rep.Categories); len(cs) > 0 {
			a.Categories = cs
		}
		rec.Status, rec.Until = target, time.Time{}
		if target == store.Suspended {
			rec.Until = now.Add(suspendFor(p))
			a.Duration, a.Until = suspendFor(p), rec.Until
		}
		aseq, err := s.putAction(tx, m, a)
		if err != nil {
			return store.AddResult{}, err
		}
		if err := tx.Bucket(bEsc).Put([]byte(rep.ID), aseq); err != nil {
			return store.AddResult{}, err
		}
		res.Action, res.Changed = &a, true
	}
	res.Standing = rec.standing(now)
	return res, putRecord(tx, m, rec)
}

// putNew puts k=v unless the bucket holds exactly that already: a Put of
// the same value still dirties and rewrites its page.
func putNew(b *bolt.Bucket, k, v []byte) error {
	if ck, cv := b.Cursor().Seek(k); bytes.Equal(ck, k) && bytes.Equal(cv, v) {
		return nil
	}
	return b.Put(k, v)
}

func escAction(st store.Status) string {
	if st == store.Banned {
		return store.ActBan
	}
	return store.ActSuspend
}

func suspendFor(p store.Policy) time.Duration {
	if p.SuspendFor <= 0 {
		return 24 * time.Hour
	}
	return p.SuspendFor
}

func (s *Store) putAction(tx *bolt.Tx, m []byte, a store.Action) ([]byte, error) {
	b := tx.Bucket(bActions)
	n, err := b.NextSequence()
	if err != nil {
		return nil, err
	}
	sq := seq8(n)
	if err := putJSON(b, sq, a); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bAID).Put([]byte(a.ID), sq); err != nil {
		return nil, err
	}
	return sq, tx.Bucket(bAUser).Put(cat(m, sq), nil)
}

// --- actions ---

func (s *Store) ApplyAction(ctx context.Context, a store.Action) (store.Action, store.Standing, error) {
	if err := store.ValidateAction(a); err != nil {
		return store.Action{}, store.Standing{}, err
	}
	now := s.now()
	if a.ID == "" {
		a.ID = store.NewID(now)
	}
	m := member(a.App, a.User)
	var st store.Standing
	dup := false
	err := s.update(func(tx *bolt.Tx) error {
		rec, err := getRecord(tx, m)
		if err != nil {
			return err
		}
		if sq := tx.Bucket(bAID).Get([]byte(a.ID)); sq != nil {
			dup = true
			st = rec.standing(now)
			return json.Unmarshal(tx.Bucket(bActions).Get(sq), &a)
		}
		eff := store.Effective(rec.Status, rec.Until, now)
		next, until, reset, err := store.Reviewer(a.Action, eff, rec.Until, a.Duration, now)
		if err != nil {
			return err
		}
		ids := a.ReportIDs
		all := len(ids) == 0 && a.Action != store.ActNote
		if all {
			c := tx.Bucket(bRUser).Cursor()
			for k, _ := c.Seek(m); k != nil && bytes.HasPrefix(k, m) && len(k) == len(m)+8; k, _ = c.Next() {
				var r store.Report
				if err := json.Unmarshal(tx.Bucket(bReports).Get(k[len(m):]), &r); err != nil {
					return err
				}
				if !r.Reviewed {
					ids = append(ids, r.ID)
				}
			}
			a.ReportIDs = ids
		}
		for _, id := range ids {
			sq := tx.Bucket(bRID).Get([]byte(id))
			if sq == nil {
				return fmt.Errorf("%w: no report %q for this user", store.ErrNotFound, id)
			}
			sq = slices.Clone(sq)
			var r store.Report
			if err := json.Unmarshal(tx.Bucket(bReports).Get(sq), &r); err != nil {
				return err
			}
			if r.App != a.App || r.User != a.User {
				return fmt.Errorf("%w: no report %q for this user", store.ErrNotFound, id)
			}
			if r.Reviewed {
				continue
			}
			r.Reviewed, r.ReviewedAt = true, now
			if err := putJSON(tx.Bucket(bReports), sq, r); err != nil {
				return err
			}
			rec.Unreviewed--
		}
		if reset {
			rec.Strikes, rec.StrikesAt = 0, now
		}
		rec.Status, rec.Until = next, until
		if next != store.Suspended {
			rec.Until = time.Time{}
		}
		rec.Version++
		a.Time, a.Before, a.After, a.Until = now, eff, next, rec.Until
		if _, err := s.putAction(tx, m, a); err != nil {
			return err
		}
		if err := tx.Bucket(bUserApps).Put([]byte(a.User+"\x00"+a.App), nil); err != nil {
			return err
		}
		st = rec.standing(now)
		return putRecord(tx, m, rec)
	})
	if err != nil {
		return store.Action{}, store.Standing{}, err
	}
	if !dup {
		s.publish(a.App, a.User, st)
	}
	return a, st, nil
}
