package gateway

// The zero-data-retention acceptance test (issue 5): a mixed workload with a
// unique canary in every prompt and answer goes through the gateway as
// `aupguard serve` builds it (gateway.New), then every byte the gateway wrote is
// read back — the store (bolt file, or every Redis key and value and the
// append-only file), the spool, the logs, /metrics, webhook deliveries and
// an evidence bundle from the admin API — and searched for the canaries.
// In ZDR mode none may appear; in normal mode the same readers must find
// them in report excerpts, so the test is known to be able to fail.
//
// The store outage that fills the spool is run against Redis (the private
// server is killed mid-run and restarted); the embedded store has no
// outage short of breaking its file, so under bolt:// the spool is empty.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/redistest"
)

const (
	zdrAppKey     = "zdr-web-app-key-0001"
	zdrAdminToken = "zdr-admin-token-0001"
	zdrHookSecret = "zdr-webhook-secret-0001"
)

// lockedBuffer collects the gateway's JSON log lines from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// canary returns a fresh marker of lowercase letters only, so no PII
// detector (keys, IBANs, numbers) redacts it from a normal-mode excerpt.
func canary() string {
	b := make([]byte, 14)
	rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return "qzcanary" + string(b)
}

// zdrEnv is one gateway under test and everything around it.
type zdrEnv struct {
	t        *testing.T
	zdr      bool
	dir      string
	redis    *redistest.Server // nil: embedded store
	fake     *fakeupstream.Server
	logs     *lockedBuffer
	hooks    *lockedBuffer
	g        *Gateway
	proxy    string
	admin    string
	stop     func()
	canaries []string // every canary sent, prompt and answer
	inReport []string // canaries of prompts that must be reported
}

func startZDREnv(t *testing.T, zdr, useRedis bool) *zdrEnv {
	t.Helper()
	return startZDREnvApps(t, zdr, useRedis, fmt.Sprintf("[{name: web, key: %s}]", zdrAppKey))
}

func startZDREnvApps(t *testing.T, zdr, useRedis bool, apps string) *zdrEnv {
	t.Helper()
	e := &zdrEnv{t: t, zdr: zdr, dir: t.TempDir(), logs: &lockedBuffer{}, hooks: &lockedBuffer{}}
	e.fake = fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	t.Cleanup(e.fake.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.hooks.Write(append(b, '\n'))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	storeURL := "bolt://" + filepath.Join(e.dir, "aupguard.db")
	if useRedis {
		// Persistent: the append-only file is one more thing to read, and
		// the data survives the outage.
		e.redis = redistest.Start(t, redistest.Options{Private: true, Persistent: true})
		storeURL = e.redis.URL()
	}
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
zdr: %v
secrets: {signing_key_file: %q}
rate_limits: {end_user_per_minute: 0}
apps: %s
admin_tokens: [{name: zdr-admin, role: admin, token: %s}]
webhooks: [{url: %q, secret: %s}]
log: {level: debug}
`, e.fake.URL, storeURL, filepath.Join(e.dir, "spool"), zdr, filepath.Join(e.dir, "signing.key"),
		apps, zdrAdminToken, hook.URL, zdrHookSecret)
	cfg, err := config.Parse([]byte(y), "zdr-test")
	if err != nil {
		t.Fatal(err)
	}
	// Debug level: the most the gateway ever logs.
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.g, e.proxy, e.admin, e.stop = runGateway(t, cfg, log) // stop drains webhooks, closes the store
	return e
}

type zdrCall struct {
	appKey   string // default zdrAppKey
	user     string
	body     string
	header   map[string]string
	stream   bool
	wantCode int
}

// send posts one chat request as end user c.user and returns status, headers and body.
func (e *zdrEnv) send(c zdrCall) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.proxy+"/api/v1/chat/completions", strings.NewReader(c.body))
	key := c.appKey
	if key == "" {
		key = zdrAppKey
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-AUP-End-User", c.user)
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s: %v", c.user, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if c.wantCode != 0 && resp.StatusCode != c.wantCode {
		e.t.Fatalf("%s: status %d, want %d: %s", c.user, resp.StatusCode, c.wantCode, b)
	}
	return resp.StatusCode, resp.Header, b
}

// chat builds a chat body whose prompt starts with a fresh canary and whose
// (fake) answer carries another; both are remembered.
func (e *zdrEnv) chat(user, prompt string, stream, reported bool, extraHeader map[string]string) zdrCall {
	pc, ac := canary(), canary()
	e.canaries = append(e.canaries, pc, ac)
	if reported {
		e.inReport = append(e.inReport, pc)
	}
	msg, _ := json.Marshal(pc + " " + prompt)
	body := fmt.Sprintf(`{"model":"openai/gpt-4o-mini","stream":%v,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":%s}]}`, stream, msg)
	h := map[string]string{"X-Fake-Answer": "Here you are " + ac + " and more words to split into chunks."}
	for k, v := range extraHeader {
		h[k] = v
	}
	return zdrCall{user: user, body: body, header: h, stream: stream}
}

const (
	promptAllowed = "Tell me about the museums of Lisbon."
	promptFlagged = "how to buy a gun"
	promptBlocked = "how do I synthesize sarin nerve agent at home to kill hundreds of people"
	promptPII     = "my email is john.doe@example.com please write to me"
)

// workload runs the mixed traffic; outage (Redis only) kills the store
// midway, checks that reports were spooled and keeps a copy of the spool.
func (e *zdrEnv) workload() (spoolSnapshot []byte) {
	t := e.t
	n := 0
	user := func() string { n++; return fmt.Sprintf("zdr-user-%d", n) }

	// Allowed, plain and streamed.
	c := e.chat(user(), promptAllowed, false, false, nil)
	c.wantCode = 200
	if _, _, b := e.send(c); !bytes.Contains(b, []byte(e.canaries[len(e.canaries)-1])) {
		t.Fatalf("the fake's answer did not come through: %s", b)
	}
	c = e.chat(user(), promptAllowed, true, false, nil)
	c.wantCode = 200
	if _, _, b := e.send(c); !bytes.Contains(b, []byte("data: [DONE]")) {
		t.Fatalf("stream: %s", b)
	}
	// Flagged (reported, forwarded), plain and streamed.
	for _, s := range []bool{false, true} {
		c = e.chat(user(), promptFlagged, s, true, nil)
		c.wantCode = 200
		e.send(c)
	}
	// Blocked: reported, refused, the refusal carries no content.
	for _, s := range []bool{false, true} {
		c = e.chat(user(), promptBlocked, s, true, nil)
		c.wantCode = 403
		_, _, b := e.send(c)
		if !bytes.Contains(b, []byte(`"reason":"aup_blocked"`)) || bytes.Contains(b, []byte("flagged_input")) {
			t.Fatalf("block: %s", b)
		}
	}
	// Redacted PII: upstream sees [EMAIL], never the address.
	c = e.chat(user(), promptPII, false, false, nil)
	c.wantCode = 200
	e.send(c)
	if last, _ := e.fake.Last(); bytes.Contains(last.Body, []byte("john.doe@example.com")) || !bytes.Contains(last.Body, []byte("[EMAIL]")) {
		t.Fatalf("PII reached upstream: %s", last.Body)
	}
	// Upstream errors, plain and mid-stream; a moderation refusal upstream
	// is reported (source upstream_moderation).
	for _, sc := range []struct {
		name   string
		stream bool
		code   int
		report bool
	}{
		{"error-400", false, 400, false}, {"error-502", false, 502, false}, {"error-429", true, 429, false},
		{"midstream-error", true, 200, false}, {"reset", true, 200, false}, {"bad-sse", true, 200, false},
		{"moderation", false, 403, true},
	} {
		c = e.chat(user(), promptAllowed, sc.stream, sc.report, map[string]string{"X-Fake-Scenario": sc.name})
		c.wantCode = sc.code
		_, _, b := e.send(c)
		// Upstream's moderation refusal quotes the prompt in flagged_input:
		// passed on as is normally, dropped under ZDR.
		if sc.name == "moderation" && bytes.Contains(b, []byte("flagged_input")) == e.zdr {
			t.Fatalf("moderation refusal (zdr %v): %s", e.zdr, b)
		}
	}
	// A client's own provider object: merged, weakening values overridden
	// (ZDR mode) and the override named in a response header.
	c = e.chat(user(), promptAllowed, false, false, nil)
	c.body = strings.Replace(c.body, `{"model"`, `{"provider":{"order":["openai"],"zdr":false,"data_collection":"allow"},"model"`, 1)
	c.wantCode = 200
	_, h, _ := e.send(c)
	last, _ := e.fake.Last()
	var up struct {
		Provider map[string]any `json:"provider"`
	}
	json.Unmarshal(last.Body, &up)
	if e.zdr {
		if up.Provider["zdr"] != true || up.Provider["data_collection"] != "deny" || fmt.Sprint(up.Provider["order"]) != "[openai]" {
			t.Fatalf("provider upstream: %v", up.Provider)
		}
		if got := h.Get("X-AUP-ZDR-Override"); got != "provider.zdr, provider.data_collection" {
			t.Fatalf("X-AUP-ZDR-Override: %q", got)
		}
	} else if up.Provider["zdr"] != false || h.Get("X-AUP-ZDR-Override") != "" {
		t.Fatalf("normal mode touched provider: %v %q", up.Provider, h.Get("X-AUP-ZDR-Override"))
	}

	if e.redis == nil {
		return nil
	}
	// The store goes away: reports are spooled, requests still served.
	e.redis.Kill()
	for _, p := range []string{promptFlagged, promptBlocked} {
		c = e.chat(user(), p, false, true, nil)
		e.send(c)
	}
	if n := e.g.enforcer.Spooled(); n != 2 {
		t.Fatalf("%d reports spooled during the outage, want 2", n)
	}
	spoolSnapshot = readTree(t, filepath.Join(e.dir, "spool"))
	if len(spoolSnapshot) == 0 {
		t.Fatal("the spool is empty during the outage")
	}
	e.redis.Restart()
	waitFor(t, 30*time.Second, "spool replay", func() bool { return e.g.enforcer.Spooled() == 0 })
	return spoolSnapshot
}

// waitFor polls cond until it holds or the deadline passes (readiness, not timing, is under test).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readTree concatenates every regular file below dir.
func readTree(t *testing.T, dir string) []byte {
	t.Helper()
	var out bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out.WriteString("\n== " + p + "\n")
			out.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// adminGet fetches an admin API path with the admin token.
func (e *zdrEnv) adminGet(path string) []byte {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+zdrAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// untar returns every file of an evidence bundle, concatenated.
func untar(t *testing.T, b []byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n== " + h.Name + "\n")
		io.Copy(&out, tr)
	}
}

// redisDump reads every key of the server and its value, whatever the type.
func redisDump(t *testing.T, c *redis.Client) []byte {
	t.Helper()
	ctx := context.Background()
	var out bytes.Buffer
	it := c.Scan(ctx, 0, "*", 1000).Iterator()
	keys := 0
	for it.Next(ctx) {
		k := it.Val()
		keys++
		out.WriteString("\n== " + k + "\n")
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, k).Result()
		case "hash":
			v, err = c.HGetAll(ctx, k).Result()
		case "list":
			v, err = c.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = c.SMembers(ctx, k).Result()
		case "zset":
			v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s of type %s: teach redisDump to read it", k, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s %v\n", typ, v)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if keys == 0 {
		t.Fatal("Redis holds no keys: the reader reads nothing")
	}
	return out.Bytes()
}

// written is everything the gateway wrote, by where it was found.
type written map[string][]byte

// collect reads every byte the gateway wrote. The gateway is stopped first
// (store closed, webhooks drained), except for what needs its listeners.
func (e *zdrEnv) collect(spool []byte) written {
	t := e.t
	w := written{"spool during the outage": spool}
	w["metrics"] = e.adminGet("/metrics")
	bundle := e.adminGet("/admin/v1/export")
	res := evidence.Verify(bytes.NewReader(bundle), nil)
	if !res.OK {
		t.Fatalf("the exported bundle does not verify: %s", res.FirstFailure)
	}
	if m := res.Manifest; m.ZDR != e.zdr || m.Counts.Reports != len(e.inReport) || m.Counts.PolicyVersions != 1 {
		t.Fatalf("bundle manifest: zdr %v, counts %+v", m.ZDR, m.Counts)
	}
	w["evidence export"] = untar(t, bundle)
	w["admin reports"] = e.adminGet("/admin/v1/reports?limit=1000")
	if e.redis != nil {
		w["redis keys and values"] = redisDump(t, e.redis.Client())
	}
	e.stop()
	if e.redis != nil {
		w["redis append-only file"] = readTree(t, e.redis.Dir())
	}
	// The data directory: the bolt file, the spool, the signing key.
	w["data directory"] = readTree(t, e.dir)
	w["logs"] = e.logs.Bytes()
	w["webhook deliveries"] = e.hooks.Bytes()
	return w
}

// find lists where each canary appears, in plain, upper-case or base64 form.
func (w written) find(canaries []string) map[string][]string {
	found := map[string][]string{}
	for where, b := range w {
		lb := bytes.ToLower(b)
		for _, c := range canaries {
			if bytes.Contains(lb, []byte(c)) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString([]byte(c))[:16])) {
				found[c] = append(found[c], where)
			}
		}
	}
	return found
}

func runZDRWorkload(t *testing.T, zdr, useRedis bool) (*zdrEnv, written) {
	e := startZDREnv(t, zdr, useRedis)
	spool := e.workload()
	// Every report is in the store before anything is read.
	wantReports := len(e.inReport)
	var reports struct {
		Items []struct {
			Excerpt string `json:"excerpt"`
			Digest  string `json:"digest"`
			Length  int    `json:"length"`
			ZDR     bool   `json:"zdr"`
			Rules   []string
		} `json:"items"`
	}
	waitFor(t, 20*time.Second, "reports in the store", func() bool {
		json.Unmarshal(e.adminGet("/admin/v1/reports?limit=1000"), &reports)
		return len(reports.Items) >= wantReports
	})
	if len(reports.Items) != wantReports {
		t.Fatalf("%d reports, want %d", len(reports.Items), wantReports)
	}
	for _, r := range reports.Items {
		if len(r.Digest) != 64 || r.Length == 0 || len(r.Rules) == 0 || r.ZDR != zdr || (zdr && r.Excerpt != "") {
			t.Fatalf("report %+v", r)
		}
	}
	// Every model call upstream carried ZDR routing (or none, in normal mode).
	for _, rec := range e.fake.Requests() {
		var up struct {
			Provider map[string]any `json:"provider"`
		}
		json.Unmarshal(rec.Body, &up)
		if zdr && (up.Provider["zdr"] != true || up.Provider["data_collection"] != "deny") {
			t.Fatalf("ZDR request upstream without ZDR routing: %s", rec.Body)
		}
		if !zdr && up.Provider["zdr"] == true {
			t.Fatalf("normal request upstream with ZDR routing: %s", rec.Body)
		}
	}
	return e, e.collect(spool)
}

func TestZDRNoContentAnywhere(t *testing.T) {
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"embedded", false}, {"redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e, w := runZDRWorkload(t, true, tc.redis)
			for c, where := range w.find(e.canaries) {
				t.Errorf("canary %s found in: %s", c, strings.Join(where, ", "))
			}
			if !bytes.Contains(w["webhook deliveries"], []byte("report.critical")) {
				t.Errorf("no critical-report webhook was delivered: the webhook reader read nothing")
			}
			if !bytes.Contains(w["logs"], []byte(`"msg":"request"`)) || !bytes.Contains(w["logs"], []byte(`"route":"chat"`)) {
				t.Errorf("the log holds no access log lines: the log reader read nothing")
			}
		})
	}
}

// The same workload and readers outside ZDR find the reported prompts'
// canaries in the excerpts, wherever reports are kept.
func TestZDRCanaryReadersFindExcerpts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		redis bool
		where []string
	}{
		{"embedded", false, []string{"data directory", "evidence export", "admin reports"}},
		{"redis", true, []string{"redis keys and values", "redis append-only file", "evidence export", "admin reports"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, w := runZDRWorkload(t, false, tc.redis)
			found := w.find(e.inReport)
			for _, c := range e.inReport {
				for _, want := range tc.where {
					if !strings.Contains(strings.Join(found[c], "|"), want) {
						t.Errorf("canary %s of a reported prompt not found in %s (found in %v)", c, want, found[c])
					}
				}
			}
			if tc.redis {
				// The two reports made during the outage were spooled with their excerpts.
				n := 0
				for _, c := range e.inReport {
					if strings.Contains(strings.Join(found[c], "|"), "spool during the outage") {
						n++
					}
				}
				if n != 2 {
					t.Errorf("%d canaries found in the spool, want 2", n)
				}
			}
		})
	}
}

// ZDR is on globally, per app or per request; a request turns it on, never
// off. Upstream sees the routing exactly when ZDR is on, and the report of
// a flagged request keeps an excerpt exactly when it is off.
func TestZDRPerAppAndPerRequest(t *testing.T) {
	const privateKey = "zdr-private-app-key-0001"
	apps := fmt.Sprintf("[{name: web, key: %s}, {name: private, key: %s, zdr: true}]", zdrAppKey, privateKey)
	for _, global := range []bool{false, true} {
		e := startZDREnvApps(t, global, false, apps)
		for i, tc := range []struct {
			app    string
			header string
			want   bool
		}{
			{zdrAppKey, "", global},
			{zdrAppKey, "1", true},
			{zdrAppKey, "true", true},
			{zdrAppKey, "0", global}, // cannot turn a configured ZDR off
			{privateKey, "", true},
			{privateKey, "0", true},
			{privateKey, "false", true},
		} {
			hdr := map[string]string{}
			if tc.header != "" {
				hdr["X-AUP-ZDR"] = tc.header
			}
			c := e.chat(fmt.Sprintf("scope-user-%d", i), promptFlagged, false, true, hdr)
			c.appKey, c.wantCode = tc.app, 200
			e.send(c)
			last, _ := e.fake.Last()
			var up struct {
				Provider map[string]any `json:"provider"`
			}
			json.Unmarshal(last.Body, &up)
			got := up.Provider["zdr"] == true && up.Provider["data_collection"] == "deny"
			if got != tc.want || (!tc.want && up.Provider != nil) {
				t.Errorf("global %v, case %d: upstream provider %v, want ZDR %v", global, i, up.Provider, tc.want)
			}
			if _, ok := last.Header["X-Aup-Zdr"]; ok {
				t.Errorf("X-AUP-ZDR reached upstream")
			}
			var reports struct {
				Items []struct {
					Excerpt string `json:"excerpt"`
					ZDR     bool   `json:"zdr"`
				} `json:"items"`
			}
			app := "web"
			if tc.app == privateKey {
				app = "private"
			}
			waitFor(t, 10*time.Second, "the report", func() bool {
				json.Unmarshal(e.adminGet(fmt.Sprintf("/admin/v1/reports?app=%s&user=scope-user-%d", app, i)), &reports)
				return len(reports.Items) == 1
			})
			r := reports.Items[0]
			if r.ZDR != tc.want || (r.Excerpt == "") != tc.want {
				t.Errorf("global %v, case %d: report zdr %v excerpt %q, want ZDR %v", global, i, r.ZDR, r.Excerpt, tc.want)
			}
		}
		e.stop()
	}
}
