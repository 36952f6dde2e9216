package desk

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

func TestDecisionTime(t *testing.T) {
	before := time.Now().Add(-time.Millisecond)
	id := store.NewID(time.Now())
	at, err := decisionTime(id)
	if err != nil || at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now()) {
		t.Fatalf("%s: %v %v", id, at, err)
	}
	for _, bad := range []string{"", "dec-1", strings.Repeat("U", 26), "8" + strings.Repeat("0", 25), id + "0"} {
		if _, err := decisionTime(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAPIDecision(t *testing.T) {
	e := newEnv(t)
	id := store.NewID(time.Now())
	other := store.NewID(time.Now())
	at, _ := decisionTime(id)
	for i, r := range []store.Report{
		{App: "web", User: "mallory", DecisionID: id, Categories: []string{"hate"}, Time: at.Add(20 * time.Millisecond), Excerpt: "the excerpt"},
		{App: "web", User: "mallory", DecisionID: id, Source: "answer", Categories: []string{"hate"}, Time: at.Add(2 * time.Second)},
		{App: "web", User: "sam", DecisionID: other, Categories: []string{"violence"}, Time: at.Add(time.Second)},
	} {
		r.ID = store.NewID(r.Time) + string(rune('a'+i))
		if r.Source == "" {
			r.Source = "request"
		}
		r.Action, r.Strike, r.Pseudonym = "block", 1, "p_"+r.User
		if _, err := e.st.AddReport(context.Background(), r, policy); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range []string{tokReviewer, tokAuditor, tokAdmin} {
		resp, body := e.do("GET", "/admin/v1/decisions/"+strings.ToLower(id), tok, nil)
		var v deskapi.Decision
		if resp.StatusCode != 200 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if v.DecisionID != id || !v.Time.Equal(at) || len(v.Reports) != 2 || v.Reports[0].User != "mallory" || v.Reports[0].App != "web" {
			t.Fatalf("%s", body)
		}
	}
	resp, body := e.do("GET", "/admin/v1/decisions/"+store.NewID(time.Now()), tokReviewer, nil)
	if eb := decodeErr(t, body); resp.StatusCode != 404 || eb.Error.Metadata["reason"] != "not_found" || !strings.Contains(eb.Error.Message, "only flag and block") {
		t.Fatalf("unknown: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/admin/v1/decisions/not-an-id", tokReviewer, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("bad id: %d %s", resp.StatusCode, body)
	}
	if resp, _ = e.do("GET", "/admin/v1/decisions/"+id, "", nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}

	// ZDR: no excerpt, whatever the store holds.
	z := newEnv(t, func(o *Options) { o.ZDR = true })
	r := store.Report{ID: store.NewID(at), Time: at, App: "web", User: "u", DecisionID: id, Source: "request", Action: "block",
		Categories: []string{"hate"}, Strike: 1, Excerpt: "secret words"}
	if _, err := z.st.AddReport(context.Background(), r, policy); err != nil {
		t.Fatal(err)
	}
	if _, body = z.do("GET", "/admin/v1/decisions/"+id, tokAuditor, nil); strings.Contains(string(body), "secret words") {
		t.Fatalf("ZDR leak: %s", body)
	}
}
