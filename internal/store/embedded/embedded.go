// Package embedded is the single-file store (bbolt): the default, for one
// gateway process on one machine. Every write is one bbolt transaction, so
// AddReport and ApplyAction are atomic; bbolt's file lock keeps a second
// process out (Open fails with store.ErrLocked after the lock timeout).
//
// URL: bolt://PATH[?timeout=DURATION] — PATH relative to the working
// directory (bolt://./data/aupguard.db) or absolute (bolt:///var/lib/aupguard/db);
// timeout is how long Open waits for the file lock (default 1s).
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/aupguard/aupguard/internal/store"
)

func init() {
	store.Register("bolt", func(ctx context.Context, u string, o store.Options) (store.Store, error) {
		return OpenURL(u, o)
	})
}

// DefaultURL is the store of a default configuration.
const DefaultURL = "bolt://./data/aupguard.db"

// Buckets. Keys: member = uvarint-length-prefixed app then user (prefix
// free, so "a"+"bc" and "ab"+"c" never collide); seq8 = big-endian uint64.
var (
	bStanding  = []byte("standing") // member → record JSON
	bReports   = []byte("reports")  // seq8 → Report JSON (recording order)
	bRID       = []byte("rid")      // report id → seq8
	bRUser     = []byte("ruser")    // member+seq8 → ""
	bRCat      = []byte("rcat")     // lp(category)+seq8 → ""
	bActions   = []byte("actions")  // seq8 → Action JSON
	bAID       = []byte("aid")      // action id → seq8
	bAUser     = []byte("auser")    // member+seq8 → ""
	bEsc       = []byte("esc")      // report id → seq8 of its automatic action
	bSecrets   = []byte("secrets")  // name → bytes
	bPseud     = []byte("pseud")    // pseudonym → member
	bUserApps  = []byte("userapps") // lp(user)+app → ""
	bHolds     = []byte("holds")    // hold key → Hold JSON (holds in force)
	bHoldSeen  = []byte("holdseen") // category hold key → "" (ever placed: configured holds are seeded once)
	bPolicies  = []byte("policies") // policy hash → store.EncodePolicyVersion (never purged)
	bRevoked   = []byte("revoked")  // desk session id → expiry (Unix ms, big-endian)
	allBuckets = [][]byte{bStanding, bReports, bRID, bRUser, bRCat, bActions, bAID, bAUser, bEsc, bSecrets, bPseud, bUserApps, bHolds, bHoldSeen, bPolicies, bRevoked}
)

// record is a user's stored state.
type record struct {
	Status       store.Status   `json:"status"`
	Until        time.Time      `json:"until,omitzero"`
	Strikes      float64        `json:"strikes"`
	StrikesAt    time.Time      `json:"strikes_at,omitzero"`
	HalfLife     time.Duration  `json:"half_life,omitempty"`
	Reports      int            `json:"reports"`
	Unreviewed   int            `json:"unreviewed"`
	LastReportAt time.Time      `json:"last_report_at,omitzero"`
	Version      int64          `json:"version"`
	Cats         map[string]int `json:"cats,omitempty"`
	Pseudonyms   []string       `json:"pseudonyms,omitempty"`
}

func (r *record) standing(now time.Time) store.Standing {
	st := store.Effective(r.Status, r.Until, now)
	s := store.Standing{
		Status: st, Strikes: store.Decay(r.Strikes, r.StrikesAt, now, r.HalfLife), StrikesAt: now,
		Reports: r.Reports, Unreviewed: r.Unreviewed, LastReportAt: r.LastReportAt, Version: r.Version,
	}
	if st == store.Suspended {
		s.Until = r.Until
	}
	return s
}

// Store is the bbolt store.
type Store struct {
	// dbMu guards the db handle itself: erasure compacts the file into a
	// fresh one and swaps it in (bbolt leaves freed pages' bytes on disk).
	dbMu sync.RWMutex
	db   *bolt.DB
	path string
	now  func() time.Time
	opts store.Options

	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool

	rlMu sync.Mutex
	tats map[string]int64
	auth map[string]authRec // failed authentications (authfail.go), under rlMu
}

type sub struct {
	ch     chan store.Change
	missed bool
}

var _ store.Store = (*Store)(nil)

// OpenURL opens a bolt:// URL.
func OpenURL(raw string, o store.Options) (*Store, error) {
	rest, ok := strings.CutPrefix(raw, "bolt://")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a bolt:// URL", store.ErrUnsupported, raw)
	}
	path, query, _ := strings.Cut(rest, "?")
	timeout := time.Second
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("%w: bolt timeout %q: %v", store.ErrInvalid, v, err)
			}
			timeout = d
		default:
			return nil, fmt.Errorf("%w: unknown bolt URL parameter %q", store.ErrInvalid, k)
		}
	}
	if path == "" {
		return nil, fmt.Errorf("%w: bolt URL without a path", store.ErrInvalid)
	}
	return Open(path, timeout, o)
}

// Open opens (creating if needed) the store file at path, waiting up to
// lockTimeout for another process to release it.
func Open(path string, lockTimeout time.Duration, o store.Options) (*Store, error) {
	if o.Clock == nil {
		o = store.BuildOptions(func(x *store.Options) { *x = o })
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is held by another process (is another aupguard running on it? use the admin API instead); waited %s", store.ErrLocked, path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded store %s: %w", path, err)
	}
	return &Store{db: db, path: path, now: o.Clock, opts: o, subs: map[*sub]struct{}{}, tats: map[string]int64{}}, nil
}

// --- key helpers ---

func lp(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func member(app, user string) []byte { return lp(lp(nil, app), user) }

func parseMember(m []byte) (app, user string, ok bool) {
	n, k := binary.Uvarint(m)
	if k <= 0 || uint64(len(m)-k) < n {
		return "", "", false
	}
	app = string(m[k : k+int(n)])
	m = m[k+int(n):]
	n, k = binary.Uvarint(m)
	if k <= 0 || uint64(len(m)-k) != n {
		return "", "", false
	}
	return app, string(m[k:]), true
}

func seq8(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func cat(a ...[]byte) []byte { return bytes.Join(a, nil) }

func getRecord(tx *bolt.Tx, m []byte) (*record, error) {
	r := &record{Status: store.Active}
	if v := tx.Bucket(bStanding).Get(m); v != nil {
		if err := json.Unmarshal(v, r); err != nil {
			return nil, fmt.Errorf("embedded store: corrupt record: %w", err)
		}
	}
	return r, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

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
	m := member(rep.App, rep.User)
	now := s.now()
	err := s.update(func(tx *bolt.Tx) error {
		res = store.AddResult{}
		rec, err := getRecord(tx, m)
		if err != nil {
			return err
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
			return nil
		}
		reports := tx.Bucket(bReports)
		n, err := reports.NextSequence()
		if err != nil {
			return err
		}
		sq := seq8(n)
		if err := putJSON(reports, sq, rep); err != nil {
			return err
		}
		if err := tx.Bucket(bRID).Put([]byte(rep.ID), sq); err != nil {
			return err
		}
		if err := tx.Bucket(bRUser).Put(cat(m, sq), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bUserApps).Put([]byte(rep.User+"\x00"+rep.App), nil); err != nil {
			return err
		}
		if rec.Cats == nil {
			rec.Cats = map[string]int{}
		}
		for _, c := range store.Uniq(rep.Categories) {
			if err := tx.Bucket(bRCat).Put(cat(lp(nil, c), sq), nil); err != nil {
				return err
			}
			rec.Cats[c]++
		}
		if rep.Pseudonym != "" {
			if err := tx.Bucket(bPseud).Put([]byte(rep.Pseudonym), m); err != nil {
				return err
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
			rec.Status, rec.Until = target, time.Time{}
			if target == store.Suspended {
				rec.Until = now.Add(suspendFor(p))
				a.Duration, a.Until = suspendFor(p), rec.Until
			}
			aseq, err := s.putAction(tx, m, a)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bEsc).Put([]byte(rep.ID), aseq); err != nil {
				return err
			}
			res.Action, res.Changed = &a, true
		}
		res.Standing = rec.standing(now)
		return putJSON(tx.Bucket(bStanding), m, rec)
	})
	if err != nil {
		return store.AddResult{}, err
	}
	if !res.Duplicate {
		s.publish(rep.App, rep.User, res.Standing)
	}
	return res, nil
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
		return putJSON(tx.Bucket(bStanding), m, rec)
	})
	if err != nil {
		return store.Action{}, store.Standing{}, err
	}
	if !dup {
		s.publish(a.App, a.User, st)
	}
	return a, st, nil
}

// --- listings ---

func parseSeqCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(c, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: %q", store.ErrBadCursor, c)
	}
	return n, nil
}

// walkBack visits index keys prefix+seq8 in descending seq order, starting
// below cursor (0: from the end), until fn returns false.
func walkBack(b *bolt.Bucket, prefix []byte, cursor uint64, fn func(seq []byte) bool) {
	start := cat(prefix, seq8(^uint64(0)))
	if cursor > 0 {
		start = cat(prefix, seq8(cursor))
	}
	c := b.Cursor()
	k, _ := c.Seek(start)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		if len(k) != len(prefix)+8 {
			continue
		}
		if !fn(k[len(prefix):]) {
			return
		}
	}
}

func (s *Store) Reports(ctx context.Context, q store.ReportQuery) (store.Page[store.Report], error) {
	page := store.Page[store.Report]{Items: []store.Report{}}
	if q.User != "" && q.App == "" {
		return page, fmt.Errorf("%w: a user filter needs the app", store.ErrInvalid)
	}
	cur, err := parseSeqCursor(q.Cursor)
	if err != nil {
		return page, err
	}
	limit := store.PageLimit(q.Limit)
	err = s.view(func(tx *bolt.Tx) error {
		var idx *bolt.Bucket
		var prefix []byte
		switch {
		case q.User != "":
			idx, prefix = tx.Bucket(bRUser), member(q.App, q.User)
		case q.Category != "":
			idx, prefix = tx.Bucket(bRCat), lp(nil, q.Category)
		default:
			idx = tx.Bucket(bReports)
		}
		page, err = pageBack(idx, prefix, tx.Bucket(bReports), cur, limit, func(r *store.Report) bool { return store.MatchReport(r, q) })
		return err
	})
	return page, err
}

func (s *Store) Audit(ctx context.Context, q store.AuditQuery) (store.Page[store.Action], error) {
	page := store.Page[store.Action]{Items: []store.Action{}}
	if q.User != "" && q.App == "" {
		return page, fmt.Errorf("%w: a user filter needs the app", store.ErrInvalid)
	}
	cur, err := parseSeqCursor(q.Cursor)
	if err != nil {
		return page, err
	}
	limit := store.PageLimit(q.Limit)
	err = s.view(func(tx *bolt.Tx) error {
		idx, prefix := tx.Bucket(bActions), []byte(nil)
		if q.User != "" {
			idx, prefix = tx.Bucket(bAUser), member(q.App, q.User)
		}
		page, err = pageBack(idx, prefix, tx.Bucket(bActions), cur, limit, func(a *store.Action) bool { return q.App == "" || a.App == q.App })
		return err
	})
	return page, err
}

// pageBack reads one page of records newest first: it walks index idx
// (under prefix) back from cursor cur, decodes each record from data and
// keeps those keep accepts; Next is set when more records follow.
func pageBack[T any](idx *bolt.Bucket, prefix []byte, data *bolt.Bucket, cur uint64, limit int, keep func(*T) bool) (store.Page[T], error) {
	page := store.Page[T]{Items: []T{}}
	var derr error
	var last uint64
	more := false
	walkBack(idx, prefix, cur, func(sq []byte) bool {
		if len(page.Items) == limit {
			more = true
			return false
		}
		last = binary.BigEndian.Uint64(sq)
		var v T
		if derr = json.Unmarshal(data.Get(sq), &v); derr != nil {
			return false
		}
		if keep(&v) {
			page.Items = append(page.Items, v)
		}
		return true
	})
	if more {
		page.Next = strconv.FormatUint(last, 10)
	}
	return page, derr
}

func (s *Store) Queue(ctx context.Context, q store.QueueQuery) (store.Page[store.QueueItem], error) {
	page := store.Page[store.QueueItem]{Items: []store.QueueItem{}}
	var cur *store.QueueCursor
	if q.Cursor != "" {
		c, err := store.DecodeQueueCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		cur = &c
	}
	type cand struct {
		key  float64
		mem  string
		item store.QueueItem
	}
	var cands []cand
	now := s.now()
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bStanding).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Unreviewed <= 0 {
				return nil
			}
			app, user, _ := parseMember(k)
			st := r.standing(now)
			if (q.App != "" && app != q.App) || (q.Status != "" && st.Status != q.Status) || (q.Category != "" && r.Cats[q.Category] == 0) || st.Strikes < q.MinRisk {
				return nil
			}
			key := store.RiskKey(r.Strikes, r.StrikesAt, r.HalfLife)
			mem := string(k)
			if cur != nil && !cur.After(key, mem) {
				return nil
			}
			cats := make([]string, 0, len(r.Cats))
			for c := range r.Cats {
				cats = append(cats, c)
			}
			sort.Strings(cats)
			cands = append(cands, cand{key, mem, store.QueueItem{
				User: user, App: app, Risk: st.Strikes, Status: st.Status, Until: st.Until,
				Reports: r.Reports, Unreviewed: r.Unreviewed, Categories: cats, LastReportAt: r.LastReportAt,
			}})
			return nil
		})
	})
	if err != nil {
		return page, err
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].key != cands[j].key {
			return cands[i].key > cands[j].key
		}
		return cands[i].mem > cands[j].mem
	})
	limit := store.PageLimit(q.Limit)
	for i, c := range cands {
		if i == limit {
			last := cands[i-1]
			page.Next = store.EncodeQueueCursor(store.QueueCursor{Key: last.key, Member: last.mem})
			break
		}
		page.Items = append(page.Items, c.item)
	}
	return page, nil
}

func (s *Store) User(ctx context.Context, app, user string) (store.Case, error) {
	c := store.Case{App: app, User: user, Reports: []store.Report{}, Actions: []store.Action{}, Categories: map[string]int{}}
	m := member(app, user)
	now := s.now()
	err := s.view(func(tx *bolt.Tx) error {
		rec, err := getRecord(tx, m)
		if err != nil {
			return err
		}
		c.Standing = rec.standing(now)
		for k, v := range rec.Cats {
			c.Categories[k] = v
		}
		c.Pseudonyms = rec.Pseudonyms
		var derr error
		walkBack(tx.Bucket(bRUser), m, 0, func(sq []byte) bool {
			var r store.Report
			if derr = json.Unmarshal(tx.Bucket(bReports).Get(sq), &r); derr != nil {
				return false
			}
			c.Reports = append(c.Reports, r)
			return len(c.Reports) < store.CaseLimit
		})
		if derr != nil {
			return derr
		}
		walkBack(tx.Bucket(bAUser), m, 0, func(sq []byte) bool {
			var a store.Action
			if derr = json.Unmarshal(tx.Bucket(bActions).Get(sq), &a); derr != nil {
				return false
			}
			c.Actions = append(c.Actions, a)
			return len(c.Actions) < store.CaseLimit
		})
		return derr
	})
	return c, err
}

func (s *Store) Apps(ctx context.Context, user string) ([]string, error) {
	var apps []string
	prefix := []byte(user + "\x00")
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bUserApps).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if app := string(k[len(prefix):]); !strings.Contains(app, "\x00") {
				apps = append(apps, app)
			}
		}
		return nil
	})
	return apps, err
}

func (s *Store) FindPseudonym(ctx context.Context, pseudonym string) (string, string, bool, error) {
	var app, user string
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bPseud).Get([]byte(pseudonym)); m != nil {
			app, user, ok = parseMember(m)
		}
		return nil
	})
	return app, user, ok, err
}

// --- iterators ---

const batch = 512

// each walks bucket name in seq order in batches, one read transaction per
// batch, so a long export neither holds a transaction open nor loads
// everything at once.
func (s *Store) each(ctx context.Context, name []byte, fn func(v []byte) error) error {
	var next []byte = seq8(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var vals [][]byte
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(name).Cursor()
			for k, v := c.Seek(next); k != nil && len(vals) < batch; k, v = c.Next() {
				vals = append(vals, slices.Clone(v))
				next = seq8(binary.BigEndian.Uint64(k) + 1)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, v := range vals {
			if err := fn(v); err != nil {
				return err
			}
		}
		if len(vals) < batch {
			return nil
		}
	}
}

func (s *Store) EachReport(ctx context.Context, since, until time.Time, fn func(store.Report) error) error {
	return s.each(ctx, bReports, func(v []byte) error {
		var r store.Report
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if !store.InRange(r.Time, since, until) {
			return nil
		}
		return fn(r)
	})
}

func (s *Store) EachAction(ctx context.Context, since, until time.Time, fn func(store.Action) error) error {
	return s.each(ctx, bActions, func(v []byte) error {
		var a store.Action
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if !store.InRange(a.Time, since, until) {
			return nil
		}
		return fn(a)
	})
}

// --- rate limits, secrets ---

// Take keeps GCRA state in memory: one process owns the file, so there is
// nothing to share and no reason to write rate-limit state to disk.
func (s *Store) Take(ctx context.Context, key string, l store.Limit, n int) (int, time.Duration, error) {
	if l.PerMinute <= 0 {
		return max(n, 0), 0, nil
	}
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	tat, g, retry := store.GCRA(s.tats[key], s.now().UnixMicro(), l.PerMinute, n)
	s.tats[key] = tat
	return g, retry, nil
}

func (s *Store) Shared() bool { return false }

func (s *Store) GetOrCreateSecret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		out = slices.Clone(tx.Bucket(bSecrets).Get([]byte(name)))
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	fresh, err := gen()
	if err != nil {
		return nil, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSecrets)
		if v := b.Get([]byte(name)); v != nil {
			out = slices.Clone(v) // someone else was first
			return nil
		}
		out = fresh
		return b.Put([]byte(name), fresh)
	})
	return out, err
}

// --- policy versions ---

func (s *Store) PutPolicyVersion(ctx context.Context, hash string, files map[string][]byte) (bool, error) {
	if err := store.CheckPolicyVersion(hash, files); err != nil {
		return false, err
	}
	// Read first: a version already kept costs no write transaction (and no fsync).
	var have bool
	if err := s.view(func(tx *bolt.Tx) error { have = tx.Bucket(bPolicies).Get([]byte(hash)) != nil; return nil }); err != nil || have {
		return false, err
	}
	enc, err := store.EncodePolicyVersion(store.PolicyVersion{Hash: hash, Files: files, StoredAt: s.now()})
	if err != nil {
		return false, err
	}
	created := false
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPolicies)
		if b.Get([]byte(hash)) != nil {
			return nil // another writer was first
		}
		created = true
		return b.Put([]byte(hash), enc)
	})
	return created, err
}

func (s *Store) PolicyVersion(ctx context.Context, hash string) (store.PolicyVersion, error) {
	var v store.PolicyVersion
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPolicies).Get([]byte(hash))
		if b == nil {
			return fmt.Errorf("%w: policy version %q", store.ErrNotFound, hash)
		}
		var err error
		v, err = store.DecodePolicyVersion(b) // copies out of the mmap
		return err
	})
	return v, err
}

// --- change feed ---

func (s *Store) Subscribe(ctx context.Context) (<-chan store.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	sb := &sub{ch: make(chan store.Change, 1024)}
	s.subs[sb] = struct{}{}
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[sb]; ok {
			delete(s.subs, sb)
			close(sb.ch)
		}
	})
	return sb.ch, nil
}

// publish never blocks a writer on a slow subscriber: a full channel drops
// the change and the subscriber gets a Resync marker as soon as it has room.
func (s *Store) publish(app, user string, st store.Standing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := store.Change{UserStanding: store.UserStanding{App: app, User: user, Standing: st}}
	for sb := range s.subs {
		if sb.missed {
			select {
			case sb.ch <- store.Change{Resync: true}:
				sb.missed = false
			default:
				continue
			}
		}
		select {
		case sb.ch <- ch:
		default:
			sb.missed = true
		}
	}
}

func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return store.ErrClosed
	}
	return s.view(func(tx *bolt.Tx) error { return nil })
}

func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for sb := range s.subs {
		close(sb.ch)
		delete(s.subs, sb)
	}
	s.mu.Unlock()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	return s.db.Close()
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Update(fn)
}
