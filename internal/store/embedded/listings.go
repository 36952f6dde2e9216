package embedded

// Paged listings and the case view.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

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

// queueBudget bounds the queued users one Queue call reads while
// filtering (as redisstore's scanBudget): when it runs out the page is
// short but has a next cursor.
const queueBudget = 5000

// Queue walks the queue index from the riskiest user down, reading only
// the records it lists: a page costs its own size, not the number of users.
func (s *Store) Queue(ctx context.Context, q store.QueueQuery) (store.Page[store.QueueItem], error) {
	page := store.Page[store.QueueItem]{Items: []store.QueueItem{}}
	var start []byte // walk strictly below this index key; nil: from the end
	if q.Cursor != "" {
		c, err := store.DecodeQueueCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		start = cat(rk8(c.Key), []byte(c.Member))
	}
	limit := store.PageLimit(q.Limit)
	now := s.now()
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bQueue).Cursor()
		var k []byte
		if start == nil {
			k, _ = c.Last()
		} else if k, _ = c.Seek(start); k == nil {
			k, _ = c.Last()
		}
		if start != nil && k != nil && bytes.Compare(k, start) >= 0 {
			k, _ = c.Prev()
		}
		scanned := 0
		var last []byte
		for ; k != nil; k, _ = c.Prev() {
			if len(page.Items) == limit || scanned == queueBudget {
				page.Next = queueCursor(last)
				return nil
			}
			scanned++
			last = k
			m := k[8:]
			r, err := getRecord(tx, m)
			if err != nil {
				return err
			}
			app, user, _ := parseMember(m)
			st := r.standing(now)
			if r.Unreviewed <= 0 || (q.App != "" && app != q.App) || (q.Status != "" && st.Status != q.Status) || (q.Category != "" && r.Cats[q.Category] == 0) || st.Strikes < q.MinRisk {
				continue
			}
			cats := make([]string, 0, len(r.Cats))
			for c := range r.Cats {
				cats = append(cats, c)
			}
			sort.Strings(cats)
			page.Items = append(page.Items, store.QueueItem{
				User: user, App: app, Risk: st.Strikes, Status: st.Status, Until: st.Until,
				Reports: r.Reports, Unreviewed: r.Unreviewed, Categories: cats, LastReportAt: r.LastReportAt,
			})
		}
		return nil
	})
	return page, err
}

// queueCursor is the cursor after index key k.
func queueCursor(k []byte) string {
	b := binary.BigEndian.Uint64(k[:8])
	if b>>63 == 1 {
		b &^= 1 << 63
	} else {
		b = ^b
	}
	return store.EncodeQueueCursor(store.QueueCursor{Key: math.Float64frombits(b), Member: string(k[8:])})
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
