package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/store"
)

type evSource struct {
	reports []store.Report
	got     evidence.Filter
}

func (s *evSource) Reports(ctx context.Context, f evidence.Filter) iter.Seq2[store.Report, error] {
	s.got = f
	return func(yield func(store.Report, error) bool) {
		for _, r := range s.reports {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (s *evSource) Actions(ctx context.Context, f evidence.Filter) iter.Seq2[store.Action, error] {
	return func(yield func(store.Action, error) bool) {}
}

func (s *evSource) Policy(ctx context.Context, hash string) (evidence.PolicyVersion, error) {
	return evidence.PolicyVersion{}, fmt.Errorf("%w: %s", store.ErrNotFound, hash)
}

var evNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// evAdminServer serves GET /admin/v1/export behind a bearer token, as the
// admin API will.
func evAdminServer(t *testing.T, key ed25519.PrivateKey, src evidence.Source) *httptest.Server {
	h := evidence.Handler(src, &evidence.Exporter{Key: key})
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/v1/export", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sekret" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":401,"message":"bad token"}}`)
			return
		}
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func evRun(main func([]string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func evExportRun(args []string, out, errw io.Writer) int { return exportMain(args, out, errw, evNow) }
func evVerifyRun(args []string, out, errw io.Writer) int {
	return verifyMain(args, strings.NewReader(""), out, errw)
}

func TestExportThenVerify(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	src := &evSource{}
	for i := range 5 {
		src.reports = append(src.reports, store.Report{ID: fmt.Sprint(i), Time: evNow.Add(-time.Duration(i) * time.Hour),
			App: "web", User: "u1", Action: "block", Categories: []string{"fraud_scams"}})
	}
	srv := evAdminServer(t, key, src)
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "b.tar.gz")

	code, out, errs := evRun(evExportRun, "--out", bundlePath, "--admin-url", srv.URL, "--token", "sekret",
		"--since", "24h", "--until", "2026-11-24", "--user", "u1", "--category", "fraud_scams")
	if code != 0 {
		t.Fatalf("export exit %d: %s", code, errs)
	}
	t.Logf("export:\n%s", out)
	if !strings.Contains(out, "wrote "+bundlePath) || !strings.Contains(out, "5 reports") {
		t.Errorf("export output: %s", out)
	}
	want := evidence.Filter{Since: evNow.Add(-24 * time.Hour), Until: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), User: "u1", Category: "fraud_scams"}
	if src.got != want {
		t.Errorf("server got filter %+v, want %+v", src.got, want)
	}

	// Exported twice to the same file needs --force.
	if code, _, errs := evRun(evExportRun, "--out", bundlePath, "--admin-url", srv.URL, "--token", "sekret"); code != 2 || !strings.Contains(errs, "--force") {
		t.Errorf("overwrite: exit %d %s", code, errs)
	}

	// The operator's public key, as --print-pubkey gives it.
	keyPath := filepath.Join(dir, "signing.key")
	pemKey, _ := evidence.MarshalPrivateKeyPEM(key)
	os.WriteFile(keyPath, pemKey, 0o600)
	code, pubPEM, errs := evRun(evExportRun, "--print-pubkey", "--key-file", keyPath)
	if code != 0 || !strings.Contains(pubPEM, "BEGIN PUBLIC KEY") {
		t.Fatalf("print-pubkey exit %d: %s %s", code, pubPEM, errs)
	}
	pubPath := filepath.Join(dir, "operator.pub")
	os.WriteFile(pubPath, []byte(pubPEM), 0o644)

	code, out, errs = evRun(evExportRun, "--out", bundlePath, "--force", "--pubkey", pubPath, "--admin-url", srv.URL, "--token", "sekret")
	if code != 0 || !strings.Contains(out, "verified against the given public key") {
		t.Errorf("export --pubkey exit %d: %s %s", code, out, errs)
	}

	code, out, errs = evRun(evVerifyRun, bundlePath, "--pubkey", pubPath)
	if code != 0 || !strings.Contains(out, "verified against the given public key") {
		t.Errorf("verify exit %d: %s %s", code, out, errs)
	}
	// Without a pinned key the bundle is intact but not authenticated.
	code, out, errs = evRun(evVerifyRun, bundlePath)
	if code != 1 || !strings.Contains(out, "not who made it") || !strings.Contains(errs, "NOT authenticated") {
		t.Errorf("verify without key exit %d: %s %s", code, out, errs)
	}
	code, out, errs = evRun(evVerifyRun, bundlePath, "--insecure-no-key")
	if code != 0 || !strings.Contains(out, "not who made it") || !strings.Contains(errs, "origin NOT checked") {
		t.Errorf("verify --insecure-no-key exit %d: %s %s", code, out, errs)
	}
	if code, _, errs = evRun(evVerifyRun, bundlePath, "--insecure-no-key", "--pubkey", pubPath); code != 2 || !strings.Contains(errs, "exclude") {
		t.Errorf("both flags: exit %d %s", code, errs)
	}

	otherPub := filepath.Join(dir, "other.pub")
	other, _ := evidence.MarshalPublicKeyPEM(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
	os.WriteFile(otherPub, other, 0o644)
	code, _, errs = evRun(evVerifyRun, "--pubkey", otherPub, bundlePath)
	if code != 1 || !strings.Contains(errs, "manifest.sig: not made with the given public key") {
		t.Errorf("wrong key: exit %d %s", code, errs)
	}

	// One changed byte in reports.jsonl.
	tampered := filepath.Join(dir, "tampered.tar.gz")
	os.WriteFile(tampered, evRetar(t, evRead(t, bundlePath), "reports.jsonl", func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"user":"u1"`), []byte(`"user":"u2"`), 1)
	}), 0o644)
	code, _, errs = evRun(evVerifyRun, tampered, "--pubkey", pubPath)
	t.Logf("verify tampered:\n%s", errs)
	if code != 1 || !strings.Contains(errs, "reports.jsonl: chain break at line 2") {
		t.Errorf("tampered: exit %d %s", code, errs)
	}
}

// An attacker who rewrites the evidence and signs it with a key of their own
// makes a self-consistent bundle: only the pinned key tells it apart, and
// without one verify must not exit 0.
func TestVerifyRefusesAttackerResignedBundle(t *testing.T) {
	operator := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	attacker := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{66}, 32))
	forged := &evSource{reports: []store.Report{{ID: "1", Time: evNow, App: "web", User: "someone-else", Action: "block", Categories: []string{"fraud_scams"}}}}
	srv := evAdminServer(t, attacker, forged)
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "forged.tar.gz")
	if code, _, errs := evRun(evExportRun, "--out", bundlePath, "--admin-url", srv.URL, "--token", "sekret"); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	pubPath := filepath.Join(dir, "operator.pub")
	pemPub, _ := evidence.MarshalPublicKeyPEM(operator.Public().(ed25519.PublicKey))
	os.WriteFile(pubPath, pemPub, 0o644)

	for _, args := range [][]string{{bundlePath}, {bundlePath, "--json"}} {
		code, out, errs := evRun(evVerifyRun, args...)
		if code != 1 || !strings.Contains(errs, "NOT authenticated") {
			t.Errorf("%v: exit %d %s %s", args, code, out, errs)
		}
		if slices.Contains(args, "--json") && !strings.Contains(out, `"authenticated": false`) {
			t.Errorf("json: %s", out)
		}
	}
	code, _, errs := evRun(evVerifyRun, bundlePath, "--pubkey", pubPath)
	if code != 1 || !strings.Contains(errs, "not made with the given public key") {
		t.Errorf("pinned key: exit %d %s", code, errs)
	}
}

func TestExportErrors(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	srv := evAdminServer(t, key, &evSource{})
	dir := t.TempDir()
	out := filepath.Join(dir, "b.tar.gz")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad token", []string{"--out", out, "--admin-url", srv.URL, "--token", "wrong"}, 1, "bad token"},
		{"no token", []string{"--out", out, "--admin-url", srv.URL, "--token", ""}, 2, "AUPGUARD_TOKEN"},
		{"no out", []string{"--admin-url", srv.URL, "--token", "sekret"}, 2, "--out"},
		{"bad since", []string{"--out", out, "--token", "sekret", "--since", "last week"}, 2, "--since"},
		{"since after until", []string{"--out", out, "--token", "sekret", "--since", "2026-11-02", "--until", "2026-11-01"}, 2, "before"},
		{"stray arg", []string{"--out", out, "extra"}, 2, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := evRun(evExportRun, c.args...)
			if code != c.code || !strings.Contains(errs, c.msg) {
				t.Errorf("exit %d, stderr %q", code, errs)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Error("a failed export left a file behind")
			}
		})
	}
}

func TestExportRejectsABadBundle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/gzip")
		io.WriteString(w, "not a bundle")
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	code, _, errs := evRun(evExportRun, "--out", out, "--admin-url", srv.URL+"/admin/v1/", "--token", "t")
	if code != 1 || !strings.Contains(errs, "does not verify") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestVerifyUsage(t *testing.T) {
	if code, _, _ := evRun(evVerifyRun); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
	if code, _, _ := evRun(evVerifyRun, "/nonexistent/bundle.tar.gz"); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
	if code, _, _ := evRun(evVerifyRun, "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

func evRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// evRetar rewrites one file of a bundle.
func evRetar(t *testing.T, b []byte, name string, edit func([]byte) []byte) []byte {
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if hdr.Name == name {
			data = edit(data)
		}
		hdr.Size = int64(len(data))
		tw.WriteHeader(hdr)
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}
