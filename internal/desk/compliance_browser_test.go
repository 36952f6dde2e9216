package desk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/desk/desktest"
	"github.com/aupguard/aupguard/internal/store"
)

// TestBrowserDecideAppeal drives the appeals page in headless Chromium:
// sign in, open the appeals queue (age, deadline, the appeal's text shown
// as text), reverse an appeal with its form; the store then holds the
// decision and the actor the reinstatement. Fails without Chromium.
func TestBrowserDecideAppeal(t *testing.T) {
	var svc *compliance.Service
	e := newEnv(t, func(o *Options) {
		var err error
		svc, err = compliance.New(compliance.Options{Store: o.Store, Actor: o.Actor, Deadline: 14 * 24 * time.Hour, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		o.Compliance = svc
	})
	rid := e.report("web", "eve@example.com", []string{"hate"}, "")
	ctx := t.Context()
	st := store.Statement{ID: store.RefusalStatementID(rid), Time: time.Now().UTC(), App: "web", User: "eve@example.com",
		Kind: store.RestrictRefusal, Scope: "request", Automated: true, Actor: store.AutoActor, Categories: []string{"hate"}, ReportIDs: []string{rid}}
	if _, err := e.st.PutStatement(ctx, st); err != nil {
		t.Fatal(err)
	}
	const text = `It was a quote from a history book. <script>window.__xss=1</script>`
	a, err := svc.File(ctx, "web", "eve@example.com", st.ID, text)
	if err != nil {
		t.Fatal(err)
	}

	b := desktest.New(t, 90*time.Second)
	err = chromedp.Do(b.Ctx,
		chromedp.Navigate(e.srv.URL+"/desk/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), tokReviewer),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/desk/appeals"]`)),
		chromedp.Navigate(e.srv.URL+"/desk/appeals"),
		chromedp.WaitVisible(chromedp.ID("appeals")),
	)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("#appeals .appeal-text")))
	if err != nil || shown != text {
		t.Fatalf("appeal text shown as %q (%v)", shown, err)
	}
	row, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("#appeal-"+a.ID)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"eve@example.com", "refusal", "open", "<1m"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	err = chromedp.Do(b.Ctx,
		chromedp.SetValue(chromedp.ID("outcome-"+a.ID), "reversed"),
		chromedp.SendKeys(chromedp.ID("reason-"+a.ID), "A quotation, not an attack."),
		chromedp.Click(chromedp.ID("decide-submit-"+a.ID)),
		chromedp.WaitVisible(chromedp.CSS("#notice, #error")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if msg, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(document.getElementById("error") || {}).textContent || ""`)); msg != "" {
		t.Fatalf("the desk refused the decision: %s", msg)
	}
	status, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("#appeal-"+a.ID+" [data-status]")))
	if err != nil || status != store.AppealReversed {
		t.Fatalf("status shown %q (%v)", status, err)
	}
	if png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(desktest.ArtifactsDir(t), "desk-appeals.png"), png, 0o644)
	}

	got, err := e.st.Appeal(ctx, a.ID)
	if err != nil || got.Status != store.AppealReversed || got.DecidedBy != "rita" || got.Reason != "A quotation, not an attack." {
		t.Fatalf("stored appeal: %+v %v", got, err)
	}
	acts := e.actor.actions()
	if len(acts) != 1 || acts[0].Action != store.ActReinstate || acts[0].Actor != "rita" || len(acts[0].ReportIDs) != 1 || acts[0].ReportIDs[0] != rid {
		t.Fatalf("actor got %+v", acts)
	}
	if xss, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[any](`window.__xss === undefined ? null : window.__xss`)); xss != nil {
		t.Errorf("a script from an appeal's text ran")
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page errors or CSP violations: %q", p)
	}
}
