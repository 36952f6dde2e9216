package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/store"
)

var _ store.Keeper = (*Store)(nil)

// putHoldScript places a hold unless one with its key is in force (or,
// seeding, was ever placed).
//
// KEYS[1] g:holds  KEYS[2] g:holdseen
// ARGV[1] hold key  ARGV[2] hold JSON  ARGV[3] "1" = seed  ARGV[4] "1" = remember the key
// Returns 1 when placed, 0 when not.
var putHoldScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if ARGV[3] == '1' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] == '1' then redis.call('SADD', KEYS[2], ARGV[1]) end
return 1
`)

// releaseHoldScript removes a hold and returns its JSON (nil when none).
//
// KEYS[1] g:holds  ARGV[1] hold key
var releaseHoldScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
`)

// purgeUserReportScript removes one report from its user's slot and
// updates the user's counters (reports, unreviewed, categories).
//
// KEYS[1] st  KEYS[2] reports  KEYS[3] rid  KEYS[4] unrev  KEYS[5] reviewed
// KEYS[6] esc  KEYS[7] cats
// ARGV[1] report id  ARGV[2] app  ARGV[3] user  ARGV[4..] categories (distinct)
// Returns the user's unreviewed count after, or -1 when the report was not there.
var purgeUserReportScript = redis.NewScript(luaCommon + `
local sid = redis.call('HGET', KEYS[3], ARGV[1])
if not sid then return -1 end
redis.call('XDEL', KEYS[2], sid)
redis.call('HDEL', KEYS[3], ARGV[1])
local wasUnrev = redis.call('SREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
for i = 4, #ARGV do
  if redis.call('HINCRBY', KEYS[7], ARGV[i], -1) <= 0 then redis.call('HDEL', KEYS[7], ARGV[i]) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local s = load(KEYS[1])
if s.reports > 0 then s.reports = s.reports - 1 end
if wasUnrev == 1 and s.unrev > 0 then s.unrev = s.unrev - 1 end
s.ver = s.ver + 1
save(KEYS[1], s, ARGV[2], ARGV[3])
return s.unrev
`)

// purgeGlobalReportScript removes a report's global entries: the global
// stream, its category streams (ids recorded in g:rid in category order)
// and the dedupe id; takes the user off the queue when nothing is unreviewed.
//
// KEYS[1] g:rid  KEYS[2] g:reports  KEYS[3] g:queue  KEYS[4..] g:cat:C in the report's order
// ARGV[1] report id  ARGV[2] member  ARGV[3] unreviewed count after (-1: unknown)
var purgeGlobalReportScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local i = 0
  for sid in string.gmatch(v, '%S+') do
    i = i + 1
    if i == 1 then redis.call('XDEL', KEYS[2], sid)
    elseif KEYS[i + 2] then redis.call('XDEL', KEYS[i + 2], sid) end
  end
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if tonumber(ARGV[3]) == 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
return 1
`)

// purgeUserActionsScript removes actions by id from a user's slot: the
// action stream, the idempotency hash and escalation copies.
//
// KEYS[1] actions  KEYS[2] aids  KEYS[3] esc
// ARGV[1..] action ids
// Returns the number of stream entries removed.
var purgeUserActionsScript = redis.NewScript(`
local drop = {}
for i = 1, #ARGV do drop[ARGV[i]] = true; redis.call('HDEL', KEYS[2], ARGV[i]) end
local n = 0
local start = '-'
while true do
  local es = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 500)
  for _, e in ipairs(es) do
    local f = e[2]
    for j = 1, #f, 2 do
      if f[j] == 'a' then
        local ok, a = pcall(cjson.decode, f[j + 1])
        if ok and drop[a.id] then redis.call('XDEL', KEYS[1], e[1]); n = n + 1 end
      end
    end
    start = '(' .. e[1]
  end
  if #es < 500 then break end
end
local esc = redis.call('HGETALL', KEYS[3])
for j = 1, #esc, 2 do
  local ok, a = pcall(cjson.decode, esc[j + 1])
  if ok and drop[a.id] then redis.call('HDEL', KEYS[3], esc[j]) end
end
return n
`)

// purgeAuditScript removes actions from the global audit log by id.
//
// KEYS[1] g:audit  KEYS[2] g:aid  ARGV[1..] action ids
var purgeAuditScript = redis.NewScript(`
for i = 1, #ARGV do
  local sid = redis.call('HGET', KEYS[2], ARGV[i])
  if sid then redis.call('XDEL', KEYS[1], sid); redis.call('HDEL', KEYS[2], ARGV[i]) end
end
return 1
`)

// compactStreamScript rewrites a stream with the same entries and ids. A
// deleted stream entry stays, marked deleted, inside its node (DUMP, RDB
// and replication still carry its bytes) until the whole node is deleted;
// a rewrite drops those bytes. Bounded: a longer stream is left alone.
//
// KEYS[1] stream  ARGV[1] max entries
// Returns 1 when rewritten, 0 when too long (or absent).
var compactStreamScript = redis.NewScript(`
local n = redis.call('XLEN', KEYS[1])
if n == 0 or n > tonumber(ARGV[1]) then return 0 end
local last
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do if info[i] == 'last-generated-id' then last = info[i + 1] end end
local es = redis.call('XRANGE', KEYS[1], '-', '+')
redis.call('DEL', KEYS[1])
for _, e in ipairs(es) do redis.call('XADD', KEYS[1], e[1], unpack(e[2])) end
if last then redis.call('XSETID', KEYS[1], last) end
return 1
`)

// compactMax bounds the streams an erasure rewrites (one Lua call each).
const compactMax = 20000

// compactStreams rewrites the global streams an erasure deleted from;
// too long a stream keeps the deleted bytes until retention frees its
// nodes (docs/privacy.md), which is logged.
func (s *Store) compactStreams(ctx context.Context, streams []string) error {
	for _, k := range streams {
		n, err := compactStreamScript.Run(ctx, s.c, []string{k}, compactMax).Int()
		if err != nil {
			return fmt.Errorf("redis store: compact %s: %w", k, err)
		}
		if n == 0 {
			if l, _ := s.c.XLen(ctx, k).Result(); l > compactMax {
				s.log.Logger.Warn("erasure: stream too long to rewrite; deleted entries' bytes stay in its nodes until retention frees them", "stream", k, "entries", l)
			}
		}
	}
	return nil
}

// encodeAction writes an action the way the scripts do (times in ms).
func encodeAction(a store.Action) string {
	r := actRec{ID: a.ID, T: strconv.FormatInt(ms(a.Time), 10), Actor: a.Actor, App: a.App, User: a.User, Action: a.Action,
		Dur: strconv.FormatInt(a.Duration.Milliseconds(), 10), Reason: a.Reason, RIDs: a.ReportIDs, Cats: a.Categories,
		Before: string(a.Before), After: string(a.After), Until: strconv.FormatInt(max(ms(a.Until), 0), 10),
		Hold: a.Hold, Subject: a.Subject, Counts: a.Counts}
	if a.Until.IsZero() {
		r.Until = "0"
	}
	b, _ := json.Marshal(r)
	return string(b)
}

// putAuditAction appends a privacy action to the global audit log and,
// when it names a user, to the user's action stream.
func (s *Store) putAuditAction(ctx context.Context, a store.Action) error {
	js := encodeAction(a)
	if a.User != "" {
		uk := s.k.user(a.App, a.User)
		pipe := s.c.TxPipeline()
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: uk.actions, Values: []any{"a", js}})
		pipe.HSet(ctx, uk.aids, a.ID, js)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redis store: audit: %w", err)
		}
	}
	sid, err := s.c.XAdd(ctx, &redis.XAddArgs{Stream: s.k.g("audit"), Values: []any{"a", js}}).Result()
	if err == nil {
		err = s.c.HSet(ctx, s.k.g("aid"), a.ID, sid).Err()
	}
	if err != nil {
		return fmt.Errorf("redis store: audit: %w", err)
	}
	return nil
}

func (s *Store) PutHold(ctx context.Context, h store.Hold, seed bool) (bool, error) {
	if err := h.Validate(); err != nil {
		return false, err
	}
	if h.Kind == store.HoldReport && h.User == "" {
		if r, ok, err := s.reportByID(ctx, h.ReportID); err != nil {
			return false, err
		} else if ok {
			h.App, h.User = r.App, r.User
		}
	}
	now := s.now()
	h.Since = now
	js, _ := json.Marshal(h)
	seedFlag, remember := "0", "0"
	if seed {
		seedFlag = "1"
	}
	if h.Kind == store.HoldCategory {
		remember = "1" // only category holds are seeded; a user's key must not outlive an erasure
	}
	n, err := putHoldScript.Run(ctx, s.c, []string{s.k.g("holds"), s.k.g("holdseen")}, h.Key(), js, seedFlag, remember).Int()
	if err != nil || n == 0 {
		return false, err
	}
	return true, s.putAuditAction(ctx, store.HoldAction(store.NewID(now), now, store.ActHold, h, h.Actor, h.Reason))
}

// reportByID finds a report through the global dedupe hash.
func (s *Store) reportByID(ctx context.Context, id string) (store.Report, bool, error) {
	v, err := s.c.HGet(ctx, s.k.g("rid"), id).Result()
	if errors.Is(err, redis.Nil) {
		return store.Report{}, false, nil
	}
	if err != nil {
		return store.Report{}, false, err
	}
	sid, _, _ := cutSpace(v)
	msgs, err := s.c.XRangeN(ctx, s.k.g("reports"), sid, sid, 1).Result()
	if err != nil || len(msgs) == 0 {
		return store.Report{}, false, err
	}
	rs, err := decodeReports(msgs)
	if err != nil {
		return store.Report{}, false, err
	}
	return rs[0], true, nil
}

func cutSpace(v string) (string, string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			return v[:i], v[i+1:], true
		}
	}
	return v, "", false
}

func (s *Store) ReleaseHold(ctx context.Context, h store.Hold, actor, reason string) error {
	if actor == "" || reason == "" {
		return fmt.Errorf("%w: releasing a hold needs an actor and a reason", store.ErrInvalid)
	}
	v, err := releaseHoldScript.Run(ctx, s.c, []string{s.k.g("holds")}, h.Key()).Text()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: no hold %s", store.ErrNotFound, h.Key())
	}
	if err != nil {
		return fmt.Errorf("redis store: release hold: %w", err)
	}
	var cur store.Hold
	if err := json.Unmarshal([]byte(v), &cur); err != nil {
		return fmt.Errorf("redis store: corrupt hold: %w", err)
	}
	now := s.now()
	return s.putAuditAction(ctx, store.HoldAction(store.NewID(now), now, store.ActRelease, cur, actor, reason))
}

func (s *Store) HoldList(ctx context.Context) ([]store.Hold, error) {
	all, err := s.c.HGetAll(ctx, s.k.g("holds")).Result()
	if err != nil {
		return nil, err
	}
	out := make([]store.Hold, 0, len(all))
	for _, v := range all {
		var h store.Hold
		if err := json.Unmarshal([]byte(v), &h); err != nil {
			return nil, fmt.Errorf("redis store: corrupt hold: %w", err)
		}
		out = append(out, h)
	}
	return out, nil
}

// purgeReport removes one report everywhere: its user's slot, then the
// global slot. Both steps are idempotent, so a failed purge is retried by
// the next sweep pass.
func (s *Store) purgeReport(ctx context.Context, r *store.Report) error {
	uk := s.k.user(r.App, r.User)
	cats := store.Uniq(r.Categories)
	args := []any{r.ID, r.App, r.User}
	for _, c := range cats {
		args = append(args, c)
	}
	unrev, err := purgeUserReportScript.Run(ctx, s.c, []string{uk.st, uk.reports, uk.rid, uk.unrev, uk.reviewed, uk.esc, uk.cats}, args...).Int()
	if err != nil {
		return fmt.Errorf("redis store: purge report: %w", err)
	}
	gk := []string{s.k.g("rid"), s.k.g("reports"), s.k.g("queue")}
	for _, c := range cats {
		gk = append(gk, s.k.cat(c))
	}
	if err := purgeGlobalReportScript.Run(ctx, s.c, gk, r.ID, member(r.App, r.User), unrev).Err(); err != nil {
		return fmt.Errorf("redis store: purge report index: %w", err)
	}
	return nil
}

// purgeActions removes actions of one user (by id) from the user's slot
// and the global audit log.
func (s *Store) purgeActions(ctx context.Context, app, user string, ids []string) error {
	for i := 0; i < len(ids); i += 500 {
		part := ids[i:min(i+500, len(ids))]
		args := make([]any, len(part))
		for j, id := range part {
			args[j] = id
		}
		if user != "" {
			uk := s.k.user(app, user)
			if err := purgeUserActionsScript.Run(ctx, s.c, []string{uk.actions, uk.aids, uk.esc}, args...).Err(); err != nil {
				return fmt.Errorf("redis store: purge actions: %w", err)
			}
		}
		if err := purgeAuditScript.Run(ctx, s.c, []string{s.k.g("audit"), s.k.g("aid")}, args...).Err(); err != nil {
			return fmt.Errorf("redis store: purge audit: %w", err)
		}
	}
	return nil
}

// Sweep walks the global report stream, then the audit stream, from the
// cursor ("r<stream id>" / "a<stream id>").
func (s *Store) Sweep(ctx context.Context, req store.SweepRequest) (store.SweepResult, error) {
	var res store.SweepResult
	limit := req.Limit
	if limit <= 0 {
		limit = 500
	}
	phase, start := "r", "-"
	if c := req.Cursor; c != "" {
		if (c[0] != 'r' && c[0] != 'a') || !validStreamID(c[1:]) {
			return res, fmt.Errorf("%w: sweep cursor %q", store.ErrBadCursor, c)
		}
		phase, start = c[:1], "("+c[1:]
	}
	if phase == "r" {
		msgs, err := s.c.XRangeN(ctx, s.k.g("reports"), start, "+", int64(limit)).Result()
		if err != nil {
			return res, err
		}
		for _, m := range msgs {
			rs, err := decodeReports([]redis.XMessage{m})
			if err != nil {
				return res, err
			}
			r := &rs[0]
			if !req.Retention.Expired(r, req.Now) {
				continue
			}
			if req.Holds.Report(r) != "" {
				res.Held++
				continue
			}
			if err := s.purgeReport(ctx, r); err != nil {
				return res, err
			}
			res.Purged++
		}
		if len(msgs) == limit {
			res.Next = "r" + msgs[len(msgs)-1].ID
			return res, nil
		}
		phase, start = "a", "-"
	}
	if req.Retention.Actions <= 0 {
		return res, nil
	}
	msgs, err := s.c.XRangeN(ctx, s.k.g("audit"), start, "+", int64(limit)).Result()
	if err != nil {
		return res, err
	}
	byUser := map[[2]string][]string{}
	for _, m := range msgs {
		js, _ := m.Values["a"].(string)
		a, err := decodeAction(js)
		if err != nil {
			return res, err
		}
		if !req.Retention.ActionExpired(&a, req.Now) {
			continue
		}
		held := a.User != "" && req.Holds.User(a.App, a.User)
		for _, id := range a.ReportIDs {
			if held {
				break
			}
			r, ok, err := s.reportByID(ctx, id)
			if err != nil {
				return res, err
			}
			held = ok && req.Holds.Report(&r) != ""
		}
		if held { // actions citing a held report stay as long as it does
			res.Held++
			continue
		}
		k := [2]string{a.App, a.User}
		byUser[k] = append(byUser[k], a.ID)
		res.PurgedActions++
	}
	for k, ids := range byUser {
		if err := s.purgeActions(ctx, k[0], k[1], ids); err != nil {
			return res, err
		}
	}
	if len(msgs) == limit {
		res.Next = "a" + msgs[len(msgs)-1].ID
	}
	return res, nil
}

func (s *Store) EraseUser(ctx context.Context, req store.EraseRequest) (store.Erasure, error) {
	var e store.Erasure
	if req.App == "" || req.User == "" || req.Actor == "" || req.Subject == "" {
		return e, fmt.Errorf("%w: erasure needs app, user, actor and subject", store.ErrInvalid)
	}
	now := s.now()
	if req.Holds.User(req.App, req.User) {
		e.UserHeld = true
		return e, s.putAuditAction(ctx, store.ErasureAction(store.NewID(now), now, req, e))
	}
	uk := s.k.user(req.App, req.User)
	mem := member(req.App, req.User)
	held := map[string]bool{}
	keptPseud := map[string]bool{}
	var reps []store.Report
	var msgs []redis.XMessage
	flush := func() error {
		rs, err := s.resolve(ctx, msgs)
		for _, r := range rs {
			if r != nil {
				reps = append(reps, *r)
			}
		}
		msgs = msgs[:0]
		return err
	}
	err := s.walk(ctx, uk.reports, func(m redis.XMessage) error {
		if msgs = append(msgs, m); len(msgs) == 500 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return e, err
	}
	streams := []string{s.k.g("reports"), s.k.g("audit")}
	for i := range reps {
		r := &reps[i]
		if req.Holds.Report(r) != "" {
			held[r.ID] = true
			keptPseud[r.Pseudonym] = true
			continue
		}
		if err := s.purgeReport(ctx, r); err != nil {
			return e, err
		}
		e.Reports++
		for _, c := range store.Uniq(r.Categories) {
			if k := s.k.cat(c); !slices.Contains(streams, k) {
				streams = append(streams, k)
			}
		}
	}
	e.HeldReports = len(held)
	var drop []string
	err = s.walk(ctx, uk.actions, func(m redis.XMessage) error {
		js, _ := m.Values["a"].(string)
		a, err := decodeAction(js)
		if err != nil {
			return err
		}
		if store.KeepAction(&a, held) {
			e.HeldActions++
		} else {
			drop = append(drop, a.ID)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	if err := s.purgeActions(ctx, req.App, req.User, drop); err != nil {
		return e, err
	}
	e.Actions = len(drop)
	pseuds, err := s.c.SMembers(ctx, uk.pseud).Result()
	if err != nil {
		return e, err
	}
	for _, p := range pseuds {
		if keptPseud[p] {
			continue
		}
		// Only the link to this user: another user may have been given
		// the same pseudonym's mapping since.
		if cur, err := s.c.HGet(ctx, s.k.g("pseud"), p).Result(); err == nil && cur == mem {
			if err := s.c.HDel(ctx, s.k.g("pseud"), p).Err(); err != nil {
				return e, err
			}
		}
		if err := s.c.SRem(ctx, uk.pseud, p).Err(); err != nil {
			return e, err
		}
		e.Pseudonyms++
	}
	if len(held) == 0 {
		n, err := s.c.Exists(ctx, uk.st).Result()
		if err != nil {
			return e, err
		}
		e.Standing = n > 0
		// One slot: one DEL (Cluster accepts multi-key commands within a slot).
		if err := s.c.Del(ctx, uk.st, uk.reports, uk.rid, uk.unrev, uk.reviewed, uk.actions, uk.aids, uk.esc, uk.cats, uk.pseud).Err(); err != nil {
			return e, err
		}
		pipe := s.c.Pipeline()
		pipe.ZRem(ctx, s.k.g("queue"), mem)
		pipe.HDel(ctx, s.k.g("sanct"), mem)
		pipe.SRem(ctx, s.k.userApps(req.User), req.App)
		if _, err := pipe.Exec(ctx); err != nil {
			return e, err
		}
	}
	for _, k := range req.RateKeys {
		if err := s.c.Del(ctx, s.k.rate(k)).Err(); err != nil {
			return e, err
		}
	}
	if err := s.putAuditAction(ctx, store.ErasureAction(store.NewID(now), now, req, e)); err != nil {
		return e, err
	}
	if len(held) > 0 {
		streams = append(streams, uk.reports, uk.actions)
	}
	if err := s.compactStreams(ctx, streams); err != nil {
		return e, err
	}
	// The record is gone, so version-guarded caches must reload.
	if err := s.c.Publish(ctx, s.k.channel(), `{"resync":true}`).Err(); err != nil {
		return e, err
	}
	return e, nil
}
