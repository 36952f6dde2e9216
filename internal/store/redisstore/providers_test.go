package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

func TestProvidersConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunProviders(t, func(t *testing.T, now func() time.Time) store.Store {
		u := srv.URLWithPrefix(fmt.Sprintf("%sp%d", srv.Prefix, n.Add(1)))
		s, err := store.Open(context.Background(), u, store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestProvidersConformanceCluster: every day's hash is its own slot, and
// the pipelines cross them.
func TestProvidersConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.RunProviders(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), c.URL(fmt.Sprintf("pc%d", n.Add(1))), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
