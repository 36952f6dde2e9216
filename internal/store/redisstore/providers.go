package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/store"
)

// The subprocessor register: one hash per UTC day (keys.go lists it),
//
//	{P:prov:DAY}  hash  ["app","provider","model",zdr] → request count
//
// each day its own slot, so a Cluster spreads the register. A flush is
// one pipeline of HINCRBYs (go-redis splits it by slot on a Cluster),
// sent by the recorder every few seconds, never on the request path.
func (k keys) providers(day string) string { return "{" + k.p + ":prov:" + esc(day) + "}" }

type providerField struct {
	App, Provider, Model string
	ZDR                  bool
}

func (f providerField) MarshalJSON() ([]byte, error) {
	return json.Marshal([4]any{f.App, f.Provider, f.Model, f.ZDR})
}

func parseProviderField(s string) (providerField, bool) {
	var v [4]json.RawMessage
	if json.Unmarshal([]byte(s), &v) != nil {
		return providerField{}, false
	}
	var f providerField
	if json.Unmarshal(v[0], &f.App) != nil || json.Unmarshal(v[1], &f.Provider) != nil ||
		json.Unmarshal(v[2], &f.Model) != nil || json.Unmarshal(v[3], &f.ZDR) != nil {
		return providerField{}, false
	}
	return f, true
}

func (s *Store) AddProviderCounts(ctx context.Context, counts []store.ProviderCount) error {
	for _, c := range counts {
		if err := store.CheckProviderCount(c); err != nil {
			return err
		}
	}
	if len(counts) == 0 {
		return nil
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range counts {
			f, _ := json.Marshal(providerField{c.App, c.Provider, c.Model, c.ZDR})
			p.HIncrBy(ctx, s.k.providers(c.Day), string(f), c.Requests)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: add provider counts: %w", err)
	}
	return nil
}

func (s *Store) ProviderCounts(ctx context.Context, q store.ProviderQuery) ([]store.ProviderCount, error) {
	days, err := store.RegisterDays(q)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.MapStringStringCmd, len(days))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, d := range days {
			cmds[i] = p.HGetAll(ctx, s.k.providers(d))
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("redis store: provider counts: %w", err)
	}
	out := []store.ProviderCount{}
	for i, cmd := range cmds {
		for field, v := range cmd.Val() {
			f, ok := parseProviderField(field)
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil || (q.App != "" && f.App != q.App) {
				continue
			}
			out = append(out, store.ProviderCount{Day: days[i], App: f.App, Provider: f.Provider, Model: f.Model, ZDR: f.ZDR, Requests: n})
		}
	}
	store.SortProviderCounts(out)
	return out, nil
}
