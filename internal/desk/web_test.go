package desk

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

const xss = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// TestXSSEscaped puts markup in every user-supplied string the pages show
// (user id, app, excerpt, categories, rules, model, reasons) and checks
// each renders as text.
func TestXSSEscaped(t *testing.T) {
	e := newEnv(t)
	user := `evil<script>alert(1)</script>"'&`
	r := store.Report{
		ID: "R-XSS", Time: time.Now().UTC(), App: "web", User: user, Pseudonym: "p<script>",
		Source: "request<b>", Action: "block", Categories: []string{"cat<script>alert(2)</script>"},
		Rules: []string{"rule<script>"}, Strike: 1, Model: "model<script>", Digest: "<script>", Length: 3, Excerpt: xss,
		Unscanned: map[string]int{"image_url": 2, "kind<script>": 1},
	}
	if _, err := e.st.AddReport(t.Context(), r, policy); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do("POST", "/admin/v1/users/"+url.PathEscape(user)+"/actions", tokReviewer, map[string]any{"action": "note", "reason": "note " + xss})
	if resp.StatusCode != 200 {
		t.Fatalf("note: %d %s", resp.StatusCode, body)
	}

	b := e.browser()
	b.login(tokReviewer)
	pages := map[string]string{}
	_, pages["queue"] = b.get("/desk/")
	_, pages["case"] = b.get("/desk/users/" + url.PathEscape(user) + "?app=web")
	_, pages["audit"] = b.get("/desk/audit")
	_, pages["overview"] = b.get("/desk/overview")
	// The error path echoes the form back.
	csrf := b.csrf("/desk/")
	_, pages["case-error"] = b.post("/desk/users/"+url.PathEscape(user)+"/actions", url.Values{"csrf": {csrf}, "app": {"web"}, "action": {"suspend"}, "reason": {xss}}, nil)

	scripts := regexp.MustCompile(`(?i)<script[^>]*>`)
	for name, p := range pages {
		// The only script tag is the page's own, with a src.
		for _, m := range scripts.FindAllString(p, -1) {
			if m != `<script src="/desk/static/desk.js" defer>` {
				t.Errorf("%s: unescaped %s", name, m)
			}
		}
		if strings.Contains(p, "<img src=x") || strings.Contains(p, "<b>") {
			t.Errorf("%s: unescaped markup", name)
		}
	}
	if !strings.Contains(pages["case"], "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("case page does not show the excerpt as text")
	}
	if !strings.Contains(pages["case"], "not inspected: image_url 2, kind&lt;script&gt; 1") {
		t.Error("case page does not show the report's unscanned parts (as text)")
	}
	for _, name := range []string{"queue", "case", "audit"} {
		if !strings.Contains(pages[name], "evil&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s page does not show the user id as text", name)
		}
	}
	// Links carry the id percent-encoded, so it cannot break out of the attribute.
	if !strings.Contains(pages["queue"], `href="/desk/users/evil%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27&amp;?app=web"`) &&
		!strings.Contains(pages["queue"], `href="/desk/users/evil%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%26?app=web"`) {
		t.Errorf("queue link not encoded: %s", regexp.MustCompile(`href="/desk/users/[^"]*"`).FindString(pages["queue"]))
	}
	if !strings.Contains(pages["case-error"], "suspend needs a duration") {
		t.Errorf("the case page with an error did not render the error")
	}
}

func TestSecurityHeadersAndCookie(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionTTL = time.Hour })
	b := e.browser()
	resp, _ := b.get("/desk/login")
	if c := resp.Header.Get("Content-Security-Policy"); !strings.Contains(c, "default-src 'self'") || strings.Contains(c, "unsafe") {
		t.Errorf("CSP %q", c)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if resp.Header.Get(h) != want {
			t.Errorf("%s = %q", h, resp.Header.Get(h))
		}
	}

	resp, body := b.post("/desk/login", url.Values{"token": {"wrong-token-0123456789"}}, nil)
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 || !strings.Contains(body, "not valid") {
		t.Errorf("bad login: %d cookies=%v", resp.StatusCode, resp.Cookies())
	}

	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		secure bool
	}{
		{"plain http", nil, false},
		{"behind TLS proxy", map[string]string{"X-Forwarded-Proto": "https"}, true},
	} {
		resp, _ = b.post("/desk/login", url.Values{"token": {tokAuditor}}, tc.hdr)
		var ck *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == cookieName {
				ck = c
			}
		}
		if ck == nil {
			t.Fatalf("%s: no session cookie", tc.name)
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tc.secure || ck.Path != "/desk" || ck.MaxAge != 3600 {
			t.Errorf("%s: cookie %+v", tc.name, ck)
		}
		if strings.Contains(ck.Value, tokAuditor) || strings.Contains(ck.Value, sha256Hex(tokAuditor)) {
			t.Errorf("%s: the cookie holds the token", tc.name)
		}
	}
	// Static assets come from the binary.
	for _, p := range []string{"/desk/static/desk.css", "/desk/static/desk.js", "/desk/static/logo.svg"} {
		resp, body := b.get(p)
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := b.get("/desk/static/../templates/case.html"); resp.StatusCode != 404 {
		t.Errorf("static traversal: %d", resp.StatusCode)
	}
}

func TestSessionExpiryTamperLogout(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(o *Options) {
		o.SessionTTL = time.Hour
		o.Clock = func() time.Time { return now }
	})
	b := e.browser()
	b.login(tokReviewer)
	if resp, _ := b.get("/desk/"); resp.StatusCode != 200 {
		t.Fatalf("signed in: %d", resp.StatusCode)
	}
	u, _ := url.Parse(e.srv.URL + "/desk/")
	orig := b.jr.Cookies(u)[0].Value

	// A cookie signed for one token cannot be renamed to another.
	payload, sig, _ := strings.Cut(orig, ".")
	js, _ := b64.DecodeString(payload)
	forged := b64.EncodeToString([]byte(strings.Replace(string(js), `"rita"`, `"adam"`, 1))) + "." + sig
	b.jr.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: forged, Path: "/desk"}})
	if resp, _ := b.get("/desk/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged cookie: %d", resp.StatusCode)
	}
	b.jr.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: orig, Path: "/desk"}})

	// Expiry: the clock moves past the TTL.
	now = now.Add(2 * time.Hour)
	if resp, _ := b.get("/desk/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: %d", resp.StatusCode)
	}
	now = now.Add(-2 * time.Hour)

	// Logout revokes the session even if the cookie is replayed.
	csrf := b.csrf("/desk/")
	resp, _ := b.post("/desk/logout", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/desk/login" {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	b.jr.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: orig, Path: "/desk"}})
	if resp, _ := b.get("/desk/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed cookie after logout: %d", resp.StatusCode)
	}

	// A token removed from the configuration ends its sessions.
	b2 := e.browser()
	b2.login(tokReviewer)
	e.desk.tokens = e.desk.tokens[1:]
	if resp, _ := b2.get("/desk/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session of a removed token: %d", resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	e.report("web", "carl", []string{"hate"}, "")
	path := "/desk/users/carl/actions?app=web"
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "app": {"web"}, "action": {"warn"}, "reason": {"csrf test"}}
	}

	alice := e.browser()
	alice.login(tokReviewer)
	good := alice.csrf("/desk/users/carl?app=web")
	other := e.browser()
	other.login(tokAdmin)
	othersToken := other.csrf("/desk/")
	// A second session of the same token gets a different CSRF token.
	same := e.browser()
	same.login(tokReviewer)
	sameTokenOtherSession := same.csrf("/desk/")
	if sameTokenOtherSession == good {
		t.Fatal("two sessions share a CSRF token")
	}

	origin := strings.TrimSuffix(e.srv.URL, "/")
	cases := []struct {
		name string
		csrf string
		hdr  map[string]string
		want int
	}{
		{"no token", "", nil, 403},
		{"wrong token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, 403},
		{"another session's token", othersToken, nil, 403},
		{"same token name, other session", sameTokenOtherSession, nil, 403},
		{"right token, foreign Origin", good, map[string]string{"Origin": "https://evil.example"}, 403},
		{"right token, Origin null", good, map[string]string{"Origin": "null"}, 403},
		{"right token, foreign Referer", good, map[string]string{"Referer": "https://evil.example/x"}, 403},
		{"right token", good, nil, 303},
		{"right token, own Origin", good, map[string]string{"Origin": origin}, 303},
		{"right token, own Referer", good, map[string]string{"Referer": origin + "/desk/users/carl"}, 303},
	}
	for _, c := range cases {
		before := len(e.actor.actions())
		resp, body := alice.post(path, form(c.csrf), c.hdr)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d: %.200s", c.name, resp.StatusCode, c.want, body)
		}
		acted := len(e.actor.actions()) > before
		if acted != (c.want == 303) {
			t.Errorf("%s: acted = %v", c.name, acted)
		}
	}
	// Logout is a POST too.
	if resp, _ := alice.post("/desk/logout", url.Values{}, nil); resp.StatusCode != 403 {
		t.Errorf("logout without CSRF: %d", resp.StatusCode)
	}
	// Sign-in from a foreign page is refused.
	if resp, _ := e.browser().post("/desk/login", url.Values{"token": {tokReviewer}}, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != 403 {
		t.Errorf("cross-site sign-in: %d", resp.StatusCode)
	}
}

func TestCasePageForms(t *testing.T) {
	e := newEnv(t)
	id := e.report("web", "dana", []string{"hate"}, "")
	e.report("web", "dana", []string{"harassment"}, "")

	aud := e.browser()
	aud.login(tokAuditor)
	_, page := aud.get("/desk/users/dana?app=web")
	if strings.Contains(page, `id="act"`) || strings.Contains(page, `name="report_ids"`) {
		t.Error("the auditor sees action forms")
	}
	if !strings.Contains(page, "hate") || !strings.Contains(page, "dana") {
		t.Error("case page lacks the case")
	}

	rev := e.browser()
	rev.login(tokReviewer)
	_, page = rev.get("/desk/users/dana?app=web")
	if !strings.Contains(page, `id="act"`) {
		t.Fatal("the reviewer sees no action form")
	}
	csrf := csrfRE.FindStringSubmatch(page)[1]
	resp, _ := rev.post("/desk/users/dana/actions", url.Values{"csrf": {csrf}, "app": {"web"}, "action": {"suspend"}, "duration": {"36h"}, "reason": {"first strike"}, "report_ids": {id}}, nil)
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/desk/users/dana?app=web") {
		t.Fatalf("suspend via form: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	st, _ := e.st.GetStanding(t.Context(), "web", "dana")
	if st.Status != store.Suspended || st.Unreviewed != 1 {
		t.Errorf("standing after form: %+v", st)
	}
	_, page = rev.get(resp.Header.Get("Location"))
	if !strings.Contains(page, "Recorded: suspend.") || !strings.Contains(page, "first strike") {
		t.Error("the case page does not show the recorded action")
	}

	// Ambiguous ids get a chooser; unknown ones a 404.
	e.report("mobile", "dana", []string{"hate"}, "")
	resp, page = rev.get("/desk/users/dana")
	if resp.StatusCode != 409 || !strings.Contains(page, "/desk/users/dana?app=mobile") {
		t.Errorf("chooser: %d", resp.StatusCode)
	}
	if resp, _ := rev.get("/desk/users/nobody"); resp.StatusCode != 404 {
		t.Errorf("unknown user page: %d", resp.StatusCode)
	}
}

func TestOverviewChart(t *testing.T) {
	e := newEnv(t)
	e.report("web", "a", []string{"hate", "harassment"}, "")
	e.report("web", "b", []string{"hate"}, "")
	b := e.browser()
	b.login(tokAuditor)
	resp, page := b.get("/desk/overview?days=7")
	if resp.StatusCode != 200 {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	if !strings.Contains(page, `<svg xmlns="http://www.w3.org/2000/svg"`) || strings.Count(page, `class="bar"`) != 2 {
		t.Errorf("chart: %d bars", strings.Count(page, `class="bar"`))
	}
	if !strings.Contains(page, "hate: 2") || !strings.Contains(page, "harassment: 1") {
		t.Error("bar titles do not carry the counts")
	}
	if !strings.Contains(page, `id="export"`) {
		t.Error("the auditor sees no export form")
	}
	rev := e.browser()
	rev.login(tokReviewer)
	if _, page := rev.get("/desk/overview"); strings.Contains(page, `id="export"`) {
		t.Error("the reviewer sees the export form")
	}
	if resp, _ := b.get("/desk/overview?days=1000"); resp.StatusCode != 400 {
		t.Errorf("days=1000: %d", resp.StatusCode)
	}
	resp, _ = b.get("/desk/export?since=7d")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Errorf("page export: %d", resp.StatusCode)
	}
	// Empty period.
	empty := newEnv(t)
	eb := empty.browser()
	eb.login(tokAdmin)
	if _, page := eb.get("/desk/overview"); !strings.Contains(page, "no reports in this period") {
		t.Error("empty chart not labelled")
	}
}

func TestChartGeometry(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dc := dayCounts{Start: start, Days: []map[string]int{{"a": 4}, {}, {"a": 1, "b": 3}}}
	ch := buildChart(dc)
	if len(ch.Bars) != 3 || len(ch.Legend) != 2 || ch.Empty {
		t.Fatalf("chart %+v", ch)
	}
	// The two days with 4 reports reach the same height.
	top0 := ch.Bars[0].Y
	top2 := min(ch.Bars[1].Y, ch.Bars[2].Y)
	if diff := top0 - top2; diff > 1 || diff < -1 {
		t.Errorf("stack heights differ: %d vs %d", top0, top2)
	}
	for _, b := range ch.Bars {
		if b.Y < ch.PlotY || b.Y+b.H > ch.PlotY+ch.PlotH {
			t.Errorf("bar outside the plot: %+v", b)
		}
	}
}

func TestLoginBodyLimit(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Post(e.srv.URL+"/desk/login", "application/x-www-form-urlencoded", strings.NewReader("token="+strings.Repeat("a", 20<<10)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("huge login form: %d", resp.StatusCode)
	}
}
