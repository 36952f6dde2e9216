package enforce_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
)

// The hot path of a request by a good-standing user: standing + rate
// limits that do not refuse (user 10^6/min, app 10^8/min), over 1024 users.
func benchHotPath(b *testing.B, st store.Store) {
	e := newEnforcer(b, st, enforce.Options{})
	users := make([]string, 1024)
	for i := range users {
		users[i] = fmt.Sprintf("user-%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			u := users[i%len(users)]
			i++
			if s, err := e.Standing(ctx, "web", u); err != nil || s.Blocks(time.Now()) {
				b.Fatal(s, err)
			}
			if ok, _ := e.Allow(ctx, "web", u, 1_000_000, 100_000_000); !ok {
				b.Fatal("refused")
			}
		}
	})
}

// Report: one violation recorded (store write, escalation check).
func benchReport(b *testing.B, st store.Store) {
	e := newEnforcer(b, st, enforce.Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.Report(ctx, violation("web", fmt.Sprintf("u%d", i%100), 0.01), ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHotPath(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchHotPath(b, newEmbedded(b, nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		benchHotPath(b, openRedis(b, srv.URL(), time.Now))
	})
}

func BenchmarkReport(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchReport(b, newEmbedded(b, nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		benchReport(b, openRedis(b, srv.URL(), time.Now))
	})
}

// NewUsers: every request from an end user this replica has not seen (a
// user's first request of the day, the load harness's 10,000 users), so
// each one needs a lease from the store. cpu-ns/op is the process's CPU
// time per request, the background lease fetches included (the store
// server's own is not).
func BenchmarkNewUsers(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		e := newEnforcer(b, openRedis(b, srv.URL(), time.Now), enforce.Options{})
		users := make([]string, b.N)
		for i := range users {
			users[i] = fmt.Sprintf("new-%d-%d", b.N, i)
		}
		b.ReportAllocs()
		cpu0 := cpuTime()
		b.ResetTimer()
		for _, u := range users {
			if ok, _ := e.Allow(ctx, "web", u, 100_000, 0); !ok {
				b.Fatal("refused")
			}
		}
		b.StopTimer()
		time.Sleep(100 * time.Millisecond) // the last fetches land
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
