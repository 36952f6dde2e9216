package desk

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aupguard/aupguard/internal/desk/desktest"
	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

func withApps(apps ...string) envOpt { return func(o *Options) { o.Apps = apps } }

func (e *env) registerCounts(cs ...store.ProviderCount) {
	e.t.Helper()
	if err := e.st.AddProviderCounts(e.t.Context(), cs); err != nil {
		e.t.Fatal(err)
	}
}

func TestTransparencyAPIRolesAndCounts(t *testing.T) {
	e := newEnv(t, withApps("web", "mobile"))
	e.report("web", "anna", []string{"harassment"}, "")
	e.report("mobile", "bert", []string{"fraud"}, "")
	for _, tok := range []string{tokReviewer, tokAuditor, tokAdmin} {
		resp, body := e.do("GET", "/admin/v1/transparency?since=1d", tok, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tok, resp.StatusCode, body)
		}
		var rep deskapi.Transparency
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Overall.Restrictions.ByKind["refusal"] != 2 || len(rep.Apps) != 2 || rep.Overall.Appeals.Received != 0 ||
			rep.Until.Sub(rep.Since) < 23*time.Hour {
			t.Fatalf("report: %s", body)
		}
	}
	resp, body := e.do("GET", "/admin/v1/transparency?app=web", tokAuditor, nil)
	var rep deskapi.Transparency
	json.Unmarshal(body, &rep)
	if resp.StatusCode != 200 || rep.App != "web" || rep.Overall.Restrictions.Total != 1 || rep.Until.Sub(rep.Since) != defaultPeriod {
		t.Fatalf("app=web: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "/admin/v1/transparency", "", nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
}

func TestComplianceBadInput(t *testing.T) {
	e := newEnv(t, withApps("web", "mobile"))
	for _, path := range []string{"/admin/v1/transparency", "/admin/v1/providers"} {
		for q, want := range map[string]struct {
			status int
			msg    string
		}{
			"?since=yesterday":                          {400, "since:"},
			"?until=2026-13-40":                         {400, "until:"},
			"?since=2026-03-02&until=2026-03-01":        {400, "must be before until"},
			"?since=2026-03-01&until=2026-03-01":        {400, "must be before until"},
			"?since=1990-01-01&until=2026-03-01":        {400, "longer than"},
			"?app=nosuch":                               {404, "is configured (configured apps: [web mobile])"},
			"?since=2026-03-01T00:00:00Z&until=2026-03": {400, "until:"},
		} {
			resp, body := e.do("GET", path+q, tokAuditor, nil)
			if resp.StatusCode != want.status || !strings.Contains(string(body), want.msg) {
				t.Errorf("%s%s: %d %s, want %d with %q", path, q, resp.StatusCode, body, want.status, want.msg)
			}
		}
	}
}

func TestProvidersAPI(t *testing.T) {
	e := newEnv(t, withApps("web", "mobile"))
	today := store.Day(time.Now())
	e.registerCounts(
		store.ProviderCount{Day: today, App: "web", Provider: "Azure", Model: "openai/gpt-4o", Requests: 3, ZDR: true},
		store.ProviderCount{Day: today, App: "mobile", Provider: "Google", Model: "google/gemini", Requests: 1},
	)
	resp, body := e.do("GET", "/admin/v1/providers?since=1d&app=web", tokReviewer, nil)
	var reg deskapi.ProviderRegister
	if err := json.Unmarshal(body, &reg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if reg.To != today || len(reg.Totals) != 1 || reg.Totals[0] != (deskapi.ProviderTotal{App: "web", Provider: "Azure", Model: "openai/gpt-4o",
		Requests: 3, ZDRRequests: 3, FirstDay: today, LastDay: today}) || len(reg.Days) != 1 {
		t.Fatalf("register: %s", body)
	}
}

func TestCompliancePages(t *testing.T) {
	e := newEnv(t, withApps("web"))
	e.report("web", "anna", []string{"harassment"}, "")
	e.registerCounts(store.ProviderCount{Day: store.Day(time.Now()), App: "web", Provider: `<b>Azure</b>`, Model: "m", Requests: 2})
	b := e.browser()
	b.login(tokAuditor)
	resp, body := b.get("/desk/transparency?since=7d")
	if resp.StatusCode != 200 || !strings.Contains(body, `data-category="harassment"`) || !strings.Contains(body, "App web") {
		t.Fatalf("transparency page: %d %s", resp.StatusCode, body)
	}
	resp, body = b.get("/desk/providers")
	if resp.StatusCode != 200 || !strings.Contains(body, "&lt;b&gt;Azure&lt;/b&gt;") || strings.Contains(body, "<b>Azure") {
		t.Fatalf("providers page: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.get("/desk/transparency?since=2026-03-02&until=2026-03-01"); resp.StatusCode != 400 || !strings.Contains(body, "must be before until") {
		t.Fatalf("bad period: %d", resp.StatusCode)
	}
	if resp, _ := e.browser().get("/desk/providers"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: %d", resp.StatusCode)
	}
}

// TestBrowserCompliancePages opens the transparency report and the
// subprocessor register in headless Chromium: the figures show, the
// period form works, a hostile provider name stays text, and nothing
// breaks the CSP. It fails (never skips) without Chromium.
func TestBrowserCompliancePages(t *testing.T) {
	e := newEnv(t, withApps("web", "mobile"))
	e.report("web", "anna", []string{"harassment"}, "")
	e.report("mobile", "bert", []string{"fraud"}, "")
	e.registerCounts(store.ProviderCount{Day: store.Day(time.Now()), App: "web", Provider: `<img src=x onerror="window.__xss=1">`, Model: "m", Requests: 4})

	b := desktest.New(t, 90*time.Second)
	err := chromedp.Do(b.Ctx,
		chromedp.Navigate(e.srv.URL+"/desk/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), tokAuditor),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("queue")),
		chromedp.Navigate(e.srv.URL+"/desk/transparency"),
		chromedp.WaitVisible(chromedp.ID("overall")),
	)
	if err != nil {
		t.Fatal(err)
	}
	refusals, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector("#overall tr.all td:nth-child(3)").textContent`))
	if err != nil || refusals != "2" {
		t.Errorf("overall refusals shown = %q, %v", refusals, err)
	}
	apps, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("section.app-section")).map(s => s.dataset.app)`))
	if err != nil || strings.Join(apps, ",") != "mobile,web" {
		t.Errorf("app sections = %q, %v", apps, err)
	}
	if png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(desktest.ArtifactsDir(t), "desk-transparency.png"), png, 0o644)
	}
	// The period form narrows to one app.
	err = chromedp.Do(b.Ctx,
		chromedp.SetValue(chromedp.CSS(`#period select[name="app"]`), "web"),
		chromedp.Submit(chromedp.ID("period")),
		chromedp.WaitVisible(chromedp.ID("period-shown")),
	)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("period-shown")))
	if err != nil || !strings.HasSuffix(shown, "app web") {
		t.Errorf("after choosing web: %q, %v", shown, err)
	}
	err = chromedp.Do(b.Ctx,
		chromedp.Navigate(e.srv.URL+"/desk/providers"),
		chromedp.WaitVisible(chromedp.ID("register")),
	)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("#register td.provider")))
	if err != nil || provider != `<img src=x onerror="window.__xss=1">` {
		t.Errorf("provider shown as %q, %v", provider, err)
	}
	xss, err := chromedp.Run(b.Ctx, chromedp.Evaluate[any](`window.__xss === undefined ? null : window.__xss`))
	if err != nil || xss != nil {
		t.Errorf("a script from a provider name ran: %v %v", xss, err)
	}
	if png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(desktest.ArtifactsDir(t), "desk-providers.png"), png, 0o644)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page errors or CSP violations: %q", p)
	}
}
