package enforce_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/redistest"
)

// TestSmallLeasesNeverRefuseUnderLimit: many end users far under their
// limit, with small leases (120/min: 4 tokens) fetched in the background
// by 32 concurrent callers, are never refused. A fetch queue whose buffer
// was handed back to enqueue while its batch was in flight gave some
// fetches another's grant (0), and refused about one request in 1500.
func TestSmallLeasesNeverRefuseUnderLimit(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnforcer(t, openRedis(t, srv.URL(), time.Now), enforce.Options{})
	var n, denied atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(3 * time.Second)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(deadline) {
				u := fmt.Sprintf("user-%d", rng.IntN(10000))
				ok, _ := e.Allow(context.Background(), "web", u, 120, 0)
				n.Add(1)
				if !ok {
					denied.Add(1)
				}
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			}
		}(w)
	}
	wg.Wait()
	if denied.Load() != 0 {
		t.Fatalf("%d of %d requests refused, every user far under 120/min", denied.Load(), n.Load())
	}
}
