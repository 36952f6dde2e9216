package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

var _ store.Keeper = (*Store)(nil)

// putAuditAction appends a privacy action to the audit log, indexed under
// its user when it names one (so an erasure finds it).
func (s *Store) putAuditAction(tx *bolt.Tx, a store.Action) error {
	if a.User != "" {
		_, err := s.putAction(tx, member(a.App, a.User), a)
		return err
	}
	b := tx.Bucket(bActions)
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := putJSON(b, seq8(n), a); err != nil {
		return err
	}
	return tx.Bucket(bAID).Put([]byte(a.ID), seq8(n))
}

func (s *Store) PutHold(ctx context.Context, h store.Hold, seed bool) (bool, error) {
	if err := h.Validate(); err != nil {
		return false, err
	}
	now := s.now()
	placed := false
	err := s.update(func(tx *bolt.Tx) error {
		key := []byte(h.Key())
		if tx.Bucket(bHolds).Get(key) != nil || (seed && tx.Bucket(bHoldSeen).Get(key) != nil) {
			return nil
		}
		if h.Kind == store.HoldReport && h.User == "" {
			// Name the owner, so the hold's audit record sits with the user.
			if sq := tx.Bucket(bRID).Get([]byte(h.ReportID)); sq != nil {
				var r store.Report
				if json.Unmarshal(tx.Bucket(bReports).Get(sq), &r) == nil {
					h.App, h.User = r.App, r.User
				}
			}
		}
		h.Since = now
		if err := putJSON(tx.Bucket(bHolds), key, h); err != nil {
			return err
		}
		if h.Kind == store.HoldCategory {
			// Only category holds are seeded from configuration; a user's
			// key must not outlive the user's erasure.
			if err := tx.Bucket(bHoldSeen).Put(key, nil); err != nil {
				return err
			}
		}
		placed = true
		return s.putAuditAction(tx, store.HoldAction(store.NewID(now), now, store.ActHold, h, h.Actor, h.Reason))
	})
	return placed, err
}

func (s *Store) ReleaseHold(ctx context.Context, h store.Hold, actor, reason string) error {
	if actor == "" || reason == "" {
		return fmt.Errorf("%w: releasing a hold needs an actor and a reason", store.ErrInvalid)
	}
	now := s.now()
	return s.update(func(tx *bolt.Tx) error {
		key := []byte(h.Key())
		v := tx.Bucket(bHolds).Get(key)
		if v == nil {
			return fmt.Errorf("%w: no hold %s", store.ErrNotFound, h.Key())
		}
		var cur store.Hold
		if err := json.Unmarshal(v, &cur); err != nil {
			return err
		}
		if err := tx.Bucket(bHolds).Delete(key); err != nil {
			return err
		}
		return s.putAuditAction(tx, store.HoldAction(store.NewID(now), now, store.ActRelease, cur, actor, reason))
	})
}

func (s *Store) HoldList(ctx context.Context) ([]store.Hold, error) {
	out := []store.Hold{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bHolds).ForEach(func(k, v []byte) error {
			var h store.Hold
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			out = append(out, h)
			return nil
		})
	})
	return out, err
}

// purgeReport deletes report r (at seq sq) and every index entry of it.
// rec, when not nil, is the owner's record, updated in memory.
func purgeReport(tx *bolt.Tx, sq []byte, r *store.Report, rec *record) error {
	m := member(r.App, r.User)
	dels := []struct {
		b []byte
		k []byte
	}{{bReports, sq}, {bRID, []byte(r.ID)}, {bRUser, cat(m, sq)}, {bEsc, []byte(r.ID)}}
	for _, c := range store.Uniq(r.Categories) {
		dels = append(dels, struct {
			b []byte
			k []byte
		}{bRCat, cat(lp(nil, c), sq)})
	}
	for _, d := range dels {
		if err := tx.Bucket(d.b).Delete(d.k); err != nil {
			return err
		}
	}
	if rec != nil {
		rec.Reports = max(rec.Reports-1, 0)
		if !r.Reviewed {
			rec.Unreviewed = max(rec.Unreviewed-1, 0)
		}
		for _, c := range store.Uniq(r.Categories) {
			if rec.Cats[c]--; rec.Cats[c] <= 0 {
				delete(rec.Cats, c)
			}
		}
		rec.Version++
	}
	return nil
}

func purgeAction(tx *bolt.Tx, sq []byte, a *store.Action) error {
	if err := tx.Bucket(bActions).Delete(sq); err != nil {
		return err
	}
	if err := tx.Bucket(bAID).Delete([]byte(a.ID)); err != nil {
		return err
	}
	if a.User != "" {
		return tx.Bucket(bAUser).Delete(cat(member(a.App, a.User), sq))
	}
	return nil
}

// Sweep walks reports, then actions, in recording order from the cursor
// ("r<seq>" or "a<seq>"), one write transaction per step.
func (s *Store) Sweep(ctx context.Context, req store.SweepRequest) (store.SweepResult, error) {
	var res store.SweepResult
	limit := req.Limit
	if limit <= 0 {
		limit = 500
	}
	phase, from := "r", uint64(0)
	if req.Cursor != "" {
		n, err := strconv.ParseUint(req.Cursor[1:], 10, 64)
		if err != nil || (req.Cursor[0] != 'r' && req.Cursor[0] != 'a') {
			return res, fmt.Errorf("%w: sweep cursor %q", store.ErrBadCursor, req.Cursor)
		}
		phase, from = req.Cursor[:1], n
	}
	err := s.update(func(tx *bolt.Tx) error {
		res = store.SweepResult{}
		read := 0
		if phase == "r" {
			recs := map[string]*record{}
			c := tx.Bucket(bReports).Cursor()
			var expired [][]byte
			var reps []store.Report
			k, v := c.Seek(seq8(from))
			for ; k != nil && read < limit; k, v = c.Next() {
				read++
				from = binary.BigEndian.Uint64(k) + 1
				var r store.Report
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				if !req.Retention.Expired(&r, req.Now) {
					continue
				}
				if req.Holds.Report(&r) != "" {
					res.Held++
					continue
				}
				expired = append(expired, slices.Clone(k))
				reps = append(reps, r)
			}
			for i, sq := range expired {
				r := &reps[i]
				mk := string(member(r.App, r.User))
				rec := recs[mk]
				if rec == nil {
					var err error
					if rec, err = getRecord(tx, []byte(mk)); err != nil {
						return err
					}
					recs[mk] = rec
				}
				if err := purgeReport(tx, sq, r, rec); err != nil {
					return err
				}
				res.Purged++
			}
			for mk, rec := range recs {
				if err := putRecord(tx, []byte(mk), rec); err != nil {
					return err
				}
			}
			if k != nil {
				res.Next = "r" + strconv.FormatUint(from, 10)
				return nil
			}
			phase, from = "a", 0
		}
		if req.Retention.Actions <= 0 {
			return nil
		}
		c := tx.Bucket(bActions).Cursor()
		var expired [][]byte
		var acts []store.Action
		k, v := c.Seek(seq8(from))
		for ; k != nil && read < limit; k, v = c.Next() {
			read++
			from = binary.BigEndian.Uint64(k) + 1
			var a store.Action
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if !req.Retention.ActionExpired(&a, req.Now) {
				continue
			}
			if (a.User != "" && req.Holds.User(a.App, a.User)) || citesHeld(tx, &a, req.Holds) {
				res.Held++
				continue
			}
			expired = append(expired, slices.Clone(k))
			acts = append(acts, a)
		}
		for i, sq := range expired {
			if err := purgeAction(tx, sq, &acts[i]); err != nil {
				return err
			}
			res.PurgedActions++
		}
		if k != nil {
			res.Next = "a" + strconv.FormatUint(from, 10)
		}
		return nil
	})
	return res, err
}

// citesHeld reports whether a cites a report that is on hold: such
// actions stay as long as the report does.
func citesHeld(tx *bolt.Tx, a *store.Action, hs store.Holds) bool {
	for _, id := range a.ReportIDs {
		sq := tx.Bucket(bRID).Get([]byte(id))
		if sq == nil {
			continue
		}
		var r store.Report
		if json.Unmarshal(tx.Bucket(bReports).Get(sq), &r) == nil && hs.Report(&r) != "" {
			return true
		}
	}
	return false
}

// EraseUser removes the user's unheld records in one transaction, then
// compacts the file so no freed page still holds their bytes.
func (s *Store) EraseUser(ctx context.Context, req store.EraseRequest) (store.Erasure, error) {
	if req.App == "" || req.User == "" || req.Actor == "" || req.Subject == "" {
		return store.Erasure{}, fmt.Errorf("%w: erasure needs app, user, actor and subject", store.ErrInvalid)
	}
	var e store.Erasure
	now := s.now()
	m := member(req.App, req.User)
	err := s.update(func(tx *bolt.Tx) error {
		e = store.Erasure{}
		if req.Holds.User(req.App, req.User) {
			e.UserHeld = true
			return s.putAuditAction(tx, store.ErasureAction(store.NewID(now), now, req, e))
		}
		rec, err := getRecord(tx, m)
		if err != nil {
			return err
		}
		held := map[string]bool{}
		keptPseud := map[string]bool{}
		cats := map[string]int{}
		unrev := 0
		var idx [][]byte
		c := tx.Bucket(bRUser).Cursor()
		for k, _ := c.Seek(m); k != nil && bytes.HasPrefix(k, m); k, _ = c.Next() {
			if len(k) == len(m)+8 {
				idx = append(idx, slices.Clone(k[len(m):]))
			}
		}
		for _, sq := range idx {
			var r store.Report
			if err := json.Unmarshal(tx.Bucket(bReports).Get(sq), &r); err != nil {
				return err
			}
			if req.Holds.Report(&r) != "" {
				held[r.ID] = true
				keptPseud[r.Pseudonym] = true
				for _, cg := range store.Uniq(r.Categories) {
					cats[cg]++
				}
				if !r.Reviewed {
					unrev++
				}
				continue
			}
			if err := purgeReport(tx, sq, &r, nil); err != nil {
				return err
			}
			e.Reports++
		}
		e.HeldReports = len(held)
		idx = idx[:0]
		c = tx.Bucket(bAUser).Cursor()
		for k, _ := c.Seek(m); k != nil && bytes.HasPrefix(k, m); k, _ = c.Next() {
			if len(k) == len(m)+8 {
				idx = append(idx, slices.Clone(k[len(m):]))
			}
		}
		for _, sq := range idx {
			var a store.Action
			if err := json.Unmarshal(tx.Bucket(bActions).Get(sq), &a); err != nil {
				return err
			}
			if store.KeepAction(&a, held) {
				e.HeldActions++
				continue
			}
			if err := purgeAction(tx, sq, &a); err != nil {
				return err
			}
			e.Actions++
		}
		// Pseudonym links: the record's list, and any other pseudonym that
		// still points at this user.
		var pseuds [][]byte
		tx.Bucket(bPseud).ForEach(func(k, v []byte) error {
			if bytes.Equal(v, m) && !keptPseud[string(k)] {
				pseuds = append(pseuds, slices.Clone(k))
			}
			return nil
		})
		for _, p := range pseuds {
			if err := tx.Bucket(bPseud).Delete(p); err != nil {
				return err
			}
		}
		e.Pseudonyms = len(pseuds)
		if len(held) == 0 {
			e.Standing = tx.Bucket(bStanding).Get(m) != nil
			if err := deleteRecord(tx, m, rec); err != nil {
				return err
			}
			if err := tx.Bucket(bUserApps).Delete([]byte(req.User + "\x00" + req.App)); err != nil {
				return err
			}
		} else {
			rec.Reports, rec.Unreviewed, rec.Cats = len(held), unrev, cats
			rec.Pseudonyms = slices.DeleteFunc(rec.Pseudonyms, func(p string) bool { return !keptPseud[p] })
			rec.Version++
			if err := putRecord(tx, m, rec); err != nil {
				return err
			}
		}
		return s.putAuditAction(tx, store.ErasureAction(store.NewID(now), now, req, e))
	})
	if err != nil {
		return store.Erasure{}, err
	}
	s.rlMu.Lock()
	for _, k := range req.RateKeys {
		delete(s.tats, k)
	}
	s.rlMu.Unlock()
	// Caches keep a version-guarded copy of the standing; the record is
	// gone, so they must reload rather than compare versions.
	s.resyncAll()
	if err := s.Compact(); err != nil {
		return e, fmt.Errorf("embedded store: erased, but compacting the file failed (freed pages may still hold the data until the next compaction): %w", err)
	}
	return e, nil
}

func (s *Store) resyncAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sb := range s.subs {
		select {
		case sb.ch <- store.Change{Resync: true}:
		default:
			sb.missed = true
		}
	}
}

// Compact rewrites the store file with only live data and swaps it in:
// bbolt is copy-on-write and leaves deleted records' bytes in free pages,
// so erasure is complete on disk only after this.
func (s *Store) Compact() error {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	tmp := s.path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, s.db, 16<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	// From here the old handle is closed: reopen whatever is on disk.
	renameErr := os.Rename(tmp, s.path)
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		d.Sync()
		d.Close()
	}
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("reopening after compaction: %w", err)
	}
	s.db = db
	if renameErr != nil {
		os.Remove(tmp)
		return renameErr
	}
	return nil
}

// Path is the store file's path.
func (s *Store) Path() string { return s.path }
