package detect

import (
	"hash/maphash"
	"sync"
)

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
// a chat's short turns are worth keeping too); a text with more than cacheMaxRecs hits is not kept, so an entry
// holds at most ~3 KB and the whole cache at most
// cacheShards × 2 × cacheShardEntries entries (~25 MB in the worst case,
// typically well under 1 MB).
const (
	cacheMinText      = 24
	cacheMaxRecs      = 256
	cacheShards       = 16
	cacheShardEntries = 256
)

// cacheKey is a 128-bit seeded hash of a text and its length: two maphash
// seeds chosen at random per process, so nobody can aim a collision at a
// cached clean text.
type cacheKey struct {
	a, b uint64
	n    int
}

// scanCache remembers textScans. Each shard keeps two generations: lookups
// try the current one, then the previous one (and move a hit forward);
// when the current one is full it becomes the previous one and the oldest
// is dropped. That approximates LRU with no per-entry bookkeeping.
type scanCache struct {
	once   sync.Once
	seeds  [2]maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu       sync.Mutex
	cur, old map[cacheKey]textScan
}

func (c *scanCache) key(t string) cacheKey {
	c.once.Do(func() { c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()} })
	return cacheKey{maphash.String(c.seeds[0], t), maphash.String(c.seeds[1], t), len(t)}
}

func (c *scanCache) shard(k cacheKey) *cacheShard { return &c.shards[k.a%cacheShards] }

func (c *scanCache) get(k cacheKey) (textScan, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.cur[k]; ok {
		return m, true
	}
	m, ok := s.old[k]
	if ok {
		s.insert(k, m)
	}
	return m, ok
}

// put keeps a copy of m (its recs are the caller's scratch).
func (c *scanCache) put(k cacheKey, m textScan) {
	if len(m.recs) > cacheMaxRecs {
		return
	}
	m.recs = append([]listHit(nil), m.recs...)
	m.scratch = false
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insert(k, m)
}

func (s *cacheShard) insert(k cacheKey, m textScan) {
	if len(s.cur) >= cacheShardEntries {
		// the oldest generation's map is emptied and reused
		clear(s.old)
		s.old, s.cur = s.cur, s.old
	}
	if s.cur == nil {
		s.cur = make(map[cacheKey]textScan, cacheShardEntries)
	}
	s.cur[k] = m
}

// cacheLen is how many texts the cache holds (tests).
func (c *scanCache) cacheLen() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	return n
}
