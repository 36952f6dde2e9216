package desk

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// Tokens of the test desk, one per role.
const (
	tokReviewer = "reviewer-token-0123456789"
	tokAuditor  = "auditor-token-0123456789"
	tokAdmin    = "admin-token-0123456789abc"
)

var testTokens = []config.AdminToken{
	{Name: "rita", Role: RoleReviewer, Token: tokReviewer},
	{Name: "audra", Role: RoleAuditor, Token: tokAuditor},
	// The admin's token is configured by its hash, as an operator may.
	{Name: "adam", Role: RoleAdmin, TokenSHA256: sha256Hex(tokAdmin)},
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// recActor applies actions through the store and remembers them, standing
// in for the enforcer.
type recActor struct {
	st  store.Store
	mu  sync.Mutex
	got []store.Action
}

func (a *recActor) Act(ctx context.Context, x store.Action) (store.Standing, error) {
	a.mu.Lock()
	a.got = append(a.got, x)
	a.mu.Unlock()
	_, st, err := a.st.ApplyAction(ctx, x)
	return st, err
}

func (a *recActor) actions() []store.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]store.Action(nil), a.got...)
}

// fakeExporter writes a small real gzip stream and records the filter.
type fakeExporter struct {
	mu   sync.Mutex
	last ExportFilter
	n    int
}

func (f *fakeExporter) Export(ctx context.Context, w io.Writer, x ExportFilter) error {
	f.mu.Lock()
	f.last, f.n = x, f.n+1
	f.mu.Unlock()
	zw := gzip.NewWriter(w)
	zw.Write([]byte("bundle"))
	return zw.Close()
}

type env struct {
	t     *testing.T
	st    *embedded.Store
	desk  *Desk
	actor *recActor
	exp   *fakeExporter
	srv   *httptest.Server
	now   time.Time
}

type envOpt func(*Options)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "desk.db"), time.Second, store.BuildOptions(store.WithLogger(quietLog())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, actor: &recActor{st: st}, exp: &fakeExporter{}, now: now}
	o := Options{Store: st, Actor: e.actor, Exporter: e.exp, Tokens: testTokens, Logger: quietLog()}
	for _, f := range opts {
		f(&o)
	}
	e.desk, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.desk.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var policy = store.Policy{HalfLife: 168 * time.Hour, SuspendAt: 100, BanAt: 1000}

// report records a report for (app, user) and returns its id.
func (e *env) report(app, user string, cats []string, excerpt string) string {
	e.t.Helper()
	r := store.Report{
		ID: store.NewID(time.Now()), Time: time.Now().UTC(), App: app, User: user, Pseudonym: "p_" + app + "_" + strings.ReplaceAll(user, "/", "_"),
		Source: "request", DecisionID: "dec-1", Action: "block", Categories: cats, Severity: "high",
		Rules: []string{"rule.1"}, Strike: 1, PolicyHash: "ph", Model: "openai/gpt-4o", Digest: strings.Repeat("ab", 32),
		Length: 42, Excerpt: excerpt,
	}
	// As in the gateway, the version a report cites is stored before it.
	if _, err := e.st.PutPolicyVersion(context.Background(), r.PolicyHash, map[string][]byte{"aup/decision.rego": []byte("package aup\n")}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.AddReport(context.Background(), r, policy); err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

// do makes an API request with a bearer token ("" for none).
func (e *env) do(method, path, tok string, body any) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			js, _ := json.Marshal(b)
			rd = bytes.NewReader(js)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e  *env
	c  *http.Client
	jr *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jr: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.e.t.Helper()
	resp, err := b.c.Get(b.e.srv.URL + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// post submits a form; hdr adds headers (Origin, Referer).
func (b *browser) post(path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// login signs in with tok and checks it worked.
func (b *browser) login(tok string) {
	b.e.t.Helper()
	resp, body := b.post("/desk/login", url.Values{"token": {tok}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/desk/" {
		b.e.t.Fatalf("login: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	_, body := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.e.t.Fatalf("no csrf token on %s", path)
	}
	return m[1]
}

func configToken(name, role, tok, sha string) config.AdminToken {
	return config.AdminToken{Name: name, Role: role, Token: tok, TokenSHA256: sha}
}
