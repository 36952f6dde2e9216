package desk

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aupguard/aupguard/internal/desk/desktest"
	"github.com/aupguard/aupguard/internal/store"
)

// TestBrowserSuspend drives the desk in real headless Chromium: sign in,
// open the queue, open a case, suspend the user with the form; the store
// then holds the suspension. It fails (never skips) without Chromium.
func TestBrowserSuspend(t *testing.T) {
	e := newEnv(t)
	// Content that would run if any of it were not escaped.
	e.report("web", "eve@example.com", []string{"harassment"}, `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`)
	e.report("web", "eve@example.com", []string{"hate"}, "")
	e.report("web", "someone-else", []string{"hate"}, "")

	b := desktest.New(t, 90*time.Second)
	shot := filepath.Join(desktest.ArtifactsDir(t), "desk-case.png")
	res, err := b.SuspendUser(desktest.Suspend{
		BaseURL: e.srv.URL, Token: tokReviewer, User: "eve@example.com",
		Duration: "24h", Reason: "harassment after a warning", Screenshot: shot,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.CaseUser != "eve@example.com" || res.Status != "suspended" {
		t.Errorf("case page shows %+v", res)
	}
	t.Logf("screenshot of the case page: %s", shot)

	st, err := e.st.GetStanding(t.Context(), "web", "eve@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != store.Suspended || st.Until.Sub(time.Now()) < 23*time.Hour {
		t.Errorf("store standing after the form: %+v", st)
	}
	acts := e.actor.actions()
	if len(acts) != 1 || acts[0].Actor != "rita" || acts[0].Action != store.ActSuspend || acts[0].Duration != 24*time.Hour || acts[0].Reason != "harassment after a warning" {
		t.Errorf("actor got %+v", acts)
	}

	// The excerpt was shown as text and nothing in it ran.
	xss, err := chromedp.Run(b.Ctx, chromedp.Evaluate[any](`window.__xss === undefined ? null : window.__xss`))
	if err != nil {
		t.Fatal(err)
	}
	if xss != nil {
		t.Errorf("a script from report content ran: __xss = %v", xss)
	}
	excerpt, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(".excerpt")))
	if err != nil {
		t.Fatal(err)
	}
	if excerpt != `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">` {
		t.Errorf("excerpt shown as %q", excerpt)
	}
	// The overview's chart renders from the server's SVG, with no script.
	if err := chromedp.Do(b.Ctx,
		chromedp.Navigate(e.srv.URL+"/desk/overview"),
		chromedp.WaitVisible(chromedp.ID("chart")),
	); err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chart rect.bar").length`))
	if err != nil || bars != 2 { // today: one bar each for harassment and hate
		t.Errorf("chart bars = %d, %v", bars, err)
	}
	if png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(desktest.ArtifactsDir(t), "desk-overview.png"), png, 0o644)
	}

	// Everything the page needs is served by the desk itself, within its CSP.
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page errors or CSP violations: %q", p)
	}
}
