package memguard

import (
	"io/fs"
	"runtime/debug"
	"sync"
	"testing"
)

func TestBudget(t *testing.T) {
	b := NewBudget(100)
	if !b.TryAcquire(60) || b.TryAcquire(41) || !b.TryAcquire(40) || b.InUse() != 100 {
		t.Fatalf("in use %d", b.InUse())
	}
	b.Release(60)
	if !b.TryAcquire(60) || b.Refused() != 1 {
		t.Fatalf("after release: in use %d refused %d", b.InUse(), b.Refused())
	}
	// Concurrent takers never overdraw it.
	c := NewBudget(1000)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if c.TryAcquire(7) {
					if n := c.InUse(); n > 1000 {
						t.Errorf("overdrawn: %d", n)
					}
					c.Release(7)
				}
			}
		}()
	}
	wg.Wait()
	if c.InUse() != 0 {
		t.Fatalf("left %d", c.InUse())
	}
	var none *Budget = NewBudget(0)
	if none != nil || !none.TryAcquire(1<<40) || none.InUse() != 0 {
		t.Fatal("an unbounded budget bounds")
	}
}

func TestCalls(t *testing.T) {
	c := NewCalls(2)
	if !c.TryAcquire("web") || !c.TryAcquire("web") || c.TryAcquire("web") || !c.TryAcquire("api") {
		t.Fatal("cap per app")
	}
	c.Release("web")
	if !c.TryAcquire("web") || c.InFlight("web") != 2 || c.Refused() != 1 {
		t.Fatalf("after release: %d in flight, %d refused", c.InFlight("web"), c.Refused())
	}
	if NewCalls(0) != nil {
		t.Fatal("0 should be unbounded")
	}
}

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if v, ok := m[name]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestApplyLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	env := func(v string) func(string) string { return func(string) string { return v } }

	l := ApplyLimit(0, env(""), files(map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"}))
	if l.Bytes != 1073741824/10*9 || l.Source != "cgroup /sys/fs/cgroup/memory.max" || debug.SetMemoryLimit(-1) != l.Bytes {
		t.Fatalf("cgroup v2: %+v", l)
	}
	l = ApplyLimit(0, env(""), files(map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912"}))
	if l.Bytes != 536870912/10*9 || debug.SetMemoryLimit(-1) != l.Bytes {
		t.Fatalf("cgroup v1: %+v", l)
	}
	debug.SetMemoryLimit(old)
	for _, m := range []map[string]string{
		{"/sys/fs/cgroup/memory.max": "max"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"},
		{"/sys/fs/cgroup/memory.max": "garbage"},
		{},
	} {
		if l := ApplyLimit(0, env(""), files(m)); l.Bytes != 0 || l.Source != "none" || debug.SetMemoryLimit(-1) != old {
			t.Errorf("%v: %+v", m, l)
		}
	}
	if l := ApplyLimit(123<<20, env(""), files(map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"})); l.Bytes != 123<<20 || l.Source != "config" {
		t.Errorf("configured: %+v", l)
	}
	debug.SetMemoryLimit(old)
	if l := ApplyLimit(123<<20, env("300MiB"), files(nil)); l.Source != "GOMEMLIMIT" || debug.SetMemoryLimit(-1) != old {
		t.Errorf("GOMEMLIMIT set: %+v", l)
	}
}
