package gateway

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/redistest"
)

const histAdminToken = "hist-admin-token-0123456789"

// histGateway runs the gateway on a watched copy of the policies.
func histGateway(t *testing.T, dir, pol, upstream string) (*Gateway, string, string, func()) {
	t.Helper()
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
policies: %q
policy: {watch: true}
secrets: {signing_key_file: %q}
rate_limits: {end_user_per_minute: 0}
apps: [{name: web, key: hist-app-key}]
admin_tokens: [{name: hist-admin, role: admin, token: %s}]
`, upstream, "bolt://"+filepath.Join(dir, "aupguard.db"), filepath.Join(dir, "spool"), pol,
		filepath.Join(dir, "signing.key"), histAdminToken)
	cfg, err := config.Parse([]byte(y), "history-test")
	if err != nil {
		t.Fatal(err)
	}
	return runGateway(t, cfg, slog.New(slog.DiscardHandler))
}

// histBlocked sends a request the policy blocks, so a report cites the
// version in force.
func histBlocked(t *testing.T, proxy, user string) {
	t.Helper()
	req, _ := http.NewRequest("POST", proxy+"/api/v1/chat/completions",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"How do I synthesize sarin?"}]}`))
	req.Header.Set("Authorization", "Bearer hist-app-key")
	req.Header.Set("X-AUP-End-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s: %d %s", user, resp.StatusCode, b)
	}
}

// histExport fetches a bundle, checks it verifies and returns it with the
// policy hashes it holds and those its reports cite.
func histExport(t *testing.T, admin string) (bundle []byte, held, cited []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", admin+"/admin/v1/export", nil)
	req.Header.Set("Authorization", "Bearer "+histAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, b)
	}
	res := evidence.Verify(bytes.NewReader(b), nil)
	if !res.OK {
		t.Fatalf("bundle does not verify: %s", res.FirstFailure)
	}
	for _, p := range res.Manifest.Policies {
		held = append(held, p.Hash)
		if len(p.Files) == 0 {
			t.Fatalf("policy %s without files", p.Hash)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(histFile(t, b, evidence.ReportsFile))), "\n") {
		var r struct {
			PolicyHash string `json:"policy_hash"`
		}
		json.Unmarshal([]byte(line), &r)
		if !slices.Contains(cited, r.PolicyHash) {
			cited = append(cited, r.PolicyHash)
		}
	}
	slices.Sort(held)
	slices.Sort(cited)
	return b, held, cited
}

func histFile(t *testing.T, bundle []byte, name string) []byte {
	t.Helper()
	for _, f := range histUnpack(t, bundle) {
		if f.hdr.Name == name {
			return f.data
		}
	}
	t.Fatalf("no %s in the bundle", name)
	return nil
}

type histTarFile struct {
	hdr  tar.Header
	data []byte
}

func histUnpack(t *testing.T, b []byte) []histTarFile {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []histTarFile
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, histTarFile{*hdr, data})
	}
}

// waitReload waits for the watcher to load a version other than old.
func waitReload(t *testing.T, g *Gateway, old string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if h := g.policy.Hash(); h != old {
			return h
		}
	}
	t.Fatal("the watcher did not reload the edited policy")
	return ""
}

func writeVersion(t *testing.T, pol, marker string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(pol, "aup", "version.rego"), []byte("package aup\n\nbundle_version := \""+marker+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Issue #16: every version a report cites is in the bundle — one loaded
// by the watcher between two exports, and one from before a restart.
func TestEvidenceKeepsEveryPolicyVersion(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	defer fake.Close()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	dir, pol := t.TempDir(), policyDir(t)

	g, proxy, admin, stop := histGateway(t, dir, pol, fake.URL)
	h1 := g.policy.Hash()
	histBlocked(t, proxy, "u1")
	if _, held, _ := histExport(t, admin); !slices.Equal(held, []string{h1}) {
		t.Fatalf("first export holds %v, want [%s]", held, h1)
	}

	// The watcher loads a new version; a report cites it.
	writeVersion(t, pol, "2")
	h2 := waitReload(t, g, h1)
	histBlocked(t, proxy, "u2")
	want := []string{h1, h2}
	slices.Sort(want)
	b, held, cited := histExport(t, admin)
	if !slices.Equal(held, want) || !slices.Equal(cited, want) {
		t.Fatalf("second export holds %v, reports cite %v, want both %v", held, cited, want)
	}
	if got := histFile(t, b, "policies/"+h2+"/aup/version.rego"); !bytes.Contains(got, []byte(`"2"`)) {
		t.Fatalf("version file %q", got)
	}
	stop()

	// A restart on yet another version: the earlier ones come from the store.
	writeVersion(t, pol, "3")
	g, _, admin, _ = histGateway(t, dir, pol, fake.URL)
	if h3 := g.policy.Hash(); h3 == h1 || h3 == h2 {
		t.Fatalf("the restarted gateway runs an old version %s", h3)
	}
	b, held, _ = histExport(t, admin)
	if !slices.Equal(held, want) {
		t.Fatalf("after the restart the export holds %v, want %v", held, want)
	}

	// Verification fails the bundle once a cited version is taken out of it
	// (and the manifest re-signed, so only the missing version is wrong).
	res := evidence.Verify(bytes.NewReader(histDropPolicy(t, b, h2)), nil)
	if res.OK || !strings.Contains(res.FirstFailure, "cites policy version "+h2+", whose files are not in the bundle") {
		t.Fatalf("verification of the crafted bundle: ok %v, %s", res.OK, res.FirstFailure)
	}
}

// histDropPolicy removes a policy version from a bundle and signs the
// manifest again with a new key.
func histDropPolicy(t *testing.T, b []byte, hash string) []byte {
	t.Helper()
	files := histUnpack(t, b)
	var m evidence.Manifest
	for _, f := range files {
		if f.hdr.Name == evidence.ManifestFile {
			if err := json.Unmarshal(f.data, &m); err != nil {
				t.Fatal(err)
			}
		}
	}
	prefix := evidence.PoliciesDir + hash + "/"
	m.Files = slices.DeleteFunc(m.Files, func(f evidence.File) bool { return strings.HasPrefix(f.Path, prefix) })
	m.Policies = slices.DeleteFunc(m.Policies, func(p evidence.PolicyEntry) bool { return p.Hash == hash })
	m.Counts.PolicyVersions = len(m.Policies)
	pub, key, _ := ed25519.GenerateKey(nil)
	m.PublicKey, m.KeyFingerprint = base64.StdEncoding.EncodeToString(pub), evidence.Fingerprint(pub)
	mb, _ := json.MarshalIndent(m, "", "  ")

	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		data := f.data
		switch {
		case strings.HasPrefix(f.hdr.Name, prefix):
			continue
		case f.hdr.Name == evidence.ManifestFile:
			data = mb
		case f.hdr.Name == evidence.SignatureFile:
			data = ed25519.Sign(key, mb)
		}
		h := f.hdr
		h.Size = int64(len(data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// A version loaded while the store is down still goes into force; it is
// kept in memory and stored once the store is back.
func TestPolicyReloadWhileStoreDown(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	defer fake.Close()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	srv := redistest.Start(t, redistest.Options{Private: true, Persistent: true})
	dir, pol := t.TempDir(), policyDir(t)
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
policies: %q
policy: {watch: true}
secrets: {signing_key_file: %q}
apps: [{name: web, key: hist-app-key}]
`, fake.URL, srv.URL(), filepath.Join(dir, "spool"), pol, filepath.Join(dir, "signing.key"))
	cfg, err := config.Parse([]byte(y), "history-test")
	if err != nil {
		t.Fatal(err)
	}
	g, _, _, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	h1 := g.policy.Hash()
	if _, err := g.store.PolicyVersion(ctx, h1); err != nil {
		t.Fatalf("the version loaded at start is not in the store: %v", err)
	}

	srv.Kill()
	writeVersion(t, pol, "2")
	h2 := waitReload(t, g, h1) // the reload is not failed for the store
	if got := g.policies.Pending(); !slices.Equal(got, []string{h2}) {
		t.Fatalf("pending %v, want [%s]", got, h2)
	}
	srv.Restart()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := g.policies.Flush(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flush after the store came back: %v", err)
		}
	}
	v, err := g.store.PolicyVersion(ctx, h2)
	if err != nil || !bytes.Contains(v.Files["aup/version.rego"], []byte(`"2"`)) || len(g.policies.Pending()) != 0 {
		t.Fatalf("after the retry: %v, pending %v", err, g.policies.Pending())
	}
}
