package gateway

// Issue 19's acceptance runs, through the gateway as serve builds it:
// statements of reasons, appeals decided by a second reviewer, abuse
// notices opening cases, roles, bad input and ZDR.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/store"
)

const (
	compWebKey   = "comp-web-app-key-0001"
	compOtherKey = "comp-other-app-key-001"
	compDesk1    = "comp-desk-1-token-0001"
	compDesk2    = "comp-desk-2-token-0001"
	compAuditor  = "comp-auditor-token-001"
)

type compEnv struct {
	t            *testing.T
	g            *Gateway
	proxy, admin string
	fake         *fakeupstream.Server
}

func startCompEnv(t *testing.T, zdr bool) *compEnv {
	t.Helper()
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
zdr: %v
secrets: {signing_key_file: %q}
rate_limits: {end_user_per_minute: 0}
apps: [{name: web, key: %s}, {name: other, key: %s, answer_check: true}]
admin_tokens:
  - {name: desk-1, role: reviewer, token: %s}
  - {name: desk-2, role: reviewer, token: %s}
  - {name: audit-1, role: auditor, token: %s}
appeals: {deadline: 7d, max_text_bytes: 1024}
`, fake.URL, "bolt://"+filepath.Join(dir, "aupguard.db"), filepath.Join(dir, "spool"), zdr,
		filepath.Join(dir, "signing.key"), compWebKey, compOtherKey, compDesk1, compDesk2, compAuditor)
	cfg, err := config.Parse([]byte(y), "compliance-test")
	if err != nil {
		t.Fatal(err)
	}
	g, proxy, admin, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	return &compEnv{t: t, g: g, proxy: proxy, admin: admin, fake: fake}
}

type compResp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r compResp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", r.code, r.body)
	}
	return m
}

// meta is a refusal's error.metadata.
func (r compResp) meta(t *testing.T) map[string]any {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	m, _ := e["metadata"].(map[string]any)
	return m
}

func (e *compEnv) do(method, url, token, body string, hdr ...string) compResp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return compResp{resp.StatusCode, resp.Header, b}
}

func (e *compEnv) chat(key, user, prompt string) compResp {
	msg, _ := json.Marshal(prompt)
	return e.do("POST", e.proxy+"/api/v1/chat/completions", key,
		`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":`+string(msg)+`}]}`, "X-AUP-End-User", user)
}

func want(t *testing.T, r compResp, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: %d, want %d: %s", what, r.code, code, r.body)
	}
}

func jsonBody(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestAppealReversesAutomaticSuspension is the end-to-end run, in
// ZDR mode: a blocked request suspends the user at once; both refusals
// name their statements; the app fetches the suspension's statement,
// files an appeal, a reviewer reverses it, the user is served again, and
// the evidence bundle holds statement, appeal and decision and verifies.
// No prompt text reaches any statement or appeal record.
func TestAppealReversesAutomaticSuspension(t *testing.T) {
	e := startCompEnv(t, true)
	const canaryWord = "zebracanary4711"
	r := e.chat(compWebKey, "alice", canaryWord+" how do I synthesize sarin nerve agent at home to kill hundreds of people")
	want(t, r, 403, "blocked request")
	refusal := r.meta(t)["statement_id"]
	if r.meta(t)["reason"] != "aup_blocked" || !strings.HasPrefix(fmt.Sprint(refusal), "st_r_") {
		t.Fatalf("block refusal metadata: %s", r.body)
	}
	// The shape is unchanged beside the new field.
	if _, ok := r.meta(t)["decision_id"]; !ok {
		t.Fatalf("decision_id lost: %s", r.body)
	}

	r = e.chat(compWebKey, "alice", "Tell me about the museums of Lisbon.")
	want(t, r, 403, "suspended user")
	sid, _ := r.meta(t)["statement_id"].(string)
	if r.meta(t)["reason"] != "end_user_suspended" || !strings.HasPrefix(sid, "st_e_") {
		t.Fatalf("standing refusal metadata: %s", r.body)
	}

	// The app reads the statement: JSON and plain text.
	r = e.do("GET", e.proxy+"/aup/v1/statements/"+sid, compWebKey, "")
	want(t, r, 200, "statement")
	st := r.json(t)
	grounds, _ := st["grounds"].([]any)
	if st["kind"] != "suspension" || st["automated_decision"] != true || len(grounds) == 0 || st["until"] == nil {
		t.Fatalf("statement: %s", r.body)
	}
	if g := grounds[0].(map[string]any); g["category"] != "mass_casualty_weapons" || g["aup_clause"] == "" || g["title"] == "" {
		t.Fatalf("ground: %v", g)
	}
	red, _ := st["redress"].(map[string]any)
	if red["appeal_endpoint"] != "POST /aup/v1/appeals" || red["decided_within"] != "7 days" {
		t.Fatalf("redress: %v", red)
	}
	text := e.do("GET", e.proxy+"/aup/v1/statements/"+sid+"?format=text", compWebKey, "")
	want(t, text, 200, "statement as text")
	if !strings.HasPrefix(text.hdr.Get("Content-Type"), "text/plain") || !bytes.Contains(text.body, []byte("Statement of reasons "+sid)) ||
		!bytes.Contains(text.body, []byte("How to appeal")) {
		t.Fatalf("text: %s", text.body)
	}
	if t2 := e.do("GET", e.proxy+"/aup/v1/statements/"+sid, compWebKey, "", "Accept", "text/plain"); !strings.HasPrefix(t2.hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("Accept: text/plain gave %s", t2.hdr.Get("Content-Type"))
	}
	for _, b := range [][]byte{r.body, text.body} {
		if bytes.Contains(b, []byte(canaryWord)) || bytes.Contains(b, []byte("sarin")) {
			t.Fatalf("prompt text in a statement under ZDR: %s", b)
		}
	}
	if rs := e.do("GET", e.proxy+"/aup/v1/statements/"+fmt.Sprint(refusal), compWebKey, ""); rs.code != 200 || rs.json(t)["kind"] != "refusal" {
		t.Fatalf("refusal statement: %d %s", rs.code, rs.body)
	}

	// An app sees only its own end users; unknown ids look the same.
	want(t, e.do("GET", e.proxy+"/aup/v1/statements/"+sid, compOtherKey, ""), 404, "another app's statement")
	want(t, e.do("GET", e.proxy+"/aup/v1/statements/st_nope", compWebKey, ""), 404, "unknown statement")
	want(t, e.do("GET", e.proxy+"/aup/v1/statements/"+sid, "", ""), 401, "no app key")

	// Bad appeals: a clear 4xx and nothing stored.
	appeal := func(key, user, stmt, text string) compResp {
		return e.do("POST", e.proxy+"/aup/v1/appeals", key, jsonBody(map[string]string{"end_user": user, "statement_id": stmt, "text": text}))
	}
	want(t, appeal(compWebKey, "alice", sid, strings.Repeat("x", 1025)), 413, "oversized text")
	want(t, appeal(compWebKey, "alice", sid, "  "), 400, "empty text")
	want(t, appeal(compWebKey, "alice", "st_nope", "please"), 404, "unknown statement")
	want(t, appeal(compOtherKey, "alice", sid, "please"), 404, "another app's user")
	want(t, appeal(compWebKey, "bob", sid, "please"), 404, "another end user's statement")
	want(t, e.do("POST", e.proxy+"/aup/v1/appeals", compWebKey, `{"end_user":"alice","statement_id":"`+sid+`","text":"x","extra":1}`), 400, "unknown field")
	if pg, _ := e.g.store.Appeals(context.Background(), store.AppealQuery{}); len(pg.Items) != 0 {
		t.Fatalf("a refused appeal was stored: %+v", pg.Items)
	}

	r = appeal(compWebKey, "alice", sid, "I am a chemistry teacher writing an exam on why nerve agents are banned.")
	want(t, r, 201, "appeal")
	aid, _ := r.json(t)["appeal_id"].(string)
	if r.json(t)["status"] != "open" || aid == "" {
		t.Fatalf("appeal answer: %s", r.body)
	}
	want(t, appeal(compWebKey, "alice", sid, "again"), 409, "second appeal")
	if ga := e.do("GET", e.proxy+"/aup/v1/appeals/"+aid, compWebKey, ""); ga.code != 200 || ga.json(t)["status"] != "open" {
		t.Fatalf("appeal status: %d %s", ga.code, ga.body)
	}
	want(t, e.do("GET", e.proxy+"/aup/v1/appeals/"+aid, compOtherKey, ""), 404, "another app's appeal")

	// The desk: auditors read the queue, reviewers decide.
	q := e.do("GET", e.admin+"/admin/v1/appeals?status=open", compAuditor, "")
	want(t, q, 200, "appeals queue")
	items, _ := q.json(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != aid || items[0].(map[string]any)["deadline"] == nil {
		t.Fatalf("queue: %s", q.body)
	}
	decision := `{"outcome":"reversed","reason":"Teaching material; the restriction was a mistake."}`
	want(t, e.do("POST", e.admin+"/admin/v1/appeals/"+aid+"/decision", compAuditor, decision), 403, "auditor deciding")
	want(t, e.do("POST", e.admin+"/admin/v1/appeals/"+aid+"/decision", compDesk2, `{"outcome":"maybe","reason":"x"}`), 400, "bad outcome")
	r = e.do("POST", e.admin+"/admin/v1/appeals/"+aid+"/decision", compDesk2, decision)
	want(t, r, 200, "reversal")
	want(t, e.do("POST", e.admin+"/admin/v1/appeals/"+aid+"/decision", compDesk1, decision), 409, "second decision")

	// Served again, strikes cleared.
	want(t, e.chat(compWebKey, "alice", "Tell me about the museums of Lisbon."), 200, "reinstated user")
	if s, _ := e.g.store.GetStanding(context.Background(), "web", "alice"); s.Status != store.Active || s.Strikes != 0 {
		t.Fatalf("standing after reversal: %+v", s)
	}
	ga := e.do("GET", e.proxy+"/aup/v1/appeals/"+aid, compWebKey, "").json(t)
	if ga["status"] != "reversed" || ga["outcome"] != "reversed" || !strings.Contains(fmt.Sprint(ga["reason"]), "Teaching material") || ga["decided_by"] != nil {
		t.Fatalf("decided appeal as the app sees it: %v", ga)
	}

	// The export holds statement, appeal and decision, and verifies.
	x := e.do("GET", e.admin+"/admin/v1/export", compAuditor, "")
	want(t, x, 200, "export")
	if res := evidence.Verify(bytes.NewReader(x.body), nil); !res.OK {
		t.Fatalf("bundle does not verify: %s", res.Summary)
	}
	stmts, appeals, actions := histFile(t, x.body, "statements.jsonl"), histFile(t, x.body, "appeals.jsonl"), histFile(t, x.body, "actions.jsonl")
	if !bytes.Contains(stmts, []byte(sid)) || !bytes.Contains(stmts, []byte(fmt.Sprint(refusal))) {
		t.Fatalf("statements.jsonl: %s", stmts)
	}
	if !bytes.Contains(appeals, []byte(aid)) || !bytes.Contains(appeals, []byte(`"status":"reversed"`)) || bytes.Contains(appeals, []byte("chemistry teacher")) {
		t.Fatalf("appeals.jsonl (ZDR: text withheld): %s", appeals)
	}
	if !bytes.Contains(actions, []byte("appeal "+aid)) || !bytes.Contains(actions, []byte(`"action":"reinstate"`)) {
		t.Fatalf("actions.jsonl lacks the reversal: %s", actions)
	}
	for name, b := range map[string][]byte{"statements": stmts, "appeals": appeals} {
		if bytes.Contains(b, []byte(canaryWord)) {
			t.Fatalf("prompt text in %s under ZDR", name)
		}
	}
	// The transparency report counts the appeal and its reversal, on the
	// desk and in the bundle.
	wantAppeals := func(what string, body []byte) {
		t.Helper()
		var rep struct {
			Overall struct {
				Appeals struct{ Received, Reversed, Upheld, Open int }
			}
		}
		if err := json.Unmarshal(body, &rep); err != nil || rep.Overall.Appeals.Received != 1 || rep.Overall.Appeals.Reversed != 1 || rep.Overall.Appeals.Open != 0 {
			t.Fatalf("%s: appeals %+v (%v): %s", what, rep.Overall.Appeals, err, body)
		}
	}
	tr := e.do("GET", e.admin+"/admin/v1/transparency", compAuditor, "")
	want(t, tr, 200, "transparency report")
	wantAppeals("transparency report", tr.body)
	wantAppeals("bundle's transparency.json", histFile(t, x.body, "transparency.json"))
}

// TestAppealDecidedBySecondReviewer: a reviewer's ban names its statement;
// its appeal cannot be decided by the reviewer who banned, the other
// reviewer upholds it, and the user stays banned.
func TestAppealDecidedBySecondReviewer(t *testing.T) {
	e := startCompEnv(t, false)
	want(t, e.chat(compWebKey, "bob", "Tell me about the museums of Lisbon."), 200, "first request")
	r := e.do("POST", e.admin+"/admin/v1/users/bob/actions?app=web", compDesk1, `{"action":"ban","reason":"Scam messages reported by several users."}`)
	want(t, r, 200, "ban")
	r = e.chat(compWebKey, "bob", "hello")
	want(t, r, 403, "banned")
	sid, _ := r.meta(t)["statement_id"].(string)
	if r.meta(t)["reason"] != "end_user_banned" || !strings.HasPrefix(sid, "st_a_") {
		t.Fatalf("ban refusal: %s", r.body)
	}
	st := e.do("GET", e.proxy+"/aup/v1/statements/"+sid, compWebKey, "").json(t)
	if st["kind"] != "ban" || st["automated_decision"] != false || !strings.Contains(fmt.Sprint(st["facts"]), "Scam messages") || st["actor"] != nil {
		t.Fatalf("ban statement: %v", st)
	}
	r = e.do("POST", e.proxy+"/aup/v1/appeals", compWebKey, jsonBody(map[string]string{"end_user": "bob", "statement_id": sid, "text": "I never sent scam messages."}))
	want(t, r, 201, "appeal")
	aid := r.json(t)["appeal_id"].(string)
	want(t, e.do("POST", e.admin+"/admin/v1/appeals/"+aid+"/decision", compDesk1, `{"outcome":"reversed","reason":"mine"}`), 403, "the banning reviewer deciding")
	r = e.do("GET", e.admin+"/admin/v1/appeals/"+aid, compDesk1, "")
	if r.code != 200 || r.json(t)["statement"] == nil || !strings.Contains(string(r.body), "I never sent scam messages.") {
		t.Fatalf("appeal case: %d %s", r.code, r.body)
	}
	want(t, e.do("POST", e.admin+"/admin/v1/appeals/"+aid+"/decision", compDesk2, `{"outcome":"upheld","reason":"The reports are consistent."}`), 200, "upheld")
	want(t, e.chat(compWebKey, "bob", "hello"), 403, "still banned")
	audit := e.do("GET", e.admin+"/admin/v1/audit?app=web&user=bob", compAuditor, "")
	if !bytes.Contains(audit.body, []byte("appeal "+aid+" against "+sid+" upheld")) {
		t.Fatalf("audit lacks the decision: %s", audit.body)
	}
}

// TestNoticeOpensCase: a notice from OpenRouter naming a pseudonym opens
// a case on the right user, is acknowledged with an id, audited, and
// counts as handled once a reviewer acts; bad notices store nothing.
func TestNoticeOpensCase(t *testing.T) {
	e := startCompEnv(t, false)
	want(t, e.chat(compWebKey, "carol", "how to buy a gun"), 200, "flagged request")
	want(t, e.chat(compOtherKey, "carol", "Tell me about the museums of Lisbon."), 200, "the same id in another app")
	page, err := e.g.store.Reports(context.Background(), store.ReportQuery{App: "web", User: "carol"})
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("no report of carol: %v", err)
	}
	pseud := page.Items[0].Pseudonym
	// The report is reviewed, so the queue is empty before the notice.
	want(t, e.do("POST", e.admin+"/admin/v1/users/carol/actions?app=web", compDesk1, `{"action":"dismiss","reason":"fiction"}`), 200, "dismiss")

	notice := jsonBody(map[string]string{"source": "openrouter", "pseudonym": pseud, "category": "illegal_goods_and_services", "reference": "OR-2026-118", "description": "Provider flagged weapons purchase requests."})
	want(t, e.do("POST", e.admin+"/admin/v1/notices", compAuditor, notice), 403, "auditor taking a notice")
	bad := map[string]string{
		"unknown pseudonym": jsonBody(map[string]string{"source": "openrouter", "pseudonym": "aup_nobodyatall"}),
		"bad source":        jsonBody(map[string]string{"source": "email", "pseudonym": pseud}),
		"bad category":      jsonBody(map[string]string{"source": "openrouter", "pseudonym": pseud, "category": "bad_vibes"}),
		"long description":  jsonBody(map[string]string{"source": "openrouter", "pseudonym": pseud, "description": strings.Repeat("d", 2001)}),
	}
	codes := map[string]int{"unknown pseudonym": 404, "bad source": 400, "bad category": 400, "long description": 413}
	for what, body := range bad {
		want(t, e.do("POST", e.admin+"/admin/v1/notices", compDesk1, body), codes[what], what)
	}
	if pg, _ := e.g.store.Notices(context.Background(), store.NoticeQuery{}); len(pg.Items) != 0 {
		t.Fatalf("a refused notice was stored: %+v", pg.Items)
	}

	r := e.do("POST", e.admin+"/admin/v1/notices", compDesk1, notice)
	want(t, r, 201, "notice")
	ack := r.json(t)
	nid, _ := ack["notice_id"].(string)
	if ack["app"] != "web" || ack["user"] != "carol" || nid == "" {
		t.Fatalf("ack: %s", r.body)
	}
	q := e.do("GET", e.admin+"/admin/v1/queue", compAuditor, "")
	if !bytes.Contains(q.body, []byte(`"user":"carol"`)) || !bytes.Contains(q.body, []byte(`"app":"web"`)) {
		t.Fatalf("no case on carol in web: %s", q.body)
	}
	n := e.do("GET", e.admin+"/admin/v1/notices/"+nid, compAuditor, "").json(t)
	if n["handled"] != false || n["reference"] != "OR-2026-118" {
		t.Fatalf("notice before handling: %v", n)
	}
	audit := e.do("GET", e.admin+"/admin/v1/audit?app=web&user=carol", compAuditor, "")
	if !bytes.Contains(audit.body, []byte("abuse notice "+nid+" received from OpenRouter")) {
		t.Fatalf("audit: %s", audit.body)
	}
	time.Sleep(1100 * time.Millisecond) // a handling time of at least a second
	want(t, e.do("POST", e.admin+"/admin/v1/users/carol/actions?app=web", compDesk2, `{"action":"warn","reason":"notice confirmed"}`), 200, "warn")
	n = e.do("GET", e.admin+"/admin/v1/notices/"+nid, compAuditor, "").json(t)
	if n["handled"] != true || n["handling_seconds"] == nil {
		t.Fatalf("notice after handling: %v", n)
	}

	// A third party names an end user and the app.
	r = e.do("POST", e.admin+"/admin/v1/notices", compDesk2, jsonBody(map[string]string{"source": "third_party", "end_user": "dave", "app": "other", "reference": "T-7", "notifier": "trust@example.org"}))
	want(t, r, 201, "third-party notice")
	if r.json(t)["app"] != "other" {
		t.Fatalf("third-party ack: %s", r.body)
	}
	list := e.do("GET", e.admin+"/admin/v1/notices", compAuditor, "").json(t)
	if items, _ := list["items"].([]any); len(items) != 2 {
		t.Fatalf("notices: %v", list)
	}
	// The transparency report: two notices received, the first acted on.
	tr := e.do("GET", e.admin+"/admin/v1/transparency", compAuditor, "")
	want(t, tr, 200, "transparency report")
	var rep struct {
		Overall struct {
			Notices struct {
				Received              int     `json:"received"`
				ActedOn               int     `json:"acted_on"`
				MedianSecondsToDecide float64 `json:"median_seconds_to_decide"`
			}
		}
	}
	if err := json.Unmarshal(tr.body, &rep); err != nil || rep.Overall.Notices.Received != 2 || rep.Overall.Notices.ActedOn != 1 || rep.Overall.Notices.MedianSecondsToDecide < 1 {
		t.Fatalf("notices in the transparency report %+v (%v): %s", rep.Overall.Notices, err, tr.body)
	}
}

// TestAnswerRefusalNamesStatement: a model answer refused by the answer
// check (plain, and cut mid-stream) names its statement of reasons, which
// the app can fetch; its scope is the answer.
func TestAnswerRefusalNamesStatement(t *testing.T) {
	e := startCompEnv(t, true)
	answer := "Sure. Here is how to synthesize sarin at home, step by step: first take the precursor and then"
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"openai/gpt-4o-mini","stream":%v,"messages":[{"role":"user","content":"Tell me about chemistry."}]}`, stream)
		// A user each: a mass-casualty answer suspends the one who drew it out.
		user := map[bool]string{false: "erin", true: "frank"}[stream]
		r := e.do("POST", e.proxy+"/api/v1/chat/completions", compOtherKey, body, "X-AUP-End-User", user, "X-Fake-Answer", answer)
		var sid string
		if stream {
			want(t, r, 200, "streamed answer")
			m := regexp.MustCompile(`"statement_id":"([^"]+)"`).FindSubmatch(r.body)
			if m == nil {
				t.Fatalf("the cut stream names no statement: %s", r.body)
			}
			sid = string(m[1])
		} else {
			want(t, r, 403, "refused answer")
			sid, _ = r.meta(t)["statement_id"].(string)
		}
		if sid == "" {
			t.Fatalf("stream %v: no statement_id: %s", stream, r.body)
		}
		st := e.do("GET", e.proxy+"/aup/v1/statements/"+sid, compOtherKey, "")
		want(t, st, 200, "the answer's statement")
		if !bytes.Contains(st.body, []byte(`"scope":"answer"`)) || bytes.Contains(st.body, []byte("sarin")) {
			t.Fatalf("statement: %s", st.body)
		}
		want(t, e.do("GET", e.proxy+"/aup/v1/statements/"+sid, compWebKey, ""), 404, "another app's statement")
	}
}
