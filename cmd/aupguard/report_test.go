package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

func runReportCmd(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("AUPGUARD_TOKEN", deskTestAuditor)
	var out, errb bytes.Buffer
	code := reportMain(append(args, "--admin-url", url), &out, &errb)
	return code, out.String(), errb.String()
}

func TestReportTransparencyFormats(t *testing.T) {
	srv, _ := deskServer(t)
	code, out, errs := runReportCmd(t, srv.URL, "transparency", "--since", "1d")
	var rep deskapi.Transparency
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Overall.Restrictions.ByKind["refusal"] != 4 || len(rep.Apps) != 2 {
		t.Fatalf("json: %d %s %s", code, out, errs)
	}
	code, out, _ = runReportCmd(t, srv.URL, "transparency", "--since", "1d", "--format", "csv", "--app", "web")
	if code != 0 || !strings.Contains(out, ",overall,restrictions,refusal,3\n") || !strings.Contains(out, ",web,restrictions_by_category,hate/refusal,2\n") {
		t.Fatalf("csv: %d %s", code, out)
	}
	code, out, _ = runReportCmd(t, srv.URL, "transparency", "--format", "html")
	if code != 0 || !strings.HasPrefix(out, "<!doctype html>") || !strings.Contains(out, "App mobile") {
		t.Fatalf("html: %d %s", code, out)
	}
}

func TestReportProviders(t *testing.T) {
	srv, st := deskServer(t)
	day := store.Day(time.Now())
	if err := st.AddProviderCounts(context.Background(), []store.ProviderCount{{Day: day, App: "web", Provider: "Azure", Model: "m", Requests: 2, ZDR: true}}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runReportCmd(t, srv.URL, "providers", "--format", "csv")
	if code != 0 || !strings.Contains(out, ",web,Azure,m,2,2,"+day+","+day+"\n") {
		t.Fatalf("csv: %d %q %s", code, out, errs)
	}
}

func TestReportBadInput(t *testing.T) {
	srv, _ := deskServer(t)
	for _, args := range [][]string{
		{"transparency", "--since", "2026-03-02", "--until", "2026-03-01"},
		{"transparency", "--since", "soon"},
		{"providers", "--format", "pdf"},
		{"transparency", "extra"},
		{"nonsense"},
	} {
		if code, _, errs := runReportCmd(t, srv.URL, args...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d (%s), want 2 with a message", args, code, errs)
		}
	}
}
