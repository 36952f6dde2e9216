package gateway

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/evidence"
)

// Issue #19 (transparency and subprocessors) through the real gateway in
// ZDR mode: an app constrained to two providers; clients that narrow, try
// to widen, or name none of them; refusals, a flag, an automatic sanction
// and a reviewer's action. The transparency report, the register and the
// evidence bundle count all of it, and no prompt or answer reaches them.
func TestGatewayTransparencyAndRegisterZDR(t *testing.T) {
	e := startZDREnvApps(t, true, false, fmt.Sprintf("[{name: web, key: %s, providers: {only: [azure, deepinfra], ignore: [together]}}]", zdrAppKey))
	served := 0
	upstreamProvider := func() map[string]any {
		t.Helper()
		last, ok := e.fake.Last()
		if !ok {
			t.Fatal("nothing reached the upstream")
		}
		var body struct {
			Provider map[string]any `json:"provider"`
		}
		if err := json.Unmarshal(last.Body, &body); err != nil {
			t.Fatal(err)
		}
		return body.Provider
	}
	names := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}

	// Plain and streamed, no provider asked for: the app's constraint and ZDR routing go upstream.
	for _, stream := range []bool{false, true} {
		e.send(withCode(e.chat("ann", promptAllowed, stream, false, nil), 200))
		served++
		p := upstreamProvider()
		if !slices.Equal(names(p["only"]), []string{"azure", "deepinfra"}) || !slices.Equal(names(p["ignore"]), []string{"together"}) ||
			p["zdr"] != true || p["data_collection"] != "deny" {
			t.Fatalf("upstream provider (stream %v): %v", stream, p)
		}
	}
	// A client trying to widen is narrowed, and told.
	c := e.chat("ben", promptAllowed, false, false, nil)
	c.body = strings.Replace(c.body, `"stream":false`, `"stream":false,"provider":{"only":["openai","Azure"],"ignore":[]}`, 1)
	_, h, _ := e.send(withCode(c, 200))
	served++
	if p := upstreamProvider(); !slices.Equal(names(p["only"]), []string{"Azure"}) || !slices.Equal(names(p["ignore"]), []string{"together"}) ||
		h.Get("X-AUP-Provider-Override") != "provider.only" {
		t.Fatalf("widening client: upstream %v, override header %q", p, h.Get("X-AUP-Provider-Override"))
	}
	// One naming none of the app's providers is refused before the upstream.
	before := len(e.fake.Requests())
	c = e.chat("ben", promptAllowed, false, false, nil)
	c.body = strings.Replace(c.body, `"stream":false`, `"stream":false,"provider":{"only":["openai"]}`, 1)
	if _, _, b := e.send(withCode(c, 403)); !bytes.Contains(b, []byte(`"reason":"provider_not_allowed"`)) || len(e.fake.Requests()) != before {
		t.Fatalf("disjoint only: %s (upstream calls %d → %d)", b, before, len(e.fake.Requests()))
	}

	// Violations: a flag (served), refusals until the bundled policy sanctions the user.
	e.send(withCode(e.chat("fay", promptFlagged, false, true, nil), 200))
	served++
	for range 3 {
		e.send(e.chat("bob", promptBlocked, false, true, nil))
	}
	// A reviewer dismisses fay's flag.
	req, _ := http.NewRequest("POST", e.admin+"/admin/v1/users/fay/actions", strings.NewReader(`{"action":"dismiss","reason":"a store clerk's question"}`))
	req.Header.Set("Authorization", "Bearer "+zdrAdminToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("dismiss: %v %v", resp, err)
	}
	if err := e.g.Register().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	trRaw := e.adminGet("/admin/v1/transparency?since=1h")
	var tr deskapi.Transparency
	if err := json.Unmarshal(trRaw, &tr); err != nil {
		t.Fatal(err)
	}
	o := tr.Overall.Restrictions
	sanctions := o.ByKind["suspension"] + o.ByKind["ban"]
	if o.ByKind["refusal"] < 1 || o.ByKind["flag"] != 1 || sanctions < 1 || o.Human != 0 || o.Automated != o.Total ||
		tr.Overall.ReviewerActions["dismiss"] != 1 || tr.Overall.Reports.Reviewed != 1 || len(tr.Apps) != 1 || tr.Apps[0].App != "web" {
		t.Fatalf("transparency report: %s", trRaw)
	}
	if o.ByCategory["none"] != nil {
		t.Errorf("a restriction without categories: %v", o.ByCategory)
	}

	regRaw := e.adminGet("/admin/v1/providers?since=1d&app=web")
	var reg deskapi.ProviderRegister
	if err := json.Unmarshal(regRaw, &reg); err != nil {
		t.Fatal(err)
	}
	if len(reg.Totals) != 1 || reg.Totals[0].Provider != "FakeProvider" || reg.Totals[0].Model != "openai/gpt-4o-mini" ||
		reg.Totals[0].Requests != int64(served) || reg.Totals[0].ZDRRequests != int64(served) {
		t.Fatalf("register (%d served): %s", served, regRaw)
	}

	// The bundle holds the same report and still verifies.
	req, _ = http.NewRequest("GET", e.admin+"/admin/v1/export?since=1h", nil)
	req.Header.Set("Authorization", "Bearer "+zdrAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", resp, err)
	}
	var bundle bytes.Buffer
	bundle.ReadFrom(resp.Body)
	resp.Body.Close()
	if res := evidence.Verify(bytes.NewReader(bundle.Bytes()), nil); !res.OK {
		t.Fatalf("bundle: %s", res.Summary)
	}
	inBundle := tarFile(t, bundle.Bytes(), evidence.TransparencyFile)
	var btr deskapi.Transparency
	if err := json.Unmarshal(inBundle, &btr); err != nil || btr.Overall.Restrictions.ByKind["refusal"] != o.ByKind["refusal"] ||
		btr.Overall.Restrictions.Total != o.Total {
		t.Fatalf("bundle's transparency.json: %s (%v)", inBundle, err)
	}

	// No prompt or answer text reached any of them.
	for _, cn := range e.canaries {
		for what, b := range map[string][]byte{"transparency": trRaw, "register": regRaw, "bundle report": inBundle} {
			if bytes.Contains(b, []byte(cn)) {
				t.Errorf("the %s holds content (%s)", what, cn)
			}
		}
	}

	// Bad input: clear 4xx.
	for path, code := range map[string]int{
		"/admin/v1/transparency?app=nosuch":                        404,
		"/admin/v1/providers?app=nosuch":                           404,
		"/admin/v1/transparency?since=2026-03-02&until=2026-03-01": 400,
		"/admin/v1/providers?since=last+week":                      400,
	} {
		req, _ := http.NewRequest("GET", e.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+zdrAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, code)
		}
	}
}

func withCode(c zdrCall, code int) zdrCall { c.wantCode = code; return c }

// tarFile returns one file of an evidence bundle.
func tarFile(t *testing.T, b []byte, name string) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the bundle: %v", name, err)
		}
		if h.Name == name {
			data, _ := io.ReadAll(tr)
			return data
		}
	}
}
