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
