package gateway

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/desk/desktest"
)

// TestDeskSuspendsThroughGateway is issue 6's acceptance run on the real
// gateway (New(), embedded store): an end user is flagged through the
// proxy, a reviewer suspends them in headless Chromium through the desk on
// the admin listener, and the user's next request through the proxy is
// refused with end_user_suspended. A screenshot of the case page is kept
// in testdata/artifacts (or $AUPGUARD_ARTIFACTS). Fails without Chromium.
func TestDeskSuspendsThroughGateway(t *testing.T) {
	e := startZDREnv(t, false, false)
	const user = "mallory@example.com"
	c := e.chat(user, promptFlagged, false, true, nil)
	c.wantCode = 200
	e.send(c)
	waitFor(t, 10*time.Second, "the user in the queue", func() bool {
		return bytes.Contains(e.adminGet("/admin/v1/queue"), []byte(user))
	})

	b := desktest.New(t, 90*time.Second)
	shot := filepath.Join(desktest.ArtifactsDir(t), "gateway-desk-case.png")
	res, err := b.SuspendUser(desktest.Suspend{
		BaseURL: e.admin, Token: zdrAdminToken, User: user,
		Duration: "24h", Reason: "repeated weapons requests", Screenshot: shot,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.CaseUser != user || res.Status != "suspended" {
		t.Fatalf("case page shows %+v", res)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page problems: %v", p)
	}
	t.Logf("screenshot of the case page: %s", shot)

	// The suspension holds on the proxy at once: no upstream call.
	before := len(e.fake.Requests())
	c = e.chat(user, promptAllowed, false, false, nil)
	c.wantCode = 403
	_, _, body := e.send(c)
	if !bytes.Contains(body, []byte(`"reason":"end_user_suspended"`)) || !bytes.Contains(body, []byte(`"until"`)) {
		t.Fatalf("refusal: %s", body)
	}
	if n := len(e.fake.Requests()); n != before {
		t.Fatalf("a suspended user's request reached upstream")
	}
	// Others are still served.
	c = e.chat("someone-else", promptAllowed, false, false, nil)
	c.wantCode = 200
	e.send(c)
}
