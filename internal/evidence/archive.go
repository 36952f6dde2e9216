package evidence

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// PolicyStore is where PolicyArchive keeps versions (store.Store).
type PolicyStore interface {
	PutPolicyVersion(ctx context.Context, hash string, files map[string][]byte) (bool, error)
}

// PolicyArchive keeps every policy version the engine loads in the store,
// so that a bundle holds the files of every version its reports cite,
// whichever replica made them and however long ago. Wire Put as
// policy.Options.OnLoad. A version the store cannot take (it is down) is
// kept pending in memory and retried by Flush, which the gateway calls
// before every export and on a timer (Run); a load never fails for it.
type PolicyArchive struct {
	st  PolicyStore
	log *slog.Logger
	// Timeout bounds one store write (default 5s): Put runs inside a
	// policy load.
	Timeout time.Duration

	mu      sync.Mutex
	pending map[string]map[string][]byte
}

// NewPolicyArchive returns an archive writing to st; log nil discards.
func NewPolicyArchive(st PolicyStore, log *slog.Logger) *PolicyArchive {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &PolicyArchive{st: st, log: log, Timeout: 5 * time.Second, pending: map[string]map[string][]byte{}}
}

// Put stores the version now, or keeps it pending when the store fails.
// files are kept as given (the engine's, never modified).
func (a *PolicyArchive) Put(hash string, files map[string][]byte) {
	if err := a.put(context.Background(), hash, files); err != nil {
		a.mu.Lock()
		a.pending[hash] = files
		a.mu.Unlock()
		a.log.Warn("policy version not stored yet (evidence bundles need it); retrying later",
			"policy_hash", hash, "error", err.Error())
		return
	}
	a.mu.Lock()
	delete(a.pending, hash)
	a.mu.Unlock()
}

func (a *PolicyArchive) put(ctx context.Context, hash string, files map[string][]byte) error {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	_, err := a.st.PutPolicyVersion(ctx, hash, files)
	return err
}

// Flush retries every pending version and returns the first failure.
func (a *PolicyArchive) Flush(ctx context.Context) error {
	a.mu.Lock()
	todo := make(map[string]map[string][]byte, len(a.pending))
	for h, f := range a.pending {
		todo[h] = f
	}
	a.mu.Unlock()
	var first error
	for h, f := range todo {
		if err := a.put(ctx, h, f); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		a.mu.Lock()
		delete(a.pending, h)
		a.mu.Unlock()
		a.log.Info("policy version stored after a retry", "policy_hash", h)
	}
	return first
}

// Pending lists the hashes not stored yet, sorted.
func (a *PolicyArchive) Pending() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.pending))
	for h := range a.pending {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// Run calls Flush every interval until ctx ends.
func (a *PolicyArchive) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if len(a.Pending()) == 0 {
				continue
			}
			if err := a.Flush(ctx); err != nil {
				a.log.Warn("policy versions still not stored", "pending", a.Pending(), "error", err.Error())
			}
		}
	}
}
