package embedded

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// The store reopens its file once the handle has allocated enough pages
// (shed.go), while readers and writers go on, and loses nothing; the new
// handle starts counting again.
func TestReopenShedsPageMap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.shedAt = 200
	ctx := context.Background()
	const users, perUser = 40, 25
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Queue(ctx, store.QueueQuery{Limit: 20}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := 0; w < 4; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := w; i < users*perUser; i += 4 {
				r := store.Report{ID: fmt.Sprintf("r%d", i), Time: time.Now(), App: "a", User: fmt.Sprintf("u%d", i%users), Strike: 0.1,
					Categories: []string{"hate_and_harassment"}}
				if _, err := s.AddReport(ctx, r, store.Policy{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if n := s.reopens.Load(); n < 2 {
		t.Fatalf("reopened %d times over %d reports (a reopening every %d pages)", n, users*perUser, s.shedAt)
	}
	if got := pagesAllocated(s.db); got >= s.shedAt+64 {
		t.Fatalf("the handle has allocated %d pages: not shed", got)
	}
	n := 0
	if err := s.EachReport(ctx, time.Time{}, time.Now().Add(time.Hour), func(store.Report) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != users*perUser {
		t.Fatalf("%d reports after the reopenings, want %d", n, users*perUser)
	}
	for u := 0; u < users; u++ {
		st, err := s.GetStanding(ctx, "a", fmt.Sprintf("u%d", u))
		if err != nil || st.Reports != perUser {
			t.Fatalf("u%d: %+v, %v; want %d reports", u, st, err, perUser)
		}
	}
}

// A store closed by its owner is never reopened behind its back.
func TestClosedStoreNotReopened(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "a.db"), 0, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.shedAt = 1
	if _, err := s.AddReport(context.Background(), store.Report{ID: "r", Time: time.Now(), App: "a", User: "u"}, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	before := s.reopens.Load()
	s.Close()
	s.shedIfDue()
	if s.reopens.Load() != before {
		t.Fatal("a closed store was reopened")
	}
	if _, err := s.GetStanding(context.Background(), "a", "u"); err == nil {
		t.Fatal("a closed store answered")
	}
}
