package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/desk"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
)

const privTestAdmin = "cli-admin-token-0123456789"

// privacyServer is a desk over an embedded store with signed access
// export, and two reports of "pat" in app web.
func privacyServer(t *testing.T) (*httptest.Server, *embedded.Store, ed25519.PublicKey) {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "p.db"), time.Second, store.BuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i, cat := range []string{"harassment", "fraud"} {
		r := store.Report{ID: "rep-pat-" + cat, Time: time.Now().UTC().Add(time.Duration(i) * time.Millisecond), App: "web", User: "pat",
			Pseudonym: "p_pat", Action: "block", Categories: []string{cat}, Strike: 1, Source: "request"}
		if _, err := st.AddReport(context.Background(), r, store.Policy{}); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := privacy.New(st, privacy.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	x := &evidence.Exporter{Key: key}
	// Only the access export is used here.
	var exp desk.Exporter = desk.ExporterFunc(func(ctx context.Context, w io.Writer, f desk.ExportFilter) error {
		return errors.New("not in this test")
	})
	exp = desk.WithSubjectExport(exp, func(ctx context.Context, w io.Writer, app, user string) error {
		_, err := svc.Export(ctx, w, x, nil, app, user)
		return err
	})
	d, err := desk.New(desk.Options{Store: st, Logger: quiet, Exporter: exp, Tokens: []config.AdminToken{
		{Name: "cli-admin", Role: "admin", Token: privTestAdmin},
		{Name: "cli-rev", Role: "reviewer", Token: deskTestReviewer},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return srv, st, pub
}

func TestDeskSubjectExport(t *testing.T) {
	srv, _, pub := privacyServer(t)
	dir := t.TempDir()
	pubFile := filepath.Join(dir, "pub.pem")
	pemBytes, _ := evidence.MarshalPublicKeyPEM(pub)
	os.WriteFile(pubFile, pemBytes, 0o600)
	out := filepath.Join(dir, "pat.tar.gz")
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": privTestAdmin}
	code, stdout, stderr := runDesk(env, "subject-export", "pat", "--out", out, "--pubkey", pubFile)
	if code != 0 || !strings.Contains(stdout, "wrote "+out) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := evidence.Verify(f, pub)
	if !res.OK || res.Manifest.Counts.Reports != 2 || res.Manifest.Filter.User != "pat" {
		t.Fatalf("%s", res.Summary)
	}
	// aupguard verify accepts it, against the operator's key too.
	var vout, verr bytes.Buffer
	if code := verifyMain([]string{out, "--pubkey", pubFile}, nil, &vout, &verr); code != 0 {
		t.Fatalf("aupguard verify: %d %s %s", code, vout.String(), verr.String())
	}
	// The same file again needs --force.
	if code, _, _ := runDesk(env, "subject-export", "pat", "--out", out); code != 2 {
		t.Fatalf("overwrote without --force: %d", code)
	}
	// A reviewer may not.
	env["AUPGUARD_TOKEN"] = deskTestReviewer
	if code, _, stderr := runDesk(env, "subject-export", "pat", "--out", out+"2"); code != 1 || !strings.Contains(stderr, "403") {
		t.Fatalf("reviewer: %d %s", code, stderr)
	}
}

func TestDeskErase(t *testing.T) {
	srv, st, _ := privacyServer(t)
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": privTestAdmin}
	if code, _, stderr := runDesk(env, "erase", "pat"); code != 2 || !strings.Contains(stderr, "--reason") {
		t.Fatalf("without reason: %d %s", code, stderr)
	}
	code, stdout, stderr := runDesk(env, "erase", "pat", "--reason", "ticket 991")
	if code != 0 || !strings.Contains(stdout, "2 reports") || !strings.Contains(stdout, "hmac-sha256:") || strings.Contains(stdout, "pat\t") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	page, _ := st.Reports(context.Background(), store.ReportQuery{})
	if len(page.Items) != 0 {
		t.Fatalf("reports left: %+v", page.Items)
	}
	b, _ := os.ReadFile(st.Path())
	if bytes.Contains(b, []byte(`"pat"`)) || bytes.Contains(b, []byte("p_pat")) {
		t.Fatal("the store file still holds the erased user")
	}
	if code, _, stderr := runDesk(env, "erase", "pat", "--reason", "again"); code != 1 || !strings.Contains(stderr, "404") {
		t.Fatalf("second erasure: %d %s", code, stderr)
	}
}

func TestDeskHolds(t *testing.T) {
	srv, st, _ := privacyServer(t)
	env := map[string]string{"AUPGUARD_ADMIN_URL": srv.URL, "AUPGUARD_TOKEN": privTestAdmin}
	if code, _, stderr := runDesk(env, "hold", "--user", "pat", "--reason", "x"); code != 2 || !strings.Contains(stderr, "--app") {
		t.Fatalf("user hold without app: %d %s", code, stderr)
	}
	if code, _, stderr := runDesk(env, "hold", "--category", "fraud", "--report", "r", "--reason", "x"); code != 2 {
		t.Fatalf("two targets: %d %s", code, stderr)
	}
	if code, out, stderr := runDesk(env, "hold", "--user", "pat", "--app", "web", "--reason", "subpoena 5"); code != 0 || !strings.Contains(out, `"placed": true`) {
		t.Fatalf("hold: %d %s %s", code, out, stderr)
	}
	env["AUPGUARD_TOKEN"] = deskTestReviewer // any role lists
	code, out, stderr := runDesk(env, "holds")
	if code != 0 || !strings.Contains(out, "web/pat") || !strings.Contains(out, "subpoena 5") || !strings.Contains(out, "cli-admin") {
		t.Fatalf("holds: %d %s %s", code, out, stderr)
	}
	// The held user survives an erasure request.
	env["AUPGUARD_TOKEN"] = privTestAdmin
	if code, out, _ := runDesk(env, "erase", "pat", "--reason", "DSR 3"); code != 0 || !strings.Contains(out, "the user is on hold") {
		t.Fatalf("erase held: %d %s", code, out)
	}
	if page, _ := st.Reports(context.Background(), store.ReportQuery{}); len(page.Items) != 2 {
		t.Fatalf("held reports erased: %+v", page.Items)
	}
	if code, _, stderr := runDesk(env, "release", "--user", "pat", "--app", "web"); code != 2 || !strings.Contains(stderr, "--reason") {
		t.Fatalf("release without reason: %d %s", code, stderr)
	}
	if code, _, stderr := runDesk(env, "release", "--user", "pat", "--app", "web", "--reason", "closed"); code != 0 {
		t.Fatalf("release: %d %s", code, stderr)
	}
	if code, out, _ := runDesk(env, "holds"); code != 0 || !strings.Contains(out, "no legal holds") {
		t.Fatalf("after release: %d %s", code, out)
	}
}
