package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/wire"
)

// Security tests: hostile callers against the real gateway. Every refusal
// must come before anything reaches upstream.

// ftUpstreamCount is how many requests the fake has received.
func ftUpstreamCount(g *ftGW) int { return len(g.fake.Requests()) }

func TestSecurityAppKeys(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	chat := ftChat("openai/gpt-4o", false)
	auths := map[string]map[string]string{
		"none":                   {},
		"wrong bearer":           {"Authorization": "Bearer not-a-key"},
		"operator key as app":    {"Authorization": "Bearer " + ftOperatorKey},
		"prefix of app key":      {"Authorization": "Bearer " + appKey[:len(appKey)-1]},
		"app key plus one":       {"Authorization": "Bearer " + appKey + "1"},
		"basic scheme":           {"Authorization": "Basic " + appKey},
		"wrong X-AUP-App-Key":    {"X-AUP-App-Key": "nope"},
		"wrong X-Api-Key":        {"X-Api-Key": "nope"},
		"key in cookie":          {"Cookie": "key=" + appKey},
		"empty bearer":           {"Authorization": "Bearer "},
		"end user without a key": {"X-AUP-End-User": "u1"},
	}
	before := ftUpstreamCount(g)
	for name, hdr := range auths {
		for _, r := range []ftReq{
			{path: "/api/v1/chat/completions", body: chat},
			{method: "GET", path: "/api/v1/models"},
			{method: "GET", path: "/v1/models"},
			{method: "GET", path: "/api/v1/key"},
		} {
			h := map[string]string{"X-AUP-End-User": "u1"}
			for k, v := range hdr {
				h[k] = v
			}
			r.hdr = h
			resp, b := g.do(t, r)
			if resp.StatusCode != 401 || ftReason(t, resp, b) != "unauthorized" {
				t.Errorf("%s %s: %d %s", name, r.path, resp.StatusCode, b)
			}
			if bytes.Contains(b, []byte(ftOperatorKey)) || bytes.Contains(b, []byte(appKey[:10])) {
				t.Errorf("%s %s: a key is echoed: %s", name, r.path, b)
			}
		}
	}
	if n := ftUpstreamCount(g) - before; n != 0 {
		t.Fatalf("%d unauthenticated requests reached upstream", n)
	}
	// The right key in each accepted form works (the control).
	for _, h := range []map[string]string{{"Authorization": "Bearer " + appKey}, {"X-AUP-App-Key": appKey}, {"X-Api-Key": appKey}} {
		if resp, b := g.do(t, ftReq{method: "GET", path: "/api/v1/models", hdr: h}); resp.StatusCode != 200 {
			t.Fatalf("%v: %d %s", h, resp.StatusCode, b)
		}
	}
}

func TestSecurityPathsAndModels(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	const strict = "strict-app-key-03"
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name   string
		r      ftReq
		reason string
	}{
		{"account key", ftReq{method: "GET", path: "/api/v1/key", key: appKey}, "path_not_allowed"},
		{"account credits", ftReq{method: "GET", path: "/v1/credits", key: appKey}, "path_not_allowed"},
		{"key management", ftReq{method: "GET", path: "/api/v1/keys", key: appKey}, "path_not_allowed"},
		{"key creation", ftReq{path: "/api/v1/keys", key: appKey, body: `{"name":"x"}`}, "path_not_allowed"},
		{"unknown endpoint", ftReq{path: "/api/v1/images/generations", key: appKey, body: `{"prompt":"x"}`}, "path_not_allowed"},
		{"chat by GET", ftReq{method: "GET", path: "/api/v1/chat/completions", key: appKey}, "path_not_allowed"},
		{"chat by PUT", ftReq{method: "PUT", path: "/api/v1/chat/completions", key: appKey, body: ftChat("openai/gpt-4o", false)}, "path_not_allowed"},
		{"outside the api", ftReq{path: "/chat/completions", key: appKey, body: ftChat("openai/gpt-4o", false)}, "path_not_allowed"},

		{"model off the list", ftReq{path: "/api/v1/chat/completions", key: strict, body: ftChat("anthropic/claude-sonnet-4", false)}, "model_not_allowed"},
		{"fallback list smuggles", ftReq{path: "/api/v1/chat/completions", key: strict,
			body: `{"model":"openai/gpt-4o","models":["openai/gpt-4o","x-ai/grok-4"],` + msgs + `}`}, "model_not_allowed"},
		{"fallback list only", ftReq{path: "/api/v1/chat/completions", key: strict,
			body: `{"models":["x-ai/grok-4"],` + msgs + `}`}, "model_not_allowed"},
		{"no model", ftReq{path: "/api/v1/chat/completions", key: strict, body: `{` + msgs + `}`}, "model_not_allowed"},
		{"dot segments in model", ftReq{path: "/api/v1/chat/completions", key: strict, body: ftChat("openai/../x-ai/grok-4", false)}, "model_not_allowed"},
		{"case variant", ftReq{path: "/api/v1/chat/completions", key: strict, body: ftChat("OpenAI/gpt-4o", false)}, "model_not_allowed"},
		{"preset", ftReq{path: "/api/v1/chat/completions", key: strict, body: ftChat("@preset/anything", false)}, "model_not_allowed"},
		{"preset field", ftReq{path: "/api/v1/chat/completions", key: strict,
			body: `{"model":"openai/gpt-4o","preset":"other",` + msgs + `}`}, "model_not_allowed"},
		{"preset not a string", ftReq{path: "/api/v1/chat/completions", key: appKey,
			body: `{"model":"openai/gpt-4o","preset":7,` + msgs + `}`}, "invalid_request"},
		{"duplicate model key", ftReq{path: "/api/v1/chat/completions", key: strict,
			body: `{"model":"openai/gpt-4o","model":"x-ai/grok-4",` + msgs + `}`}, "invalid_request"},
		{"responses", ftReq{path: "/api/v1/responses", key: strict, body: `{"model":"x-ai/grok-4","input":"hi"}`}, "model_not_allowed"},
		{"messages", ftReq{path: "/api/v1/messages", key: strict, body: `{"model":"anthropic/claude-sonnet-4","max_tokens":10,` + msgs + `}`}, "model_not_allowed"},
		{"completions", ftReq{path: "/v1/completions", key: strict, body: `{"model":"x-ai/grok-4","prompt":"hi"}`}, "model_not_allowed"},
		{"embeddings", ftReq{path: "/api/v1/embeddings", key: strict, body: `{"model":"mistral/embed","input":"hi"}`}, "model_not_allowed"},
	}
	before := ftUpstreamCount(g)
	for _, c := range cases {
		c.r.hdr = ftEndUser
		resp, b := g.do(t, c.r)
		want := map[string]int{"path_not_allowed": 403, "model_not_allowed": 403, "invalid_request": 400}[c.reason]
		if got := ftReason(t, resp, b); resp.StatusCode != want || got != c.reason {
			t.Errorf("%s: %d %s; want %d %s", c.name, resp.StatusCode, b, want, c.reason)
		}
	}
	if n := ftUpstreamCount(g) - before; n != 0 {
		t.Fatalf("%d refused requests reached upstream", n)
	}

	// Controls: allowed models pass, and what upstream gets names only them.
	for _, body := range []string{
		`{"model":"openai/gpt-4o","models":["openai/gpt-4o-mini"],` + msgs + `}`,
		`{"models":["openai/gpt-4o","openai/gpt-4o-mini"],` + msgs + `}`,
		`{"model":"openai/gpt-4o","Model":"x-ai/grok-4",` + msgs + `}`,
	} {
		resp, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: strict, hdr: ftEndUser, body: body})
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			continue // refusing is safe too
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
		up, _ := g.fake.Last()
		var got struct {
			Model  string   `json:"model"`
			Models []string `json:"models"`
		}
		// Exact-key reading, as a JavaScript upstream reads it.
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(up.Body, &raw); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw["model"], &got.Model)
		json.Unmarshal(raw["models"], &got.Models)
		for _, m := range append([]string{got.Model}, got.Models...) {
			if m != "" && !strings.HasPrefix(m, "openai/") {
				t.Fatalf("model %q reached upstream for a restricted app: %s", m, up.Body)
			}
		}
	}
}

// The proxy listener serves the proxy only: the admin API, the desk and
// the metrics are on the admin listener and nowhere else.
func TestSecurityAdminNotOnProxy(t *testing.T) {
	ftNoLeaks(t)
	const adminSecret = "ADMIN-ONLY-CONTENT-5b1e"
	g := ftStart(t, ftOpts{
		yaml: "admin_tokens: [{name: ops, role: admin, token: ft-admin-token-77}]\n",
		admin: func(e *gin.Engine) {
			for _, p := range []string{"/admin/v1/queue", "/desk/", "/desk/audit"} {
				e.GET(p, func(c *gin.Context) { c.String(200, adminSecret) })
			}
			e.POST("/desk/login", func(c *gin.Context) { c.String(200, adminSecret) })
		},
	})
	before := ftUpstreamCount(g)
	for _, p := range []string{"/admin/v1/queue", "/desk/", "/desk/audit", "/metrics", "/debug/pprof/",
		"/api/v1/../../admin/v1/queue", "/api/v1/%2e%2e/%2e%2e/metrics", "/v1/admin/v1/queue", "/api/v1/metrics"} {
		for _, auth := range []string{"", "Authorization: Bearer " + appKey + "\r\n", "Authorization: Bearer ft-admin-token-77\r\n"} {
			for _, m := range []string{"GET", "POST"} {
				code, b := ftRaw(t, g.proxy, m+" "+p+" HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 0\r\nConnection: close", "")
				if code == 200 || code == 0 || bytes.Contains(b, []byte(adminSecret)) || bytes.Contains(b, []byte("go_goroutines")) {
					t.Errorf("%s %s (%q) on the proxy listener: %d %.200s", m, p, auth, code, b)
				}
			}
		}
	}
	if n := ftUpstreamCount(g) - before; n != 0 {
		t.Fatalf("%d admin requests reached upstream", n)
	}
	// Control: the admin listener serves them.
	if code, b := ftRaw(t, g.admin, "GET /admin/v1/queue HTTP/1.1\r\nHost: x\r\nConnection: close", ""); code != 200 || string(b) != adminSecret {
		t.Fatalf("admin listener: %d %s", code, b)
	}
	if code, b := ftRaw(t, g.admin, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close", ""); code != 200 || !bytes.Contains(b, []byte("aupguard_")) {
		t.Fatalf("admin metrics: %d %.200s", code, b)
	}
}

// Path tricks sent as raw request lines, so no client cleans them. A
// trick is refused, or it is the plain path in disguise and then reaches
// upstream as that path and inspected (the end user pseudonymised).
func TestSecurityRawPathTricks(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	body := `{"model":"openai/gpt-4o","user":"raw-user-4242","messages":[{"role":"user","content":"hi"}]}`
	refused := []string{
		"POST /api/v1/../api/v1/chat/completions",
		"POST /api/v1/models/../chat/completions",
		"POST /api/v1/%2e%2e/v1/chat/completions",
		"POST /api/v1/%2E%2E/api/v1/chat/completions",
		"POST /api/v1/chat%2Fcompletions",
		"POST /api/v1/chat%2fcompletions",
		"POST /api/v1//chat/completions",
		"POST //api/v1/chat/completions",
		"POST /api/v1/./chat/completions",
		"POST /api/v1/chat/./completions",
		"POST /api/v1/%2e/chat/completions",
		"POST /api/v1/chat/completions/",
		"POST /api/v1/chat/completions/.",
		"POST /api/v1/chat/completions/..",
		"POST /API/V1/chat/completions",
		"POST /api/v1/Chat/Completions",
		"POST /api/v1/CHAT/COMPLETIONS",
		"POST /api/v1/chat/completions;x=1",
		"POST /api/v1/chat;x=1/completions",
		"POST /api/v1;/chat/completions",
		"POST /api/v1/chat/completions%00",
		"POST /api/v1/chat/completions%20",
		"POST /api/v1/chat/completions%3Fx=1",
		"POST /api/v1/chat/completions%23x",
		"POST /api/v1/chat\\completions",
		"POST /api/v1/chat%5Ccompletions",
		"POST /api/v1/chat/completions\t",
		"POST /api/v1/chat/%63ompletions/..%2F",
		"post /api/v1/chat/completions",
		"Post /api/v1/chat/completions",
		"GET /api/v1/chat/completions",
		"PUT /api/v1/chat/completions",
		"CONNECT openrouter.ai:443",
		"OPTIONS *",
		"GET /api/v1/models/../key",
		"GET /api/v1/%6bey",
		"GET /api/v1/models/%2e%2e/credits",
		"GET /api/v1/models/x/y/endpoints/../../../../key",
		"GET /api/v1/models/x/y%2Fz/endpoints",
	}
	// These decode to the plain path: they may be served, but only inspected.
	disguised := []string{
		"POST /api/v1/chat/completions",
		"POST /v1/chat/completions",
		"POST /api/v1/%63hat/completions",
		"POST /api/v1/chat/completions?x=1",
		"POST http://evil.example/api/v1/chat/completions",
	}
	try := func(line string) (int, []fakeupstream.Recorded) {
		n := ftUpstreamCount(g)
		code, _ := ftRaw(t, g.proxy, line+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+appKey+
			"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(body)), body)
		return code, g.fake.Requests()[n:]
	}
	for _, line := range refused {
		code, up := try(line)
		// net/http answers "OPTIONS *" itself (200, empty): harmless.
		if (code < 400 || code >= 500) && !(line == "OPTIONS *" && code == 200) || len(up) != 0 {
			t.Errorf("%q: status %d, %d upstream requests", line, code, len(up))
		}
	}
	for _, line := range disguised {
		code, up := try(line)
		if code != 200 || len(up) != 1 {
			t.Errorf("%q: status %d, %d upstream requests", line, code, len(up))
			continue
		}
		if up[0].Path != "/api/v1/chat/completions" || bytes.Contains(up[0].Body, []byte("raw-user-4242")) ||
			!bytes.Contains(up[0].Body, []byte(`"user":"aup_`)) {
			t.Errorf("%q reached upstream uninspected: %s %s", line, up[0].Path, up[0].Body)
		}
	}
}

// Headers beyond http.Server.MaxHeaderBytes (64 KiB) get 431 before any
// handler runs.
func TestSecurityOversizedHeaders(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	big := strings.Repeat("a", 128<<10)
	for name, hdr := range map[string]string{
		"one big header": "X-Big: " + big,
		"many headers":   strings.Repeat("X-Many: "+strings.Repeat("b", 1000)+"\r\n", 130) + "X-End: 1",
		"big app key":    "Authorization: Bearer " + big,
	} {
		code, _ := ftRaw(t, g.proxy, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+appKey+"\r\n"+hdr, "")
		if code != 431 {
			t.Errorf("%s: %d, want 431", name, code)
		}
	}
	if len(g.fake.Requests()) != 0 {
		t.Fatal("an oversized request reached upstream")
	}
}

// ftTap watches what an upstream handler writes: whether the stream ran to
// its end and whether a write or flush failed (the gateway dropped the call).
type ftTap struct {
	http.ResponseWriter
	mu      *sync.Mutex
	done    *bool
	failed  *bool
	written *int64
}

func (w ftTap) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.written += int64(n)
	if err != nil {
		*w.failed = true
	} else if bytes.Contains(p, []byte("[DONE]")) {
		*w.done = true
	}
	return n, err
}

// FlushError, not Flush() error: http.ResponseController (the fake flushes
// through one) calls only FlushError or http.Flusher's Flush and unwraps
// past any other. Backpressure can hold the fake in its flush (a chunk's
// last bytes) as well as in its write, and then the flush is what fails.
func (w ftTap) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err != nil {
		w.mu.Lock()
		*w.failed = true
		w.mu.Unlock()
	}
	return err
}

func (w ftTap) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Slow clients. A client that sends its headers too slowly is disconnected
// after limits.read_header_timeout without an answer. A client that stops
// reading a stream is not cut by a write timeout (there is none: it would
// cut long streams); backpressure holds the upstream stream where it is,
// nothing piles up in the gateway, and when the client finally goes, the
// upstream call is dropped.
func TestSecuritySlowClients(t *testing.T) {
	ftNoLeaks(t)
	var (
		mu           sync.Mutex
		done, failed bool
		written      int64
	)
	state := func() (bool, bool) { mu.Lock(); defer mu.Unlock(); return done, failed }
	// 48 MiB of answer: several times what the socket buffers on the way
	// hold (about 8 MiB here).
	fake := fakeupstream.Handler(fakeupstream.Options{APIKey: ftOperatorKey, NoRecord: true,
		Answer: strings.Repeat("slow reader ", 48<<20/12), ChunkSize: 16384})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fake.ServeHTTP(ftTap{w, &mu, &done, &failed, &written}, r)
		if r.Context().Err() != nil {
			// The fake also stops when its server saw the gateway close the
			// connection between two writes (it checks the context after
			// each chunk): dropped as well, with no write to fail.
			mu.Lock()
			failed = true
			mu.Unlock()
		}
	}))
	t.Cleanup(up.Close)
	g := ftStart(t, ftOpts{upstream: up.URL + "/api/v1", yaml: "limits: {read_header_timeout: 1s}\n"})

	c, err := net.Dial("tcp", g.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\n") // and no more
	c.SetReadDeadline(time.Now().Add(30 * time.Second))                        // a bound, not the assertion
	n, err := c.Read(make([]byte, 1024))
	if n != 0 || (err != io.EOF && !strings.Contains(errString(err), "reset")) {
		t.Fatalf("slow headers: read %d bytes, %v; want the connection closed", n, err)
	}

	// A stream whose reader stalls.
	s, err := net.Dial("tcp", g.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := ftChat("openai/gpt-4o", true)
	io.WriteString(s, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+appKey+
		"\r\nX-AUP-End-User: u1\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(s, 4096), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	// Give a gateway that buffered instead of applying backpressure the
	// time to swallow the whole stream (loopback moves 48 MiB in far less).
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	t.Logf("upstream wrote %d bytes before the stall held it", written)
	mu.Unlock()
	if d, f := state(); d || f {
		t.Fatalf("stalled reader: upstream stream finished=%v failed=%v; want it held mid-stream", d, f)
	}
	s.Close()
	if !ftWait(20*time.Second, func() bool { _, f := state(); return f }) {
		t.Fatal("the upstream stream was not dropped when the stalled client left")
	}
	if d, _ := state(); d {
		t.Fatal("the upstream stream ran to its end")
	}
}

// A client that sends its headers but then trickles or stalls its body is
// cut off too: limits.read_header_timeout bounds the body read as well
// (there is no http.Server.ReadTimeout: it would end long streams), and
// nothing reaches upstream.
func TestSecuritySlowBody(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{yaml: "limits: {read_header_timeout: 1s}\n"})
	// Refused before the body is read (no key, bad path) or while reading it.
	for _, c := range []struct{ path, auth, reason string }{
		{"/api/v1/chat/completions", "Authorization: Bearer " + appKey, "invalid_request"},
		{"/api/v1/chat/completions", "X-Nothing: 1", "unauthorized"},
		{"/api/v1/chat%2Fcompletions", "Authorization: Bearer " + appKey, "path_not_allowed"},
	} {
		conn, err := net.Dial("tcp", g.proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "POST "+c.path+" HTTP/1.1\r\nHost: x\r\n"+c.auth+
			"\r\nX-AUP-End-User: u1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
		conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not the assertion
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			if got := ftReason(t, resp, b); got != c.reason {
				t.Fatalf("%s, stalled body: %d %s; want %s", c.auth, resp.StatusCode, b, c.reason)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s %s: a client stalling its body holds the gateway", c.path, c.auth)
		}
	}
	if n := len(g.fake.Requests()); n != 0 {
		t.Fatalf("%d upstream requests", n)
	}
	// A body that arrives in time still works, and a stream after it is not
	// cut by the deadline the body read had.
	resp2, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr: ftHdr("X-Fake-Scenario", "slow", "X-Fake-Delay", "200ms", "X-Fake-Chunk-Size", "4"), body: ftChat("openai/gpt-4o", true)})
	if resp2.StatusCode != 200 || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Fatalf("stream after the body deadline: %d %q", resp2.StatusCode, ftTrunc(b))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// What the caller sends for the gateway (its app key, cookies, X-AUP-*
// headers, forwarding headers) and the end user's raw id never reach
// upstream, on any model endpoint.
func TestSecurityNoCallerDataUpstream(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	const raw = "raw-end-user-9313@example.org"
	cases := map[string]string{
		"/api/v1/chat/completions": `{"model":"openai/gpt-4o","user":"` + raw + `","messages":[{"role":"user","content":"hi"}]}`,
		"/api/v1/completions":      `{"model":"openai/gpt-4o","user":"` + raw + `","prompt":"hi"}`,
		"/api/v1/responses":        `{"model":"openai/gpt-4o","safety_identifier":"` + raw + `","input":"hi"}`,
		"/api/v1/messages":         `{"model":"anthropic/claude-sonnet-4","max_tokens":10,"metadata":{"user_id":"` + raw + `"},"messages":[{"role":"user","content":"hi"}]}`,
		"/api/v1/embeddings":       `{"model":"openai/text-embedding-3-small","user":"` + raw + `","input":"hi"}`,
	}
	hdrs := []map[string]string{
		{"Authorization": "Bearer " + appKey, "X-AUP-End-User": raw},
		{"X-AUP-App-Key": appKey},
		{"X-Api-Key": appKey},
	}
	for path, body := range cases {
		for i, auth := range hdrs {
			h := map[string]string{
				"Cookie": "session=s3cr3t-cookie", "X-AUP-ZDR": "1", "X-Aup-Custom": "x",
				"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9",
				"Proxy-Authorization": "Basic cHJveHk6cHc=", "X-Request-Id": "caller-rid-1",
			}
			for k, v := range auth {
				h[k] = v
			}
			resp, b := g.do(t, ftReq{path: path, hdr: h, body: body})
			if resp.StatusCode != 200 {
				t.Fatalf("%s #%d: %d %s", path, i, resp.StatusCode, b)
			}
			up, _ := g.fake.Last()
			if got := up.Header.Get("Authorization"); got != "Bearer "+ftOperatorKey || len(up.Header.Values("Authorization")) != 1 {
				t.Fatalf("%s: upstream Authorization %q", path, up.Header.Values("Authorization"))
			}
			for k, vs := range up.Header {
				v := strings.Join(vs, ",")
				lk := strings.ToLower(k)
				if strings.HasPrefix(lk, "x-aup-") || slices.Contains([]string{"cookie", "x-forwarded-for", "x-real-ip",
					"forwarded", "proxy-authorization", "x-api-key", "x-request-id"}, lk) ||
					strings.Contains(v, appKey) || strings.Contains(v, raw) || strings.Contains(v, "203.0.113.9") {
					t.Errorf("%s #%d: caller header upstream: %s: %s", path, i, k, v)
				}
			}
			for _, s := range []string{up.Path, up.Query, string(up.Body)} {
				if strings.Contains(s, raw) || strings.Contains(s, "raw-end-user") || strings.Contains(s, appKey) {
					t.Errorf("%s #%d: raw end user or app key upstream: %s", path, i, s)
				}
			}
		}
	}
}

// The operator key never appears in an answer or a log line, whatever
// goes wrong; neither do app keys or raw end-user ids in the log.
func TestSecurityOperatorKeyNeverLeaks(t *testing.T) {
	ftNoLeaks(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String() + "/api/v1"
	dead.Close() // nothing listens there now

	const raw = "raw-end-user-5150@example.org"
	var seen bytes.Buffer
	record := func(resp *http.Response, b []byte) {
		resp.Header.Write(&seen)
		seen.Write(b)
	}
	requests := []ftReq{
		{path: "/api/v1/chat/completions", body: ftChat("openai/gpt-4o", false)},                                      // 401
		{path: "/api/v1/chat/completions", key: ftOperatorKey, body: ftChat("openai/gpt-4o", false)},                  // 401
		{path: "/api/v1/chat/completions", key: appKey, body: `{"model":`},                                            // 400
		{path: "/api/v1/chat/completions", key: appKey, body: ftChat("openai/gpt-4o", false)},                         // 200
		{path: "/api/v1/chat/completions", key: appKey, body: ftChat("openai/gpt-4o", true)},                          // 200 stream
		{path: "/api/v1/chat/completions", key: appKey, hdr: map[string]string{"X-Fake-Scenario": "error-401"}},       // upstream 401
		{path: "/api/v1/chat/completions", key: appKey, hdr: map[string]string{"X-Fake-Scenario": "error-502"}},       // upstream 502
		{path: "/api/v1/chat/completions", key: appKey, hdr: map[string]string{"X-Fake-Scenario": "reset"}},           // 502
		{path: "/api/v1/chat/completions", key: appKey, hdr: map[string]string{"X-Fake-Scenario": "moderation"}},      // 403 + report
		{path: "/api/v1/chat/completions", key: appKey, hdr: map[string]string{"X-Fake-Scenario": "midstream-error"}}, // stream error
		{method: "GET", path: "/api/v1/key", key: appKey},                                                             // 403
		{method: "GET", path: "/api/v1/generation?id=nope", key: appKey},                                              // upstream 404
		{method: "GET", path: "/readyz"},
		{method: "GET", path: "/healthz"},
	}
	run := func(g *ftGW) {
		for _, r := range requests {
			h := map[string]string{"X-AUP-End-User": raw}
			for k, v := range r.hdr {
				h[k] = v
			}
			r.hdr = h
			if r.body == "" && r.method == "" {
				r.body = ftChat("openai/gpt-4o", r.hdr["X-Fake-Scenario"] == "midstream-error")
			}
			resp, b := g.do(t, r)
			record(resp, b)
		}
	}
	g := ftStart(t, ftOpts{})
	run(g)
	// Upstream unreachable and too slow.
	g2 := ftStart(t, ftOpts{upstream: deadURL})
	run(g2)
	g3 := ftStart(t, ftOpts{timeout: "100ms"})
	resp, b := g3.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey, hdr: ftHdr("X-Fake-Scenario", "hang"), body: ftChat("openai/gpt-4o", false)})
	record(resp, b)
	if resp.StatusCode != 504 {
		t.Fatalf("timeout: %d %s", resp.StatusCode, b)
	}
	// Shutting down logs too.
	for _, x := range []*ftGW{g, g2, g3} {
		if err := x.shutdown(t); err != nil {
			t.Fatal(err)
		}
	}

	if bytes.Contains(seen.Bytes(), []byte(ftOperatorKey)) || bytes.Contains(seen.Bytes(), []byte("ft-operator")) {
		t.Fatalf("operator key in an answer: %s", ftTrunc(seen.Bytes()))
	}
	logs := g.logs.String() + g2.logs.String() + g3.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, "upstream call failed") {
		t.Fatalf("the log capture saw nothing: %s", ftTrunc([]byte(logs)))
	}
	for _, secret := range []string{ftOperatorKey, "ft-operator", appKey, raw, "raw-end-user"} {
		if i := strings.Index(logs, secret); i >= 0 {
			t.Errorf("%q in the log: …%s…", secret, logs[max(0, i-300):min(len(logs), i+100)])
		}
	}
}

// ftRecTransport answers every upstream call itself and remembers the URL
// paths it was asked for: the fuzz target below runs in process.
type ftRecTransport struct {
	mu    sync.Mutex
	paths []string
}

func (tr *ftRecTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	// NUL cannot be in a parsed path, '|' can: it separates path and raw path
	tr.paths = append(tr.paths, r.URL.Path+"\x00"+r.URL.RawPath)
	tr.mu.Unlock()
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"data":[]}`)), Request: r}, nil
}

// FuzzProxyPath: whatever request target a client sends, the gateway
// either refuses it without calling upstream, or calls upstream with a
// clean path of a known endpoint (a model call or a metadata read), the
// path it inspected. Targets are parsed as net/http parses request lines.
func FuzzProxyPath(f *testing.F) {
	for _, s := range []string{
		"/api/v1/chat/completions", "/v1/models", "/api/v1/models/openai/gpt-4o/endpoints",
		"/api/v1/../v1/key", "/api/v1/%2e%2e/key", "/api/v1/chat%2Fcompletions", "/api/v1//models",
		"/api/v1/./models", "/API/V1/models", "/api/v1/models/", "/api/v1/models;x", "/api/v1/%6bey",
		"http://evil/api/v1/models", "/api/v1/models?x=/../key", "/api/v1/models/a/b%2f..%2f..%2fkey/endpoints",
		"/api/v1/generation?id=1", "*", "/api/v1/chat\\completions",
	} {
		for m := range uint8(3) {
			f.Add(m, s)
		}
	}
	tr := &ftRecTransport{}
	f.Setenv("FT_FUZZ_KEY", "sk-or-fuzz")
	cfg, err := config.Parse([]byte(`
upstream: {url: "http://upstream.invalid/api/v1", api_key: "${FT_FUZZ_KEY}"}
apps: [{name: web, key: `+appKey+`}]
`), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	s := newServer(f, cfg, func(o *Options) { o.Transport = tr })
	h := s.ProxyHandler()
	methods := [...]string{"GET", "POST", "HEAD"}
	body := `{"model":"openai/gpt-4o","user":"u1","messages":[{"role":"user","content":"hi"}]}`
	// Control: a plain call does reach the recording transport.
	req := httptest.NewRequest("POST", "/api/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+appKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 || len(tr.paths) != 1 || tr.paths[0] != "/api/v1/chat/completions\x00" {
		f.Fatalf("control: %d %q %s", w.Code, tr.paths, w.Body)
	}
	f.Fuzz(func(t *testing.T, mi uint8, target string) {
		method := methods[int(mi)%len(methods)]
		raw := method + " " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + appKey +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http would answer 400 itself
		}
		tr.mu.Lock()
		tr.paths = tr.paths[:0]
		tr.mu.Unlock()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if len(tr.paths) == 0 {
			if w.Code < 400 {
				t.Fatalf("%s %q: %d without an upstream call", method, target, w.Code)
			}
			return
		}
		if len(tr.paths) != 1 {
			t.Fatalf("%s %q: %d upstream calls", method, target, len(tr.paths))
		}
		p, rawPath, _ := strings.Cut(tr.paths[0], "\x00")
		rel, ok := strings.CutPrefix(p, "/api/v1/")
		if !ok || rawPath != "" || strings.Contains(rel, "//") || strings.Contains(rel, "..") || strings.Contains(rel, "\\") {
			t.Fatalf("%s %q reached upstream as %q (raw %q)", method, target, p, rawPath)
		}
		switch ep := wire.Classify(method, rel); ep {
		case wire.EndpointOther, wire.EndpointAccount:
			t.Fatalf("%s %q reached upstream as %q, endpoint %v", method, target, p, ep)
		}
		if wire.Classify(method, rel).IsModelCall() && w.Code != 200 {
			t.Fatalf("%s %q: %d after the upstream call", method, target, w.Code)
		}
	})
}
