package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/store"
)

const operatorKey = "sk-or-v1-operator-secret"

// recEnforcer keeps reports so tests can see what the gateway recorded.
type recEnforcer struct {
	okEnforcer
	mu      sync.Mutex
	reports []store.Report
}

func (e *recEnforcer) Report(_ context.Context, r store.Report, _ string) (store.Standing, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reports = append(e.reports, r)
	return store.Standing{}, nil
}

func (e *recEnforcer) all() []store.Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]store.Report(nil), e.reports...)
}

type gw struct {
	fake *fakeupstream.Server
	url  string // gateway root
	enf  *recEnforcer
}

// startGateway runs the real gateway in front of the fake OpenRouter, which
// accepts only the operator's key.
func startGateway(t *testing.T, yamlExtra string) *gw {
	t.Helper()
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: operatorKey})
	t.Cleanup(fake.Close)
	t.Setenv("TEST_OPERATOR_KEY", operatorKey)
	cfg, err := config.Parse([]byte(`
upstream: {url: "`+fake.URL+`", api_key: "${TEST_OPERATOR_KEY}", timeout: 20s}
apps:
  - {name: web, key: `+appKey+`}
  - {name: mobile, key: mobile-app-key-02}
  - {name: strict, key: strict-app-key-03, models: ["openai/*"]}
`+yamlExtra), "test")
	if err != nil {
		t.Fatal(err)
	}
	enf := &recEnforcer{}
	s := newServer(t, cfg, func(o *Options) { o.Enforcer = enf })
	ts := httptest.NewServer(s.ProxyHandler())
	t.Cleanup(ts.Close)
	return &gw{fake: fake, url: ts.URL, enf: enf}
}

func (g *gw) post(t *testing.T, path, key string, hdr map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", g.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

func TestE2EOperatorKeyAndPseudonym(t *testing.T) {
	g := startGateway(t, "")
	body := `{"model":"openai/gpt-4o","user":"alice@example.com","messages":[{"role":"user","content":"hi"}]}`
	resp, b := g.post(t, "/api/v1/chat/completions", appKey, map[string]string{
		"HTTP-Referer": "https://app.example", "X-Title": "Example", "Cookie": "sid=1",
	}, body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Generation-Id") == "" {
		t.Fatalf("%d %s %v", resp.StatusCode, b, resp.Header)
	}
	got, _ := g.fake.Last()
	if got.Header.Get("Authorization") != "Bearer "+operatorKey {
		t.Fatalf("operator key not injected: %q", got.Header.Get("Authorization"))
	}
	if got.Header.Get("HTTP-Referer") != "https://app.example" || got.Header.Get("X-Title") != "Example" || got.Header.Get("Cookie") != "" {
		t.Fatalf("headers upstream: %v", got.Header)
	}
	for k, v := range got.Header {
		if s := strings.Join(v, ","); strings.Contains(s, appKey) || strings.Contains(s, "alice") {
			t.Fatalf("caller data in upstream header %s: %s", k, s)
		}
	}
	if bytes.Contains(got.Body, []byte("alice")) || bytes.Contains(got.Body, []byte(appKey)) {
		t.Fatalf("raw end user or app key upstream: %s", got.Body)
	}
	var up struct{ User string }
	json.Unmarshal(got.Body, &up)

	// The header form gives the same pseudonym, on /v1 too.
	g.post(t, "/v1/chat/completions", appKey, map[string]string{"X-AUP-End-User": "alice@example.com"},
		`{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	got2, _ := g.fake.Last()
	var up2 struct{ User string }
	json.Unmarshal(got2.Body, &up2)
	if !strings.HasPrefix(up.User, "aup_") || up.User != up2.User {
		t.Fatalf("pseudonyms %q %q", up.User, up2.User)
	}
	// Another app: another pseudonym for the same id.
	g.post(t, "/api/v1/chat/completions", "mobile-app-key-02", nil, body)
	got3, _ := g.fake.Last()
	var up3 struct{ User string }
	json.Unmarshal(got3.Body, &up3)
	if up3.User == up.User || !strings.HasPrefix(up3.User, "aup_") {
		t.Fatalf("not app-scoped: %q %q", up3.User, up.User)
	}
	// A restarted gateway (same key) gives the same pseudonym.
	g2 := startGateway(t, "")
	g2.post(t, "/api/v1/chat/completions", appKey, nil, body)
	got4, _ := g2.fake.Last()
	var up4 struct{ User string }
	json.Unmarshal(got4.Body, &up4)
	if up4.User != up.User {
		t.Fatalf("pseudonym changed across instances: %q %q", up4.User, up.User)
	}
	// The responses endpoint gets safety_identifier.
	g.post(t, "/api/v1/responses", appKey, map[string]string{"X-AUP-End-User": "alice@example.com"}, `{"model":"openai/gpt-4o","input":"hi"}`)
	got5, _ := g.fake.Last()
	if !bytes.Contains(got5.Body, []byte(`"safety_identifier":"`+up.User+`"`)) {
		t.Fatalf("responses body upstream: %s", got5.Body)
	}
}

func TestE2EBadInputs(t *testing.T) {
	g := startGateway(t, "")
	u := map[string]string{"X-AUP-End-User": "u1"}
	ok := `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, path, key string
		hdr             map[string]string
		body            string
		status          int
		reason          string
	}{
		{"no app key", "/api/v1/chat/completions", "", u, ok, 401, "unauthorized"},
		{"malformed json", "/api/v1/chat/completions", appKey, u, `{"model":`, 400, "invalid_request"},
		{"deep nesting", "/api/v1/chat/completions", appKey, u, `{"model":"m","messages":[{"role":"user","content":"x","extra":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]}`, 400, "invalid_request"},
		{"invalid utf-8", "/api/v1/chat/completions", appKey, u, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}", 400, "invalid_request"},
		{"unknown content part", "/api/v1/chat/completions", appKey, u, `{"model":"m","messages":[{"role":"user","content":[{"type":"smell","smell":"x"}]}]}`, 400, "invalid_request"},
		{"missing end user", "/api/v1/chat/completions", appKey, nil, ok, 400, "end_user_required"},
		{"unknown model", "/api/v1/chat/completions", "strict-app-key-03", u, `{"model":"x-ai/grok-4","messages":[{"role":"user","content":"hi"}]}`, 403, "model_not_allowed"},
		{"huge body", "/api/v1/chat/completions", appKey, u, `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 5<<20) + `"}]}`, 413, "payload_too_large"},
		{"account path", "/api/v1/key", appKey, nil, "", 403, "path_not_allowed"},
		{"encoded slash", "/api/v1/chat%2Fcompletions", appKey, u, ok, 403, "path_not_allowed"},
		{"dot dot", "/api/v1/models/../chat/completions", appKey, u, ok, 403, "path_not_allowed"},
		{"double slash", "/api/v1//chat/completions", appKey, u, ok, 403, "path_not_allowed"},
		{"outside api", "/admin/v1/queue", appKey, u, ok, 403, "path_not_allowed"},
	}
	before := len(g.fake.Requests())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := g.post(t, c.path, c.key, c.hdr, c.body)
			var e struct {
				Error struct {
					Code     int            `json:"code"`
					Message  string         `json:"message"`
					Metadata map[string]any `json:"metadata"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%d body %.200q", resp.StatusCode, b)
			}
			if resp.StatusCode != c.status || e.Error.Code != c.status || e.Error.Metadata["reason"] != c.reason || e.Error.Message == "" {
				t.Fatalf("got %d %s; want %d %s", resp.StatusCode, b, c.status, c.reason)
			}
		})
	}
	if n := len(g.fake.Requests()); n != before {
		t.Fatalf("%d refused requests reached upstream", n-before)
	}
}

// sendRaw writes a request line as is: Go's client would not send some tricks.
func sendRaw(t *testing.T, addr, path string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+appKey+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestE2ERawPathTricks(t *testing.T) {
	g := startGateway(t, "")
	addr := strings.TrimPrefix(g.url, "http://")
	for _, p := range []string{"/api/v1/../v1/key", "/api/v1/./models", "/api/v1/%2e%2e/key", "/api/v1/models%2F..%2Fkey", "/v1/models/", "/api/v1/models\\..\\key"} {
		if code := sendRaw(t, addr, p); code != 403 && code != 400 {
			t.Errorf("%s: %d", p, code)
		}
	}
	if code := sendRaw(t, addr, "/api/v1/models"); code != 200 {
		t.Errorf("models: %d", code)
	}
}

func TestE2EClientDisconnectCancelsUpstream(t *testing.T) {
	g := startGateway(t, "")
	for _, scenario := range []string{"hang", "hang-stream"} {
		t.Run(scenario, func(t *testing.T) {
			before := g.fake.Cancelled()
			n := len(g.fake.Requests())
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", g.url+"/api/v1/chat/completions",
				strings.NewReader(`{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+appKey)
			req.Header.Set("X-AUP-End-User", "u1")
			req.Header.Set("X-Fake-Scenario", scenario)
			done := make(chan struct{})
			go func() {
				defer close(done)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				// hang-stream: the comment arrives while upstream still holds the
				// stream open, so nothing is buffered on the way.
				line, _ := bufio.NewReader(resp.Body).ReadString('\n')
				if line != ": OPENROUTER PROCESSING\n" {
					t.Errorf("first line %q", line)
				}
				cancel()
				resp.Body.Close()
			}()
			if scenario == "hang" {
				for len(g.fake.Requests()) == n {
					time.Sleep(time.Millisecond) // until the call reached upstream
				}
				cancel()
			}
			<-done
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer wcancel()
			if !g.fake.WaitCancelled(wctx, before+1) {
				t.Fatal("the upstream call was not cancelled when the client left")
			}
		})
	}
}

func TestE2EUpstreamFailures(t *testing.T) {
	g := startGateway(t, "")
	body := `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}`

	// Upstream errors come back unchanged.
	resp, b := g.post(t, "/api/v1/chat/completions", appKey, map[string]string{"X-AUP-End-User": "u1", "X-Fake-Scenario": "error-402"}, body)
	if resp.StatusCode != 402 || !strings.Contains(string(b), `"code":402`) || strings.Contains(string(b), "aupguard") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	// Moderation 403 is passed through and reported.
	resp, b = g.post(t, "/api/v1/chat/completions", appKey, map[string]string{"X-AUP-End-User": "u1", "X-Fake-Scenario": "moderation"}, body)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "violence") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	reps := g.enf.all()
	if len(reps) != 1 || reps[0].Source != "upstream_moderation" || reps[0].Categories[0] != "violence" || reps[0].User != "u1" {
		t.Fatalf("reports %+v", reps)
	}
	// A stream broken off upstream ends with an error event.
	_, b = g.post(t, "/api/v1/chat/completions", appKey, map[string]string{"X-AUP-End-User": "u1", "X-Fake-Scenario": "reset"},
		`{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if !strings.Contains(string(b), `"reason":"upstream_unavailable"`) || !strings.Contains(string(b), `"finish_reason":"error"`) {
		t.Fatalf("broken stream: %s", b)
	}

	// Upstream gone: 502 in OpenRouter's shape.
	g.fake.Close()
	resp, b = g.post(t, "/api/v1/chat/completions", appKey, map[string]string{"X-AUP-End-User": "u1"}, body)
	if resp.StatusCode != 502 || !strings.Contains(string(b), `"reason":"upstream_unavailable"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestE2EUpstreamTimeout(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: operatorKey})
	defer fake.Close()
	t.Setenv("TEST_OPERATOR_KEY", operatorKey)
	cfg, err := config.Parse([]byte(`
upstream: {url: "`+fake.URL+`", api_key: "${TEST_OPERATOR_KEY}", timeout: 100ms}
apps: [{name: web, key: `+appKey+`}]
`), "t")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, cfg, nil)
	ts := httptest.NewServer(s.ProxyHandler())
	defer ts.Close()
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/chat/completions", strings.NewReader(`{"model":"m","user":"u","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+appKey)
	req.Header.Set("X-Fake-Scenario", "hang")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || !strings.Contains(string(b), `"reason":"upstream_timeout"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
