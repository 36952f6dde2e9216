package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts mirror the rules in internal/store/logic.go (Decay,
// Effective, Escalate, Reviewer, GCRA); storetest checks both stores agree.
// Times are milliseconds since the epoch unless noted, durations ms.
//
// Several scripts reply with the user's raw standing, always in this
// layout (userReply):
//
//	{flag, json, status, until, strikes, strikes_at, hl, reports, unrev, last, ver, changed}
//
// flag 1 = applied now, 0 = duplicate id (nothing changed; json is the
// first run's action record or ""), changed 1 = the status changed.

// Shared Lua helpers, prepended to the user scripts.
const luaCommon = `
local rank = {active = 0, warned = 1, suspended = 2, banned = 3}
local function load(k)
  local h = redis.call('HMGET', k, 'status', 'until', 'strikes', 'strikes_at', 'hl', 'reports', 'unrev', 'last', 'ver')
  return {status = h[1] or 'active', untl = tonumber(h[2]) or 0, strikes = tonumber(h[3]) or 0,
    at = tonumber(h[4]) or 0, hl = tonumber(h[5]) or 0, reports = tonumber(h[6]) or 0,
    unrev = tonumber(h[7]) or 0, last = tonumber(h[8]) or 0, ver = tonumber(h[9]) or 0}
end
local function effective(s, now)
  if s.status == 'suspended' and s.untl > 0 and now >= s.untl then return 'active' end
  return s.status
end
local function decay(v, from, to, hl)
  if hl <= 0 or to <= from or v == 0 then return v end
  return v * math.pow(2, -(to - from) / hl)
end
local function save(k, s, app, user)
  redis.call('HSET', k, 'status', s.status, 'until', tostring(s.untl), 'strikes', string.format('%.17g', s.strikes),
    'strikes_at', tostring(s.at), 'hl', tostring(s.hl), 'reports', tostring(s.reports), 'unrev', tostring(s.unrev),
    'last', tostring(s.last), 'ver', tostring(s.ver), 'app', app, 'user', user)
end
local function publish(ch, s, app, user)
  redis.call('PUBLISH', ch, cjson.encode({app = app, user = user, status = s.status, ['until'] = tostring(s.untl),
    strikes = string.format('%.17g', s.strikes), at = tostring(s.at), hl = tostring(s.hl), reports = tostring(s.reports),
    unrev = tostring(s.unrev), last = tostring(s.last), ver = tostring(s.ver)}))
end
local function reply(flag, json, s, changed)
  return {flag, json, s.status, tostring(s.untl), string.format('%.17g', s.strikes), tostring(s.at), tostring(s.hl),
    tostring(s.reports), tostring(s.unrev), tostring(s.last), tostring(s.ver), changed}
end
`

// reportScript records one report in the user's slot: idempotency, the
// user's stream (the report id: the JSON is kept once, in the global
// stream), strikes with decay, counters, escalation and the change
// notice, all at once.
//
// KEYS[1] st  KEYS[2] reports  KEYS[3] rid  KEYS[4] unrev  KEYS[5] actions
// KEYS[6] esc  KEYS[7] cats  KEYS[8] aids  KEYS[9] pseud
// ARGV[1] report id  ARGV[2] unused (was the report JSON)  ARGV[3] now  ARGV[4] report time
// ARGV[5] strike  ARGV[6] half-life  ARGV[7] suspend_at  ARGV[8] ban_at
// ARGV[9] suspend_for  ARGV[10] recommended escalation ("", suspend, ban)
// ARGV[11] id for an escalation action  ARGV[12] app  ARGV[13] user
// ARGV[14] channel  ARGV[15] pseudonym  ARGV[16..] categories (distinct)
// Returns userReply; json = the escalation's action record or "".
var reportScript = redis.NewScript(luaCommon + `
local now = tonumber(ARGV[3])
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  local s = load(KEYS[1])
  return reply(0, redis.call('HGET', KEYS[6], ARGV[1]) or '', s, 0)
end
local sid = redis.call('XADD', KEYS[2], '*', 'i', ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], sid)
redis.call('SADD', KEYS[4], ARGV[1])
for i = 16, #ARGV do redis.call('HINCRBY', KEYS[7], ARGV[i], 1) end
if ARGV[15] ~= '' then redis.call('SADD', KEYS[9], ARGV[15]) end
local s = load(KEYS[1])
local eff = effective(s, now)
if eff ~= s.status then s.status = eff; s.untl = 0 end
local hl = tonumber(ARGV[6])
local rtime = tonumber(ARGV[4])
s.strikes = decay(s.strikes, s.at, now, hl) + decay(tonumber(ARGV[5]), rtime, now, hl)
s.at = now; s.hl = hl
s.reports = s.reports + 1; s.unrev = s.unrev + 1
if rtime > s.last then s.last = rtime end
s.ver = s.ver + 1
local suspendAt, banAt, rec = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[10]
local target = 'active'
if rec == 'ban' or (banAt > 0 and s.strikes >= banAt) then target = 'banned'
elseif rec == 'suspend' or (suspendAt > 0 and s.strikes >= suspendAt) then target = 'suspended' end
local changed, act = 0, ''
if rank[target] > rank[eff] then
  local reason
  if target == 'banned' and rec == 'ban' then reason = 'policy escalation: ban'
  elseif target == 'banned' then reason = string.format('strike score %.2f >= ban_at %s', s.strikes, ARGV[8])
  elseif rec == 'suspend' then reason = 'policy escalation: suspend'
  else reason = string.format('strike score %.2f >= suspend_at %s', s.strikes, ARGV[7]) end
  local a = {id = ARGV[11], t = tostring(now), actor = 'aupguard', app = ARGV[12], user = ARGV[13],
    reason = reason, rids = {ARGV[1]}, before = eff, after = target, dur = '0', ['until'] = '0'}
  if #ARGV >= 16 then
    local cs = {}
    for i = 16, #ARGV do cs[#cs + 1] = ARGV[i] end
    a.cats = cs
  end
  s.status = target; s.untl = 0
  if target == 'suspended' then
    a.action = 'suspend'
    s.untl = now + tonumber(ARGV[9])
    a.dur = ARGV[9]; a['until'] = tostring(s.untl)
  else
    a.action = 'ban'
  end
  act = cjson.encode(a)
  redis.call('XADD', KEYS[5], '*', 'a', act)
  redis.call('HSET', KEYS[6], ARGV[1], act)
  redis.call('HSET', KEYS[8], ARGV[11], act)
  changed = 1
end
save(KEYS[1], s, ARGV[12], ARGV[13])
publish(ARGV[14], s, ARGV[12], ARGV[13])
return reply(1, act, s, changed)
`)

// actionScript applies a reviewer action in the user's slot and appends it
// to the user's action stream, with before/after, also when nothing changes.
//
// KEYS[1] st  KEYS[2] actions  KEYS[3] aids  KEYS[4] unrev  KEYS[5] rid
// KEYS[6] reviewed
// ARGV[1] action id  ARGV[2] now  ARGV[3] actor  ARGV[4] app  ARGV[5] user
// ARGV[6] action  ARGV[7] duration  ARGV[8] reason  ARGV[9] channel
// ARGV[10] "1" = mark every unreviewed report reviewed  ARGV[11..] report ids
// Returns userReply (json = the action record), or the error
// "NOTFOUND <id>" when a report id is not one of the user's (nothing written).
var actionScript = redis.NewScript(luaCommon + `
local now = tonumber(ARGV[2])
local prev = redis.call('HGET', KEYS[3], ARGV[1])
if prev then return reply(0, prev, load(KEYS[1]), 0) end
local s = load(KEYS[1])
local eff = effective(s, now)
local act, dur = ARGV[6], tonumber(ARGV[7])
local nxt, untl, reset = eff, s.untl, false
if act == 'warn' then
  if rank[eff] < rank['warned'] then nxt = 'warned'; untl = 0 end
elseif act == 'suspend' then
  if dur <= 0 then return redis.error_reply('INVALID suspend needs a positive duration') end
  nxt = 'suspended'; untl = now + dur
elseif act == 'ban' then nxt = 'banned'; untl = 0
elseif act == 'reinstate' then nxt = 'active'; untl = 0; reset = true
elseif act == 'dismiss' or act == 'note' then
else return redis.error_reply('INVALID unknown action ' .. act) end
local ids = {}
if ARGV[10] == '1' then
  ids = redis.call('SMEMBERS', KEYS[4])
  table.sort(ids)
else
  for i = 11, #ARGV do
    if redis.call('HEXISTS', KEYS[5], ARGV[i]) == 0 then return redis.error_reply('NOTFOUND ' .. ARGV[i]) end
    ids[#ids + 1] = ARGV[i]
  end
end
for _, id in ipairs(ids) do
  if redis.call('SREM', KEYS[4], id) == 1 then
    redis.call('HSET', KEYS[6], id, tostring(now))
    s.unrev = s.unrev - 1
  end
end
if reset then s.strikes = 0; s.at = now end
if nxt ~= 'suspended' then untl = 0 end
s.status = nxt; s.untl = untl
s.ver = s.ver + 1
local a = {id = ARGV[1], t = tostring(now), actor = ARGV[3], app = ARGV[4], user = ARGV[5], action = act,
  dur = ARGV[7], reason = ARGV[8], before = eff, after = nxt, ['until'] = tostring(untl)}
if #ids > 0 then a.rids = ids end
local json = cjson.encode(a)
redis.call('XADD', KEYS[2], '*', 'a', json)
redis.call('HSET', KEYS[3], ARGV[1], json)
save(KEYS[1], s, ARGV[4], ARGV[5])
publish(ARGV[9], s, ARGV[4], ARGV[5])
local changed = 0
if nxt ~= eff then changed = 1 end
return reply(1, json, s, changed)
`)

// Shared global-index helper: the sanctioned list is guarded by the user's
// record version, so updates arriving out of order never resurrect an old
// status.
const luaSanct = `
local function sanct(k, m, ver, status)
  local cur = redis.call('HGET', k, m)
  local curver = -1
  if cur then curver = tonumber(string.match(cur, '^(%d+)')) or -1 end
  if ver > curver and (cur or status ~= 'active') then
    redis.call('HSET', k, m, tostring(ver) .. ':' .. status)
  end
end
local function queue(k, m, unrev, score)
  if unrev > 0 then redis.call('ZADD', k, score, m) else redis.call('ZREM', k, m) end
end
`

// globalReportScript updates the global indexes for one report, in the
// {P:g} slot, idempotently (it runs again when a spooled report replays).
//
// KEYS[1] g:rid  KEYS[2] g:reports  KEYS[3] g:audit  KEYS[4] g:aid
// KEYS[5] g:queue  KEYS[6] g:sanct  KEYS[7] g:pseud  KEYS[8] g:ua:USER
// KEYS[9..] g:cat:C for each category
// ARGV[1] report id  ARGV[2] report JSON  ARGV[3] member  ARGV[4] risk key
// ARGV[5] unreviewed count  ARGV[6] status  ARGV[7] version
// ARGV[8] escalation action record or ""  ARGV[9] its id  ARGV[10] pseudonym
// ARGV[11] app
// Returns 1 when the report was new to the global indexes, else 0.
var globalReportScript = redis.NewScript(luaSanct + `
local new = 0
if redis.call('HSETNX', KEYS[1], ARGV[1], '-') == 1 then
  local ids = {redis.call('XADD', KEYS[2], '*', 'r', ARGV[2])}
  for i = 9, #KEYS do ids[#ids + 1] = redis.call('XADD', KEYS[i], '*', 'g', ids[1]) end
  redis.call('HSET', KEYS[1], ARGV[1], table.concat(ids, ' '))
  new = 1
end
if ARGV[8] ~= '' and redis.call('HSETNX', KEYS[4], ARGV[9], '-') == 1 then
  redis.call('HSET', KEYS[4], ARGV[9], redis.call('XADD', KEYS[3], '*', 'a', ARGV[8]))
end
queue(KEYS[5], ARGV[3], tonumber(ARGV[5]), ARGV[4])
sanct(KEYS[6], ARGV[3], tonumber(ARGV[7]), ARGV[6])
if ARGV[10] ~= '' then redis.call('HSET', KEYS[7], ARGV[10], ARGV[3]) end
redis.call('SADD', KEYS[8], ARGV[11])
return new
`)

// globalActionScript appends an action to the global audit log and updates
// the queue and sanctioned indexes, idempotently by action id.
//
// KEYS[1] g:audit  KEYS[2] g:aid  KEYS[3] g:queue  KEYS[4] g:sanct  KEYS[5] g:ua:USER
// ARGV[1] action id  ARGV[2] action record  ARGV[3] member  ARGV[4] unreviewed
// ARGV[5] status  ARGV[6] version  ARGV[7] risk key  ARGV[8] app
// Returns 1 when appended now, 0 when already there.
var globalActionScript = redis.NewScript(luaSanct + `
local new = 0
if redis.call('HSETNX', KEYS[2], ARGV[1], '-') == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], redis.call('XADD', KEYS[1], '*', 'a', ARGV[2]))
  new = 1
end
queue(KEYS[3], ARGV[3], tonumber(ARGV[4]), ARGV[7])
sanct(KEYS[4], ARGV[3], tonumber(ARGV[6]), ARGV[5])
redis.call('SADD', KEYS[5], ARGV[8])
return new
`)

// takeScript is store.GCRA: take up to n tokens (or give -n back) from a
// bucket with sustained rate perMin/minute and burst perMin.
//
// KEYS[1] {P:rl:KEY}
// ARGV[1] now (µs)  ARGV[2] perMin  ARGV[3] n
// Returns {granted, retry_after_µs}.
var takeScript = redis.NewScript(`
local now, per, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = math.floor(60000000 / per)
if t < 1 then t = 1 end
local tau = t * per
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local g, retry = 0, 0
if n < 0 then
  tat = tat + n * t
  if tat < now then tat = now end
else
  local avail = math.floor((now + tau - tat) / t)
  if avail <= 0 then
    retry = tat - tau - now + t
  else
    g = math.min(n, avail)
    tat = tat + g * t
  end
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return {g, retry}
`)
