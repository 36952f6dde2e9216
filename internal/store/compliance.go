package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Compliance records (docs/compliance.md): the statement of reasons given
// for every restriction (DSA Art. 17), the appeals against them (Art. 20)
// and the abuse notices taken in (Art. 16). They are few next to reports,
// so both stores keep them the same simple way: one JSON record per id in
// a table per kind, indexed by user (RecordTable); the typed logic below
// is shared, so the two stores cannot disagree on it.

// Statement kinds: what was restricted.
const (
	RestrictRefusal    = "refusal"    // one request (or answer) refused
	RestrictSuspension = "suspension" // the end user's access, for a time
	RestrictBan        = "ban"        // the end user's access, for good
)

// Appeal statuses.
const (
	AppealOpen     = "open"
	AppealUpheld   = "upheld"
	AppealReversed = "reversed"
)

// Notice sources.
const (
	NoticeOpenRouter = "openrouter"  // names a pseudonym
	NoticeThirdParty = "third_party" // names an end user and an app
)

// ErrConflict is returned when a record is not in the state a change
// needs (an appeal already decided).
var ErrConflict = errors.New("store: conflict")

// Ground is one fact a restriction relied on: a category of the taxonomy
// with the AUP clause and the operator's own terms it enforces.
type Ground struct {
	Category      string `json:"category"`
	Title         string `json:"title,omitempty"`
	AUPClause     string `json:"aup_clause,omitempty"`
	OperatorTerms string `json:"operator_terms,omitempty"`
}

// Statement is the statement of reasons of one restriction. It holds
// facts (categories, rules, counts), never content: a ZDR gateway's
// statements look the same as any other's.
type Statement struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	App  string    `json:"app"`
	User string    `json:"user"`
	Kind string    `json:"kind"` // refusal | suspension | ban
	// Scope says what a refusal refused: "request" or "answer"; "account"
	// for suspensions and bans.
	Scope string `json:"scope"`
	// Automated: no human took the decision. Detection is always
	// automated for reports; a reviewer's action is not automated.
	Automated bool `json:"automated"`
	// Actor took the restriction (AutoActor or a reviewer's token name);
	// the desk uses it so another reviewer decides the appeal.
	Actor      string   `json:"actor"`
	Categories []string `json:"categories"`
	Grounds    []Ground `json:"grounds"`
	// Explanation is what the operator's side wrote: the escalation rule
	// met, or the reviewer's reason.
	Explanation string        `json:"explanation,omitempty"`
	Until       time.Time     `json:"until,omitzero"`
	Duration    time.Duration `json:"duration,omitempty"`
	ReportIDs   []string      `json:"report_ids,omitempty"`
	DecisionID  string        `json:"decision_id,omitempty"`
	ActionID    string        `json:"action_id,omitempty"`
	PolicyHash  string        `json:"policy_hash,omitempty"`
}

// Appeal is an end user's complaint against one statement's restriction.
type Appeal struct {
	ID          string    `json:"id"`
	App         string    `json:"app"`
	User        string    `json:"user"`
	StatementID string    `json:"statement_id"`
	Kind        string    `json:"kind"` // the contested restriction's kind
	Categories  []string  `json:"categories"`
	Filed       time.Time `json:"filed"`
	Deadline    time.Time `json:"deadline"`
	Text        string    `json:"text"`
	TextLength  int       `json:"text_length"`
	// ContestedActor took the contested restriction.
	ContestedActor string    `json:"contested_actor"`
	Status         string    `json:"status"` // open | upheld | reversed
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	DecidedBy      string    `json:"decided_by,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	ActionID       string    `json:"action_id,omitempty"` // the audit entry of the decision
}

// AppealDecision closes an open appeal.
type AppealDecision struct {
	Outcome   string // upheld | reversed
	Reason    string
	DecidedBy string
	ActionID  string
	At        time.Time
}

// Notice is an abuse notice taken in by the desk; ReportID is the report
// that opened the case on the user behind it.
type Notice struct {
	ID          string    `json:"id"`
	Received    time.Time `json:"received"`
	Source      string    `json:"source"` // openrouter | third_party
	Pseudonym   string    `json:"pseudonym,omitempty"`
	App         string    `json:"app"`
	User        string    `json:"user"`
	Category    string    `json:"category,omitempty"`
	Reference   string    `json:"reference,omitempty"`
	Description string    `json:"description,omitempty"`
	Notifier    string    `json:"notifier,omitempty"`
	Actor       string    `json:"actor"` // who entered it on the desk
	ReportID    string    `json:"report_id"`
}

// AppealQuery filters Appeals (oldest first: the queue order). Zero fields
// do not filter.
type AppealQuery struct {
	Status, App, User string
	Cursor            string
	Limit             int
}

// NoticeQuery filters Notices (newest first).
type NoticeQuery struct {
	App, User string
	Cursor    string
	Limit     int
}

// Record kinds of a RecordTable.
const (
	KindStatement = "statement"
	KindAppeal    = "appeal"
	KindNotice    = "notice"
)

// ComplianceKinds are every kind, for erasure and retention.
var ComplianceKinds = []string{KindStatement, KindAppeal, KindNotice}

// RecordTable is what each store provides for compliance records: JSON
// values by kind and id, indexed by (app, user).
type RecordTable interface {
	// PutRecord writes data under (kind, id) unless a record is there
	// already: the first writer wins and created says who did.
	PutRecord(ctx context.Context, kind, id, app, user string, data []byte) (created bool, err error)
	// GetRecord returns the record, or ErrNotFound.
	GetRecord(ctx context.Context, kind, id string) ([]byte, error)
	// UserRecords returns the user's records of kind, in any order.
	UserRecords(ctx context.Context, kind, app, user string) ([][]byte, error)
	// AllRecords calls fn for every record of kind, in any order.
	AllRecords(ctx context.Context, kind string, fn func([]byte) error) error
	// UpdateRecord replaces the record with fn's answer atomically (fn may
	// run more than once); ErrNotFound when there is none.
	UpdateRecord(ctx context.Context, kind, id string, fn func([]byte) ([]byte, error)) error
	// DeleteRecord removes the record and its index entry.
	DeleteRecord(ctx context.Context, kind, id, app, user string) error
}

// The typed operations below implement the Store interface's compliance
// block on any RecordTable.

func validRecord(kind, id, app, user string) error {
	if id == "" || app == "" || user == "" || len(id) > 128 {
		return fmt.Errorf("%w: %s needs an id (at most 128 bytes), an app and a user", ErrInvalid, kind)
	}
	return nil
}

func putTyped(ctx context.Context, t RecordTable, kind, id, app, user string, v any) (bool, error) {
	if err := validRecord(kind, id, app, user); err != nil {
		return false, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	return t.PutRecord(ctx, kind, id, app, user, b)
}

func getTyped[T any](ctx context.Context, t RecordTable, kind, id string) (T, error) {
	var v T
	b, err := t.GetRecord(ctx, kind, id)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("store: corrupt %s record %q: %w", kind, id, err)
	}
	return v, nil
}

func allTyped[T any](ctx context.Context, t RecordTable, kind string) ([]T, error) {
	var out []T
	err := t.AllRecords(ctx, kind, func(b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("store: corrupt %s record: %w", kind, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// PutStatementIn keeps s (first writer wins: a retried restriction keeps
// the statement first given).
func PutStatementIn(ctx context.Context, t RecordTable, s Statement) (bool, error) {
	switch s.Kind {
	case RestrictRefusal, RestrictSuspension, RestrictBan:
	default:
		return false, fmt.Errorf("%w: statement kind %q", ErrInvalid, s.Kind)
	}
	if s.Time.IsZero() {
		return false, fmt.Errorf("%w: statement without time", ErrInvalid)
	}
	return putTyped(ctx, t, KindStatement, s.ID, s.App, s.User, s)
}

// StatementIn reads one statement.
func StatementIn(ctx context.Context, t RecordTable, id string) (Statement, error) {
	s, err := getTyped[Statement](ctx, t, KindStatement, id)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: statement %q", ErrNotFound, id)
	}
	return s, err
}

// UserStatementsIn lists a user's statements, oldest first.
func UserStatementsIn(ctx context.Context, t RecordTable, app, user string) ([]Statement, error) {
	raw, err := t.UserRecords(ctx, KindStatement, app, user)
	if err != nil {
		return nil, err
	}
	out := make([]Statement, 0, len(raw))
	for _, b := range raw {
		var s Statement
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("store: corrupt statement record: %w", err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Statement) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// PutAppealIn files a (with status open); false when an appeal with its
// id exists already.
func PutAppealIn(ctx context.Context, t RecordTable, a Appeal) (bool, error) {
	if a.StatementID == "" || a.Filed.IsZero() {
		return false, fmt.Errorf("%w: an appeal needs a statement and a filing time", ErrInvalid)
	}
	a.Status, a.DecidedAt, a.DecidedBy, a.Reason, a.ActionID = AppealOpen, time.Time{}, "", "", ""
	return putTyped(ctx, t, KindAppeal, a.ID, a.App, a.User, a)
}

// AppealIn reads one appeal.
func AppealIn(ctx context.Context, t RecordTable, id string) (Appeal, error) {
	a, err := getTyped[Appeal](ctx, t, KindAppeal, id)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: appeal %q", ErrNotFound, id)
	}
	return a, err
}

// DecideAppealIn closes an open appeal; ErrConflict when it is decided
// already (two reviewers at once: one decision stands).
func DecideAppealIn(ctx context.Context, t RecordTable, id string, d AppealDecision) (Appeal, error) {
	if d.Outcome != AppealUpheld && d.Outcome != AppealReversed {
		return Appeal{}, fmt.Errorf("%w: outcome %q (want upheld or reversed)", ErrInvalid, d.Outcome)
	}
	if d.Reason == "" || d.DecidedBy == "" || d.At.IsZero() {
		return Appeal{}, fmt.Errorf("%w: a decision needs a reason, a reviewer and a time", ErrInvalid)
	}
	var out Appeal
	err := t.UpdateRecord(ctx, KindAppeal, id, func(b []byte) ([]byte, error) {
		var a Appeal
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, err
		}
		if a.Status != AppealOpen {
			return nil, fmt.Errorf("%w: appeal %s was %s by %s", ErrConflict, id, a.Status, a.DecidedBy)
		}
		a.Status, a.Reason, a.DecidedBy, a.DecidedAt, a.ActionID = d.Outcome, d.Reason, d.DecidedBy, d.At, d.ActionID
		out = a
		return json.Marshal(a)
	})
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: appeal %q", ErrNotFound, id)
	}
	return out, err
}

// page cuts the items after cursor (an id) to limit.
func page[T any](items []T, id func(T) string, cursor string, limit int) (Page[T], error) {
	start := 0
	if cursor != "" {
		i := slices.IndexFunc(items, func(v T) bool { return id(v) == cursor })
		if i < 0 {
			return Page[T]{}, fmt.Errorf("%w: %q", ErrBadCursor, cursor)
		}
		start = i + 1
	}
	limit = PageLimit(limit)
	end := min(start+limit, len(items))
	p := Page[T]{Items: slices.Clone(items[start:end])}
	if p.Items == nil {
		p.Items = []T{}
	}
	if end < len(items) {
		p.Next = id(items[end-1])
	}
	return p, nil
}

// AppealsIn lists appeals oldest first (the order they are due in).
func AppealsIn(ctx context.Context, t RecordTable, q AppealQuery) (Page[Appeal], error) {
	all, err := allTyped[Appeal](ctx, t, KindAppeal)
	if err != nil {
		return Page[Appeal]{}, err
	}
	all = slices.DeleteFunc(all, func(a Appeal) bool {
		return (q.Status != "" && a.Status != q.Status) || (q.App != "" && a.App != q.App) || (q.User != "" && a.User != q.User)
	})
	slices.SortFunc(all, func(a, b Appeal) int { return cmp.Or(a.Filed.Compare(b.Filed), cmp.Compare(a.ID, b.ID)) })
	return page(all, func(a Appeal) string { return a.ID }, q.Cursor, q.Limit)
}

// PutNoticeIn keeps n (first writer wins).
func PutNoticeIn(ctx context.Context, t RecordTable, n Notice) (bool, error) {
	if n.Received.IsZero() || (n.Source != NoticeOpenRouter && n.Source != NoticeThirdParty) {
		return false, fmt.Errorf("%w: a notice needs a time and a source (openrouter or third_party)", ErrInvalid)
	}
	return putTyped(ctx, t, KindNotice, n.ID, n.App, n.User, n)
}

// NoticeIn reads one notice.
func NoticeIn(ctx context.Context, t RecordTable, id string) (Notice, error) {
	n, err := getTyped[Notice](ctx, t, KindNotice, id)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: notice %q", ErrNotFound, id)
	}
	return n, err
}

// NoticesIn lists notices newest first.
func NoticesIn(ctx context.Context, t RecordTable, q NoticeQuery) (Page[Notice], error) {
	all, err := allTyped[Notice](ctx, t, KindNotice)
	if err != nil {
		return Page[Notice]{}, err
	}
	all = slices.DeleteFunc(all, func(n Notice) bool {
		return (q.App != "" && n.App != q.App) || (q.User != "" && n.User != q.User)
	})
	slices.SortFunc(all, func(a, b Notice) int { return cmp.Or(b.Received.Compare(a.Received), cmp.Compare(b.ID, a.ID)) })
	return page(all, func(n Notice) string { return n.ID }, q.Cursor, q.Limit)
}

// ComplianceRecord is any compliance record, for walks (exports,
// transparency counts): exactly one of the pointers is set.
type ComplianceRecord struct {
	Statement *Statement
	Appeal    *Appeal
	Notice    *Notice
}

// Time is when the record was made.
func (r ComplianceRecord) Time() time.Time {
	switch {
	case r.Statement != nil:
		return r.Statement.Time
	case r.Appeal != nil:
		return r.Appeal.Filed
	case r.Notice != nil:
		return r.Notice.Received
	}
	return time.Time{}
}

func (r ComplianceRecord) owner() (app, user, id string) {
	switch {
	case r.Statement != nil:
		return r.Statement.App, r.Statement.User, r.Statement.ID
	case r.Appeal != nil:
		return r.Appeal.App, r.Appeal.User, r.Appeal.ID
	case r.Notice != nil:
		return r.Notice.App, r.Notice.User, r.Notice.ID
	}
	return "", "", ""
}

func decodeRecord(kind string, b []byte) (ComplianceRecord, error) {
	var r ComplianceRecord
	var err error
	switch kind {
	case KindStatement:
		r.Statement = new(Statement)
		err = json.Unmarshal(b, r.Statement)
	case KindAppeal:
		r.Appeal = new(Appeal)
		err = json.Unmarshal(b, r.Appeal)
	case KindNotice:
		r.Notice = new(Notice)
		err = json.Unmarshal(b, r.Notice)
	default:
		err = fmt.Errorf("%w: record kind %q", ErrInvalid, kind)
	}
	return r, err
}

// EachComplianceIn calls fn for every record of kind with since <= time <
// until (zero bounds are open), oldest first.
func EachComplianceIn(ctx context.Context, t RecordTable, kind string, since, until time.Time, fn func(ComplianceRecord) error) error {
	var recs []ComplianceRecord
	err := t.AllRecords(ctx, kind, func(b []byte) error {
		r, err := decodeRecord(kind, b)
		if err != nil {
			return err
		}
		if InRange(r.Time(), since, until) {
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b ComplianceRecord) int {
		_, _, ia := a.owner()
		_, _, ib := b.owner()
		return cmp.Or(a.Time().Compare(b.Time()), cmp.Compare(ia, ib))
	})
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// EraseComplianceIn removes every compliance record of (app, user) and
// returns how many of each kind went.
func EraseComplianceIn(ctx context.Context, t RecordTable, app, user string) (map[string]int, error) {
	counts := map[string]int{}
	for _, kind := range ComplianceKinds {
		raw, err := t.UserRecords(ctx, kind, app, user)
		if err != nil {
			return counts, err
		}
		for _, b := range raw {
			r, err := decodeRecord(kind, b)
			if err != nil {
				return counts, err
			}
			_, _, id := r.owner()
			if err := t.DeleteRecord(ctx, kind, id, app, user); err != nil {
				return counts, err
			}
			counts[kind]++
		}
	}
	return counts, nil
}

// PurgeComplianceIn removes records made before before, except those of
// users keep names (legal holds) and open appeals, with the statements
// they contest (an undecided complaint is never purged).
func PurgeComplianceIn(ctx context.Context, t RecordTable, before time.Time, keep func(app, user string) bool) (int, error) {
	contested := map[string]bool{}
	err := t.AllRecords(ctx, KindAppeal, func(b []byte) error {
		var a Appeal
		if json.Unmarshal(b, &a) == nil && a.Status == AppealOpen {
			contested[a.StatementID] = true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, kind := range ComplianceKinds {
		var old []ComplianceRecord
		err := t.AllRecords(ctx, kind, func(b []byte) error {
			r, err := decodeRecord(kind, b)
			if err != nil {
				return err
			}
			app, user, id := r.owner()
			switch {
			case !r.Time().Before(before), keep != nil && keep(app, user):
			case r.Appeal != nil && r.Appeal.Status == AppealOpen, r.Statement != nil && contested[id]:
			default:
				old = append(old, r)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		for _, r := range old {
			app, user, id := r.owner()
			if err := t.DeleteRecord(ctx, kind, id, app, user); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Statement ids are made from what they explain, so the refusal that
// names one and the record written beside it agree without a round trip,
// and a retried write lands on the same id.

// RefusalStatementID is the statement of the refusal report reportID recorded.
func RefusalStatementID(reportID string) string { return "st_r_" + reportID }

// EscalationStatementID is the statement of the automatic suspension or
// ban report reportID caused.
func EscalationStatementID(reportID string) string { return "st_e_" + reportID }

// ActionStatementID is the statement of a reviewer's suspension or ban.
func ActionStatementID(actionID string) string { return "st_a_" + actionID }

// AppealID is the id of the appeal against a statement: one per statement.
func AppealID(statementID string) string {
	if rest, ok := strings.CutPrefix(statementID, "st_"); ok {
		return "ap_" + rest
	}
	return "ap_" + statementID
}
