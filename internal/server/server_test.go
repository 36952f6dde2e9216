package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

type allowPolicy struct{}

func (allowPolicy) CheckRequest(context.Context, policy.Subject, []wire.Text) (policy.Decision, error) {
	return policy.Decision{ID: "d", Action: policy.Allow}, nil
}

type okEnforcer struct{}

func (okEnforcer) Standing(context.Context, string, string) (store.Standing, error) {
	return store.Standing{Status: store.Active}, nil
}
func (okEnforcer) Allow(context.Context, string, string, int, int) (bool, time.Duration) {
	return true, 0
}
func (okEnforcer) Report(context.Context, store.Report, string) (store.Standing, error) {
	return store.Standing{}, nil
}

const (
	appKey           = "test-app-key-0001"
	testPseudonymKey = "0123456789abcdef0123456789abcdef"
)

func testConfig(t testing.TB, upstream string) *config.Config {
	t.Helper()
	t.Setenv("TEST_UPSTREAM_KEY", "sk-or-test")
	c, err := config.Parse([]byte(`
upstream: {url: "`+upstream+`", api_key: "${TEST_UPSTREAM_KEY}"}
limits: {shutdown_grace: 5s}
apps:
  - {name: web, key: `+appKey+`}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newServer(t testing.TB, cfg *config.Config, mod func(*Options)) *Server {
	t.Helper()
	ps, _ := identity.NewPseudonymizer([]byte(testPseudonymKey))
	dg, _ := identity.NewDigester([]byte("0123456789abcdef0123456789abcdeX"))
	o := Options{Config: cfg, Policy: allowPolicy{}, Enforcer: okEnforcer{}, Pseudonymizer: ps, Digester: dg,
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w
}

func TestHealthReadyMetrics(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":[]}`) }))
	defer up.Close()
	ready := error(nil)
	s := newServer(t, testConfig(t, up.URL+"/api/v1"), func(o *Options) {
		o.Ready = func(context.Context) error { return ready }
	})
	for _, h := range []http.Handler{s.ProxyHandler(), s.AdminHandler()} {
		if w := get(t, h, "/healthz"); w.Code != 200 {
			t.Fatalf("healthz %d", w.Code)
		}
		if w := get(t, h, "/readyz"); w.Code != 200 {
			t.Fatalf("readyz %d", w.Code)
		}
	}
	ready = io.ErrUnexpectedEOF
	if w := get(t, s.AdminHandler(), "/readyz"); w.Code != 503 || strings.Contains(w.Body.String(), "EOF") {
		t.Fatalf("readyz when not ready: %d %s", w.Code, w.Body)
	}
	// Metrics live only on the admin listener.
	if w := get(t, s.ProxyHandler(), "/metrics"); w.Code != 401 {
		t.Fatalf("metrics on the proxy listener: %d", w.Code)
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+appKey)
	w0 := httptest.NewRecorder()
	if s.ProxyHandler().ServeHTTP(w0, req); w0.Code != 403 {
		t.Fatalf("metrics on the proxy listener, authenticated: %d", w0.Code)
	}
	req = httptest.NewRequest("GET", "/api/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+appKey)
	w := httptest.NewRecorder()
	s.ProxyHandler().ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("models %d %s", w.Code, w.Body)
	}
	m := get(t, s.AdminHandler(), "/metrics").Body.String()
	for _, want := range []string{
		`aupguard_requests_total{decision="none",reason="",route="models",status="200"} 1`,
		`aupguard_requests_total{decision="none",reason="path_not_allowed",route="other",status="403"} 1`,
		`aupguard_upstream_duration_seconds_count{route="models",status="200"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNoAppsStillServesHealth(t *testing.T) {
	t.Setenv("OPENROUTER_API_KEY", "sk-or-x")
	t.Setenv(config.EnvAppKey, "")
	cfg, err := config.Parse(nil, "empty")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, cfg, nil)
	if w := get(t, s.ProxyHandler(), "/healthz"); w.Code != 200 {
		t.Fatal(w.Code)
	}
	if w := get(t, s.ProxyHandler(), "/api/v1/models"); w.Code != 401 || !strings.Contains(w.Body.String(), "no apps") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// A stream in flight when shutdown begins runs to its end.
func TestGracefulShutdownFinishesStreams(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"n\":1}\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: {\"n\":2}\n\ndata: [DONE]\n\n")
	}))
	defer up.Close()
	s := newServer(t, testConfig(t, up.URL+"/api/v1"), nil)
	lp, _ := net.Listen("tcp", "127.0.0.1:0")
	la, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lp, la) }()

	req, _ := http.NewRequest("POST", "http://"+lp.Addr().String()+"/api/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"user":"u1","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+appKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, _ := br.ReadString('\n'); l != "data: {\"n\":1}\n" {
		t.Fatalf("first line %q", l)
	}
	stop()
	for get(t, s.ProxyHandler(), "/readyz").Code != 503 {
		time.Sleep(time.Millisecond) // wait for shutdown to begin
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("stream cut by shutdown: %q %v", rest, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	cfg := testConfig(t, "http://127.0.0.1:1")
	s := newServer(t, cfg, nil)
	if w := get(t, s.AdminHandler(), "/debug/pprof/"); w.Code == http.StatusOK {
		t.Fatalf("pprof served with log.pprof off: %d", w.Code)
	}
	if w := get(t, s.ProxyHandler(), "/debug/pprof/"); w.Code == http.StatusOK {
		t.Fatalf("pprof on the proxy listener: %d", w.Code)
	}
	cfg.Log.Pprof = true
	s = newServer(t, cfg, nil)
	if w := get(t, s.AdminHandler(), "/debug/pprof/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("pprof index: %d", w.Code)
	}
	if w := get(t, s.ProxyHandler(), "/debug/pprof/"); w.Code == http.StatusOK {
		t.Fatalf("pprof on the proxy listener: %d", w.Code)
	}
}
