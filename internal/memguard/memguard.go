// Package memguard bounds what requests may hold at once: a budget of
// request-body bytes shared by every request, a cap on each app's model
// calls in flight, and the Go runtime's soft memory limit taken from the
// container's when none is configured. Over a bound a request is refused at
// once (the caller answers 503 with Retry-After); nothing waits in a queue
// that could itself grow without end.
package memguard

import (
	"sync"
	"sync/atomic"
)

// Budget is a count of bytes that TryAcquire takes and Release gives back.
// A nil *Budget admits everything.
type Budget struct {
	max     int64
	used    atomic.Int64
	refused atomic.Uint64
}

// NewBudget returns a budget of max bytes; max <= 0 returns nil (no bound).
func NewBudget(max int64) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{max: max}
}

// TryAcquire takes n bytes if they fit, without waiting.
func (b *Budget) TryAcquire(n int64) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.max {
			b.refused.Add(1)
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release gives back n bytes taken by TryAcquire.
func (b *Budget) Release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// InUse is the bytes held now.
func (b *Budget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Max is the budget's size (0: unbounded).
func (b *Budget) Max() int64 {
	if b == nil {
		return 0
	}
	return b.max
}

// Refused counts TryAcquire calls that did not fit.
func (b *Budget) Refused() uint64 {
	if b == nil {
		return 0
	}
	return b.refused.Load()
}

// Calls caps the calls in flight per app. A nil *Calls admits everything.
type Calls struct {
	max     int
	mu      sync.Mutex
	n       map[string]int
	refused atomic.Uint64
}

// NewCalls returns a cap of max calls per app; max <= 0 returns nil.
func NewCalls(max int) *Calls {
	if max <= 0 {
		return nil
	}
	return &Calls{max: max, n: map[string]int{}}
}

// TryAcquire takes one of app's slots if one is free.
func (c *Calls) TryAcquire(app string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[app] >= c.max {
		c.refused.Add(1)
		return false
	}
	c.n[app]++
	return true
}

// Release gives app's slot back.
func (c *Calls) Release(app string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[app]--; c.n[app] <= 0 {
		delete(c.n, app) // apps come from the config, but keep the map small
	}
}

// InFlight is app's calls in flight now.
func (c *Calls) InFlight(app string) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[app]
}

// Refused counts TryAcquire calls refused.
func (c *Calls) Refused() uint64 {
	if c == nil {
		return 0
	}
	return c.refused.Load()
}
