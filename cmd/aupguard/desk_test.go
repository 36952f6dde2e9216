package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/desk"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
)

const (
	deskTestReviewer = "cli-reviewer-token-0123456789"
	deskTestAuditor  = "cli-auditor-token-0123456789"
)

// deskServer is a desk over an embedded store, with two reports for
// "mallory" in app web and one for "sam" in apps web and mobile.
func deskServer(t *testing.T) (*httptest.Server, store.Store) {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "cli.db"), time.Second, store.BuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := store.Policy{HalfLife: time.Hour * 168, SuspendAt: 100, BanAt: 1000}
	for i, u := range []struct{ app, user, cat string }{
		{"web", "mallory", "harassment"}, {"web", "mallory", "hate"}, {"web", "sam", "hate"}, {"mobile", "sam", "hate"},
	} {
		r := store.Report{ID: store.NewID(time.Now()) + string(rune('a'+i)), Time: time.Now().UTC(), App: u.app, User: u.user,
			Pseudonym: "p_" + u.user, Action: "block", Categories: []string{u.cat}, Strike: 1, Source: "request"}
		if _, err := st.AddReport(context.Background(), r, p); err != nil {
			t.Fatal(err)
		}
	}
	d, err := desk.New(desk.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tokens: []config.AdminToken{
		{Name: "cli-rev", Role: "reviewer", Token: deskTestReviewer},
		{Name: "cli-aud", Role: "auditor", Token: deskTestAuditor},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func runDesk(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := deskMain(args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestDeskCLI(t *testing.T) {
	srv, st := deskServer(t)
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": deskTestReviewer}

	code, out, errs := runDesk(env, "queue")
	if code != 0 || !strings.Contains(out, "mallory") || !strings.Contains(out, "USER") || strings.Count(out, "sam") != 2 {
		t.Fatalf("queue: %d %q %q", code, out, errs)
	}
	code, out, _ = runDesk(env, "queue", "--app", "mobile", "--json")
	if code != 0 || !strings.Contains(out, `"items"`) || strings.Contains(out, "mallory") {
		t.Errorf("queue --app mobile --json: %d %s", code, out)
	}

	code, out, errs = runDesk(env, "show", "mallory")
	if code != 0 || !strings.Contains(out, "harassment") || !strings.Contains(out, "status    active") {
		t.Errorf("show: %d %q %q", code, out, errs)
	}
	// An id two apps know: the CLI lists them and asks for --app.
	code, _, errs = runDesk(env, "show", "sam")
	if code != 1 || !strings.Contains(errs, "mobile, web") || !strings.Contains(errs, "--app") {
		t.Errorf("show ambiguous: %d %q", code, errs)
	}
	if code, out, _ = runDesk(env, "show", "sam", "--app", "mobile"); code != 0 || !strings.Contains(out, "app       mobile") {
		t.Errorf("show --app after USER: %d %q", code, out)
	}

	// Flags come from the command line too, and win over the environment.
	code, out, errs = runDesk(map[string]string{"AUPGUARD_TOKEN": "wrong"}, "act", "mallory", "--admin-url", srv.URL, "--token", deskTestReviewer,
		"--action", "suspend", "--for", "36h", "--reason", "threats in two chats")
	if code != 0 || !strings.Contains(out, "is now suspended until") {
		t.Fatalf("act: %d %q %q", code, out, errs)
	}
	stg, _ := st.GetStanding(context.Background(), "web", "mallory")
	if stg.Status != store.Suspended || stg.Unreviewed != 0 {
		t.Errorf("standing after act: %+v", stg)
	}
	aud, _ := st.Audit(context.Background(), store.AuditQuery{})
	if len(aud.Items) != 1 || aud.Items[0].Actor != "cli-rev" || aud.Items[0].Duration != 36*time.Hour || aud.Items[0].Reason != "threats in two chats" {
		t.Errorf("audit: %+v", aud.Items)
	}

	// Errors: the API's message, exit 1; usage problems, exit 2.
	cases := []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{env, []string{"act", "mallory", "--action", "suspend", "--reason", "x"}, 1, "suspend needs a duration"},
		{env, []string{"act", "mallory", "--action", "ban"}, 2, "--reason"},
		{map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": deskTestAuditor}, []string{"act", "mallory", "--action", "ban", "--reason", "x"}, 1, "forbidden"},
		{map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": "bad-token"}, []string{"queue"}, 1, "invalid admin token"},
		{map[string]string{"AUPGUARD_ADMIN_URL": srv.URL}, []string{"queue"}, 1, "AUPGUARD_TOKEN"},
		{env, []string{"show"}, 2, "one USER"},
		{env, []string{"frobnicate"}, 2, "unknown subcommand"},
		{env, []string{"queue", "--nope"}, 2, "not defined"},
		{map[string]string{"AUPGUARD_TOKEN": "x", "AUPGUARD_ADMIN_URL": "ftp://x"}, []string{"queue"}, 1, "not an http"},
	}
	for _, c := range cases {
		code, _, errs := runDesk(c.env, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: %d %q, want %d with %q", c.args, code, errs, c.code, c.want)
		}
	}
}
