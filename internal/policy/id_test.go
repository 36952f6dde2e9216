package policy

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestEncodeIDLayout(t *testing.T) {
	if got := encodeID(0, 0, 0); got != "00000000000000000000000000" {
		t.Fatalf("zero: %s", got)
	}
	if got := encodeID(1<<48-1, 0xffff, ^uint64(0)); got != "7ZZZZZZZZZZZZZZZZZZZZZZZZZ" {
		t.Fatalf("max: %s", got)
	}
	// The time occupies the first 10 digits: 1 ms is the last of them.
	if got := encodeID(1, 0, 0); got != "00000000010000000000000000" {
		t.Fatalf("1ms: %s", got)
	}
	if got := encodeID(0, 0, 1); got != "00000000000000000000000001" {
		t.Fatalf("1 random: %s", got)
	}
}

func TestNewIDUniqueAndSorted(t *testing.T) {
	// Concurrent callers get distinct ids; one caller's ids ascend.
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			var mine []string
			for i := 0; i < 2000; i++ {
				mine = append(mine, NewID())
			}
			if !slices.IsSorted(mine) {
				t.Error("ids of one goroutine not ascending")
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range mine {
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}

func TestNewIDCarriesTime(t *testing.T) {
	ids.mu.Lock()
	saved, savedMS := ids.nowFn, ids.ms
	ids.mu.Unlock()
	defer func() { ids.mu.Lock(); ids.nowFn, ids.ms = saved, savedMS; ids.mu.Unlock() }()
	ids.mu.Lock()
	ids.nowFn = func() time.Time { return time.UnixMilli(1<<46 + 12345) } // far after any real clock
	ids.mu.Unlock()
	a := NewID()
	b := NewID() // same millisecond: counts up
	if a[:10] != encodeID(1<<46+12345, 0, 0)[:10] || b <= a {
		t.Fatalf("a=%s b=%s", a, b)
	}
}
