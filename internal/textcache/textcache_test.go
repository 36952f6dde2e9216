package textcache

import (
	"fmt"
	"sync"
	"testing"
)

func TestGetPut(t *testing.T) {
	var c Cache[int]
	k := c.Key("hello")
	if _, ok := c.Get(k); ok {
		t.Fatal("empty cache hit")
	}
	c.Put(k, 7)
	if v, ok := c.Get(c.Key("hello")); !ok || v != 7 {
		t.Fatalf("got %d %v", v, ok)
	}
	if _, ok := c.Get(c.Key("hello!")); ok {
		t.Fatal("another text hit")
	}
}

// The cache stays bounded, and a text read often survives the turnover
// of generations.
func TestBoundedAndKeepsWhatIsRead(t *testing.T) {
	var c Cache[int]
	hot := c.Key("the system prompt")
	c.Put(hot, 1)
	for i := 0; i < 20*Shards*ShardEntries; i++ {
		c.Put(c.Key(fmt.Sprint("turn ", i)), i)
		if i%100 == 0 {
			if _, ok := c.Get(hot); !ok {
				t.Fatalf("hot text dropped after %d puts", i)
			}
		}
	}
	if n := c.Len(); n > 2*Shards*ShardEntries {
		t.Fatalf("%d entries, bound %d", n, 2*Shards*ShardEntries)
	}
}

// Two processes (caches) hash the same text differently: the seeds are
// random, so a collision cannot be aimed.
func TestSeedsDiffer(t *testing.T) {
	var a, b Cache[int]
	if a.Key("x") == b.Key("x") {
		t.Fatal("same key in two caches")
	}
}

func TestConcurrent(t *testing.T) {
	var c Cache[string]
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := c.Key(fmt.Sprint(i % 300))
				if v, ok := c.Get(k); ok && v != fmt.Sprint(i%300) {
					t.Errorf("text %d: value %q", i%300, v)
					return
				}
				c.Put(k, fmt.Sprint(i%300))
			}
		}(g)
	}
	wg.Wait()
}
