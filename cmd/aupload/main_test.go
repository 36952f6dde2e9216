package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aupguard/aupguard/internal/config"
)

// The harness runs some servers in child processes: this test binary again,
// which must serve them instead of running the tests (see startChild).
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(serveChild(spec))
	}
	code := m.Run()
	killAll()
	os.Exit(code)
}

// standIn is an in-process gateway for tests: a reverse proxy that checks
// the app key and injects the operator key, like the real one. refuseAfter
// > 0 makes it answer 429 to every other request after that many.
type standIn struct {
	srv         *httpServer
	n           atomic.Int64
	refuseAfter int64
}

func (s *standIn) BaseURL() string { return s.srv.URL() }
func (s *standIn) Key() string     { return appKey }
func (s *standIn) PID() int        { return os.Getpid() }
func (s *standIn) Close() error    { s.srv.Close(); return nil }

func standInFactory(refuseAfter int64, started *atomic.Int64) gatewayFactory {
	return func(ctx context.Context, g gatewaySpec) (gateway, error) {
		started.Add(1)
		u, _ := url.Parse(g.Upstream)
		s := &standIn{refuseAfter: refuseAfter}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.Out.Header.Set("Authorization", "Bearer "+upstreamKey)
			},
			Transport: newTransport(256), FlushInterval: -1, ErrorLog: log.New(io.Discard, "", 0),
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+appKey {
				http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
				return
			}
			if n := s.n.Add(1); s.refuseAfter > 0 && n > s.refuseAfter && n%2 == 0 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error":{"code":429,"message":"rate limited"}}`, http.StatusTooManyRequests)
				return
			}
			rp.ServeHTTP(w, r)
		})
		srv, err := serveLoopback(fullDuplex(h))
		if err != nil {
			return nil, err
		}
		s.srv = srv
		return s, nil
	}
}

func quickOptions(t *testing.T, extra ...string) *options {
	t.Helper()
	args := append([]string{"--quick", "-c", "4", "-d", "400ms", "--rounds", "2", "--warmup", "50ms", "--idle", "20", "--users", "50"}, extra...)
	o, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The whole harness against in-process targets (the gateway a stand-in):
// every row of the report is there, measured, and written between the
// markers without touching the rest of the file.
func TestQuickRunWritesFullReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	before := "# Benchmarks\n\nGo benchmark results by others.\n\n## Load harness\n\n" + sharedSection.begin + "\nold\n" + sharedSection.end + "\n\n## After\n\nkept\n"
	if err := os.WriteFile(out, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	var started atomic.Int64
	o := quickOptions(t, "--store", "both", "--out", out, "-c", "1,4")
	o.newGateway = standInFactory(0, &started)
	var stdout, stderr bytes.Buffer
	if code := runWith(context.Background(), o, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	// One gateway per store for the load, one fresh one per store for idle streams.
	if started.Load() != 4 {
		t.Errorf("started %d gateways, want 4", started.Load())
	}
	md := stdout.String()
	for _, want := range []string{
		"### Gateway with the embedded store", "### Gateway with the Redis store",
		"| direct | plain |", "| floor | plain |", "| gateway | plain |",
		"| direct | stream |", "| floor | stream |", "| gateway | stream |",
		"| floor vs direct (plain) |", "| gateway vs floor (plain) |", "| gateway vs floor (stream, first token) |",
		"| added p50 latency |", "| added p99 latency |", "| throughput |", "| first streamed token (p50) |",
		"| 10,000 idle streams |", "| errors (all targets) | 0, 429s included | 0 (0 × 429) | PASS |",
		"Idle streams: 20 of 20 opened", "| added p50 latency | ≤ +50 µs over floor |", "| added p99 latency | ≤ +1 ms over floor |",
		"| throughput | ≥ 0.90× floor |", "| first streamed token (p50) | ≤ +1 ms over floor |", "| info |",
		// the stand-in gateway runs in the test process, whose CPU is not charged
		"| CPU per request | ≤ 1.25× floor's | not measured | n/a |", "CPUs: shared (the default", "Command: `go run ./cmd/aupload --quick", "in its own process, like the gateway",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	// A section per store and client count; idle streams once per store.
	if n := strings.Count(md, "### Gateway with the"); n != 4 || strings.Count(md, "| 10,000 idle streams |") != 2 ||
		strings.Count(md, "1 client (sequential") != 2 || strings.Count(md, "), 4 concurrent clients\n") != 2 {
		t.Errorf("sections per store and client count not as expected:\n%s", md)
	}
	if strings.Contains(md, "| 0 | 0 |") || strings.Contains(md, "Errors seen") {
		t.Errorf("a target had no successful requests or errors:\n%s", md)
	}
	doc, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(doc), "# Benchmarks\n\nGo benchmark results by others.\n\n## Load harness\n\n"+sharedSection.begin+"\n") ||
		!strings.HasSuffix(string(doc), sharedSection.end+"\n\n## After\n\nkept\n") || strings.Contains(string(doc), "\nold\n") ||
		!strings.Contains(string(doc), "| gateway | stream |") {
		t.Errorf("file not rewritten between the markers only:\n%s", doc)
	}
}

// Refusals are errors: 429s show in the table, the error bar fails, and
// --strict turns that into exit 3.
func TestRejectionsFailTheErrorBar(t *testing.T) {
	var started atomic.Int64
	o := quickOptions(t, "--store", "bolt", "--stream=false", "--idle", "0", "--out", "-", "--strict", "--inproc")
	o.newGateway = standInFactory(5, &started)
	var stdout, stderr bytes.Buffer
	if code := runWith(context.Background(), o, &stdout, &stderr); code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, stdout.String(), stderr.String())
	}
	md := stdout.String()
	if !strings.Contains(md, "× 429) | **FAIL** |") || !strings.Contains(md, "Errors seen") || !strings.Contains(md, "HTTP 429") {
		t.Errorf("429s not reported as errors:\n%s", md)
	}
	if strings.Contains(md, "| direct | stream |") {
		t.Errorf("--stream=false still measured streams:\n%s", md)
	}
}

func TestReplaceSection(t *testing.T) {
	got, err := replaceSection("", "T", sharedSection)
	if err != nil || got != "# Benchmarks\n\n## Load harness\n\n"+sharedSection.begin+"\nT\n"+sharedSection.end+"\n" {
		t.Errorf("new file: %q %v", got, err)
	}
	got, err = replaceSection("# B\n\n## Go\n\nx\n", "T\n", sharedSection)
	if err != nil || got != "# B\n\n## Go\n\nx\n\n## Load harness\n\n"+sharedSection.begin+"\nT\n"+sharedSection.end+"\n" {
		t.Errorf("append: %q %v", got, err)
	}
	got, err = replaceSection("a\n"+markBegin+"\nold\nold\n"+markEnd+"\nb\n", "new", pinnedSection)
	if err != nil || got != "a\n"+markBegin+"\nnew\n"+markEnd+"\nb\n" {
		t.Errorf("replace: %q %v", got, err)
	}
	if _, err := replaceSection("a\n"+markEnd+"\n"+markBegin+"\n", "new", pinnedSection); err == nil {
		t.Error("markers out of order accepted")
	}
	// the pinned run has its own section and leaves the shared one be
	doc := "# B\n\n## Load harness\n\n" + sharedSection.begin + "\nshared\n" + sharedSection.end + "\n"
	got, err = replaceSection(doc, "pinned", pinnedSection)
	want := doc + "\n## Load harness, CPUs pinned (not the bar)\n\n" + markBegin + "\npinned\n" + markEnd + "\n"
	if err != nil || got != want {
		t.Errorf("pinned section: %q %v", got, err)
	}
	if got, err = replaceSection(got, "shared 2", sharedSection); err != nil || !strings.Contains(got, "\nshared 2\n") || !strings.Contains(got, "\npinned\n") {
		t.Errorf("shared after pinned: %q %v", got, err)
	}
}

// The config the harness writes is one the gateway accepts.
func TestGatewayConfigIsValid(t *testing.T) {
	dir := t.TempDir()
	for _, g := range []gatewaySpec{
		{Store: "bolt", Upstream: "http://127.0.0.1:1", LogLevel: "warn"},
		{Store: "redis", StoreURL: "redis://127.0.0.1:2/0", Upstream: "http://127.0.0.1:1", LogLevel: "info"},
	} {
		text := gatewayConfig(g, dir, "127.0.0.1:3", "127.0.0.1:4")
		c, err := config.Parse([]byte(text), "aupload.yaml")
		if err != nil {
			t.Fatalf("%s\n%v", text, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s\n%v", text, err)
		}
		if c.RateLimits.EndUserPerMinute != 100000 || len(c.Apps) != 1 || c.Apps[0].Key != appKey ||
			c.Upstream.URL != "http://127.0.0.1:1/api/v1" || c.Upstream.APIKey != upstreamKey || c.Log.Level != g.LogLevel {
			t.Errorf("config not as written: %+v", c)
		}
		if g.Store == "bolt" && c.Store != "bolt://"+filepath.Join(dir, "aupguard.db") || g.Store == "redis" && c.Store != g.StoreURL {
			t.Errorf("store %q", c.Store)
		}
	}
}

// A gateway that dies at start is reported with its own output.
func TestGatewayStartFailureShowsOutput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "aupguard")
	script := "#!/bin/sh\necho \"config: upstream.api_key is broken ($1 $2)\" >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := startProcGateway(context.Background(), gatewaySpec{Store: "bolt", Upstream: "http://127.0.0.1:1", Bin: bin, LogLevel: "warn"})
	if err == nil || !strings.Contains(err.Error(), "did not get ready") || !strings.Contains(err.Error(), "upstream.api_key is broken (serve --config)") {
		t.Fatalf("error %v", err)
	}
}

func TestFlags(t *testing.T) {
	o := quickOptions(t)
	if !slices.Equal(o.concs, []int{4}) || o.idle != 20 || len(o.stores) != 2 || !o.stream {
		t.Errorf("quick options %+v", o)
	}
	o, err := parseFlags([]string{"--quick"}, io.Discard)
	if err != nil || !slices.Equal(o.concs, []int{1, 8}) || o.idle != 200 || o.rounds != 2 {
		t.Errorf("quick defaults %+v %v", o, err)
	}
	// the design's layout and client counts unless asked otherwise
	if o, err := parseFlags(nil, io.Discard); err != nil || o.pin || !slices.Equal(o.concs, []int{1, 8}) || o.users != 10000 {
		t.Errorf("defaults %+v %v: want shared CPUs, -c 1,8, 10000 end users", o, err)
	}
	if o, err := parseFlags([]string{"--pin"}, io.Discard); err != nil || !o.pin {
		t.Errorf("--pin: %+v %v", o, err)
	}
	if o, err := parseFlags([]string{"-c", "1, 16,64"}, io.Discard); err != nil || !slices.Equal(o.concs, []int{1, 16, 64}) {
		t.Errorf("-c list: %v %v", o, err)
	}
	for _, bad := range [][]string{{"--store", "mysql"}, {"-c", "0"}, {"-c", "1,"}, {"-c", "x"}, {"--idle", "-1"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
