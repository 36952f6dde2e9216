package redisstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
)

// Entries written before reports were kept once (the JSON in the user's
// and the category's streams too) still read.
func TestOldStreamEntriesRead(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, err := OpenURL(ctx, srv.URLWithPrefix("old"), store.BuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := store.Report{ID: "old-1", Time: time.Now().UTC().Truncate(time.Millisecond), App: "web", User: "u", Categories: []string{"fraud"}, Strike: 1}
	js, _ := json.Marshal(r)
	uk := s.k.user("web", "u")
	gid := s.c.XAdd(ctx, xargs(s.k.g("reports"), js)).Val()
	cid := s.c.XAdd(ctx, xargs(s.k.cat("fraud"), js)).Val()
	uid := s.c.XAdd(ctx, xargs(uk.reports, js)).Val()
	s.c.HSet(ctx, s.k.g("rid"), r.ID, gid+" "+cid)
	s.c.HSet(ctx, uk.rid, r.ID, uid)
	if _, err := s.AddReport(ctx, store.Report{ID: "new-1", Time: r.Time.Add(time.Second), App: "web", User: "u", Categories: []string{"fraud"}, Strike: 1}, store.Policy{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []store.ReportQuery{{}, {Category: "fraud"}, {App: "web", User: "u"}} {
		p, err := s.Reports(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 2 || p.Items[0].ID != "new-1" || p.Items[1].ID != "old-1" {
			t.Fatalf("%+v: %+v", q, p.Items)
		}
	}
	c, err := s.User(ctx, "web", "u")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Reports) != 2 || c.Reports[1].ID != "old-1" {
		t.Fatalf("case: %+v", c.Reports)
	}
}

func xargs(stream string, js []byte) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: stream, Values: []any{"r", string(js)}}
}
