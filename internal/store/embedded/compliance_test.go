package embedded_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

func TestComplianceConformance(t *testing.T) {
	storetest.RunCompliance(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
