// Package textcache remembers a value computed from a text, for texts that
// come again: a chat resends its whole history with every turn, and an app
// its system prompt with every request. An entry is keyed by a 128-bit
// seeded hash of the text and its length, never the text itself, so the
// cache holds no content (zero data retention holds), and the seeds are
// chosen at random per process, so nobody can aim a collision at a cached
// clean text.
package textcache

import (
	"hash/maphash"
	"sync"
)

// Bounds: Shards × 2 generations × ShardEntries entries at most.
const (
	Shards       = 16
	ShardEntries = 256
)

// Key identifies one text.
type Key struct {
	a, b uint64
	n    int
}

// Cache maps texts (by Key) to values of type V. Each shard keeps two
// generations: lookups try the current one, then the previous one (and
// move a hit forward); when the current one is full it becomes the
// previous one and the oldest is dropped. That approximates LRU with no
// per-entry bookkeeping. The zero value is ready to use; values are shared
// between the goroutines that read them, so they must not be changed once
// put.
type Cache[V any] struct {
	once   sync.Once
	seeds  [2]maphash.Seed
	shards [Shards]shard[V]
}

type shard[V any] struct {
	mu       sync.Mutex
	cur, old map[Key]V
}

// Key is the key of text t.
func (c *Cache[V]) Key(t string) Key {
	c.once.Do(func() { c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()} })
	return Key{maphash.String(c.seeds[0], t), maphash.String(c.seeds[1], t), len(t)}
}

func (c *Cache[V]) shard(k Key) *shard[V] { return &c.shards[k.a%Shards] }

// Get is the value kept for k.
func (c *Cache[V]) Get(k Key) (V, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[k]; ok {
		return v, true
	}
	v, ok := s.old[k]
	if ok {
		s.insert(k, v)
	}
	return v, ok
}

// Put keeps v for k.
func (c *Cache[V]) Put(k Key, v V) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insert(k, v)
}

func (s *shard[V]) insert(k Key, v V) {
	if len(s.cur) >= ShardEntries {
		// the oldest generation's map is emptied and reused
		clear(s.old)
		s.old, s.cur = s.cur, s.old
	}
	if s.cur == nil {
		s.cur = make(map[Key]V, ShardEntries)
	}
	s.cur[k] = v
}

// Len is how many texts the cache holds.
func (c *Cache[V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.old)
		s.mu.Unlock()
	}
	return n
}
