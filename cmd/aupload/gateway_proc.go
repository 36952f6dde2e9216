package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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
	UserRate int      // rate_limits.end_user_per_minute; 0: 100000, far above the load
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
	rate := g.UserRate
	if rate == 0 {
		rate = 100000
	}
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
		"  end_user_per_minute: " + strconv.Itoa(rate),
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
