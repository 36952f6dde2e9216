package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/all"
)

// BenchmarkGatewayFull is the gateway as deployed: the bundled policy, the
// Redis store (a private redis-server), the enforcer and rate limits on,
// end users spread over 1000 ids. Compare with BenchmarkFloor in one run:
//
//	go test ./internal/server -run '^$' -bench 'Floor|Gateway' -benchtime 5000x
func BenchmarkGatewayFull(b *testing.B) {
	up := benchUpstream(b)
	rd := redistest.Start(b)
	ctx := context.Background()
	cfg := testConfig(b, up.URL)
	cfg.RateLimits = config.RateLimits{EndUserPerMinute: 1_000_000, AppPerMinute: 10_000_000}
	cfg.Apps[0].RateLimits = nil
	st, err := store.Open(ctx, rd.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	enf, err := enforce.New(ctx, st, enforce.Options{Escalation: cfg.Escalation, RateLimits: cfg.RateLimits, SpoolDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { enf.Close() })
	eng, err := policy.New(ctx, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := identity.LoadKeys(ctx, "", "", st)
	if err != nil {
		b.Fatal(err)
	}
	ps, _ := identity.NewPseudonymizer(keys.Pseudonym)
	dg, _ := identity.NewDigester(keys.Digest)
	s, err := New(Options{Config: cfg, Policy: eng, Enforcer: enf, Pseudonymizer: ps, Digester: dg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	fr := httptest.NewServer(s.ProxyHandler())
	b.Cleanup(fr.Close)

	c := benchClient()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = nthBody(buf, benchBody, i)
		req, _ := http.NewRequest("POST", fr.URL+"/api/v1/chat/completions", bytes.NewReader(buf))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+appKey)
		req.Header.Set("X-AUP-End-User", fmt.Sprintf("user-%d", i%1000))
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
