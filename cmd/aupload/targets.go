package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aupguard/aupguard/internal/fakeupstream"
)

// upstreamKey is the operator key the fake upstream demands: direct and
// floor clients send it, the gateway injects it.
const upstreamKey = "sk-or-v1-aupload-fake-operator-key"

// appKey is the gateway's one app key.
const appKey = "aupload-app-key-0123456789"

// httpServer serves h on a fresh loopback port (keep-alives on).
type httpServer struct {
	srv    *http.Server
	ln     net.Listener
	scheme string // "" is http
}

func serveLoopback(h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &httpServer{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *httpServer) URL() string {
	if s.scheme != "" {
		return s.scheme + "://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

func (s *httpServer) BaseURL() string { return s.URL() }

func (s *httpServer) Close() {
	// Close, not Shutdown: hung idle streams would hold Shutdown forever.
	s.srv.Close()
}

// startUpstream serves the fake OpenRouter; its API root is URL()+"/api/v1".
func startUpstream() (*httpServer, error) {
	return serveLoopback(fakeupstream.Handler(fakeupstream.Options{NoRecord: true, APIKey: upstreamKey}))
}

// startFloor serves a bare reverse proxy to upstream (a base URL without
// path): no logic at all, a pool big enough to never redial under load.
// FlushInterval is ReverseProxy's default, as in the gateway: SSE answers
// and answers of unknown length are flushed at every write, others when
// the handler ends.
func startFloor(upstream string) (*httpServer, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: newTransport(1024),
		ErrorLog:  log.New(io.Discard, "", 0), // clients see its 502s
	}
	return serveLoopback(fullDuplex(rp))
}

// fullDuplex lets a proxy stream the answer while its transport still reads
// the request body. Without it the HTTP/1 server drains and closes the body
// at the first flushed write; a transport that has not yet seen the body's
// EOF then fails and closes the upstream connection mid-stream (clients saw
// "unexpected EOF" on ~1 in 500 proxied streams under load).
func fullDuplex(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		h.ServeHTTP(w, r)
	})
}

func newTransport(perHost int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // loopback only, never an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: perHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// gateway is the target under test.
type gateway interface {
	BaseURL() string // e.g. http://127.0.0.1:PORT (API root is BaseURL()+"/api/v1")
	Key() string     // the app key clients send
	PID() int        // the process whose RSS is the gateway's memory
	Close() error
}

// gatewayFactory starts a gateway over upstream (the fake's base URL) with
// the given store kind ("bolt" or "redis"); storeURL is set for redis.
type gatewayFactory func(ctx context.Context, g gatewaySpec) (gateway, error)

type gatewaySpec struct {
	Store    string // bolt | redis
	StoreURL string // redis://... for redis; bolt uses a temp file
	Upstream string // base URL of the fake upstream
	Bin      string // aupguard binary
	LogLevel string
	Users    int
	Pprof    bool     // serve /debug/pprof on the admin listener
	Env      []string // extra environment (SSL_CERT_FILE for a TLS upstream)
	// Place, when not nil, adjusts the command before it starts (CPU pinning).
	Place func(*exec.Cmd)
}

// procGateway is `aupguard serve` in a subprocess.
type procGateway struct {
	p      *proc
	dir    string
	listen string
	admin  string
	stderr *os.File
}

func (p *procGateway) BaseURL() string { return "http://" + p.listen }
func (p *procGateway) Key() string     { return appKey }
func (p *procGateway) PID() int        { return p.p.pid() }

// Close stops the gateway gracefully (SIGTERM; its shutdown_grace is 2s),
// killing its process group if it is not gone within 10s.
func (p *procGateway) Close() error {
	p.p.stop(syscall.SIGTERM, 10*time.Second)
	p.stderr.Close()
	return os.RemoveAll(p.dir)
}

// stderrTail returns the end of the gateway's output, for error messages.
func (p *procGateway) stderrTail() string {
	b, _ := os.ReadFile(p.stderr.Name())
	if len(b) > 4000 {
		b = append([]byte("…"), b[len(b)-4000:]...)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(no output)"
	}
	return string(b)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// gatewayConfig is the YAML the subprocess reads. Rate limits are on but far
// above what the run sends, so any 429 is a bug the report shows as errors.
func gatewayConfig(g gatewaySpec, dir, listen, admin string) string {
	store := g.StoreURL
	if g.Store == "bolt" {
		store = "bolt://" + filepath.Join(dir, "aupguard.db")
	}
	q := strconv.Quote
	return strings.Join([]string{
		"# written by aupload",
		"listen: " + q(listen),
		"admin_listen: " + q(admin),
		"upstream:",
		"  url: " + q(g.Upstream+"/api/v1"),
		"  api_key: " + q(upstreamKey),
		"store: " + q(store),
		"spool_dir: " + q(filepath.Join(dir, "spool")),
		"zdr: false",
		"answer_check: false",
		"rate_limits:",
		"  end_user_per_minute: 100000",
		"  app_per_minute: 0",
		"limits:",
		"  shutdown_grace: 2s",
		"secrets:",
		"  signing_key_file: " + q(filepath.Join(dir, "signing.key")),
		"apps:",
		"  - name: load",
		"    key: " + q(appKey),
		"log:",
		"  level: " + q(g.LogLevel),
		"  pprof: " + strconv.FormatBool(g.Pprof),
		"",
	}, "\n")
}

// startProcGateway writes a config, runs `aupguard serve` and waits for its
// admin /readyz. When it does not get ready, the error carries its output.
func startProcGateway(ctx context.Context, g gatewaySpec) (gateway, error) {
	dir, err := os.MkdirTemp("", "aupload-gw-")
	if err != nil {
		return nil, err
	}
	listen, err1 := freePort()
	admin, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfgPath := filepath.Join(dir, "aupguard.yaml")
	if err := os.WriteFile(cfgPath, []byte(gatewayConfig(g, dir, listen, admin)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	errf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := newCmd(ctx, g.Bin, "serve", "--config", cfgPath)
	cmd.Dir = dir                          // relative defaults (./data) land in the temp dir
	cmd.Env = append(cleanEnv(), g.Env...) // later entries win
	cmd.Stdout, cmd.Stderr = errf, errf
	if g.Place != nil {
		g.Place(cmd)
	}
	pr, err := startProc(cmd)
	if err != nil {
		errf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start gateway %s: %w", g.Bin, err)
	}
	p := &procGateway{p: pr, dir: dir, listen: listen, admin: admin, stderr: errf}

	if err := waitReady(ctx, "http://"+admin+"/readyz", pr.done, 60*time.Second); err != nil {
		tail := p.stderrTail()
		p.Close()
		return nil, fmt.Errorf("gateway (%s serve, store %s) did not get ready: %v\n--- config ---\n%s--- gateway output ---\n%s",
			g.Bin, g.Store, err, gatewayConfig(g, dir, listen, admin), tail)
	}
	return p, nil
}

// cleanEnv is this process's environment without AUPGUARD_* overrides and
// the real OpenRouter key: the written config alone decides.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AUPGUARD_") || strings.HasPrefix(kv, "OPENROUTER_API_KEY=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls url until 200, the process exits, or the timeout.
func waitReady(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: newTransport(1)}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %s)", url, timeout, last)
		}
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildGateway compiles ./cmd/aupguard of the module this runs in.
func buildGateway(ctx context.Context, stderr io.Writer) (bin string, cleanup func(), err error) {
	out, err := output(ctx, time.Minute, "", false, "go", "env", "GOMOD")
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", nil, errors.New("cannot find the aupguard module (run from the repository, or pass --gateway-bin)")
	}
	dir, err := os.MkdirTemp("", "aupload-bin-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, "aupguard")
	progress(stderr, "building %s", bin)
	if b, err := output(ctx, 10*time.Minute, filepath.Dir(mod), true, "go", "build", "-o", bin, "./cmd/aupguard"); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build ./cmd/aupguard: %v\n%s", err, b)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// redisServer is a private redis-server without persistence.
type redisServer struct {
	p    *proc
	addr string
	dir  string
}

func startRedis(ctx context.Context) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("--store redis needs redis-server on PATH (apt-get install redis-server), or use --store bolt")
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "aupload-redis-")
	if err != nil {
		return nil, err
	}
	cmd := newCmd(ctx, path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--maxclients", "10000")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	pr, err := startProc(cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisServer{p: pr, addr: addr, dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if redisPing(addr) == nil {
			return r, nil
		}
		select {
		case <-pr.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server exited:\n%s", out.String())
		case <-ctx.Done():
			r.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("redis-server on %s did not answer PING:\n%s", addr, out.String())
		}
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "+PONG") {
		return fmt.Errorf("PING answered %q", l)
	}
	return nil
}

func (r *redisServer) URL() string { return "redis://" + r.addr + "/0" }

func (r *redisServer) Close() {
	r.p.stop(syscall.SIGTERM, 5*time.Second)
	os.RemoveAll(r.dir)
}

// syncBuffer is a bytes.Buffer that a process's output pipes may write
// while the harness reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
