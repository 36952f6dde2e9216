package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/aupguard/aupguard/internal/store"
)

// RunProviders is the conformance suite of the subprocessor register
// (AddProviderCounts, ProviderCounts). It is apart from Run so the
// register's tests and Run's list change independently.
func RunProviders(t *testing.T, newStore NewStore) {
	runs(t, newStore, []storeCase{
		{"AddsUp", testProvidersAddUp},
		{"DaysAndApps", testProvidersDaysAndApps},
		{"Validation", testProvidersValidation},
		{"Empty", testProvidersEmpty},
	})
}

func addCounts(t *testing.T, s store.Store, cs ...store.ProviderCount) {
	t.Helper()
	if err := s.AddProviderCounts(ctx, cs); err != nil {
		t.Fatalf("AddProviderCounts: %v", err)
	}
}

func counts(t *testing.T, s store.Store, q store.ProviderQuery) []store.ProviderCount {
	t.Helper()
	cs, err := s.ProviderCounts(ctx, q)
	if err != nil {
		t.Fatalf("ProviderCounts(%+v): %v", q, err)
	}
	return cs
}

func testProvidersAddUp(t *testing.T, s store.Store, c *Clock) {
	day := store.Day(c.Now())
	a := store.ProviderCount{Day: day, App: "web", Provider: "OpenAI", Model: "openai/gpt-4o", Requests: 2}
	z := a
	z.ZDR, z.Requests = true, 5
	addCounts(t, s, a, z)
	a.Requests = 3
	addCounts(t, s, a)
	got := counts(t, s, store.ProviderQuery{From: day, To: day})
	want := []store.ProviderCount{
		{Day: day, App: "web", Provider: "OpenAI", Model: "openai/gpt-4o", Requests: 5},
		{Day: day, App: "web", Provider: "OpenAI", Model: "openai/gpt-4o", ZDR: true, Requests: 5},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("register:\n got %+v\nwant %+v", got, want)
	}
}

func testProvidersDaysAndApps(t *testing.T, s store.Store, c *Clock) {
	// Names that would break a key's structure stay apart.
	cells := []store.ProviderCount{
		{Day: "2026-02-28", App: "web", Provider: "Azure", Model: "m", Requests: 1},
		{Day: "2026-03-01", App: "web", Provider: "Azure", Model: "m", Requests: 1},
		{Day: "2026-03-01", App: "web", Provider: "Azure:{x}", Model: "", Requests: 4},
		{Day: "2026-03-01", App: "mobile", Provider: "Google", Model: "g", Requests: 7},
		{Day: "2026-03-02", App: "web", Provider: "DeepInfra", Model: "d", Requests: 2},
		{Day: "2026-03-03", App: "web", Provider: "DeepInfra", Model: "d", Requests: 9},
	}
	addCounts(t, s, cells...)
	got := counts(t, s, store.ProviderQuery{From: "2026-03-01", To: "2026-03-02"})
	want := []store.ProviderCount{cells[3], cells[1], cells[2], cells[4]}
	if !slices.Equal(got, want) {
		t.Fatalf("days 1-2:\n got %+v\nwant %+v", got, want)
	}
	got = counts(t, s, store.ProviderQuery{From: "2026-02-01", To: "2026-03-31", App: "web"})
	want = []store.ProviderCount{cells[0], cells[1], cells[2], cells[4], cells[5]}
	if !slices.Equal(got, want) {
		t.Fatalf("web, March:\n got %+v\nwant %+v", got, want)
	}
}

func testProvidersValidation(t *testing.T, s store.Store, c *Clock) {
	day := store.Day(c.Now())
	for _, bad := range []store.ProviderCount{
		{Day: "yesterday", App: "web", Provider: "p", Requests: 1},
		{Day: day, Provider: "p", Requests: 1},
		{Day: day, App: "web", Requests: 1},
		{Day: day, App: "web", Provider: "p"},
		{Day: day, App: "web", Provider: string(make([]byte, store.MaxRegisterName+1)), Requests: 1},
	} {
		if err := s.AddProviderCounts(ctx, []store.ProviderCount{bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddProviderCounts(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	for _, q := range []store.ProviderQuery{
		{From: "2026-03-02", To: "2026-03-01"},
		{From: "2026-13-01", To: "2026-03-01"},
		{From: "2000-01-01", To: "2026-03-01"},
	} {
		if _, err := s.ProviderCounts(ctx, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ProviderCounts(%+v) = %v, want ErrInvalid", q, err)
		}
	}
	if got := counts(t, s, store.ProviderQuery{From: day, To: day}); len(got) != 0 {
		t.Fatalf("refused cells were kept: %+v", got)
	}
}

func testProvidersEmpty(t *testing.T, s store.Store, c *Clock) {
	addCounts(t, s)
	got := counts(t, s, store.ProviderQuery{From: "2026-03-01", To: "2026-03-01"})
	if got == nil || len(got) != 0 {
		t.Fatalf("empty register: %#v, want an empty, non-nil list", got)
	}
}
