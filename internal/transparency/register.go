package transparency

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// RegisterDays turns a period [since, until) into the register's days:
// the UTC days it touches (until exclusive, so a period ending at
// midnight ends the day before).
func RegisterDays(since, until time.Time) (from, to string) {
	return store.Day(since), store.Day(until.Add(-time.Nanosecond))
}

// Providers reads the register of [since, until) for app ("" for all) and
// adds the totals over the period.
func Providers(ctx context.Context, st store.Store, since, until time.Time, app string, now time.Time) (deskapi.ProviderRegister, error) {
	from, to := RegisterDays(since, until)
	days, err := st.ProviderCounts(ctx, store.ProviderQuery{From: from, To: to, App: app})
	if err != nil {
		return deskapi.ProviderRegister{}, fmt.Errorf("transparency: register: %w", err)
	}
	return Register(from, to, app, days, now), nil
}

// Register builds the register's answer from its cells (in ProviderCounts' order).
func Register(from, to, app string, days []store.ProviderCount, now time.Time) deskapi.ProviderRegister {
	type key struct{ app, provider, model string }
	idx := map[key]int{}
	out := deskapi.ProviderRegister{From: from, To: to, GeneratedAt: now.UTC(), App: app, Totals: []deskapi.ProviderTotal{}, Days: days}
	if out.Days == nil {
		out.Days = []store.ProviderCount{}
	}
	for _, c := range days {
		k := key{c.App, c.Provider, c.Model}
		i, ok := idx[k]
		if !ok {
			i = len(out.Totals)
			idx[k] = i
			out.Totals = append(out.Totals, deskapi.ProviderTotal{App: c.App, Provider: c.Provider, Model: c.Model, FirstDay: c.Day})
		}
		t := &out.Totals[i]
		t.Requests += c.Requests
		if c.ZDR {
			t.ZDRRequests += c.Requests
		}
		t.LastDay = c.Day
	}
	sortTotals(out.Totals)
	return out
}

func sortTotals(ts []deskapi.ProviderTotal) {
	slices.SortFunc(ts, func(a, b deskapi.ProviderTotal) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Model, b.Model))
	})
}
