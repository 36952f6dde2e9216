package desk

import (
	"strings"
	"testing"
)

// A user who only ever made clean requests has no record: with one app
// configured, acting on them (a pre-emptive ban from an abuse notice)
// needs no ?app=.
func TestOneConfiguredAppIsTheDefault(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Apps = []string{"web"} })
	resp, body := e.do("POST", "/admin/v1/users/clean-carol/actions", tokReviewer, map[string]any{"action": "ban", "reason": "named in an abuse notice"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"app":"web"`) || !strings.Contains(string(body), `"status":"banned"`) {
		t.Fatalf("act without app: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/admin/v1/users/clean-carol", tokReviewer, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"app":"web"`) {
		t.Fatalf("read without app: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/admin/v1/reports?user=clean-carol", tokReviewer, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("reports without app: %d %s", resp.StatusCode, body)
	}
	// A user the store knows under another app (one no longer configured)
	// is still that app's.
	e.report("legacy", "lena", []string{"hate"}, "")
	resp, body = e.do("GET", "/admin/v1/users/lena", tokReviewer, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"app":"legacy"`) {
		t.Fatalf("known elsewhere: %d %s", resp.StatusCode, body)
	}
}

func TestSeveralConfiguredAppsNeedAppAndSaySo(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Apps = []string{"web", "mobile"} })
	resp, body := e.do("POST", "/admin/v1/users/clean-carol/actions", tokReviewer, map[string]any{"action": "ban", "reason": "named in an abuse notice"})
	eb := decodeErr(t, body)
	apps, _ := eb.Error.Metadata["configured_apps"].([]any)
	if resp.StatusCode != 404 || eb.Error.Metadata["reason"] != "not_found" || len(apps) != 2 ||
		!strings.Contains(eb.Error.Message, "?app=NAME") || !strings.Contains(eb.Error.Message, "configured apps: web, mobile") {
		t.Fatalf("act without app: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/admin/v1/users/clean-carol/actions?app=mobile", tokReviewer, map[string]any{"action": "ban", "reason": "named in an abuse notice"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"app":"mobile"`) {
		t.Fatalf("act with app: %d %s", resp.StatusCode, body)
	}
	// The only app that knows an id is still chosen by itself.
	e.report("web", "wes", []string{"hate"}, "")
	resp, body = e.do("POST", "/admin/v1/users/wes/actions", tokReviewer, map[string]any{"action": "warn", "reason": "x"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"app":"web"`) {
		t.Fatalf("known to one app: %d %s", resp.StatusCode, body)
	}
}
