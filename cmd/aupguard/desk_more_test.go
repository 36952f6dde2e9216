package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The "more:" line of a queue page is a command that lists the next page
// of the same listing: every filter is kept.
func TestDeskQueueMoreKeepsFilters(t *testing.T) {
	var mu sync.Mutex
	var seen []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Query())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		next := "eyJrIjoxLjUsIm0iOiJ3ZWIvYm9iIn0="
		if r.URL.Query().Get("cursor") != "" {
			next = ""
		}
		_, _ = w.Write([]byte(`{"items":[{"user":"bob","app":"web","risk":1.5,"status":"suspended","reports":2,"unreviewed":1,"categories":["hate"]}],"next_cursor":"` + next + `"}`))
	}))
	defer srv.Close()
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": deskTestReviewer}

	code, out, errs := runDesk(env, "queue", "--status", "suspended", "--limit", "2", "--category", "hate", "--app", "my app", "--risk", "0.5")
	if code != 0 {
		t.Fatalf("queue: %d %q %q", code, out, errs)
	}
	i := strings.Index(out, "more: ")
	if i < 0 {
		t.Fatalf("no more: line in %q", out)
	}
	line := strings.TrimSpace(out[i+len("more: "):])
	want := `aupguard desk queue --category hate --status suspended --app 'my app' --risk 0.5 --limit 2 --cursor eyJrIjoxLjUsIm0iOiJ3ZWIvYm9iIn0=`
	if line != want {
		t.Fatalf("more: %s\nwant: %s", line, want)
	}

	// Run it as a shell would split it (the one quoted value aside).
	args := strings.Fields(strings.Replace(strings.TrimPrefix(line, "aupguard desk "), "'my app'", "my_app", 1))
	for i, a := range args {
		if a == "my_app" {
			args[i] = "my app"
		}
	}
	if code, out, errs = runDesk(env, args...); code != 0 || strings.Contains(out, "more:") {
		t.Fatalf("next page: %d %q %q", code, out, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d requests", len(seen))
	}
	first, second := seen[0], seen[1]
	if second.Get("cursor") == "" {
		t.Fatalf("no cursor on the next page: %v", second)
	}
	second.Del("cursor")
	if first.Encode() != second.Encode() {
		t.Fatalf("the next page lost filters: first %v, next %v", first, second)
	}
}

func TestDeskDecision(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/01KBDJ9F3ZQ8Y5J6W0S7V2N4XA") {
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":{"code":404,"message":"no report carries this decision id","metadata":{"reason":"not_found"}}}`))
			return
		}
		_, _ = w.Write([]byte(`{"decision_id":"01KBDJ9F3ZQ8Y5J6W0S7V2N4XA","time":"2026-12-02T18:00:00Z","reports":[
			{"id":"R1","time":"2026-12-02T18:00:00Z","app":"web","user":"mallory","source":"request","action":"block","categories":["hate"]}]}`))
	}))
	defer srv.Close()
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": deskTestReviewer}
	code, out, errs := runDesk(env, "decision", "01KBDJ9F3ZQ8Y5J6W0S7V2N4XA")
	if code != 0 || path != "/admin/v1/decisions/01KBDJ9F3ZQ8Y5J6W0S7V2N4XA" || !strings.Contains(out, "mallory") ||
		!strings.Contains(out, "case: aupguard desk show mallory --app web") {
		t.Fatalf("decision: %d %q %q (%s)", code, out, errs, path)
	}
	if code, _, errs = runDesk(env, "decision", "01KBDJ9F3ZQ8Y5J6W0S7V2N4XB"); code != 1 || !strings.Contains(errs, "no report carries") {
		t.Fatalf("unknown: %d %q", code, errs)
	}
	if code, _, _ = runDesk(env, "decision"); code != 2 {
		t.Fatalf("no id: %d", code)
	}
}
