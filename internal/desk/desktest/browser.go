// Package desktest drives the desk page in a real headless Chromium, for
// the desk's own browser test and for end-to-end tests that need a
// reviewer to act through the page (sign in, queue, case, suspend).
//
// Chromium is required: a missing browser is an error that says how to
// install it (apt-get install chromium), never a skip.
package desktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium returns the browser binary: $AUPGUARD_CHROMIUM, else chromium
// or chromium-browser on PATH, else /usr/bin/chromium.
func Chromium() (string, error) {
	return find(os.Getenv, exec.LookPath, func(p string) bool { _, err := os.Stat(p); return err == nil })
}

func find(getenv func(string) string, lookPath func(string) (string, error), exists func(string) bool) (string, error) {
	if p := getenv("AUPGUARD_CHROMIUM"); p != "" {
		if !exists(p) {
			return "", fmt.Errorf("AUPGUARD_CHROMIUM=%s does not exist; unset it, or install Chromium with `apt-get install -y chromium`", p)
		}
		return p, nil
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := lookPath(n); err == nil {
			return p, nil
		}
	}
	if exists("/usr/bin/chromium") {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("headless Chromium not found: install it with `apt-get install -y chromium` (Debian), or set AUPGUARD_CHROMIUM to a Chromium binary")
}

// ArtifactsDir is where browser tests keep screenshots: $AUPGUARD_ARTIFACTS,
// else testdata/artifacts below the test's package (gitignored).
func ArtifactsDir(t testing.TB) string {
	dir := os.Getenv("AUPGUARD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	return dir
}

// Browser is a headless Chromium with a fresh profile.
type Browser struct {
	Ctx context.Context // a chromedp context: pass it to chromedp.Run

	mu       sync.Mutex
	problems []string // page errors and CSP violations seen
}

// New starts Chromium for the test, bounded by timeout, and stops it when
// the test ends. It fails the test (never skips) when Chromium is missing.
func New(t testing.TB, timeout time.Duration) *Browser {
	t.Helper()
	bin, err := Chromium()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // containers and CI run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 1024),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	b := &Browser{Ctx: bctx}
	stop := func() {
		_ = chromedp.Cancel(bctx) // close the browser gracefully first
		bcancel()
		acancel()
		cancel()
	}
	// Listen starts the browser, so a broken install fails here, clearly.
	err = chromedp.Listen(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.problem("exception: " + ev.ExceptionDetails.Text + describe(ev.ExceptionDetails.Exception))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.problem("console: " + ev.Entry.Text)
			}
		}
	})
	if err != nil {
		stop()
		t.Fatalf("starting %s: %v (is it a working Chromium? apt-get install -y chromium)", bin, err)
	}
	t.Cleanup(stop)
	return b
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return " " + o.Description
}

func (b *Browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// Problems returns the page errors and CSP violations seen so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Suspend is what a reviewer does to suspend a user through the page.
type Suspend struct {
	BaseURL  string // the admin listener, e.g. http://127.0.0.1:8081
	Token    string // a reviewer or admin token
	User     string // as shown in the queue
	Duration string // e.g. "24h"
	Reason   string
	// Screenshot, when set, is where a PNG of the case page after the
	// action is written.
	Screenshot string
}

// Result is what the page showed.
type Result struct {
	CaseUser string // the user id in the case page's heading
	Status   string // the status shown after the action
	Notice   string
}

// SuspendUser signs in, opens the queue, opens the user's case from the
// queue, suspends the user with the form and returns what the case page
// then shows.
func (b *Browser) SuspendUser(s Suspend) (Result, error) {
	var r Result
	base := strings.TrimSuffix(s.BaseURL, "/")
	err := chromedp.Do(b.Ctx,
		// Unsigned, the desk sends us to the sign-in page.
		chromedp.Navigate(base+"/desk/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), s.Token),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("queue")),
	)
	if err != nil {
		return r, fmt.Errorf("sign in and open the queue: %w", err)
	}
	links, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#queue a.user")).map(a => a.textContent)`))
	if err != nil {
		return r, fmt.Errorf("read the queue: %w", err)
	}
	idx := -1
	for i, l := range links {
		if l == s.User {
			idx = i
		}
	}
	if idx < 0 {
		return r, fmt.Errorf("user %q is not in the queue (queue shows %q)", s.User, links)
	}
	sel := chromedp.CSS(fmt.Sprintf(`#queue tbody tr:nth-child(%d) a.user`, idx+1))
	err = chromedp.Do(b.Ctx,
		chromedp.Click(sel),
		chromedp.WaitVisible(chromedp.ID("case-user")),
	)
	if err != nil {
		return r, fmt.Errorf("open the case: %w", err)
	}
	if r.CaseUser, err = chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("case-user"))); err != nil {
		return r, err
	}
	err = chromedp.Do(b.Ctx,
		chromedp.SetValue(chromedp.ID("action"), "suspend"),
		// SetValue fires no change event; the page's script listens for one.
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`document.getElementById("action").dispatchEvent(new Event("change"))`)(ctx, t)
			return err
		}),
		chromedp.SendKeys(chromedp.ID("duration"), s.Duration),
		chromedp.SendKeys(chromedp.ID("reason"), s.Reason),
		chromedp.Click(chromedp.ID("act-submit")),
		// The case page comes back with a notice, or with an error.
		chromedp.WaitVisible(chromedp.CSS("#notice, #error")),
	)
	if err != nil {
		return r, fmt.Errorf("suspend with the form: %w", err)
	}
	errText, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(document.getElementById("error") || {}).textContent || ""`))
	if err != nil {
		return r, err
	}
	if errText != "" {
		return r, fmt.Errorf("the desk refused the action: %s", errText)
	}
	if r.Notice, err = chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("notice"))); err != nil {
		return r, err
	}
	if r.Status, err = chromedp.Run(b.Ctx, chromedp.Text(chromedp.ID("status"))); err != nil {
		return r, err
	}
	if s.Screenshot != "" {
		png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
		if err != nil {
			return r, fmt.Errorf("screenshot: %w", err)
		}
		if err := os.WriteFile(s.Screenshot, png, 0o644); err != nil {
			return r, err
		}
	}
	return r, nil
}
