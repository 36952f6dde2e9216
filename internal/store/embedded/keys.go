package embedded

// Bucket layout and key encoding.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
)

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
	bQueue     = []byte("queue")    // rk8(risk key)+member → "" while the user has unreviewed reports
	allBuckets = [][]byte{bStanding, bReports, bRID, bRUser, bRCat, bActions, bAID, bAUser, bEsc, bSecrets, bPseud, bUserApps, bHolds, bHoldSeen, bPolicies, bRevoked, bQueue}
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

	qk []byte // the record's queue index key as read (nil: not queued)
}

// queueKey is the record's key in bQueue, nil when it is not queued.
// Keys sort by risk key, then member, so the queue is read from the end.
func (r *record) queueKey(m []byte) []byte {
	if r.Unreviewed <= 0 {
		return nil
	}
	return cat(rk8(store.RiskKey(r.Strikes, r.StrikesAt, r.HalfLife)), m)
}

// rk8 encodes a float64 so byte order is numeric order.
func rk8(k float64) []byte {
	b := math.Float64bits(k)
	if b>>63 == 1 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return seq8(b)
}

// putRecord writes the record and moves its queue index entry.
func putRecord(tx *bolt.Tx, m []byte, r *record) error {
	nk := r.queueKey(m)
	if !bytes.Equal(nk, r.qk) {
		q := tx.Bucket(bQueue)
		if r.qk != nil {
			if err := q.Delete(r.qk); err != nil {
				return err
			}
		}
		if nk != nil {
			if err := q.Put(nk, nil); err != nil {
				return err
			}
		}
		r.qk = nk
	}
	return putJSON(tx.Bucket(bStanding), m, r)
}

// deleteRecord removes the record and its queue index entry.
func deleteRecord(tx *bolt.Tx, m []byte, r *record) error {
	if r.qk != nil {
		if err := tx.Bucket(bQueue).Delete(r.qk); err != nil {
			return err
		}
	}
	return tx.Bucket(bStanding).Delete(m)
}

// buildQueue indexes every stored record (files written before the
// queue index existed).
func buildQueue(tx *bolt.Tx) error {
	q := tx.Bucket(bQueue)
	return tx.Bucket(bStanding).ForEach(func(k, v []byte) error {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if qk := r.queueKey(k); qk != nil {
			return q.Put(qk, nil)
		}
		return nil
	})
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
		r.qk = r.queueKey(m)
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
