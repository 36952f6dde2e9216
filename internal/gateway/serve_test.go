package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/redistest"
)

// runGateway builds the gateway as serve does and serves it on loopback
// listeners. stop shuts it down once (also at the test's end) and closes it.
func runGateway(t *testing.T, cfg *config.Config, log *slog.Logger) (g *Gateway, proxy, admin string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	lp, _ := net.Listen("tcp", "127.0.0.1:0")
	la, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- g.server.Serve(ctx, lp, la) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			g.Close()
		})
	}
	t.Cleanup(stop)
	return g, "http://" + lp.Addr().String(), "http://" + la.Addr().String(), stop
}

// serveOnce builds the real gateway (embedded store, bundled policies,
// enforcer) from cfg, sends one chat request through it and returns the
// pseudonym upstream saw.
func serveOnce(t *testing.T, cfg *config.Config, fake *fakeupstream.Server) string {
	t.Helper()
	_, proxy, admin, stop := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	defer stop() // a second serveOnce opens the same store

	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	resp, err = http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `aupguard_retention_purged_total{kind="report"}`) {
		t.Fatalf("/metrics lacks the retention counter")
	}
	req, _ := http.NewRequest("POST", proxy+"/api/v1/chat/completions",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of Portugal?"}]}`))
	req.Header.Set("Authorization", "Bearer web-app-key-1")
	req.Header.Set("X-AUP-End-User", "customer-1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	last, _ := fake.Last()
	var up struct{ User string }
	json.Unmarshal(last.Body, &up)
	if !strings.HasPrefix(up.User, "aup_") {
		t.Fatalf("upstream body %s", last.Body)
	}
	return up.User
}

func TestServeWiresEverything(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	defer fake.Close()
	dir := t.TempDir()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	path := filepath.Join(dir, "aupguard.yaml")
	y := "upstream: {url: \"" + fake.URL + "\"}\n" +
		"store: bolt://" + filepath.Join(dir, "aupguard.db") + "\n" +
		"spool_dir: " + filepath.Join(dir, "spool") + "\n" +
		"secrets: {signing_key_file: " + filepath.Join(dir, "signing.key") + "}\n" +
		"apps: [{name: web, key: web-app-key-1}]\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p1 := serveOnce(t, cfg, fake)
	// The generated pseudonym key is kept in the store: a restart agrees.
	if p2 := serveOnce(t, cfg, fake); p2 != p1 {
		t.Fatalf("pseudonym changed across restarts: %s %s", p1, p2)
	}
}

func TestOpenStoreWaitsForRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Private: true}) // one it can stop and start
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		st, err := openStore(ctx, srv.URL(), slog.New(slog.DiscardHandler))
		if err == nil {
			err = st.Ping(ctx)
			st.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("openStore returned while Redis was down: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	srv.Restart()
	if err := <-got; err != nil {
		t.Fatalf("after Redis came up: %v", err)
	}
}

func TestOpenStoreFailsFastOnBadStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	u, _ := url.Parse(srv.URL())
	u.User = url.UserPassword("nobody", "wrong")
	for _, bad := range []string{"redis+nonsense://x", "mongodb://localhost", u.String()} {
		if _, err := openStore(ctx, bad, slog.New(slog.DiscardHandler)); err == nil || ctx.Err() != nil {
			t.Fatalf("%s: want an immediate error, got %v (ctx %v)", bad, err, ctx.Err())
		}
	}
}
