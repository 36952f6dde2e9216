package desk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

type errBody struct {
	Error struct {
		Code     int            `json:"code"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	} `json:"error"`
}

func decodeErr(t *testing.T, b []byte) errBody {
	t.Helper()
	var e errBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	return e
}

// TestRoleMatrix checks every API endpoint and every desk page for every
// role, without a token and with a bad one.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	e.report("web", "u1", []string{"harassment"}, "")

	const (
		read = iota
		act
		export
	)
	type endpoint struct {
		method, path string
		body         any
		kind         int
	}
	actBody := map[string]any{"action": "note", "reason": "matrix test"}
	api := []endpoint{
		{"GET", "/admin/v1/queue", nil, read},
		{"GET", "/admin/v1/queue?status=active&category=harassment&app=web", nil, read},
		{"GET", "/admin/v1/users?pseudonym=p_web_u1", nil, read},
		{"GET", "/admin/v1/users/u1", nil, read},
		{"GET", "/admin/v1/users/u1?app=web", nil, read},
		{"POST", "/admin/v1/users/u1/actions", actBody, act},
		{"GET", "/admin/v1/reports", nil, read},
		{"GET", "/admin/v1/reports?user=u1&category=harassment&since=24h", nil, read},
		{"GET", "/admin/v1/audit", nil, read},
		{"GET", "/admin/v1/export", nil, export},
		{"GET", "/admin/v1/export?since=7d&category=harassment", nil, export},
	}
	roles := []struct {
		name, tok string
	}{
		{"reviewer", tokReviewer}, {"auditor", tokAuditor}, {"admin", tokAdmin},
		{"no token", ""}, {"bad token", "not-a-real-token-at-all"},
		{"basic auth", ""},
	}
	allowed := map[string][3]bool{ // read, act, export
		"reviewer": {true, true, false},
		"auditor":  {true, false, true},
		"admin":    {true, true, true},
	}
	for _, ep := range api {
		for _, r := range roles {
			t.Run(r.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				var resp *http.Response
				var body []byte
				if r.name == "basic auth" {
					req, _ := http.NewRequest(ep.method, e.srv.URL+ep.path, nil)
					req.SetBasicAuth("rita", tokReviewer)
					resp, _ = e.srv.Client().Do(req)
					resp.Body.Close()
				} else {
					resp, body = e.do(ep.method, ep.path, r.tok, ep.body)
				}
				want := http.StatusUnauthorized
				if p, ok := allowed[r.name]; ok {
					want = http.StatusForbidden
					if p[ep.kind] {
						want = http.StatusOK
					}
				}
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
				}
				switch want {
				case http.StatusUnauthorized:
					if resp.Header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
					if body != nil {
						eb := decodeErr(t, body)
						if eb.Error.Code != 401 || eb.Error.Metadata["reason"] != "unauthorized" || eb.Error.Metadata["provider_name"] != "aupguard" {
							t.Errorf("401 body %s", body)
						}
					}
				case http.StatusForbidden:
					eb := decodeErr(t, body)
					if eb.Error.Code != 403 || eb.Error.Metadata["reason"] != "forbidden" || eb.Error.Metadata["provider_name"] != "aupguard" {
						t.Errorf("403 body %s", body)
					}
				case http.StatusOK:
					if ep.kind == export {
						if ct := resp.Header.Get("Content-Type"); ct != "application/gzip" {
							t.Errorf("export content type %q", ct)
						}
					} else if !json.Valid(body) {
						t.Errorf("not JSON: %s", body)
					}
				}
			})
		}
	}

	// The page: the same table through a session.
	pages := []endpoint{
		{"GET", "/desk/", nil, read},
		{"GET", "/desk/overview", nil, read},
		{"GET", "/desk/audit", nil, read},
		{"GET", "/desk/users/u1?app=web", nil, read},
		{"POST", "/desk/users/u1/actions?app=web", nil, act},
		{"GET", "/desk/export?since=7d", nil, export},
	}
	for _, ep := range pages {
		for _, r := range roles[:4] {
			t.Run("page "+r.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				b := e.browser()
				csrf := ""
				if r.tok != "" {
					b.login(r.tok)
					csrf = b.csrf("/desk/")
				}
				var resp *http.Response
				var body string
				if ep.method == "POST" {
					resp, body = b.post(ep.path, url.Values{"csrf": {csrf}, "app": {"web"}, "action": {"note"}, "reason": {"matrix"}}, nil)
				} else {
					resp, body = b.get(ep.path)
				}
				var want int
				switch p, ok := allowed[r.name]; {
				case !ok && ep.method == "GET":
					want = http.StatusSeeOther // to the sign-in page
				case !ok:
					want = http.StatusForbidden
				case !p[ep.kind]:
					want = http.StatusForbidden
				case ep.method == "POST":
					want = http.StatusSeeOther // back to the case
				default:
					want = http.StatusOK
				}
				if resp.StatusCode != want {
					t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, want, body)
				}
				if want == http.StatusSeeOther && !ok(r.name) && resp.Header.Get("Location") != "/desk/login" {
					t.Errorf("redirect to %q, want /desk/login", resp.Header.Get("Location"))
				}
			})
		}
	}
}

func ok(role string) bool { return role == "reviewer" || role == "auditor" || role == "admin" }

func TestActions(t *testing.T) {
	e := newEnv(t)
	r1 := e.report("web", "bob", []string{"harassment"}, "")
	e.report("web", "bob", []string{"hate"}, "")

	cases := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"no reason", map[string]any{"action": "warn"}, 400, "reason is required"},
		{"blank reason", map[string]any{"action": "warn", "reason": "   "}, 400, "reason is required"},
		{"suspend without duration", map[string]any{"action": "suspend", "reason": "x"}, 400, "duration"},
		{"bad duration", map[string]any{"action": "suspend", "reason": "x", "duration": "soon"}, 400, "duration"},
		{"negative duration", map[string]any{"action": "suspend", "reason": "x", "duration": "-1h"}, 400, "positive"},
		{"duration on ban", map[string]any{"action": "ban", "reason": "x", "duration": "1h"}, 400, "only to suspend"},
		{"unknown action", map[string]any{"action": "delete", "reason": "x"}, 400, "not warn"},
		{"unknown field", map[string]any{"action": "warn", "reason": "x", "durration": "1h"}, 400, "unknown field"},
		{"not JSON", "action=warn", 400, "JSON"},
		{"too large", map[string]any{"action": "note", "reason": strings.Repeat("x", 70<<10)}, 413, "larger"},
	}
	for _, c := range cases {
		resp, body := e.do("POST", "/admin/v1/users/bob/actions", tokReviewer, c.body)
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.msg) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, resp.StatusCode, body, c.status, c.msg)
		}
		if resp.StatusCode == 400 && decodeErr(t, body).Error.Metadata["reason"] != "invalid_request" {
			t.Errorf("%s: reason %s", c.name, body)
		}
	}
	if n := len(e.actor.actions()); n != 0 {
		t.Fatalf("%d invalid actions reached the actor", n)
	}
	// Report ids are checked by the store, which refuses the whole action.
	resp, body := e.do("POST", "/admin/v1/users/bob/actions", tokReviewer, map[string]any{"action": "dismiss", "reason": "x", "report_ids": []string{"nope"}})
	if resp.StatusCode != 404 || !strings.Contains(string(body), "nope") {
		t.Errorf("unknown report: %d %s", resp.StatusCode, body)
	}
	e.actor.mu.Lock()
	e.actor.got = nil
	e.actor.mu.Unlock()

	// Suspend one report's worth: the actor gets the reviewer's token name.
	resp, body = e.do("POST", "/admin/v1/users/bob/actions", tokReviewer,
		map[string]any{"action": "suspend", "duration": "2d", "reason": "repeated harassment", "report_ids": []string{r1}})
	if resp.StatusCode != 200 {
		t.Fatalf("suspend: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Action   deskapi.Action `json:"action"`
		Standing store.Standing `json:"standing"`
	}
	json.Unmarshal(body, &out)
	if out.Standing.Status != store.Suspended || out.Action.Duration != "2d" || out.Action.Actor != "rita" || out.Standing.Unreviewed != 1 ||
		out.Action.Before != store.Active || out.Action.After != store.Suspended || len(out.Action.ReportIDs) != 1 || out.Action.Until.IsZero() {
		t.Errorf("suspend answer %s", body)
	}
	got := e.actor.actions()
	if len(got) != 1 || got[0].Actor != "rita" || got[0].App != "web" || got[0].User != "bob" || got[0].Duration != 48*time.Hour || got[0].Reason != "repeated harassment" {
		t.Fatalf("actor got %+v", got)
	}

	// Banning twice: the second changes nothing, succeeds, and is recorded.
	for i := 0; i < 2; i++ {
		resp, body = e.do("POST", "/admin/v1/users/bob/actions?app=web", tokAdmin, map[string]any{"action": "ban", "reason": "ban evasion"})
		if resp.StatusCode != 200 {
			t.Fatalf("ban %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body = e.do("GET", "/admin/v1/audit", tokAuditor, nil)
	var audit store.Page[deskapi.Action]
	json.Unmarshal(body, &audit)
	if len(audit.Items) != 3 || audit.Items[0].Before != store.Banned || audit.Items[0].After != store.Banned || audit.Items[0].Actor != "adam" {
		t.Errorf("audit after ban twice: %s", body)
	}

	// The case shows actions and notes apart.
	e.do("POST", "/admin/v1/users/bob/actions", tokReviewer, map[string]any{"action": "note", "reason": "called the app owner"})
	resp, body = e.do("GET", "/admin/v1/users/bob", tokReviewer, nil)
	var cv deskapi.Case
	json.Unmarshal(body, &cv)
	if resp.StatusCode != 200 || cv.Standing.Status != store.Banned || len(cv.Actions) != 3 || len(cv.Notes) != 1 || cv.Notes[0].Reason != "called the app owner" || len(cv.Reports) != 2 {
		t.Errorf("case: %d %s", resp.StatusCode, body)
	}
}

func TestAmbiguousAndUnknownUsers(t *testing.T) {
	e := newEnv(t)
	e.report("web", "sam", []string{"hate"}, "")
	e.report("mobile", "sam", []string{"hate"}, "")

	resp, body := e.do("GET", "/admin/v1/users/sam", tokReviewer, nil)
	eb := decodeErr(t, body)
	apps, _ := eb.Error.Metadata["apps"].([]any)
	if resp.StatusCode != 409 || eb.Error.Metadata["reason"] != "ambiguous_user" || len(apps) != 2 {
		t.Errorf("ambiguous GET: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/admin/v1/users/sam/actions", tokReviewer, map[string]any{"action": "warn", "reason": "x"})
	if resp.StatusCode != 409 {
		t.Errorf("ambiguous POST: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/admin/v1/reports?user=sam", tokReviewer, nil)
	if resp.StatusCode != 409 {
		t.Errorf("ambiguous reports: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/admin/v1/users/sam?app=mobile", tokReviewer, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"app":"mobile"`) {
		t.Errorf("with app: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/admin/v1/users/sam/actions", tokReviewer, map[string]any{"action": "warn", "reason": "x", "app": "mobile"})
	if resp.StatusCode != 200 {
		t.Errorf("app in body: %d %s", resp.StatusCode, body)
	}

	// Unknown ids: 404 to read; acting needs the app named.
	resp, _ = e.do("GET", "/admin/v1/users/nobody", tokReviewer, nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown user: %d", resp.StatusCode)
	}
	resp, _ = e.do("GET", "/admin/v1/users/nobody?app=web", tokReviewer, nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown user in app: %d", resp.StatusCode)
	}
	resp, _ = e.do("POST", "/admin/v1/users/nobody/actions", tokReviewer, map[string]any{"action": "ban", "reason": "named in an abuse notice"})
	if resp.StatusCode != 404 {
		t.Errorf("act on unknown user without app: %d", resp.StatusCode)
	}
	resp, body = e.do("POST", "/admin/v1/users/nobody/actions?app=web", tokReviewer, map[string]any{"action": "ban", "reason": "named in an abuse notice"})
	if resp.StatusCode != 200 {
		t.Errorf("act on unknown user with app: %d %s", resp.StatusCode, body)
	}

	// An id with a slash and other URL-special characters is one id.
	odd := "org/42?x=1#frag %"
	e.report("web", odd, []string{"hate"}, "")
	resp, body = e.do("GET", "/admin/v1/users/"+url.PathEscape(odd), tokReviewer, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"user":"org/42?x=1#frag %"`) {
		t.Errorf("odd id: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/admin/v1/users/"+url.PathEscape(odd)+"/actions", tokReviewer, map[string]any{"action": "warn", "reason": "x"})
	if resp.StatusCode != 200 {
		t.Errorf("odd id action: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do("POST", "/admin/v1/users/sam/other", tokReviewer, map[string]any{"action": "warn", "reason": "x"})
	if resp.StatusCode != 404 {
		t.Errorf("unknown sub-route: %d", resp.StatusCode)
	}
}

func TestPseudonymQueueReports(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.report("web", "heavy", []string{"violent_crime_and_terrorism"}, "")
	}
	e.report("web", "light", []string{"harassment"}, "")
	e.report("mobile", "other", []string{"harassment"}, "")

	resp, body := e.do("GET", "/admin/v1/users?pseudonym=p_web_heavy", tokAuditor, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"user":"heavy"`) || !strings.Contains(string(body), `"app":"web"`) {
		t.Errorf("pseudonym: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/admin/v1/users?pseudonym=p_unknown", tokAuditor, nil); resp.StatusCode != 404 {
		t.Errorf("unknown pseudonym: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/admin/v1/users", tokAuditor, nil); resp.StatusCode != 400 {
		t.Errorf("users without a filter: %d", resp.StatusCode)
	}

	var q store.Page[map[string]any]
	_, body = e.do("GET", "/admin/v1/queue", tokReviewer, nil)
	json.Unmarshal(body, &q)
	if len(q.Items) != 3 || q.Items[0]["user"] != "heavy" {
		t.Fatalf("queue: %s", body)
	}
	for _, k := range []string{"user", "app", "risk", "status", "reports", "categories", "last_report_at"} {
		if _, ok := q.Items[0][k]; !ok {
			t.Errorf("queue item lacks %q: %s", k, body)
		}
	}
	_, body = e.do("GET", "/admin/v1/queue?category=harassment&app=web", tokReviewer, nil)
	json.Unmarshal(body, &q)
	if len(q.Items) != 1 || q.Items[0]["user"] != "light" {
		t.Errorf("filtered queue: %s", body)
	}
	_, body = e.do("GET", "/admin/v1/queue?risk=2", tokReviewer, nil)
	json.Unmarshal(body, &q)
	if len(q.Items) != 1 || q.Items[0]["user"] != "heavy" {
		t.Errorf("queue risk>=2: %s", body)
	}
	// Cursor pages cover the queue exactly once.
	var seen []string
	cursor := ""
	for i := 0; i < 10; i++ {
		_, body = e.do("GET", "/admin/v1/queue?limit=1&cursor="+url.QueryEscape(cursor), tokReviewer, nil)
		q = store.Page[map[string]any]{}
		json.Unmarshal(body, &q)
		for _, it := range q.Items {
			seen = append(seen, it["app"].(string)+"/"+it["user"].(string))
		}
		if cursor = q.Next; cursor == "" {
			break
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"mobile/other", "web/heavy", "web/light"}) {
		t.Errorf("paged queue: %v", seen)
	}
	for _, bad := range []string{"status=gone", "risk=x", "cursor=%21%21", "limit=-1"} {
		if resp, body := e.do("GET", "/admin/v1/queue?"+bad, tokReviewer, nil); resp.StatusCode != 400 {
			t.Errorf("queue?%s: %d %s", bad, resp.StatusCode, body)
		}
	}

	var reps store.Page[store.Report]
	_, body = e.do("GET", "/admin/v1/reports?category=harassment", tokReviewer, nil)
	json.Unmarshal(body, &reps)
	if len(reps.Items) != 2 {
		t.Errorf("reports by category: %s", body)
	}
	_, body = e.do("GET", "/admin/v1/reports?user=heavy", tokReviewer, nil)
	json.Unmarshal(body, &reps)
	if len(reps.Items) != 3 {
		t.Errorf("reports by user: %s", body)
	}
	_, body = e.do("GET", "/admin/v1/reports?until=2000-01-01", tokReviewer, nil)
	json.Unmarshal(body, &reps)
	if len(reps.Items) != 0 {
		t.Errorf("reports until 2000: %s", body)
	}
	if resp, _ := e.do("GET", "/admin/v1/reports?since=yesterday", tokReviewer, nil); resp.StatusCode != 400 {
		t.Errorf("bad since: %d", resp.StatusCode)
	}
}

func TestZDRShowsNoContent(t *testing.T) {
	for _, zdr := range []bool{false, true} {
		e := newEnv(t, func(o *Options) { o.ZDR = zdr })
		e.report("web", "z", []string{"hate"}, "SOME PROMPT TEXT")
		_, caseBody := e.do("GET", "/admin/v1/users/z", tokReviewer, nil)
		_, repBody := e.do("GET", "/admin/v1/reports", tokReviewer, nil)
		b := e.browser()
		b.login(tokReviewer)
		_, page := b.get("/desk/users/z?app=web")
		for name, s := range map[string]string{"case": string(caseBody), "reports": string(repBody), "page": page} {
			if has := strings.Contains(s, "SOME PROMPT TEXT"); has == zdr {
				t.Errorf("zdr=%v: %s contains the excerpt: %v", zdr, name, has)
			}
		}
	}
}

func TestExport(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do("GET", "/admin/v1/export?since=2026-01-01&until=2026-02-01T00:00:00Z&user=u&category=hate&app=web", tokAuditor, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" || !strings.Contains(resp.Header.Get("Content-Disposition"), ".tar.gz") || len(body) == 0 {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	f := e.exp.last
	if f.Since != time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) || f.Until != time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) || f.User != "u" || f.Category != "hate" || f.App != "web" {
		t.Errorf("filter %+v", f)
	}
	if resp, _ := e.do("GET", "/admin/v1/export?since=2026-02-01&until=2026-01-01", tokAuditor, nil); resp.StatusCode != 400 {
		t.Errorf("since after until: %d", resp.StatusCode)
	}
	none := newEnv(t, func(o *Options) { o.Exporter = nil })
	if resp, _ := none.do("GET", "/admin/v1/export", tokAdmin, nil); resp.StatusCode != 501 {
		t.Errorf("no exporter: %d", resp.StatusCode)
	}
}

func TestNewRejectsBadTokens(t *testing.T) {
	e := newEnv(t)
	bad := [][]struct{ n, r, tok, sha string }{
		{{"", "admin", "t1-0123456789abcdef", ""}},
		{{"a", "root", "t1-0123456789abcdef", ""}},
		{{"a", "admin", "", ""}},
		{{"a", "admin", "t1-0123456789abcdef", sha256Hex("x")}},
		{{"a", "admin", "", "zz"}},
		{{"a", "admin", "t1-0123456789abcdef", ""}, {"a", "auditor", "t2-0123456789abcdef", ""}},
		{{"a", "admin", "t1-0123456789abcdef", ""}, {"b", "auditor", "", sha256Hex("t1-0123456789abcdef")}},
	}
	for i, toks := range bad {
		o := Options{Store: e.st, Logger: quietLog()}
		for _, x := range toks {
			o.Tokens = append(o.Tokens, configToken(x.n, x.r, x.tok, x.sha))
		}
		if _, err := New(o); err == nil {
			t.Errorf("case %d: New accepted %+v", i, toks)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a store")
	}
	// Without a session key, the key comes from the store, so two desks
	// on one store accept each other's cookies.
	d1, err1 := New(Options{Store: e.st, Tokens: testTokens})
	d2, err2 := New(Options{Store: e.st, Tokens: testTokens})
	if err1 != nil || err2 != nil || string(d1.key) != string(d2.key) || len(d1.key) < 16 {
		t.Errorf("session keys from the store differ: %v %v", err1, err2)
	}
}

// An automatic escalation shows the categories of the report it cites;
// a reviewer's action shows none (its reports are listed with the case).
func TestEscalationShowsCategories(t *testing.T) {
	e := newEnv(t)
	r := store.Report{ID: store.NewID(time.Now()), Time: time.Now().UTC(), App: "web", User: "eve", Pseudonym: "p_web_eve",
		Source: "request", DecisionID: "dec-9", Action: "block", Categories: []string{"mass_casualty_weapons"}, Severity: "critical",
		Strike: 1, PolicyHash: "ph", Digest: strings.Repeat("cd", 32), Escalation: "ban"}
	if _, err := e.st.AddReport(context.Background(), r, policy); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/admin/v1/users/eve/actions", tokReviewer, map[string]any{"action": "note", "reason": "seen"})
	resp, body := e.do("GET", "/admin/v1/users/eve", tokReviewer, nil)
	var cv deskapi.Case
	json.Unmarshal(body, &cv)
	if resp.StatusCode != 200 || len(cv.Actions) != 1 || cv.Actions[0].Action != store.ActBan ||
		fmt.Sprint(cv.Actions[0].Categories) != "[mass_casualty_weapons]" || len(cv.Notes) != 1 || cv.Notes[0].Categories != nil {
		t.Fatalf("case: %d %s", resp.StatusCode, body)
	}
}
