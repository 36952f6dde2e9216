package redisstore

import (
	"encoding/json"
	"strings"
)

// Every key aupguard uses is built here. PREFIX defaults to "aup" (URL
// parameter prefix=...).
//
// Per end user, all in one Cluster slot thanks to the hash tag
// {PREFIX:u:APP:USER} (APP and USER escaped, see esc), so one Lua script
// can update them atomically:
//
//	{P:u:A:U}:st        hash    standing: status until strikes strikes_at hl reports unrev last ver app user
//	{P:u:A:U}:reports   stream  the user's reports, field i = report id (the JSON is in {P:g}:reports;
//	                            entries written before carry it in field r)
//	{P:u:A:U}:rid       hash    report id → stream id (the idempotency key)
//	{P:u:A:U}:unrev     set     ids of unreviewed reports
//	{P:u:A:U}:reviewed  hash    report id → review time (ms)
//	{P:u:A:U}:actions   stream  the user's actions, field a = action record JSON
//	{P:u:A:U}:aids      hash    action id → action record JSON (idempotent ApplyAction)
//	{P:u:A:U}:esc       hash    report id → record of the escalation it caused
//	{P:u:A:U}:cats      hash    category → report count
//	{P:u:A:U}:pseud     set     pseudonyms seen in the user's reports
//
// Global indexes, all in the one slot of {P:g} (so one script updates them
// atomically; on a Cluster this slot carries the report and action
// traffic — reports are rare next to requests):
//
//	{P:g}:reports       stream  every report (field r), in recording order
//	{P:g}:rid           hash    report id → "global-stream-id cat-stream-id…" (dedupe; erasure finds entries)
//	{P:g}:cat:C         stream  reports of category C, field g = the {P:g}:reports entry id (older: r = JSON)
//	{P:g}:audit         stream  every action (field a)
//	{P:g}:aid           hash    action id → audit stream id (dedupe)
//	{P:g}:queue         zset    ["app","user"] → risk key (store.RiskKey) while the user has unreviewed reports
//	{P:g}:sanct         hash    ["app","user"] → "VERSION:STATUS" (warm-up list; version-guarded)
//	{P:g}:pseud         hash    pseudonym → ["app","user"]
//	{P:g}:ua:U          set     apps that know user U
//	{P:g}:secret:NAME   string  generated secrets (SET NX)
//	{P:g}:holds         hash    hold key (store.Hold.Key) → Hold JSON, the legal holds in force
//	{P:g}:holdseen      set     category hold keys ever placed (configured holds are seeded once)
//
// Policy versions (never purged; not in {P:g}, whose slot carries the
// report traffic):
//
//	{P:pol}:HASH        string  store.EncodePolicyVersion JSON (SET NX: first writer wins)
//
// Rate limits: {P:rl:KEY} string, the GCRA theoretical arrival time (µs),
// expiring when idle. Failed authentications: {P:af:KEY} hash n, last (ms),
// expiring after forget. Signed-out desk sessions: {P:rev:ID} string, the
// session's expiry (ms). Change feed: Pub/Sub channel P:standing.
// Subprocessor register: {P:prov:DAY} hash, one per UTC day (providers.go).
type keys struct{ p string }

type userKeys struct {
	st, reports, rid, unrev, reviewed, actions, aids, esc, cats, pseud string
}

func (k keys) user(app, user string) userKeys {
	t := "{" + k.p + ":u:" + esc(app) + ":" + esc(user) + "}:"
	return userKeys{
		st: t + "st", reports: t + "reports", rid: t + "rid", unrev: t + "unrev", reviewed: t + "reviewed",
		actions: t + "actions", aids: t + "aids", esc: t + "esc", cats: t + "cats", pseud: t + "pseud",
	}
}

func (k keys) g(name string) string        { return "{" + k.p + ":g}:" + name }
func (k keys) cat(c string) string         { return k.g("cat:" + esc(c)) }
func (k keys) userApps(user string) string { return k.g("ua:" + esc(user)) }
func (k keys) secret(name string) string   { return k.g("secret:" + esc(name)) }
func (k keys) policy(hash string) string   { return "{" + k.p + ":pol}:" + esc(hash) }
func (k keys) rate(key string) string      { return "{" + k.p + ":rl:" + esc(key) + "}" }
func (k keys) authFail(key string) string  { return "{" + k.p + ":af:" + esc(key) + "}" }
func (k keys) revoked(id string) string    { return "{" + k.p + ":rev:" + esc(id) + "}" }
func (k keys) channel() string             { return k.p + ":standing" }

// esc percent-escapes the characters that would break a key's structure:
// braces (hash tags), the colon separator, % itself and control bytes.
func esc(s string) string {
	if !strings.ContainsAny(s, "{}:%") && !hasCtl(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '{' || c == '}' || c == ':' || c == '%' || c < 0x20 || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func hasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// member names a user inside global sets and hashes.
func member(app, user string) string {
	b, _ := json.Marshal([2]string{app, user})
	return string(b)
}

func parseMember(m string) (app, user string, ok bool) {
	var v [2]string
	if json.Unmarshal([]byte(m), &v) != nil {
		return "", "", false
	}
	return v[0], v[1], true
}
