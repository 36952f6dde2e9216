// Package redisstore is the Redis store: many stateless gateway replicas
// share one Redis (standalone, Sentinel or Cluster through
// redis.UniversalClient). Atomic updates are the Lua scripts in scripts.go,
// keys are built in keys.go, URL formats are in url.go.
//
// AddReport runs two scripts: reportScript in the user's slot (the source
// of truth: idempotency by report id, strikes, escalation, change notice)
// and globalReportScript in the global slot (global stream, category
// streams, queue, audit, warm-up list). Both are idempotent by id, so a
// failure between them is repaired by retrying the call — which is what
// the enforcer's spool replay does.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/store"
)

func init() {
	for _, s := range []string{"redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"} {
		store.Register(s, func(ctx context.Context, u string, o store.Options) (store.Store, error) {
			return OpenURL(ctx, u, o)
		})
	}
}

// Store is the Redis store.
type Store struct {
	// The compliance records' methods (statements, appeals, notices), on
	// this store's record table (compliance.go).
	store.ComplianceOn
	c    redis.UniversalClient
	k    keys
	now  func() time.Time
	log  store.Options
	ctx  context.Context // cancelled by Close: ends subscriptions
	stop context.CancelFunc
	once sync.Once
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.BatchTaker = (*Store)(nil)
)

// OpenURL connects to the Redis named by raw (formats: see parse) and pings it.
func OpenURL(ctx context.Context, raw string, o store.Options) (*Store, error) {
	c, prefix, err := parse(raw)
	if err != nil {
		return nil, err
	}
	s := New(c, prefix, o)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis store %s: %w", store.Redact(raw), err)
	}
	return s, nil
}

// New wraps an existing client; prefix "" means "aup".
func New(c redis.UniversalClient, prefix string, o store.Options) *Store {
	if o.Clock == nil || o.Logger == nil {
		o = store.BuildOptions(func(x *store.Options) { *x = o })
	}
	if prefix == "" {
		prefix = "aup"
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{c: c, k: keys{prefix}, now: o.Clock, log: o, ctx: ctx, stop: stop}
	s.ComplianceOn = store.ComplianceOn{T: records{s}}
	return s
}

// Client exposes the client (tests, diagnostics).
func (s *Store) Client() redis.UniversalClient { return s.c }

// --- standing ---

// raw is a user's stored standing fields.
type raw struct {
	status         string
	until, at, hl  int64
	strikes        float64
	reports, unrev int
	last, ver      int64
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (r raw) standing(now time.Time) store.Standing {
	hl := time.Duration(r.hl) * time.Millisecond
	st := store.Effective(store.Status(r.status), fromMS(r.until), now)
	s := store.Standing{
		Status: st, Strikes: store.Decay(r.strikes, fromMS(r.at), now, hl), StrikesAt: now,
		Reports: r.reports, Unreviewed: r.unrev, LastReportAt: fromMS(r.last), Version: r.ver,
	}
	if st == store.Suspended {
		s.Until = fromMS(r.until)
	}
	return s
}

func (r raw) riskKey() float64 {
	return store.RiskKey(r.strikes, fromMS(r.at), time.Duration(r.hl)*time.Millisecond)
}

var stFields = []string{"status", "until", "strikes", "strikes_at", "hl", "reports", "unrev", "last", "ver"}

func parseRaw(vals []any) raw {
	str := func(i int) string {
		if i < len(vals) {
			if s, ok := vals[i].(string); ok {
				return s
			}
		}
		return ""
	}
	i64 := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
	f, _ := strconv.ParseFloat(str(2), 64)
	r := raw{status: str(0), until: i64(1), strikes: f, at: i64(3), hl: i64(4), reports: int(i64(5)), unrev: int(i64(6)), last: i64(7), ver: i64(8)}
	if r.status == "" {
		r.status = string(store.Active)
	}
	return r
}

// parseReply decodes a userReply (see scripts.go).
func parseReply(v any) (flag int64, js string, r raw, changed bool, err error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 12 {
		return 0, "", raw{}, false, fmt.Errorf("redis store: unexpected script reply %v", v)
	}
	flag, _ = arr[0].(int64)
	js, _ = arr[1].(string)
	r = parseRaw(arr[2:11])
	c, _ := arr[11].(int64)
	return flag, js, r, c == 1, nil
}

func (s *Store) GetStanding(ctx context.Context, app, user string) (store.Standing, error) {
	vals, err := s.c.HMGet(ctx, s.k.user(app, user).st, stFields...).Result()
	if err != nil {
		return store.Standing{}, err
	}
	return parseRaw(vals).standing(s.now()), nil
}

func (s *Store) ListSanctioned(ctx context.Context) ([]store.UserStanding, error) {
	all, err := s.c.HGetAll(ctx, s.k.g("sanct")).Result()
	if err != nil {
		return nil, err
	}
	type cand struct{ app, user string }
	var cands []cand
	for m, v := range all {
		_, status, _ := strings.Cut(v, ":")
		app, user, ok := parseMember(m)
		if ok && status != string(store.Active) {
			cands = append(cands, cand{app, user})
		}
	}
	// The list is an index; the users' own records are the truth.
	out := []store.UserStanding{}
	now := s.now()
	for i := 0; i < len(cands); i += 256 {
		part := cands[i:min(i+256, len(cands))]
		pipe := s.c.Pipeline()
		cmds := make([]*redis.SliceCmd, len(part))
		for j, c := range part {
			cmds[j] = pipe.HMGet(ctx, s.k.user(c.app, c.user).st, stFields...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for j, c := range part {
			if st := parseRaw(cmds[j].Val()).standing(now); st.Sanctioned() {
				out = append(out, store.UserStanding{App: c.app, User: c.user, Standing: st})
			}
		}
	}
	return out, nil
}

// --- reports ---

// actRec is an action as the scripts write it (times in ms).
type actRec struct {
	ID     string   `json:"id"`
	T      string   `json:"t"`
	Actor  string   `json:"actor"`
	App    string   `json:"app"`
	User   string   `json:"user"`
	Action string   `json:"action"`
	Dur    string   `json:"dur"`
	Reason string   `json:"reason"`
	RIDs   []string `json:"rids"`
	Cats   []string `json:"cats,omitempty"` // automatic escalations: the report's categories
	Before string   `json:"before"`
	After  string   `json:"after"`
	Until  string   `json:"until"`
	// Privacy actions only (written from Go, see privacy.go).
	Hold    string         `json:"hold,omitempty"`
	Subject string         `json:"subject,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
}

func decodeAction(js string) (store.Action, error) {
	var r actRec
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return store.Action{}, fmt.Errorf("redis store: corrupt action record: %w", err)
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	return store.Action{
		ID: r.ID, Time: fromMS(n(r.T)), Actor: r.Actor, App: r.App, User: r.User, Action: r.Action,
		Duration: time.Duration(n(r.Dur)) * time.Millisecond, Reason: r.Reason, ReportIDs: r.RIDs, Categories: r.Cats,
		Before: store.Status(r.Before), After: store.Status(r.After), Until: fromMS(n(r.Until)),
		Hold: r.Hold, Subject: r.Subject, Counts: r.Counts,
	}, nil
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (s *Store) AddReport(ctx context.Context, rep store.Report, p store.Policy) (store.AddResult, error) {
	c, err := s.newReportCall(rep, p)
	if err != nil {
		return store.AddResult{}, err
	}
	res, gargs, err := c.userDone(reportScript.Run(ctx, s.c, c.keys, c.args...).Result())
	if err != nil {
		return store.AddResult{}, err
	}
	// Global indexes: run on duplicates too, so a replay repairs a run
	// that failed between the two scripts.
	if err := globalReportScript.Run(ctx, s.c, c.gkeys, gargs...).Err(); err != nil {
		return store.AddResult{}, fmt.Errorf("redis store: index report: %w", err)
	}
	return res, nil
}

// AddReports records reps as AddReport does, in two pipelined rounds (the
// users' scripts, then the global ones) instead of two round trips per
// report: bulk loads. Reports of one user keep their order.
func (s *Store) AddReports(ctx context.Context, reps []store.Report, p store.Policy) ([]store.AddResult, error) {
	calls := make([]*reportCall, len(reps))
	for i, r := range reps {
		c, err := s.newReportCall(r, p)
		if err != nil {
			return nil, err
		}
		calls[i] = c
	}
	// Pipelines cannot fall back from EVALSHA to EVAL: load both first.
	for _, sc := range []*redis.Script{reportScript, globalReportScript} {
		if err := sc.Load(ctx, s.c).Err(); err != nil {
			return nil, fmt.Errorf("redis store: load script: %w", err)
		}
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = reportScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis store: add reports: %w", err)
	}
	out := make([]store.AddResult, len(calls))
	pipe = s.c.Pipeline()
	for i, c := range calls {
		res, gargs, err := c.userDone(cmds[i].Result())
		if err != nil {
			return nil, err
		}
		out[i] = res
		globalReportScript.EvalSha(ctx, pipe, c.gkeys, gargs...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis store: index reports: %w", err)
	}
	return out, nil
}

// reportCall is one report's two script calls.
type reportCall struct {
	rep         store.Report
	js          []byte
	now         time.Time
	keys, gkeys []string
	args        []any
}

func (s *Store) newReportCall(rep store.Report, p store.Policy) (*reportCall, error) {
	if err := store.ValidateReport(rep); err != nil {
		return nil, err
	}
	rep.Reviewed, rep.ReviewedAt = false, time.Time{}
	js, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	now := s.now()
	uk := s.k.user(rep.App, rep.User)
	cats := store.Uniq(rep.Categories)
	sfor := p.SuspendFor
	if sfor <= 0 {
		sfor = 24 * time.Hour
	}
	args := []any{rep.ID, "", ms(now), ms(rep.Time), fnum(rep.Strike), p.HalfLife.Milliseconds(),
		fnum(p.SuspendAt), fnum(p.BanAt), sfor.Milliseconds(), rep.Escalation, store.NewID(now),
		rep.App, rep.User, s.k.channel(), rep.Pseudonym}
	for _, c := range cats {
		args = append(args, c)
	}
	gk := []string{s.k.g("rid"), s.k.g("reports"), s.k.g("audit"), s.k.g("aid"), s.k.g("queue"), s.k.g("sanct"), s.k.g("pseud"), s.k.userApps(rep.User)}
	for _, c := range cats {
		gk = append(gk, s.k.cat(c))
	}
	return &reportCall{rep: rep, js: js, now: now, args: args, gkeys: gk,
		keys: []string{uk.st, uk.reports, uk.rid, uk.unrev, uk.actions, uk.esc, uk.cats, uk.aids, uk.pseud}}, nil
}

// userDone reads reportScript's reply and returns the result and the
// global script's arguments.
func (c *reportCall) userDone(v any, err error) (store.AddResult, []any, error) {
	if err != nil {
		return store.AddResult{}, nil, fmt.Errorf("redis store: add report: %w", err)
	}
	flag, act, r, changed, err := parseReply(v)
	if err != nil {
		return store.AddResult{}, nil, err
	}
	res := store.AddResult{Standing: r.standing(c.now), Changed: changed, Duplicate: flag == 0}
	actID := ""
	if act != "" {
		a, err := decodeAction(act)
		if err != nil {
			return store.AddResult{}, nil, err
		}
		res.Action, actID = &a, a.ID
	}
	rep := &c.rep
	return res, []any{rep.ID, c.js, member(rep.App, rep.User), fnum(r.riskKey()),
		r.unrev, r.status, r.ver, act, actID, rep.Pseudonym, rep.App}, nil
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
	uk := s.k.user(a.App, a.User)
	all := "0"
	if len(a.ReportIDs) == 0 && a.Action != store.ActNote {
		all = "1"
	}
	args := []any{a.ID, ms(now), a.Actor, a.App, a.User, a.Action, a.Duration.Milliseconds(), a.Reason, s.k.channel(), all}
	for _, id := range a.ReportIDs {
		args = append(args, id)
	}
	v, err := actionScript.Run(ctx, s.c, []string{uk.st, uk.actions, uk.aids, uk.unrev, uk.rid, uk.reviewed}, args...).Result()
	if err != nil {
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "NOTFOUND"):
			return store.Action{}, store.Standing{}, fmt.Errorf("%w: no report %q for this user", store.ErrNotFound, strings.TrimSpace(strings.TrimPrefix(msg, "NOTFOUND")))
		case strings.HasPrefix(msg, "INVALID"):
			return store.Action{}, store.Standing{}, fmt.Errorf("%w: %s", store.ErrInvalid, strings.TrimPrefix(msg, "INVALID "))
		}
		return store.Action{}, store.Standing{}, fmt.Errorf("redis store: apply action: %w", err)
	}
	_, js, r, _, err := parseReply(v)
	if err != nil {
		return store.Action{}, store.Standing{}, err
	}
	out, err := decodeAction(js)
	if err != nil {
		return store.Action{}, store.Standing{}, err
	}
	err = globalActionScript.Run(ctx, s.c, []string{s.k.g("audit"), s.k.g("aid"), s.k.g("queue"), s.k.g("sanct"), s.k.userApps(a.User)},
		out.ID, js, member(a.App, a.User), r.unrev, r.status, r.ver, fnum(r.riskKey()), a.App).Err()
	if err != nil {
		return store.Action{}, store.Standing{}, fmt.Errorf("redis store: index action: %w", err)
	}
	return out, r.standing(now), nil
}

// --- listings ---

func decodeReports(msgs []redis.XMessage) ([]store.Report, error) {
	out := make([]store.Report, 0, len(msgs))
	for _, m := range msgs {
		js, _ := m.Values["r"].(string)
		var r store.Report
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			return nil, fmt.Errorf("redis store: corrupt report %s: %w", m.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// resolve returns the reports stream entries stand for, aligned with msgs
// (nil where the report is not in the global stream: purged, or its
// global half not written yet). The global stream's entries carry the
// JSON (field r, as every stream's did before); a category stream's name
// the global entry (g) and a user stream's the report id (i), so each
// report is kept once.
func (s *Store) resolve(ctx context.Context, msgs []redis.XMessage) ([]*store.Report, error) {
	out := make([]*store.Report, len(msgs))
	sids := make([]string, len(msgs))
	var ids []string
	var at []int
	for i, m := range msgs {
		switch {
		case m.Values["r"] != nil:
			rs, err := decodeReports(msgs[i : i+1])
			if err != nil {
				return nil, err
			}
			out[i] = &rs[0]
		case m.Values["g"] != nil:
			sids[i], _ = m.Values["g"].(string)
		case m.Values["i"] != nil:
			id, _ := m.Values["i"].(string)
			ids, at = append(ids, id), append(at, i)
		}
	}
	if len(ids) > 0 {
		vals, err := s.c.HMGet(ctx, s.k.g("rid"), ids...).Result()
		if err != nil {
			return nil, err
		}
		for j, v := range vals {
			if str, ok := v.(string); ok && str != "-" {
				sids[at[j]], _, _ = cutSpace(str)
			}
		}
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, len(msgs))
	n := 0
	for i, sid := range sids {
		if sid != "" {
			cmds[i] = pipe.XRangeN(ctx, s.k.g("reports"), sid, sid, 1)
			n++
		}
	}
	if n == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	for i, c := range cmds {
		if c == nil || len(c.Val()) == 0 {
			continue
		}
		rs, err := decodeReports(c.Val())
		if err != nil {
			return nil, err
		}
		out[i] = &rs[0]
	}
	return out, nil
}

// fillReviewed sets Reviewed/ReviewedAt from the users' reviewed hashes.
func (s *Store) fillReviewed(ctx context.Context, rs []store.Report) error {
	if len(rs) == 0 {
		return nil
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.StringCmd, len(rs))
	for i, r := range rs {
		cmds[i] = pipe.HGet(ctx, s.k.user(r.App, r.User).reviewed, r.ID)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for i := range rs {
		if v, err := cmds[i].Int64(); err == nil {
			rs[i].Reviewed, rs[i].ReviewedAt = true, fromMS(v)
		}
	}
	return nil
}

// scanBudget bounds the entries one listing call reads while filtering;
// when it runs out the page is short but has a next cursor.
const scanBudget = 5000

func validStreamID(c string) bool {
	a, b, ok := strings.Cut(c, "-")
	if !ok {
		return false
	}
	_, e1 := strconv.ParseUint(a, 10, 64)
	_, e2 := strconv.ParseUint(b, 10, 64)
	return e1 == nil && e2 == nil
}

// revPage reads stream newest first from below cursor, keeping entries
// keep accepts, until limit entries are kept. prep, when set, sees each
// batch read before keep sees its entries.
func (s *Store) revPage(ctx context.Context, stream, cursor string, limit int, prep func([]redis.XMessage) error, keep func(redis.XMessage) (bool, error)) (next string, err error) {
	start := "+"
	if cursor != "" {
		if !validStreamID(cursor) {
			return "", fmt.Errorf("%w: %q", store.ErrBadCursor, cursor)
		}
		start = "(" + cursor
	}
	kept, scanned := 0, 0
	for {
		n := min(max(limit-kept, 16)*2, 500)
		msgs, err := s.c.XRevRangeN(ctx, stream, start, "-", int64(n)).Result()
		if err != nil {
			return "", err
		}
		if prep != nil {
			if err := prep(msgs); err != nil {
				return "", err
			}
		}
		for _, m := range msgs {
			scanned++
			ok, err := keep(m)
			if err != nil {
				return "", err
			}
			if ok {
				kept++
			}
			if kept == limit || scanned >= scanBudget {
				return m.ID, nil
			}
			start = "(" + m.ID
		}
		if len(msgs) < n {
			return "", nil
		}
	}
}

func (s *Store) Reports(ctx context.Context, q store.ReportQuery) (store.Page[store.Report], error) {
	page := store.Page[store.Report]{Items: []store.Report{}}
	if q.User != "" && q.App == "" {
		return page, fmt.Errorf("%w: a user filter needs the app", store.ErrInvalid)
	}
	stream := s.k.g("reports")
	switch {
	case q.User != "":
		stream = s.k.user(q.App, q.User).reports
	case q.Category != "":
		stream = s.k.cat(q.Category)
	}
	var got map[string]*store.Report
	prep := func(msgs []redis.XMessage) error {
		rs, err := s.resolve(ctx, msgs)
		got = make(map[string]*store.Report, len(msgs))
		for i, r := range rs {
			got[msgs[i].ID] = r
		}
		return err
	}
	next, err := s.revPage(ctx, stream, q.Cursor, store.PageLimit(q.Limit), prep, func(m redis.XMessage) (bool, error) {
		if r := got[m.ID]; r != nil && store.MatchReport(r, q) {
			page.Items = append(page.Items, *r)
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return page, err
	}
	page.Next = next
	return page, s.fillReviewed(ctx, page.Items)
}

func (s *Store) Audit(ctx context.Context, q store.AuditQuery) (store.Page[store.Action], error) {
	page := store.Page[store.Action]{Items: []store.Action{}}
	if q.User != "" && q.App == "" {
		return page, fmt.Errorf("%w: a user filter needs the app", store.ErrInvalid)
	}
	stream := s.k.g("audit")
	if q.User != "" {
		stream = s.k.user(q.App, q.User).actions
	}
	next, err := s.revPage(ctx, stream, q.Cursor, store.PageLimit(q.Limit), nil, func(m redis.XMessage) (bool, error) {
		js, _ := m.Values["a"].(string)
		a, err := decodeAction(js)
		if err != nil {
			return false, err
		}
		if q.App != "" && a.App != q.App {
			return false, nil
		}
		page.Items = append(page.Items, a)
		return true, nil
	})
	page.Next = next
	return page, err
}

func (s *Store) Queue(ctx context.Context, q store.QueueQuery) (store.Page[store.QueueItem], error) {
	page := store.Page[store.QueueItem]{Items: []store.QueueItem{}}
	maxScore := "+inf"
	var cur *store.QueueCursor
	if q.Cursor != "" {
		c, err := store.DecodeQueueCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		cur, maxScore = &c, fnum(c.Key)
	}
	limit := store.PageLimit(q.Limit)
	now := s.now()
	var offset int64
	scanned := 0
	for {
		const n = 200
		zs, err := s.c.ZRevRangeByScoreWithScores(ctx, s.k.g("queue"), &redis.ZRangeBy{Max: maxScore, Min: "-inf", Offset: offset, Count: n}).Result()
		if err != nil {
			return page, err
		}
		offset += int64(len(zs))
		type entry struct {
			key       float64
			mem       string
			app, user string
			st        *redis.SliceCmd
			cats      *redis.MapStringStringCmd
		}
		var es []entry
		pipe := s.c.Pipeline()
		for _, z := range zs {
			m, _ := z.Member.(string)
			if cur != nil && !cur.After(z.Score, m) {
				continue
			}
			app, user, ok := parseMember(m)
			if !ok || (q.App != "" && app != q.App) {
				continue
			}
			uk := s.k.user(app, user)
			es = append(es, entry{key: z.Score, mem: m, app: app, user: user, st: pipe.HMGet(ctx, uk.st, stFields...), cats: pipe.HGetAll(ctx, uk.cats)})
		}
		if len(es) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return page, err
			}
		}
		for _, e := range es {
			scanned++
			r := parseRaw(e.st.Val())
			st := r.standing(now)
			cats := e.cats.Val()
			// The queue index may lag the users' records (it is updated
			// after them); the records decide.
			ok := r.unrev > 0 && (q.Status == "" || st.Status == q.Status) && (q.Category == "" || cats[q.Category] != "") && st.Strikes >= q.MinRisk
			if ok {
				names := make([]string, 0, len(cats))
				for c := range cats {
					names = append(names, c)
				}
				sort.Strings(names)
				page.Items = append(page.Items, store.QueueItem{
					User: e.user, App: e.app, Risk: st.Strikes, Status: st.Status, Until: st.Until,
					Reports: r.reports, Unreviewed: r.unrev, Categories: names, LastReportAt: st.LastReportAt,
				})
			}
			if len(page.Items) == limit || scanned >= scanBudget {
				page.Next = store.EncodeQueueCursor(store.QueueCursor{Key: e.key, Member: e.mem})
				return page, nil
			}
		}
		if len(zs) < n {
			return page, nil
		}
	}
}

func (s *Store) User(ctx context.Context, app, user string) (store.Case, error) {
	c := store.Case{App: app, User: user, Reports: []store.Report{}, Actions: []store.Action{}, Categories: map[string]int{}}
	uk := s.k.user(app, user)
	pipe := s.c.Pipeline()
	st := pipe.HMGet(ctx, uk.st, stFields...)
	reps := pipe.XRevRangeN(ctx, uk.reports, "+", "-", store.CaseLimit)
	acts := pipe.XRevRangeN(ctx, uk.actions, "+", "-", store.CaseLimit)
	cats := pipe.HGetAll(ctx, uk.cats)
	pseud := pipe.SMembers(ctx, uk.pseud)
	if _, err := pipe.Exec(ctx); err != nil {
		return c, err
	}
	c.Standing = parseRaw(st.Val()).standing(s.now())
	for k, v := range cats.Val() {
		c.Categories[k], _ = strconv.Atoi(v)
	}
	c.Pseudonyms = pseud.Val()
	sort.Strings(c.Pseudonyms)
	found, err := s.resolve(ctx, reps.Val())
	if err != nil {
		return c, err
	}
	rs := make([]store.Report, 0, len(found))
	for _, r := range found {
		if r != nil {
			rs = append(rs, *r)
		}
	}
	if err := s.fillReviewed(ctx, rs); err != nil {
		return c, err
	}
	c.Reports = rs
	for _, m := range acts.Val() {
		js, _ := m.Values["a"].(string)
		a, err := decodeAction(js)
		if err != nil {
			return c, err
		}
		c.Actions = append(c.Actions, a)
	}
	return c, nil
}

func (s *Store) Apps(ctx context.Context, user string) ([]string, error) {
	apps, err := s.c.SMembers(ctx, s.k.userApps(user)).Result()
	sort.Strings(apps)
	return apps, err
}

func (s *Store) FindPseudonym(ctx context.Context, pseudonym string) (string, string, bool, error) {
	m, err := s.c.HGet(ctx, s.k.g("pseud"), pseudonym).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	app, user, ok := parseMember(m)
	return app, user, ok, nil
}

// --- iterators ---

func (s *Store) walk(ctx context.Context, stream string, fn func(redis.XMessage) error) error {
	start := "-"
	for {
		msgs, err := s.c.XRangeN(ctx, stream, start, "+", 500).Result()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
			start = "(" + m.ID
		}
		if len(msgs) < 500 {
			return nil
		}
	}
}

func (s *Store) EachReport(ctx context.Context, since, until time.Time, fn func(store.Report) error) error {
	var buf []store.Report
	flush := func() error {
		if err := s.fillReviewed(ctx, buf); err != nil {
			return err
		}
		for _, r := range buf {
			if err := fn(r); err != nil {
				return err
			}
		}
		buf = buf[:0]
		return nil
	}
	err := s.walk(ctx, s.k.g("reports"), func(m redis.XMessage) error {
		rs, err := decodeReports([]redis.XMessage{m})
		if err != nil {
			return err
		}
		if store.InRange(rs[0].Time, since, until) {
			buf = append(buf, rs[0])
		}
		if len(buf) == 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func (s *Store) EachAction(ctx context.Context, since, until time.Time, fn func(store.Action) error) error {
	return s.walk(ctx, s.k.g("audit"), func(m redis.XMessage) error {
		js, _ := m.Values["a"].(string)
		a, err := decodeAction(js)
		if err != nil {
			return err
		}
		if !store.InRange(a.Time, since, until) {
			return nil
		}
		return fn(a)
	})
}

// --- rate limits, secrets ---

func (s *Store) Take(ctx context.Context, key string, l store.Limit, n int) (int, time.Duration, error) {
	if l.PerMinute <= 0 {
		return max(n, 0), 0, nil
	}
	v, err := takeScript.Run(ctx, s.c, []string{s.k.rate(key)}, s.now().UnixMicro(), l.PerMinute, n).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("redis store: take: %w", err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("redis store: take: unexpected reply %v", v)
	}
	return int(v[0]), time.Duration(v[1]) * time.Microsecond, nil
}

// TakeMany is Take for many buckets in one pipelined round trip (the
// rate limiter's lease fetches of many end users). Cluster clients split
// the pipeline by node. A reply of NOSCRIPT (a restarted Redis) means that
// command never ran: it is redone with Take, which loads the script.
func (s *Store) TakeMany(ctx context.Context, reqs []store.TakeReq, res []store.TakeRes) {
	now := s.now().UnixMicro()
	cmds := make([]*redis.Cmd, len(reqs))
	p := s.c.Pipeline()
	for i, r := range reqs {
		if r.Limit.PerMinute <= 0 {
			continue
		}
		cmds[i] = takeScript.EvalSha(ctx, p, []string{s.k.rate(r.Key)}, now, r.Limit.PerMinute, r.N)
	}
	if p.Len() > 0 {
		p.Exec(ctx) // errors are read per command below
	}
	for i, r := range reqs {
		c := cmds[i]
		if c == nil {
			res[i] = store.TakeRes{Granted: max(r.N, 0)}
			continue
		}
		v, err := c.Int64Slice()
		switch {
		case redis.HasErrorPrefix(err, "NOSCRIPT"):
			g, retry, err := s.Take(ctx, r.Key, r.Limit, r.N)
			res[i] = store.TakeRes{Granted: g, RetryAfter: retry, Err: err}
		case err != nil:
			res[i] = store.TakeRes{Err: fmt.Errorf("redis store: take: %w", err)}
		case len(v) != 2:
			res[i] = store.TakeRes{Err: fmt.Errorf("redis store: take: unexpected reply %v", v)}
		default:
			res[i] = store.TakeRes{Granted: int(v[0]), RetryAfter: time.Duration(v[1]) * time.Microsecond}
		}
	}
}

func (s *Store) Shared() bool { return true }

func (s *Store) GetOrCreateSecret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	k := s.k.secret(name)
	v, err := s.c.Get(ctx, k).Bytes()
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, redis.Nil) {
		return nil, err
	}
	fresh, err := gen()
	if err != nil {
		return nil, err
	}
	if err := s.c.SetNX(ctx, k, fresh, 0).Err(); err != nil {
		return nil, err
	}
	// Whoever won SETNX, this read returns the winner's bytes.
	return s.c.Get(ctx, k).Bytes()
}

// --- policy versions ---

func (s *Store) PutPolicyVersion(ctx context.Context, hash string, files map[string][]byte) (bool, error) {
	if err := store.CheckPolicyVersion(hash, files); err != nil {
		return false, err
	}
	k := s.k.policy(hash)
	// Ask first: a version already kept is never sent again (bundles
	// carry a megabyte model file).
	if n, err := s.c.Exists(ctx, k).Result(); err != nil || n > 0 {
		return false, err
	}
	enc, err := store.EncodePolicyVersion(store.PolicyVersion{Hash: hash, Files: files, StoredAt: s.now()})
	if err != nil {
		return false, err
	}
	// SET NX: the first writer wins, on every replica.
	return s.c.SetNX(ctx, k, enc, 0).Result()
}

func (s *Store) PolicyVersion(ctx context.Context, hash string) (store.PolicyVersion, error) {
	b, err := s.c.Get(ctx, s.k.policy(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.PolicyVersion{}, fmt.Errorf("%w: policy version %q", store.ErrNotFound, hash)
	}
	if err != nil {
		return store.PolicyVersion{}, err
	}
	return store.DecodePolicyVersion(b)
}

// --- change feed ---

type notice struct {
	App     string `json:"app"`
	User    string `json:"user"`
	Status  string `json:"status"`
	Until   string `json:"until"`
	Strikes string `json:"strikes"`
	At      string `json:"at"`
	HL      string `json:"hl"`
	Reports string `json:"reports"`
	Unrev   string `json:"unrev"`
	Last    string `json:"last"`
	Ver     string `json:"ver"`
	// Resync: a record was removed (erasure); caches must reload.
	Resync bool `json:"resync,omitempty"`
}

func (s *Store) Subscribe(ctx context.Context) (<-chan store.Change, error) {
	ps := s.c.Subscribe(ctx, s.k.channel())
	// Wait for the confirmation so changes made after Subscribe returns
	// are delivered.
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("redis store: subscribe: %w", err)
	}
	out := make(chan store.Change, 1024)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	// A blocked Receive ignores its context; closing the PubSub unblocks it.
	unblock := context.AfterFunc(ctx, func() { ps.Close() })
	go func() {
		defer close(out)
		defer stop()
		defer unblock()
		defer ps.Close()
		lost := false
		backoff := 50 * time.Millisecond
		for {
			msg, err := ps.Receive(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				// go-redis reconnects and resubscribes on the next Receive;
				// whatever was published meanwhile is lost.
				lost = true
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			if lost {
				lost = false
				if !send(ctx, out, store.Change{Resync: true}) {
					return
				}
			}
			m, ok := msg.(*redis.Message)
			if !ok {
				continue
			}
			var n notice
			if err := json.Unmarshal([]byte(m.Payload), &n); err != nil {
				continue
			}
			if n.Resync {
				if !send(ctx, out, store.Change{Resync: true}) {
					return
				}
				continue
			}
			f, _ := strconv.ParseFloat(n.Strikes, 64)
			i := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
			r := raw{status: n.Status, until: i(n.Until), strikes: f, at: i(n.At), hl: i(n.HL), reports: int(i(n.Reports)), unrev: int(i(n.Unrev)), last: i(n.Last), ver: i(n.Ver)}
			if !send(ctx, out, store.Change{UserStanding: store.UserStanding{App: n.App, User: n.User, Standing: r.standing(s.now())}}) {
				return
			}
		}
	}()
	return out, nil
}

func send(ctx context.Context, ch chan<- store.Change, c store.Change) bool {
	select {
	case ch <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.stop()
		err = s.c.Close()
	})
	return err
}
