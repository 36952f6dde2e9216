package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/all" // bolt://
	"github.com/aupguard/aupguard/internal/wire"
)

// Helpers of faults_test.go and security_test.go, prefixed "ft" so they do
// not clash with the package's other tests.

// ftOperatorKey is the operator's upstream key in the fault and security
// tests; it must never show up in an answer or a log line.
const ftOperatorKey = "sk-or-v1-ft-operator-7f3c9a1e5d"

// ftLogBuf collects the gateway's log output (JSON lines) for leak checks.
type ftLogBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *ftLogBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *ftLogBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ftNoLeaks checks, after every cleanup of the test has run, that no
// goroutine started during the test is still alive. Call it first so its
// cleanup runs last.
func ftNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if t.Failed() {
			return // the failure is the news; leaks after it are noise
		}
		goleak.VerifyNone(t, ignore)
	})
}

// ftGW is the real gateway (policy engine, enforcer on the embedded store,
// identity keys from the store) served on loopback listeners in front of
// the fake OpenRouter.
type ftGW struct {
	fake      *fakeupstream.Server
	srv       *Server
	cfg       *config.Config
	proxy     string // host:port of the proxy listener
	admin     string // host:port of the admin listener
	logs      *ftLogBuf
	client    *http.Client
	stop      context.CancelFunc
	done      chan error
	stopOnce  sync.Once
	runResult error
}

// ftOpts vary the gateway of one test.
type ftOpts struct {
	yaml     string               // appended to the config
	timeout  string               // upstream response-header timeout (default 5s)
	upstream string               // upstream URL; "" starts a fake
	fake     fakeupstream.Options // the fake's options (APIKey is always set)
	noServe  bool                 // build only; the test runs the server itself
	admin    func(*gin.Engine)    // routes mounted on the admin listener
}

// ftStart starts the real gateway.
func ftStart(t *testing.T, o ftOpts) *ftGW {
	t.Helper()
	g := &ftGW{logs: &ftLogBuf{}}
	upstreamURL := o.upstream
	if upstreamURL == "" {
		o.fake.APIKey = ftOperatorKey
		g.fake = fakeupstream.Start(o.fake)
		t.Cleanup(g.fake.Close)
		upstreamURL = g.fake.URL
	}
	if o.timeout == "" {
		o.timeout = "5s"
	}
	t.Setenv("FT_OPERATOR_KEY", ftOperatorKey)
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
upstream: {url: "`+upstreamURL+`", api_key: "${FT_OPERATOR_KEY}", timeout: `+o.timeout+`}
store: "bolt://`+filepath.Join(dir, "aupguard.db")+`"
spool_dir: "`+filepath.Join(dir, "spool")+`"
rate_limits: {end_user_per_minute: 0, app_per_minute: 0}
apps:
  - {name: web, key: `+appKey+`}
  - {name: strict, key: strict-app-key-03, models: ["openai/*"]}
`+o.yaml), "ft")
	if err != nil {
		t.Fatal(err)
	}
	g.cfg = cfg
	log := slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx := context.Background()
	st, err := store.Open(ctx, cfg.Store, store.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := identity.LoadKeys(ctx, "", "", st)
	if err != nil {
		t.Fatal(err)
	}
	pseudo, _ := identity.NewPseudonymizer(keys.Pseudonym)
	digest, _ := identity.NewDigester(keys.Digest)
	eng, err := policy.New(ctx, policy.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	enf, err := enforce.New(ctx, st, enforce.Options{
		Escalation: cfg.Escalation, RateLimits: cfg.RateLimits, FailMode: cfg.FailMode,
		SpoolDir: cfg.SpoolDir, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enf.Close() })
	g.srv, err = New(Options{
		Config: cfg, Policy: eng, Enforcer: enf, Pseudonymizer: pseudo, Digester: digest,
		Logger: log, Ready: enf.Ready, Admin: o.admin,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	g.client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	if o.noServe {
		return g
	}
	lp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	la, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.proxy, g.admin = lp.Addr().String(), la.Addr().String()
	runCtx, stop := context.WithCancel(context.Background())
	g.stop, g.done = stop, make(chan error, 1)
	go func() { g.done <- g.srv.Serve(runCtx, lp, la) }()
	t.Cleanup(func() { g.shutdown(t) })
	return g
}

// shutdown stops the gateway and waits for Serve to return (bounded).
func (g *ftGW) shutdown(t *testing.T) error {
	t.Helper()
	g.stopOnce.Do(func() {
		g.stop()
		select {
		case g.runResult = <-g.done:
		case <-time.After(60 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return g.runResult
}

// ftReq is one request to the proxy listener.
type ftReq struct {
	method, path, key, body string
	hdr                     map[string]string
}

func (g *ftGW) do(t *testing.T, r ftReq) (*http.Response, []byte) {
	t.Helper()
	if r.method == "" {
		r.method = "POST"
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, "http://"+g.proxy+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, ftTrunc(b))
	}
	return resp, b
}

// ftChat is a chat request body for the given model.
func ftChat(model string, stream bool) string {
	s := ""
	if stream {
		s = `"stream":true,`
	}
	return `{"model":"` + model + `",` + s + `"messages":[{"role":"user","content":"What is the capital of Portugal?"}]}`
}

// ftEndUser names the end user of the fault tests.
var ftEndUser = map[string]string{"X-AUP-End-User": "ft-user-1"}

func ftHdr(kv ...string) map[string]string {
	m := map[string]string{"X-AUP-End-User": "ft-user-1"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// ftEvents splits an SSE body into its events.
func ftEvents(t *testing.T, body []byte) []wire.Event {
	t.Helper()
	er := wire.NewEventReader(bytes.NewReader(body))
	var evs []wire.Event
	for i := 0; i < 1<<16; i++ {
		ev, err := er.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("reading events: %v in %q", err, ftTrunc(body))
			}
			return evs
		}
		evs = append(evs, ev)
	}
	t.Fatal("too many events")
	return nil
}

// ftRaw sends a raw request (request line and headers as given, so no
// client cleans the path) and returns the status, or 0 if the connection
// closed without an answer.
func ftRaw(t *testing.T, addr, head, body string) (int, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, it does not block the run
	if _, err := io.WriteString(c, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, b
}

func ftTrunc(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// ftReason is error.metadata.reason of an error body ("" if none), and
// checks that error.code equals the HTTP status, as OpenRouter's errors do.
func ftReason(t *testing.T, resp *http.Response, b []byte) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"` // "error" in Anthropic's shape (messages)
		Error struct {
			Code     int    `json:"code"`
			Type     string `json:"type"`
			Metadata struct {
				Reason string `json:"reason"`
			} `json:"metadata"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return ""
	}
	if e.Type == "error" {
		// Anthropic's shape: no code; the type follows the status.
		if e.Error.Type == "" || e.Error.Code != 0 {
			t.Errorf("not Anthropic's error shape: %s", ftTrunc(b))
		}
		return e.Error.Metadata.Reason
	}
	if e.Error.Code != resp.StatusCode {
		t.Errorf("error.code %d but status %d: %s", e.Error.Code, resp.StatusCode, ftTrunc(b))
	}
	return e.Error.Metadata.Reason
}
