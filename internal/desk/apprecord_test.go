package desk

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// appReport records a violation in app's own text, as the gateway does.
func (e *env) appReport(app string, cats []string) string {
	e.t.Helper()
	r := store.Report{
		ID: store.NewID(time.Now()), Time: time.Now().UTC(), App: app, User: store.OperatorUser,
		Source: store.SourceOperator, DecisionID: "dec-op", Action: "block", Categories: cats, Severity: "critical",
		Rules: []string{"rule.op"}, PolicyHash: "ph", Digest: strings.Repeat("cd", 32), Length: 99,
	}
	if _, err := e.st.AddReport(context.Background(), r, policy); err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

func TestAppReports(t *testing.T) {
	e := newEnv(t)
	id := e.appReport("web", []string{"mass_casualty_weapons"})
	e.appReport("mobile", []string{"hate"})
	e.report("web", "bob", []string{"harassment"}, "")

	resp, body := e.do("GET", "/admin/v1/apps/web/reports", tokAuditor, nil)
	var page store.Page[store.Report]
	if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(page.Items) != 1 || page.Items[0].ID != id || page.Items[0].Source != store.SourceOperator || page.Items[0].Strike != 0 {
		t.Fatalf("web's app reports: %s", body)
	}
	if resp, body := e.do("GET", "/admin/v1/apps/web/reports?category=hate", tokReviewer, nil); resp.StatusCode != 200 || !strings.Contains(string(body), `"items":[]`) {
		t.Fatalf("category filter: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/admin/v1/apps/web/reports", "", nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}

	// The app's record can be dismissed or noted, never sanctioned.
	path := "/admin/v1/users/" + url.PathEscape(store.OperatorUser) + "/actions?app=web"
	for _, a := range []map[string]any{
		{"action": "warn", "reason": "x"}, {"action": "suspend", "duration": "1h", "reason": "x"},
		{"action": "ban", "reason": "x"}, {"action": "reinstate", "reason": "x"},
	} {
		if resp, body := e.do("POST", path, tokReviewer, a); resp.StatusCode != 400 || !strings.Contains(string(body), "only be dismissed or noted") {
			t.Errorf("%v: %d %s", a["action"], resp.StatusCode, body)
		}
	}
	if resp, body := e.do("POST", path, tokReviewer, map[string]any{"action": "dismiss", "reason": "prompt fixed by the operator"}); resp.StatusCode != 200 {
		t.Fatalf("dismiss: %d %s", resp.StatusCode, body)
	}
	sd, err := e.st.GetStanding(context.Background(), "web", store.OperatorUser)
	if err != nil || sd.Unreviewed != 0 || sd.Status != store.Active {
		t.Fatalf("after dismiss: %+v %v", sd, err)
	}

	// The page labels the app's record.
	b := e.browser()
	b.login(tokReviewer)
	if _, page := b.get("/desk/users/" + url.PathEscape(store.OperatorUser) + "?app=mobile"); !strings.Contains(page, `id="app-record"`) {
		t.Fatal("case page does not say it is the app's record")
	}
	if _, page := b.get("/desk/"); !strings.Contains(page, "app's own text") {
		t.Fatal("queue does not label the app's record")
	}
}
