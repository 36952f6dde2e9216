package webhook

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
)

func TestAppealFiledCarriesNoText(t *testing.T) {
	rc, srv := newReceiver(t, 0, 1)
	n, err := New(Options{Hooks: []config.Webhook{{URL: srv.URL, Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	deadline := time.Date(2026, 12, 17, 0, 0, 0, 0, time.UTC)
	n.AppealFiled(store.Appeal{ID: "ap_e_1", App: "web", User: "alice", StatementID: "st_e_1", Kind: store.RestrictSuspension,
		Categories: []string{"fraud"}, Deadline: deadline, Text: "SECRET APPEAL TEXT"}, "aup_x")
	wait(t, rc.done)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	g := rc.got[0]
	ap, _ := g.event["appeal"].(map[string]any)
	if g.event["type"] != TypeAppealFiled || g.event["pseudonym"] != "aup_x" || ap["id"] != "ap_e_1" || ap["statement_id"] != "st_e_1" || ap["deadline"] != "2026-12-17T00:00:00Z" {
		t.Fatalf("event: %s", g.body)
	}
	if bytes.Contains(g.body, []byte("SECRET")) || bytes.Contains(g.body, []byte("alice")) {
		t.Fatalf("text or the raw user id in the event: %s", g.body)
	}
}
