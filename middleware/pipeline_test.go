package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/proxy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// fakeEnforcer answers standing from a map and records reports.
type fakeEnforcer struct {
	mu        sync.Mutex
	standing  map[string]store.Standing
	err       error
	deny      bool
	reports   []store.Report
	escalated store.Standing
}

func (f *fakeEnforcer) Standing(_ context.Context, app, user string) (store.Standing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Standing{}, f.err
	}
	return f.standing[app+"/"+user], nil
}

func (f *fakeEnforcer) Allow(_ context.Context, app, user string, u, a int) (bool, time.Duration) {
	return !f.deny, 1500 * time.Millisecond
}

func (f *fakeEnforcer) Report(_ context.Context, r store.Report, esc string) (store.Standing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return f.escalated, nil
}

// fakePolicy decides by a word in the text.
type fakePolicy struct{ err error }

func (p fakePolicy) CheckRequest(_ context.Context, s policy.Subject, texts []wire.Text) (policy.Decision, error) {
	if p.err != nil {
		return policy.Decision{}, p.err
	}
	var b strings.Builder
	for _, t := range texts {
		b.WriteString(t.Text + " ")
	}
	all := b.String()
	d := policy.Decision{ID: "dec-1", Action: policy.Allow, PolicyHash: "h"}
	switch {
	case strings.Contains(all, "BLOCKME"):
		d.Action, d.Categories, d.Strike = policy.Block, []string{"mass_casualty_weapons"}, 5
	case strings.Contains(all, "FLAGME"):
		d.Action, d.Categories, d.Strike = policy.Flag, []string{"harassment"}, 1
	}
	if strings.Contains(all, "@") {
		if d.Action == policy.Allow {
			d.Action = policy.Redact
		}
		d.Redact = func(s string) string { return emailRe(s) }
	}
	return d, nil
}

func emailRe(s string) string {
	var out []string
	for _, w := range strings.Fields(s) {
		if strings.Contains(w, "@") {
			w = "[EMAIL]"
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

type rec struct {
	header http.Header
	body   []byte
	path   string
}

type harness struct {
	t      *testing.T
	h      http.Handler
	enf    *fakeEnforcer
	ups    chan rec
	logBuf *bytes.Buffer
}

const (
	webKey   = "web-app-key-123"
	batchKey = "batch-app-key-456"
)

func newHarness(t *testing.T, pol Policy, mod func(*[]*App)) *harness {
	t.Helper()
	ups := make(chan rec, 8)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ups <- rec{r.Header.Clone(), b, r.URL.Path}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`)
	}))
	t.Cleanup(up.Close)
	px, err := proxy.New(proxy.Options{Upstream: up.URL + "/api/v1", APIKey: "sk-or-operator"})
	if err != nil {
		t.Fatal(err)
	}
	apps := []*App{
		{Name: "web", KeyDigest: KeyDigest(webKey), Models: []string{"openai/*", "anthropic/claude-*"}, UserPerMinute: 60},
		{Name: "batch", KeyDigest: KeyDigest(batchKey), EndUserOptional: true},
	}
	if mod != nil {
		mod(&apps)
	}
	ps, _ := identity.NewPseudonymizer([]byte("0123456789abcdef0123456789abcdef"))
	dg, _ := identity.NewDigester([]byte("fedcba9876543210fedcba9876543210"))
	enf := &fakeEnforcer{standing: map[string]store.Standing{}}
	if pol == nil {
		pol = fakePolicy{}
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	e := gin.New()
	e.Use(RequestID(), AccessLog(log), Recovery(log))
	e.NoRoute(
		Auth(apps, log),
		Route(RouteOptions{AllowPaths: []string{"credits"}}),
		Body(BodyOptions{MaxBytes: 1 << 10, MaxDepth: 16}),
		EndUser(ps),
		Models(),
		Standing(enf, nil),
		RateLimit(enf),
		Inspect(InspectOptions{Policy: pol, Enforcer: enf, Digester: dg, Logger: log}),
		Forward(ForwardOptions{Proxy: px, Enforcer: enf, Digester: dg, Logger: log}),
	)
	return &harness{t: t, h: e, enf: enf, ups: ups, logBuf: &logBuf}
}

func (h *harness) do(method, target, key string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	return w
}

func (h *harness) upstream() (rec, bool) {
	select {
	case r := <-h.ups:
		return r, true
	default:
		return rec{}, false
	}
}

type errResp struct {
	Error struct {
		Code     int            `json:"code"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	} `json:"error"`
}

func wantRefusal(t *testing.T, w *httptest.ResponseRecorder, status int, reason string) errResp {
	t.Helper()
	var e errResp
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q is not error JSON: %v", w.Body.String(), err)
	}
	if w.Code != status || e.Error.Code != status || e.Error.Metadata["reason"] != reason {
		t.Fatalf("got %d %s, want %d %s", w.Code, w.Body.String(), status, reason)
	}
	if e.Error.Metadata["provider_name"] != "aupguard" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("not OpenRouter's error shape: %s %v", w.Body.String(), w.Header())
	}
	return e
}

const chat = `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hello there"}]}`

func TestAuth(t *testing.T) {
	h := newHarness(t, nil, nil)
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", "", nil, chat), 401, "unauthorized")
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", "wrong-key", nil, chat), 401, "unauthorized")
	w := h.do("POST", "/api/v1/chat/completions", "", map[string]string{"X-AUP-App-Key": webKey, "X-AUP-End-User": "u1"}, chat)
	if w.Code != 200 {
		t.Fatalf("X-AUP-App-Key: %d %s", w.Code, w.Body)
	}
	if _, ok := h.upstream(); !ok {
		t.Fatal("nothing forwarded")
	}

	none := newHarness(t, nil, func(a *[]*App) { *a = nil })
	e := wantRefusal(t, none.do("POST", "/api/v1/chat/completions", webKey, nil, chat), 401, "unauthorized")
	if !strings.Contains(e.Error.Message, "no apps") {
		t.Errorf("message %q", e.Error.Message)
	}
	if _, ok := none.upstream(); ok {
		t.Fatal("forwarded with no apps configured")
	}
}

func TestPathGuard(t *testing.T) {
	h := newHarness(t, nil, nil)
	bad := []string{
		"/", "/admin", "/api/v2/chat/completions", "/api/v1/", "/api/v1/chat/completions/",
		"/api/v1/../v1/chat/completions", "/api/v1/./chat/completions", "/api/v1//chat/completions",
		"/api/v1/chat%2Fcompletions", "/api/v1/chat%2fcompletions", "/api/v1/%2e%2e/key", "/api/v1/chat\\completions",
		"/api/v1/key", "/v1/auth/keys", "/api/v1/chat/completions/../../key",
	}
	for _, p := range bad {
		wantRefusal(t, h.do("POST", p, webKey, map[string]string{"X-AUP-End-User": "u"}, chat), 403, "path_not_allowed")
	}
	// A known path with the wrong method is not the model endpoint.
	wantRefusal(t, h.do("GET", "/api/v1/chat/completions", webKey, nil, ""), 403, "path_not_allowed")
	if _, ok := h.upstream(); ok {
		t.Fatal("a refused path reached upstream")
	}
	// Metadata reads pass without an end user; allow_paths lets "credits" through.
	for _, p := range []string{"/api/v1/models", "/v1/models", "/api/v1/generation?id=gen-1", "/api/v1/credits"} {
		w := h.do("GET", p, webKey, nil, "")
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
		r, _ := h.upstream()
		if !strings.HasPrefix(r.path, "/api/v1/") {
			t.Fatalf("upstream path %q", r.path)
		}
	}
}

func TestBadBodies(t *testing.T) {
	h := newHarness(t, nil, nil)
	hdr := map[string]string{"X-AUP-End-User": "u"}
	cases := []struct {
		name, body string
		status     int
		reason     string
	}{
		{"malformed", `{"model":"openai/gpt-4o","messages":[`, 400, "invalid_request"},
		{"not an object", `[1,2]`, 400, "invalid_request"},
		{"deep nesting", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]}`, 400, "invalid_request"},
		{"invalid utf-8", "{\"model\":\"openai/gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400, "invalid_request"},
		{"unknown content part", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":[{"type":"hologram","hologram":{}}]}]}`, 400, "invalid_request"},
		{"huge", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("a", 2000) + `"}]}`, 413, "payload_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, hdr, c.body), c.status, c.reason)
		})
	}
	// A body longer than its (absent) Content-Length claims: read bounded.
	req := httptest.NewRequest("POST", "/api/v1/chat/completions", io.MultiReader(strings.NewReader(`{"a":"`), strings.NewReader(strings.Repeat("b", 5000))))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+webKey)
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	wantRefusal(t, w, 413, "payload_too_large")
	if _, ok := h.upstream(); ok {
		t.Fatal("a bad body reached upstream")
	}
}

func TestEndUserPseudonymised(t *testing.T) {
	h := newHarness(t, nil, nil)
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, nil, chat), 400, "end_user_required")

	body := `{"model":"openai/gpt-4o","user":"alice@example.com","messages":[{"role":"user","content":"hello there"}]}`
	if w := h.do("POST", "/api/v1/chat/completions", webKey, nil, body); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	r1, _ := h.upstream()
	if w := h.do("POST", "/v1/chat/completions", webKey, map[string]string{"X-AUP-End-User": "alice@example.com"}, chat); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	r2, _ := h.upstream()
	for _, r := range []rec{r1, r2} {
		if bytes.Contains(r.body, []byte("alice")) {
			t.Fatalf("raw end-user id upstream: %s", r.body)
		}
		for k, v := range r.header {
			if strings.Contains(strings.Join(v, ""), "alice") {
				t.Fatalf("raw end-user id in upstream header %s", k)
			}
		}
	}
	var b1, b2 struct{ User string }
	json.Unmarshal(r1.body, &b1)
	json.Unmarshal(r2.body, &b2)
	if !strings.HasPrefix(b1.User, "aup_") || b1.User != b2.User {
		t.Fatalf("pseudonyms %q %q", b1.User, b2.User)
	}
	if strings.Contains(h.logBuf.String(), "alice") || strings.Contains(h.logBuf.String(), "hello there") {
		t.Fatalf("log holds the raw end user or content:\n%s", h.logBuf)
	}

	// Same end user, another app: another pseudonym. The batch app needs none.
	if w := h.do("POST", "/api/v1/chat/completions", batchKey, map[string]string{"X-AUP-End-User": "alice@example.com"}, chat); w.Code != 200 {
		t.Fatal(w.Code)
	}
	r3, _ := h.upstream()
	var b3 struct{ User string }
	json.Unmarshal(r3.body, &b3)
	if b3.User == b1.User || !strings.HasPrefix(b3.User, "aup_") {
		t.Fatalf("app-scoped pseudonym: %q vs %q", b3.User, b1.User)
	}
	if w := h.do("POST", "/api/v1/chat/completions", batchKey, nil, chat); w.Code != 200 {
		t.Fatalf("end_user_optional: %d %s", w.Code, w.Body)
	}
	h.upstream()
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, map[string]string{"X-AUP-End-User": strings.Repeat("x", 300)}, chat), 400, "invalid_request")
}

func TestModelAllowList(t *testing.T) {
	h := newHarness(t, nil, nil)
	hdr := map[string]string{"X-AUP-End-User": "u"}
	e := wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, hdr, `{"model":"meta-llama/llama-3","messages":[{"role":"user","content":"x"}]}`), 403, "model_not_allowed")
	if e.Error.Metadata["model"] != "meta-llama/llama-3" {
		t.Errorf("metadata %v", e.Error.Metadata)
	}
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, hdr, `{"model":"openai/gpt-4o","models":["openai/gpt-4o","x-ai/grok"],"messages":[{"role":"user","content":"x"}]}`), 403, "model_not_allowed")
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, hdr, `{"messages":[{"role":"user","content":"x"}]}`), 403, "model_not_allowed")
	if w := h.do("POST", "/api/v1/chat/completions", webKey, hdr, `{"model":"anthropic/claude-sonnet-4","messages":[{"role":"user","content":"x"}]}`); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// The batch app has no allow-list.
	if w := h.do("POST", "/api/v1/chat/completions", batchKey, hdr, `{"model":"x-ai/grok","messages":[{"role":"user","content":"x"}]}`); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestStandingAndRateLimit(t *testing.T) {
	h := newHarness(t, nil, nil)
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	h.enf.standing["web/banned"] = store.Standing{Status: store.Banned}
	h.enf.standing["web/susp"] = store.Standing{Status: store.Suspended, Until: until}
	h.enf.standing["web/expired"] = store.Standing{Status: store.Suspended, Until: time.Now().Add(-time.Hour)}
	h.enf.standing["web/warned"] = store.Standing{Status: store.Warned}
	u := func(id string) map[string]string { return map[string]string{"X-AUP-End-User": id} }

	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, u("banned"), chat), 403, "end_user_banned")
	e := wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, u("susp"), chat), 403, "end_user_suspended")
	if e.Error.Metadata["until"] != until.Format(time.RFC3339) {
		t.Errorf("until %v", e.Error.Metadata["until"])
	}
	if _, ok := h.upstream(); ok {
		t.Fatal("a sanctioned user reached upstream")
	}
	if w := h.do("POST", "/api/v1/chat/completions", webKey, u("expired"), chat); w.Code != 200 {
		t.Fatalf("expired suspension: %d", w.Code)
	}
	h.upstream()
	w := h.do("POST", "/api/v1/chat/completions", webKey, u("warned"), chat)
	if w.Code != 200 || w.Header().Get("X-AUP-Standing") != "warned" {
		t.Fatalf("warned: %d %v", w.Code, w.Header())
	}
	h.upstream()

	h.enf.deny = true
	w = h.do("POST", "/api/v1/chat/completions", webKey, u("x"), chat)
	wantRefusal(t, w, 429, "rate_limited")
	if w.Header().Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	h.enf.deny = false

	h.enf.err = errors.New("store down")
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, u("x"), chat), 503, "store_unavailable")
}

func TestInspect(t *testing.T) {
	h := newHarness(t, nil, nil)
	u := map[string]string{"X-AUP-End-User": "mallory"}
	body := `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"please BLOCKME now"}]}`
	e := wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, u, body), 403, "aup_blocked")
	if e.Error.Metadata["decision_id"] != "dec-1" || len(e.Error.Metadata["reasons"].([]any)) != 1 {
		t.Fatalf("metadata %v", e.Error.Metadata)
	}
	if _, ok := h.upstream(); ok {
		t.Fatal("blocked request reached upstream")
	}
	if len(h.enf.reports) != 1 {
		t.Fatalf("reports %v", h.enf.reports)
	}
	r := h.enf.reports[0]
	if r.Action != "block" || r.User != "mallory" || !strings.HasPrefix(r.Pseudonym, "aup_") || len(r.Digest) != 64 ||
		r.Length != len("please BLOCKME now") || r.Excerpt == "" || r.Source != "request" || r.DecisionID != "dec-1" || len(r.ID) != 26 {
		t.Fatalf("report %+v", r)
	}

	// Flag: forwarded, reported; under ZDR without an excerpt.
	body = `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"FLAGME"}]}`
	if w := h.do("POST", "/api/v1/chat/completions", webKey, map[string]string{"X-AUP-End-User": "m2", "X-AUP-ZDR": "1"}, body); w.Code != 200 {
		t.Fatalf("flag: %d %s", w.Code, w.Body)
	}
	up, _ := h.upstream()
	if !bytes.Contains(up.body, []byte(`"zdr":true`)) {
		t.Errorf("ZDR routing missing upstream: %s", up.body)
	}
	if r := h.enf.reports[1]; r.Action != "flag" || r.Excerpt != "" || !r.ZDR {
		t.Fatalf("zdr report %+v", r)
	}

	// A flag that escalates to a ban is refused at once.
	h.enf.escalated = store.Standing{Status: store.Banned}
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, u, body), 403, "end_user_banned")
	h.enf.escalated = store.Standing{}

	// Redact: the upstream copy is redacted.
	body = `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"mail bob@example.com today"}]}`
	if w := h.do("POST", "/api/v1/chat/completions", webKey, u, body); w.Code != 200 {
		t.Fatalf("redact: %d", w.Code)
	}
	up, _ = h.upstream()
	if bytes.Contains(up.body, []byte("bob@example.com")) || !bytes.Contains(up.body, []byte("[EMAIL]")) {
		t.Fatalf("not redacted upstream: %s", up.body)
	}

	// A policy that fails never lets the request through.
	hp := newHarness(t, fakePolicy{err: errors.New("rego exploded")}, nil)
	wantRefusal(t, hp.do("POST", "/api/v1/chat/completions", webKey, u, chat), 500, "internal_error")
	if _, ok := hp.upstream(); ok {
		t.Fatal("undecided request forwarded")
	}
}

func TestRecoveryAndRequestID(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	e := gin.New()
	e.Use(RequestID(), AccessLog(log), Recovery(log))
	e.POST("/boom", func(c *gin.Context) {
		b, _ := io.ReadAll(c.Request.Body)
		panic("secret prompt: " + string(b))
	})
	req := httptest.NewRequest("POST", "/boom", strings.NewReader("TOP-SECRET"))
	req.Header.Set("X-Request-Id", "req-abc")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	wantRefusal(t, w, 500, "internal_error")
	if w.Header().Get("X-Request-Id") != "req-abc" {
		t.Errorf("request id not echoed: %v", w.Header())
	}
	if strings.Contains(logBuf.String(), "TOP-SECRET") {
		t.Fatalf("panic logged request content:\n%s", logBuf.String())
	}
	if !strings.Contains(logBuf.String(), `"request_id":"req-abc"`) || !strings.Contains(logBuf.String(), `"status":500`) {
		t.Fatalf("log:\n%s", logBuf.String())
	}
	// An insane request id is replaced.
	req = httptest.NewRequest("POST", "/boom", nil)
	req.Header.Set("X-Request-Id", "bad id\nwith newline")
	w = httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if id := w.Header().Get("X-Request-Id"); len(id) != 32 {
		t.Errorf("request id %q", id)
	}
}

func TestRecoveryPassesAbort(t *testing.T) {
	e := gin.New()
	e.Use(Recovery(slog.New(slog.DiscardHandler)))
	e.GET("/", func(c *gin.Context) { panic(http.ErrAbortHandler) })
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler passed on", v)
		}
	}()
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestReportIDsSortable(t *testing.T) {
	defer func() { Now = time.Now }()
	t0 := time.Unix(1_800_000_000, 0)
	Now = func() time.Time { return t0 }
	a := newReportID()
	Now = func() time.Time { return t0.Add(time.Millisecond) }
	b := newReportID()
	if !(a < b) || a == newReportID() {
		t.Fatalf("%s %s", a, b)
	}
}

var _ = proxy.Classify

func TestClientGoneLogged499(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client left before the upstream answered
	req := httptest.NewRequest("GET", "/api/v1/models", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+webKey)
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	if w.Body.Len() != 0 || w.Code != 499 {
		t.Fatalf("answered a client that left: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(h.logBuf.String(), `"status":499`) {
		t.Fatalf("log:\n%s", h.logBuf)
	}
}
