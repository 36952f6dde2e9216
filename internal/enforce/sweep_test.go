package enforce

import (
	"strconv"
	"testing"
	"time"
)

// sweepLimiter is a limiter holding n buckets, all used at now.
func sweepLimiter(n int, now time.Time) *limiter {
	l := &limiter{}
	l.init(&Enforcer{})
	for i := range n {
		b := &bucket{perMin: 60}
		b.used.Store(now.UnixNano())
		l.m[lkey{"web", strconv.Itoa(i)}] = b
	}
	return l
}

// The health loop's sweep over 100,000 buckets in use: what a busy
// gateway pays each time it looks for idle ones.
func BenchmarkSweep100k(b *testing.B) {
	now := time.Now()
	l := sweepLimiter(100_000, now)
	b.ResetTimer()
	for range b.N {
		l.sweep(now)
	}
}

// TestSweepForgetsOnlyIdleBuckets: a bucket unused for bucketIdle is
// forgotten; one used since, or with a lease on its way, is kept.
func TestSweepForgetsOnlyIdleBuckets(t *testing.T) {
	now := time.Now()
	l := &limiter{}
	l.init(&Enforcer{})
	add := func(user string, used time.Time, fetching bool) {
		b := &bucket{perMin: 60, fetching: fetching}
		b.used.Store(used.UnixNano())
		l.m[lkey{"web", user}] = b
	}
	add("idle", now.Add(-bucketIdle-time.Second), false)
	add("recent", now.Add(-bucketIdle+time.Second), false)
	add("fetching", now.Add(-time.Hour), true)
	l.sweep(now)
	for user, kept := range map[string]bool{"idle": false, "recent": true, "fetching": true} {
		if _, ok := l.m[lkey{"web", user}]; ok != kept {
			t.Errorf("%s: kept %v, want %v", user, ok, kept)
		}
	}
}
