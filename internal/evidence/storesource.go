package evidence

import (
	"context"
	"errors"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// StoreSource is the Source of a running gateway: reports and actions from
// its store, policy versions from History.
type StoreSource struct {
	Store   store.Store
	History *PolicyHistory // nil: bundles list no policy version
}

var _ Source = StoreSource{}

// errStop ends a store walk when the consumer stops iterating.
var errStop = errors.New("evidence: iteration stopped")

// Reports walks the store's reports in [f.Since, f.Until); the exporter
// applies the rest of f itself.
func (s StoreSource) Reports(ctx context.Context, f Filter) iter.Seq2[store.Report, error] {
	return func(yield func(store.Report, error) bool) {
		err := s.Store.EachReport(ctx, f.Since, f.Until, func(r store.Report) error {
			if !yield(r, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(store.Report{}, err)
		}
	}
}

// Actions walks the store's audit log in [f.Since, f.Until).
func (s StoreSource) Actions(ctx context.Context, f Filter) iter.Seq2[store.Action, error] {
	return func(yield func(store.Action, error) bool) {
		err := s.Store.EachAction(ctx, f.Since, f.Until, func(a store.Action) error {
			if !yield(a, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(store.Action{}, err)
		}
	}
}

// Policies returns the versions History knows in force during [since, until).
func (s StoreSource) Policies(_ context.Context, since, until time.Time) ([]PolicyVersion, error) {
	if s.History == nil {
		return nil, nil
	}
	return s.History.Versions(since, until), nil
}

// PolicyHistory remembers the policy versions a process has had in force:
// the gateway calls Observe at start and after every reload. The first
// version's start is unknown (it may have been in force before this
// process started), so it counts as in force since the beginning.
type PolicyHistory struct {
	mu       sync.Mutex
	versions []PolicyVersion
	now      func() time.Time
}

// NewPolicyHistory returns an empty history; now is its clock (nil: time.Now).
func NewPolicyHistory(now func() time.Time) *PolicyHistory {
	if now == nil {
		now = time.Now
	}
	return &PolicyHistory{now: now}
}

// Observe records the version in force (hash and its files). The same hash
// again changes nothing; another hash ends the current version now.
func (h *PolicyHistory) Observe(hash string, files map[string][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now().UTC()
	if n := len(h.versions); n > 0 {
		if h.versions[n-1].Hash == hash {
			return
		}
		h.versions[n-1].Until = now
	}
	v := PolicyVersion{Hash: hash}
	if len(h.versions) > 0 {
		v.From = now
	}
	for p, data := range files {
		v.Files = append(v.Files, PolicyFile{Path: p, Data: data})
	}
	sort.Slice(v.Files, func(i, j int) bool { return v.Files[i].Path < v.Files[j].Path })
	h.versions = append(h.versions, v)
}

// Versions returns the versions in force at some point of [since, until)
// (zero times: open ends), oldest first.
func (h *PolicyHistory) Versions(since, until time.Time) []PolicyVersion {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []PolicyVersion
	for _, v := range h.versions {
		endsBefore := !v.Until.IsZero() && !since.IsZero() && !v.Until.After(since)
		startsAfter := !v.From.IsZero() && !until.IsZero() && !v.From.Before(until)
		if !endsBefore && !startsAfter {
			out = append(out, v)
		}
	}
	return out
}
