package store

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// The rules below are the single description of enforcement semantics.
// embedded uses them directly; redisstore's Lua scripts mirror them line by
// line, and storetest checks that both agree.

// Decay returns a strike score v measured at from, decayed to to with
// half-life hl (score × 2^(-Δt/hl)). No decay when hl <= 0 or to <= from.
func Decay(v float64, from, to time.Time, hl time.Duration) float64 {
	if hl <= 0 || !to.After(from) || v == 0 {
		return v
	}
	return v * math.Exp2(-float64(to.Sub(from))/float64(hl))
}

// Effective returns status as of now: a suspension whose end has passed
// reads as active.
func Effective(s Status, until, now time.Time) Status {
	if s == "" {
		return Active
	}
	if s == Suspended && !until.IsZero() && !now.Before(until) {
		return Active
	}
	return s
}

// Escalate returns the sanction automatic escalation asks for: ban when
// the policy recommended "ban" or score >= BanAt; suspend when it
// recommended "suspend" or score >= SuspendAt; else Active (none). The
// caller applies it only when it is more severe than the current status:
// escalation never lowers a standing.
func Escalate(score float64, recommend string, p Policy) Status {
	switch {
	case recommend == "ban", p.BanAt > 0 && score >= p.BanAt:
		return Banned
	case recommend == "suspend", p.SuspendAt > 0 && score >= p.SuspendAt:
		return Suspended
	}
	return Active
}

// EscalationReason explains an automatic escalation in the audit log.
func EscalationReason(target Status, score float64, recommend string, p Policy) string {
	switch {
	case target == Banned && recommend == "ban":
		return "policy escalation: ban"
	case target == Banned:
		return fmt.Sprintf("strike score %.2f >= ban_at %g", score, p.BanAt)
	case recommend == "suspend":
		return "policy escalation: suspend"
	}
	return fmt.Sprintf("strike score %.2f >= suspend_at %g", score, p.SuspendAt)
}

// RiskKey orders the review queue. Every score decays by the same factor
// over the same time, so log2(score) + t/hl orders users by their decayed
// score at any later instant: the key never needs recomputing.
func RiskKey(strikes float64, at time.Time, hl time.Duration) float64 {
	k := math.Log2(math.Max(strikes, 1e-9))
	if hl > 0 {
		k += float64(at.UnixMilli()) / float64(hl.Milliseconds())
	}
	return k
}

// Reviewer applies a reviewer action to the effective status (and the
// suspension end) and returns the result. Reviewer actions are
// authoritative (a suspend may shorten a ban); warn never lifts a sanction;
// reinstate returns to active and clears strikes (reset true); dismiss and
// note leave the standing alone.
func Reviewer(action string, cur Status, until time.Time, d time.Duration, now time.Time) (next Status, nextUntil time.Time, reset bool, err error) {
	switch action {
	case ActWarn:
		if cur.Rank() < Warned.Rank() {
			return Warned, time.Time{}, false, nil
		}
		return cur, until, false, nil
	case ActSuspend:
		if d <= 0 {
			return cur, until, false, fmt.Errorf("%w: suspend needs a positive duration", ErrInvalid)
		}
		return Suspended, now.Add(d), false, nil
	case ActBan:
		return Banned, time.Time{}, false, nil
	case ActReinstate:
		return Active, time.Time{}, true, nil
	case ActDismiss, ActNote:
		return cur, until, false, nil
	}
	return cur, until, false, fmt.Errorf("%w: unknown action %q", ErrInvalid, action)
}

// ValidateReport checks what every store needs of a report.
func ValidateReport(r Report) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("%w: report without id", ErrInvalid)
	case r.App == "" || r.User == "":
		return fmt.Errorf("%w: report %s without app or user", ErrInvalid, r.ID)
	case r.Time.IsZero():
		return fmt.Errorf("%w: report %s without time", ErrInvalid, r.ID)
	case r.Strike < 0 || math.IsNaN(r.Strike) || math.IsInf(r.Strike, 0):
		return fmt.Errorf("%w: report %s strike %v", ErrInvalid, r.ID, r.Strike)
	case r.Escalation != "" && r.Escalation != "suspend" && r.Escalation != "ban":
		return fmt.Errorf("%w: report %s escalation %q", ErrInvalid, r.ID, r.Escalation)
	}
	return nil
}

// ValidateAction checks a reviewer action before it is applied.
func ValidateAction(a Action) error {
	switch {
	case a.App == "" || a.User == "":
		return fmt.Errorf("%w: action without app or user", ErrInvalid)
	case a.Actor == "":
		return fmt.Errorf("%w: action without actor", ErrInvalid)
	}
	_, _, _, err := Reviewer(a.Action, Active, time.Time{}, a.Duration, time.Now())
	return err
}

// GCRA is the generic cell rate algorithm on a theoretical arrival time
// (TAT, µs since the epoch): sustained perMin per minute, burst perMin.
// It grants up to n tokens (partial grants allowed) or, with n < 0, gives
// -n back. redisstore's take script is the same arithmetic in Lua.
func GCRA(tat, nowUs int64, perMin, n int) (newTAT int64, granted int, retryAfter time.Duration) {
	if perMin <= 0 {
		return tat, n, 0
	}
	t := int64(60_000_000) / int64(perMin) // emission interval, µs
	if t < 1 {
		t = 1
	}
	tau := t * int64(perMin) // burst tolerance
	if tat < nowUs {
		tat = nowUs
	}
	if n < 0 {
		tat -= int64(-n) * t
		if tat < nowUs {
			tat = nowUs
		}
		return tat, 0, 0
	}
	avail := (nowUs + tau - tat) / t
	if avail <= 0 {
		return tat, 0, time.Duration(tat-tau-nowUs+t) * time.Microsecond
	}
	g := int64(n)
	if g > avail {
		g = avail
	}
	return tat + g*t, int(g), 0
}

// NewID returns a sortable unique id: 48 bits of milliseconds and 80
// random bits in Crockford base32 (26 characters, like a ULID).
func NewID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// QueueCursor is the position after an item of a risk-ordered listing.
type QueueCursor struct {
	Key    float64 `json:"k"`
	Member string  `json:"m"`
}

// EncodeQueueCursor makes an opaque cursor.
func EncodeQueueCursor(c QueueCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeQueueCursor parses a cursor from EncodeQueueCursor.
func DecodeQueueCursor(s string) (QueueCursor, error) {
	var c QueueCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, fmt.Errorf("%w: %q", ErrBadCursor, s)
	}
	return c, nil
}

// After reports whether an item (k, m) comes after cursor c in queue order:
// risk key descending, then member descending (Redis ZREVRANGE's order).
func (c QueueCursor) After(k float64, m string) bool {
	return k < c.Key || (k == c.Key && m < c.Member)
}
