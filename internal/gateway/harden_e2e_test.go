package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/redistest"
)

const (
	hardAppKey = "hard-app-key-0123456789"
	hardToken  = "hard-admin-token-0123456789"
)

// hardGateways runs n gateways sharing one private redis-server, as
// replicas behind a load balancer at 127.0.0.1 that sets X-Forwarded-For.
func hardGateways(t *testing.T, n int, extra string) (proxies, admins []string, gws []*Gateway, srv *redistest.Server) {
	t.Helper()
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	t.Cleanup(fake.Close)
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	srv = redistest.Start(t, redistest.Options{Private: true})
	for range n {
		dir := t.TempDir()
		y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
rate_limits: {end_user_per_minute: 0}
apps: [{name: web, key: %s}]
admin_tokens: [{name: ops, role: admin, token: %s}]
auth_throttle:
  free_failures: 3
  base_delay: 2s
  max_delay: 2s
  forget_after: 1m
  client_ip_header: X-Forwarded-For
  trusted_proxies: [127.0.0.1]
%s`, fake.URL, srv.URL(), filepath.Join(dir, "spool"), filepath.Join(dir, "signing.key"), hardAppKey, hardToken, extra)
		cfg, err := config.Parse([]byte(y), "harden-test")
		if err != nil {
			t.Fatal(err)
		}
		g, p, a, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
		proxies, admins, gws = append(proxies, p), append(admins, a), append(gws, g)
	}
	return proxies, admins, gws, srv
}

type hardResp struct {
	status int
	retry  string
	body   string
}

func hardDo(t *testing.T, method, u, from string, hdr map[string]string, body string) hardResp {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("X-Forwarded-For", from)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hardResp{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

func hardChat(t *testing.T, proxy, from, key string) hardResp {
	return hardDo(t, "POST", proxy+"/api/v1/chat/completions", from,
		map[string]string{"Authorization": "Bearer " + key, "X-AUP-End-User": "u1", "Content-Type": "application/json"},
		`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`)
}

func hardAdmin(t *testing.T, admin, from, token, path string) hardResp {
	return hardDo(t, "GET", admin+path, from, map[string]string{"Authorization": "Bearer " + token}, "")
}

func hardSignIn(t *testing.T, admin, from, token string) hardResp {
	return hardDo(t, "POST", admin+"/desk/login", from,
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, url.Values{"token": {token}}.Encode())
}

// Guessing app keys on one replica locks the address out on both: even
// the right key, admin token or desk sign-in from it is refused with 429
// and Retry-After until the window passes; another address is unaffected;
// the lock-out is in the audit log.
func TestAuthThrottleSharedAcrossReplicas(t *testing.T) {
	proxies, admins, gws, _ := hardGateways(t, 2, "")
	const attacker, other = "203.0.113.7", "198.51.100.9"
	for i := range 4 {
		if r := hardChat(t, proxies[0], attacker, fmt.Sprintf("guess-%d", i)); r.status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	check429 := func(what string, r hardResp) {
		t.Helper()
		if r.status != 429 || r.retry == "" || r.retry == "0" {
			t.Fatalf("%s: %d Retry-After %q %s", what, r.status, r.retry, r.body)
		}
	}
	r := hardChat(t, proxies[1], attacker, hardAppKey)
	check429("right app key on the other replica", r)
	var e struct {
		Error struct {
			Code     int            `json:"code"`
			Metadata map[string]any `json:"metadata"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(r.body), &e) != nil || e.Error.Code != 429 || e.Error.Metadata["reason"] != "auth_throttled" || e.Error.Metadata["retry_after"] == nil ||
		!strings.Contains(r.body, "retry in "+r.retry+"s") {
		t.Fatalf("error shape: %s", r.body)
	}
	check429("right app key on the same replica", hardChat(t, proxies[0], attacker, hardAppKey))
	check429("right admin token", hardAdmin(t, admins[1], attacker, hardToken, "/admin/v1/queue"))
	check429("right desk sign-in", hardSignIn(t, admins[0], attacker, hardToken))

	if r := hardChat(t, proxies[1], other, hardAppKey); r.status != 200 {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	if r := hardSignIn(t, admins[1], other, hardToken); r.status != http.StatusSeeOther {
		t.Fatalf("another address signs in: %d %s", r.status, r.body)
	}
	audit := hardAdmin(t, admins[1], other, hardToken, "/admin/v1/audit?app=aupguard:security&user=ip:"+attacker)
	if audit.status != 200 || !strings.Contains(audit.body, "authentication lock-out") || !strings.Contains(audit.body, "app_key") {
		t.Fatalf("audit: %d %s", audit.status, audit.body)
	}
	if gws[0].guard.Lockouts() != 1 || gws[0].guard.Failures() != 4 || gws[1].guard.Refused() < 2 {
		t.Errorf("counters: lockouts %d failures %d refused %d", gws[0].guard.Lockouts(), gws[0].guard.Failures(), gws[1].guard.Refused())
	}

	// The window passes: the right key works again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := hardChat(t, proxies[1], attacker, hardAppKey)
		if r.status == 200 {
			break
		}
		if r.status != 429 || time.Now().After(deadline) {
			t.Fatalf("after the window: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Admin-token guesses and desk sign-in guesses count alike, and the next
// failure after a lock-out locks again (the count is not reset).
func TestAuthThrottleAdminAndDesk(t *testing.T) {
	_, admins, _, _ := hardGateways(t, 1, "")
	const attacker = "192.0.2.44"
	for i := range 2 {
		if r := hardAdmin(t, admins[0], attacker, fmt.Sprintf("wrong-%d", i), "/admin/v1/queue"); r.status != 401 {
			t.Fatalf("admin guess: %d", r.status)
		}
	}
	if r := hardSignIn(t, admins[0], attacker, "wrong"); r.status != 401 {
		t.Fatalf("desk guess: %d", r.status)
	}
	if r := hardAdmin(t, admins[0], attacker, hardToken, "/admin/v1/queue"); r.status != 200 {
		t.Fatalf("within the free failures: %d", r.status)
	}
	if r := hardSignIn(t, admins[0], attacker, "wrong"); r.status != 401 {
		t.Fatalf("fourth guess: %d", r.status)
	}
	r := hardSignIn(t, admins[0], attacker, hardToken)
	if r.status != 429 || !strings.Contains(r.body, "Too many failed sign-ins") || r.retry == "" {
		t.Fatalf("locked sign-in: %d %q %s", r.status, r.retry, r.body)
	}
}

// hardCookie signs in at admin and returns the session cookie.
func hardCookie(t *testing.T, admin string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", admin+"/desk/login", strings.NewReader(url.Values{"token": {hardToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "aupguard_desk" && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("sign-in: %d, no cookie", resp.StatusCode)
	return ""
}

var hardCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// hardPage GETs a desk page with the cookie: 200 signed in, 303 to the
// sign-in page when not.
func hardPage(t *testing.T, admin, cookie string) (int, string) {
	t.Helper()
	r := hardDo(t, "GET", admin+"/desk/", "192.0.2.10", map[string]string{"Cookie": "aupguard_desk=" + cookie}, "")
	return r.status, r.body
}

func hardSignOut(t *testing.T, admin, cookie string) {
	t.Helper()
	code, page := hardPage(t, admin, cookie)
	m := hardCSRF.FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("desk page: %d", code)
	}
	r := hardDo(t, "POST", admin+"/desk/logout", "192.0.2.10", map[string]string{
		"Cookie": "aupguard_desk=" + cookie, "Content-Type": "application/x-www-form-urlencoded"}, url.Values{"csrf": {m[1]}}.Encode())
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d %s", r.status, r.body)
	}
}

// A desk session signed out on one replica is dead on the other at once,
// and on a replica started afterwards; one not signed out works on both.
func TestDeskSignOutHoldsOnEveryReplica(t *testing.T) {
	_, admins, _, srv := hardGateways(t, 2, "")
	out, kept := hardCookie(t, admins[0]), hardCookie(t, admins[0])
	for _, a := range admins {
		if code, _ := hardPage(t, a, out); code != 200 {
			t.Fatalf("signed in at %s: %d", a, code)
		}
	}
	hardSignOut(t, admins[0], out)
	for _, a := range admins {
		if code, _ := hardPage(t, a, out); code != http.StatusSeeOther {
			t.Errorf("signed-out cookie replayed at %s: %d", a, code)
		}
		if code, _ := hardPage(t, a, kept); code != 200 {
			t.Errorf("the other session at %s: %d", a, code)
		}
	}
	// A replica started afterwards (or after a restart) on the same Redis.
	fresh := hardGatewayOn(t, srv.URL())
	if code, _ := hardPage(t, fresh, out); code != http.StatusSeeOther {
		t.Errorf("signed-out cookie after a restart: %d", code)
	}
	if code, _ := hardPage(t, fresh, kept); code != 200 {
		t.Errorf("kept session after a restart: %d", code)
	}
}

// With the embedded store, sign-out survives a restart of the gateway.
func TestDeskSignOutSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	store := "bolt://" + filepath.Join(dir, "aupguard.db")
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	cfg := func() *config.Config {
		y := fmt.Sprintf(`
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
apps: [{name: web, key: %s}]
admin_tokens: [{name: ops, role: admin, token: %s}]
`, store, filepath.Join(dir, "spool"), filepath.Join(dir, "signing.key"), hardAppKey, hardToken)
		c, err := config.Parse([]byte(y), "harden-test")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	_, _, admin, stop := runGateway(t, cfg(), slog.New(slog.DiscardHandler))
	cookie := hardCookie(t, admin)
	hardSignOut(t, admin, cookie)
	stop()
	_, _, admin, _ = runGateway(t, cfg(), slog.New(slog.DiscardHandler))
	if code, _ := hardPage(t, admin, cookie); code != http.StatusSeeOther {
		t.Fatalf("signed-out cookie after a restart: %d", code)
	}
	if code, _ := hardPage(t, admin, hardCookie(t, admin)); code != 200 {
		t.Fatalf("a new session: %d", code)
	}
}

// hardGatewayOn starts one more gateway on the store URL.
func hardGatewayOn(t *testing.T, storeURL string) (admin string) {
	t.Helper()
	dir := t.TempDir()
	y := fmt.Sprintf(`
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
apps: [{name: web, key: %s}]
admin_tokens: [{name: ops, role: admin, token: %s}]
`, storeURL, filepath.Join(dir, "spool"), filepath.Join(dir, "signing.key"), hardAppKey, hardToken)
	cfg, err := config.Parse([]byte(y), "harden-test")
	if err != nil {
		t.Fatal(err)
	}
	_, _, admin, _ = runGateway(t, cfg, slog.New(slog.DiscardHandler))
	return admin
}
