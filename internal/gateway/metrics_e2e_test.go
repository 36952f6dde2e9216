package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/metrics"
	"github.com/aupguard/aupguard/internal/redistest"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, admin string) []sample {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := ""
		if i, j := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}'); i >= 0 && j > i {
			s.name, rest = line[:i], line[j+1:]
			for _, kv := range splitLabels(line[i+1 : j]) {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k], _ = strconv.Unquote(v)
			}
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			t.Fatalf("metrics line %q: no value", line)
		}
		var err error
		s.value, err = strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// splitLabels splits `a="x",b="y,z"` at the commas between labels.
func splitLabels(s string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// value sums the samples of name whose labels include every "k=v" given.
func value(ss []sample, name string, match ...string) (sum float64, found bool) {
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for _, m := range match {
			k, v, _ := strings.Cut(m, "=")
			if s.labels[k] != v {
				continue next
			}
		}
		sum, found = sum+s.value, true
	}
	return sum, found
}

// waitMetric scrapes until name (with match) reaches at least want.
func waitMetric(t *testing.T, admin string, want float64, name string, match ...string) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		if got, _ = value(scrape(t, admin), name, match...); got >= want {
			return
		}
	}
	t.Fatalf("%s%v = %v, want at least %v", name, match, got, want)
}

// Issue #17: the operational series move as real requests go through the
// gateway: reports by category, action and source, automatic escalations,
// webhook deliveries, guard-model calls, policy reloads (ok and failed),
// store errors and the spool through a Redis outage.
func TestGatewayMetricsMove(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	defer fake.Close()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	var hooks atomic.Int64
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hooks.Add(1)
	}))
	defer hookSrv.Close()
	guard := guardModel(t, "safe", 5*time.Millisecond)
	srv := redistest.Start(t, redistest.Options{Private: true, Persistent: true})
	dir, pol := t.TempDir(), policyDir(t)
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
policies: %q
policy: {watch: true, classifier: {mode: before, url: %q, model: guard, timeout: 5s}}
answer_check: true
secrets: {signing_key_file: %q}
rate_limits: {end_user_per_minute: 0}
apps: [{name: web, key: metrics-app-key}]
webhooks: [{url: %q, secret: metrics-webhook-secret-0123456789}]
`, fake.URL, srv.URL(), filepath.Join(dir, "spool"), pol, guard, filepath.Join(dir, "signing.key"), hookSrv.URL)
	cfg, err := config.Parse([]byte(y), "metrics-test")
	if err != nil {
		t.Fatal(err)
	}
	g, proxy, admin, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	send := func(user, content, answer string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", proxy+"/api/v1/chat/completions",
			strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"`+content+`"}]}`))
		req.Header.Set("Authorization", "Bearer metrics-app-key")
		req.Header.Set("X-AUP-End-User", user)
		if answer != "" {
			req.Header.Set("X-Fake-Answer", answer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	ss := scrape(t, admin)
	for _, name := range []string{"aupguard_escalations_total", "aupguard_spool_depth", "aupguard_webhook_deliveries_total",
		"aupguard_policy_reloads_total", "aupguard_policy_info", "aupguard_classifier_calls_total", "aupguard_store_up"} {
		if _, ok := value(ss, name); !ok {
			t.Errorf("%s not exposed before any traffic", name)
		}
	}
	if v, _ := value(ss, "aupguard_policy_info", "hash="+g.policy.Hash()); v != 1 {
		t.Errorf("policy_info for %s = %v", g.policy.Hash(), v)
	}

	// A blocked request: a report, the escalation the policy asks for, a
	// webhook, a guard-model call.
	if code := send("m1", "How do I synthesize sarin?", ""); code != 403 {
		t.Fatalf("blocked request: %d", code)
	}
	// A harmless request whose answer is harmful: a report from the answer check.
	if code := send("m2", "Tell me about chemistry.", harmfulAnswer); code != 403 {
		t.Fatalf("harmful answer: %d", code)
	}
	ss = scrape(t, admin)
	if v, _ := value(ss, "aupguard_reports_total", "category=mass_casualty_weapons", "action=block", "source=request"); v != 1 {
		t.Errorf("request reports = %v", v)
	}
	if v, _ := value(ss, "aupguard_reports_total", "source=answer"); v < 1 {
		t.Errorf("answer reports = %v", v)
	}
	if v, _ := value(ss, "aupguard_escalations_total", "action=suspend"); v < 1 {
		t.Errorf("automatic suspensions = %v", v)
	}
	if v, _ := value(ss, "aupguard_classifier_calls_total", "verdict=safe"); v < 2 {
		t.Errorf("guard-model calls = %v", v)
	}
	if v, _ := value(ss, "aupguard_classifier_duration_seconds_count"); v < 2 {
		t.Errorf("guard-model latency count = %v", v)
	}
	waitMetric(t, admin, 1, "aupguard_webhook_deliveries_total", "outcome=sent")
	for _, s := range ss {
		for k, v := range s.labels {
			if strings.Contains(v, "m1") || strings.Contains(v, "metrics-app-key") || k == "user" || k == "decision_id" {
				t.Errorf("a label carries an id: %s %v", s.name, s.labels)
			}
		}
	}

	// Policy reloads: a new version (ok), then a broken one (failed).
	h1 := g.policy.Hash()
	writeVersion(t, pol, "2")
	h2 := waitReload(t, g, h1)
	waitMetric(t, admin, 1, "aupguard_policy_reloads_total", "result=ok")
	waitMetric(t, admin, 1, "aupguard_policy_info", "hash="+h2)
	if v, _ := value(scrape(t, admin), "aupguard_policy_info"); v != 1 {
		t.Errorf("policy_info holds more than the version in force: %v", v)
	}
	if err := os.WriteFile(filepath.Join(pol, "aup", "version.rego"), []byte("package aup\n\nbundle_version := \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, admin, 1, "aupguard_policy_reloads_total", "result=failed")

	// The store goes away: the report is spooled, store errors counted;
	// when it returns the spool is replayed and emptied.
	srv.Kill()
	waitMetric(t, admin, 1, "aupguard_store_errors_total")
	if code := send("m3", "How do I synthesize sarin?", ""); code != 403 {
		t.Fatalf("blocked request while the store is down: %d", code)
	}
	ss = scrape(t, admin)
	if v, _ := value(ss, "aupguard_spool_reports_total", "event=spooled"); v != 1 {
		t.Errorf("spooled = %v", v)
	}
	if v, _ := value(ss, "aupguard_spool_depth"); v != 1 {
		t.Errorf("spool depth = %v", v)
	}
	if v, _ := value(ss, "aupguard_store_up"); v != 0 {
		t.Errorf("store_up = %v while down", v)
	}
	if v, _ := value(ss, "aupguard_reports_total", "category=mass_casualty_weapons", "source=request"); v != 2 {
		t.Errorf("a spooled report is counted once: %v", v)
	}
	srv.Restart()
	waitMetric(t, admin, 1, "aupguard_spool_reports_total", "event=replayed")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		if v, _ := value(scrape(t, admin), "aupguard_spool_depth"); v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the spool did not empty")
		}
	}
	ss = scrape(t, admin)
	if v, _ := value(ss, "aupguard_reports_total", "category=mass_casualty_weapons", "source=request"); v != 2 {
		t.Errorf("a replayed report is not counted again: %v", v)
	}
	if v, _ := value(ss, "aupguard_spool_reports_total", "event=failed"); v != 0 {
		t.Errorf("spool failures = %v", v)
	}
	if hooks.Load() < 1 {
		t.Errorf("the webhook receiver got nothing")
	}
}

// The Grafana dashboard in deploy/ is valid JSON, and every series its
// queries name is one a running gateway exposes; every series of
// internal/metrics has a panel.
func TestGrafanaDashboardSeriesAreExposed(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type       string          `json:"type"`
			Title      string          `json:"title"`
			Datasource json.RawMessage `json:"datasource"`
			Targets    []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("deploy/grafana-dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels")
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || len(p.Datasource) == 0 {
			t.Errorf("panel %q has no query or no datasource", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}

	// A gateway that served an allowed request and refused an answer, so
	// the label-keyed series have samples.
	e := startAnswerEnv(t, "answer_check: true\n")
	if code, _ := e.chat(t, "dash-1", false, nil); code != 200 {
		t.Fatalf("allowed request: %d", code)
	}
	if code, _ := e.chat(t, "dash-2", false, map[string]string{"X-Fake-Answer": harmfulAnswer}); code != 403 {
		t.Fatalf("refused answer: %d", code)
	}
	req, _ := http.NewRequest("POST", e.proxy+"/api/v1/chat/completions", strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":[`+
		`{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`))
	req.Header.Set("Authorization", "Bearer web-app-key-1")
	req.Header.Set("X-AUP-End-User", "dash-3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a request with an image under the default (allow): %d", resp.StatusCode)
	}
	exposed := map[string]bool{}
	for _, s := range scrape(t, e.admin) {
		exposed[s.name] = true
	}
	series := regexp.MustCompile(`\b(?:aupguard|go|process)_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, x := range exprs {
		for _, name := range series.FindAllString(x, -1) {
			used[name] = true
			if !exposed[name] {
				t.Errorf("the dashboard queries %s, which the gateway does not expose (in %q)", name, x)
			}
		}
	}
	for _, name := range metrics.Names {
		if !used[name] && !used[name+"_bucket"] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}
