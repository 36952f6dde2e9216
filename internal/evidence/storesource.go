package evidence

import (
	"context"
	"errors"
	"iter"
	"sort"

	"github.com/aupguard/aupguard/internal/store"
)

// StoreSource is the Source of a running gateway: reports, actions and
// policy versions, all from its store (the engine pushes every version it
// loads there, see PolicyArchive).
type StoreSource struct {
	Store store.Store
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

// Policy reads the version hash from the store.
func (s StoreSource) Policy(ctx context.Context, hash string) (PolicyVersion, error) {
	v, err := s.Store.PolicyVersion(ctx, hash)
	if err != nil {
		return PolicyVersion{}, err
	}
	return FromStore(v), nil
}

// FromStore converts a stored policy version, files sorted by path.
func FromStore(v store.PolicyVersion) PolicyVersion {
	out := PolicyVersion{Hash: v.Hash, From: v.StoredAt}
	for p, data := range v.Files {
		out.Files = append(out.Files, PolicyFile{Path: p, Data: data})
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Path < out.Files[j].Path })
	return out
}
