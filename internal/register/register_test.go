package register

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/embedded"
)

type flaky struct {
	mu   sync.Mutex
	fail bool
	got  []store.ProviderCount
}

func (f *flaky) AddProviderCounts(ctx context.Context, cs []store.ProviderCount) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("down")
	}
	f.got = append(f.got, cs...)
	return nil
}

func day(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestBatchesAndKeepsCountsAcrossAFailedFlush(t *testing.T) {
	sink := &flaky{fail: true}
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	r := New(sink, Options{FlushInterval: time.Hour, Clock: day(now)})
	r.Served("web", "OpenAI", "openai/gpt-4o", false)
	r.Served("web", "OpenAI", "openai/gpt-4o", false)
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("flush to a failing sink succeeded")
	}
	r.Served("web", "OpenAI", "openai/gpt-4o", false)
	r.Served("web", "", "openai/gpt-4o", true)
	sink.mu.Lock()
	sink.fail = false
	sink.mu.Unlock()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	store.SortProviderCounts(sink.got)
	want := []store.ProviderCount{
		{Day: "2026-03-01", App: "web", Provider: "OpenAI", Model: "openai/gpt-4o", Requests: 3},
		{Day: "2026-03-01", App: "web", Provider: Unknown, Model: "openai/gpt-4o", ZDR: true, Requests: 1},
	}
	if !slices.Equal(sink.got, want) {
		t.Fatalf("flushed %+v, want %+v", sink.got, want)
	}
}

func TestCleansNames(t *testing.T) {
	if got := clean(" Open\x00AI\n"); got != "Open?AI" {
		t.Errorf("clean = %q", got)
	}
	long := strings.Repeat("é", store.MaxRegisterName)
	if got := clean(long); len(got) > store.MaxRegisterName || !strings.HasPrefix(long, got) {
		t.Errorf("clean kept %d bytes", len(got))
	}
}

func TestFlushesToARealStore(t *testing.T) {
	st, err := store.Open(context.Background(), "bolt://"+filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := New(st, Options{FlushInterval: time.Hour})
	r.Served("web", "Azure", "m", false)
	if err := r.Close(); err != nil { // Close flushes what is pending
		t.Fatal(err)
	}
	today := store.Day(time.Now())
	cs, err := st.ProviderCounts(context.Background(), store.ProviderQuery{From: today, To: today})
	if err != nil || len(cs) != 1 || cs[0].Requests != 1 || cs[0].Provider != "Azure" {
		t.Fatalf("register after Close: %+v, %v", cs, err)
	}
}
