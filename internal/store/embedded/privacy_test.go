package embedded_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

// TestPrivacy runs the Keeper suite; the dump is the raw bolt file, so an
// erased user's bytes left in freed pages fail it.
func TestPrivacy(t *testing.T) {
	storetest.RunPrivacy(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func(t *testing.T, s store.Store) []byte {
		b, err := os.ReadFile(s.(*embedded.Store).Path())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestCompactKeepsWorking: after the swap the store reads and writes, and
// the file stays locked against a second process.
func TestCompactKeepsWorking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := embedded.Open(path, 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r := store.Report{ID: "r1", Time: time.Now(), App: "a", User: "u", Strike: 1}
	if _, err := s.AddReport(ctx, r, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if res, err := s.AddReport(ctx, r, store.Policy{}); err != nil || !res.Duplicate {
		t.Fatalf("after compaction: %+v %v", res, err)
	}
	r.ID = "r2"
	if res, err := s.AddReport(ctx, r, store.Policy{}); err != nil || res.Standing.Reports != 2 {
		t.Fatalf("after compaction: %+v %v", res, err)
	}
	page, err := s.Reports(ctx, store.ReportQuery{})
	if err != nil || len(page.Items) != 2 || page.Items[0].ID != "r2" {
		t.Fatalf("listing after compaction: %+v %v", page, err)
	}
	if _, err := store.Open(ctx, "bolt://"+path+"?timeout=50ms"); err == nil {
		t.Fatal("compacted file not locked")
	}
}
