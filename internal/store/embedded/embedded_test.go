package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := store.Open(context.Background(), "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "a.db")
	s, err := embedded.Open(path, time.Second, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = store.Open(context.Background(), "bolt://"+path+"?timeout=100ms")
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := embedded.Open(path, 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := store.Report{ID: "r1", Time: time.Now(), App: "a", User: "u", Strike: 1, Escalation: "ban"}
	if _, err := s.AddReport(context.Background(), r, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = embedded.Open(path, 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.GetStanding(context.Background(), "a", "u")
	if err != nil || st.Status != store.Banned || st.Reports != 1 {
		t.Fatalf("after reopen: %+v %v", st, err)
	}
	if res, _ := s.AddReport(context.Background(), r, store.Policy{}); !res.Duplicate {
		t.Fatal("idempotency lost across reopen")
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"bolt://", "bolt://x.db?timeout=soon", "bolt://x.db?nope=1", "ftp://x", "nothing"} {
		if _, err := store.Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}

func TestBatch(t *testing.T) {
	storetest.RunBatch(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := embedded.Open(filepath.Join(t.TempDir(), "a.db"), 0, store.Options{Clock: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A file written before the queue index existed gets one when opened.
func TestQueueIndexBuiltOnOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := embedded.Open(path, 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"low", "high", "high", "mid"} {
		r := store.Report{ID: "r" + string(rune('0'+i)), Time: time.Now(), App: "web", User: u, Action: "flag", Strike: map[string]float64{"low": 1, "mid": 2, "high": 2}[u]}
		if _, err := s.AddReport(ctx, r, store.Policy{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("queue")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = embedded.Open(path, 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.Queue(ctx, store.QueueQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range page.Items {
		got = append(got, it.User)
	}
	if fmt.Sprint(got) != "[high mid low]" {
		t.Fatalf("queue after rebuilding the index: %v", got)
	}
}
