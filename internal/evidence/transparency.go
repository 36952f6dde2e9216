package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aupguard/aupguard/internal/transparency"
)

// transparency finishes the bundle's transparency report: the categories
// of reports a sanction cites from before the bundle's period are read
// from src, one user at a time; appeals and notices from x.Casework.
func (x *Exporter) transparency(ctx context.Context, src Source, t *transparency.Tally, now time.Time) ([]byte, error) {
	resolve := func(ctx context.Context, app, user string, ids map[string]bool) (map[string][]string, error) {
		found := map[string][]string{}
		for r, err := range src.Reports(ctx, Filter{App: app, User: user}) {
			if err != nil {
				return nil, err
			}
			if ids[r.ID] {
				found[r.ID] = r.Categories
				if len(found) == len(ids) {
					break
				}
			}
		}
		return found, nil
	}
	if ss, ok := src.(StoreSource); ok {
		// A store reads one user's reports through its per-user index;
		// the walk above reads every report in it, once per user.
		resolve = transparency.StoreResolver(ss.Store)
	}
	if err := t.Casework(ctx, x.Casework); err != nil {
		return nil, fmt.Errorf("evidence: transparency report: %w", err)
	}
	rep, err := t.Finish(ctx, now, resolve)
	if err != nil {
		return nil, fmt.Errorf("evidence: transparency report: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("evidence: transparency report: %w", err)
	}
	return append(b, '\n'), nil
}
