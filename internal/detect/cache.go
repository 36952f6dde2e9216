package detect

import "github.com/aupguard/aupguard/internal/textcache"

// textScan is what one text matched on its own: hits in its own token
// positions, the positions it takes (0: nothing to match) and its PII.
type textScan struct {
	recs      []listHit
	positions int32
	pii       piiCounts
	scratch   bool // recs are st.ms.recs (a fresh scan), not the cache's
	// how the text meets its neighbours: its first and last tokens (word
	// ids and positions, outside any sentence break), whether it has a
	// sentence break, and whether one stands before its first token or
	// after its last (with no token: anywhere)
	head, tail            edge
	broken                bool
	leadBreak, trailBreak bool
	encoded               bool // it has encoded spans (recs of the encoded pseudo-list)
}

// Cache bounds. Texts shorter than cacheMinText cost less to scan than to
// look up (a text's scan has a fixed cost of ~1.5 µs, a lookup ~0.1 µs, so
// a chat's short turns are worth keeping too); a text with more than
// cacheMaxRecs hits is not kept, so an entry holds at most ~3 KB and the
// whole cache at most textcache's bound of entries (~25 MB in the worst
// case, typically well under 1 MB).
const (
	cacheMinText = 24
	cacheMaxRecs = 256
)

// scanCache remembers textScans by a seeded hash of the text (never the
// text).
type scanCache = textcache.Cache[textScan]

// putScan keeps a copy of m (its recs are the caller's scratch).
func putScan(c *scanCache, k textcache.Key, m textScan) {
	if len(m.recs) > cacheMaxRecs {
		return
	}
	m.recs = append([]listHit(nil), m.recs...)
	m.scratch = false
	c.Put(k, m)
}
