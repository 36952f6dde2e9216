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

func TestComplianceConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunCompliance(t, func(t *testing.T, now func() time.Time) store.Store {
		u := srv.URLWithPrefix(fmt.Sprintf("%sc%d", srv.Prefix, n.Add(1)))
		s, err := store.Open(context.Background(), u, store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestComplianceConformanceCluster: every script and transaction stays in
// the {P:c} slot (Cluster refuses CROSSSLOT).
func TestComplianceConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.RunCompliance(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), c.URL(fmt.Sprintf("cc%d", n.Add(1))), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
