package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
)

// tlsSelfSigned writes a certificate for 127.0.0.1 and returns it.
func tlsSelfSigned(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c
}

// Both listeners over TLS from files: the proxy answers over HTTPS (and
// refuses plain HTTP), the desk cookie is Secure without any proxy header,
// and a renewed certificate is served after a reload (what SIGHUP does)
// while a broken one keeps the old.
func TestTLSOnBothListeners(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	defer fake.Close()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := tlsSelfSigned(t, cf, kf, "first")
	y := fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
apps: [{name: web, key: %s}]
admin_tokens: [{name: ops, role: admin, token: %s}]
tls: {cert_file: %q, key_file: %q}
admin_tls: {cert_file: %q, key_file: %q}
`, fake.URL, "bolt://"+filepath.Join(dir, "a.db"), filepath.Join(dir, "spool"), filepath.Join(dir, "signing.key"),
		hardAppKey, hardToken, cf, kf, cf, kf)
	cfg, err := config.Parse([]byte(y), "tls-test")
	if err != nil {
		t.Fatal(err)
	}
	g, proxy, admin, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	proxy, admin = strings.Replace(proxy, "http://", "https://", 1), strings.Replace(admin, "http://", "https://", 1)

	pool := x509.NewCertPool()
	pool.AddCert(first)
	client := func() *http.Client {
		return &http.Client{
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	req, _ := http.NewRequest("POST", proxy+"/api/v1/chat/completions",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+hardAppKey)
	req.Header.Set("X-AUP-End-User", "u1")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "first" {
		t.Fatalf("chat over TLS: %d %s", resp.StatusCode, b)
	}

	// Plain HTTP to a TLS listener gets net/http's 400, never the API.
	plain, err := http.Get(strings.Replace(proxy, "https://", "http://", 1) + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode != 400 {
			t.Errorf("plain HTTP to the TLS listener: %d", plain.StatusCode)
		}
	}

	form := url.Values{"token": {hardToken}}.Encode()
	resp, err = client().Post(admin+"/desk/login", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == "aupguard_desk" && c.Value != "" && c.Secure)
	}
	if resp.StatusCode != http.StatusSeeOther || !secure {
		t.Fatalf("desk sign-in over TLS: %d, Secure cookie %v (%v)", resp.StatusCode, secure, resp.Header.Values("Set-Cookie"))
	}

	// Renewal: new files, a reload, and new connections get the new one.
	second := tlsSelfSigned(t, cf, kf, "second")
	pool.AddCert(second)
	g.reloadCerts(slog.New(slog.DiscardHandler))
	peer := func(u string) string {
		t.Helper()
		r, err := client().Get(u + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.TLS.PeerCertificates[0].Subject.CommonName
	}
	if p, a := peer(proxy), peer(admin); p != "second" || a != "second" {
		t.Fatalf("after reload: proxy %s, admin %s", p, a)
	}
	os.WriteFile(cf, []byte("garbage"), 0o600)
	g.reloadCerts(slog.New(slog.DiscardHandler))
	if p := peer(proxy); p != "second" {
		t.Fatalf("a broken renewal replaced the certificate: %s", p)
	}
}

// A certificate that cannot be read stops the start with an error naming it.
func TestTLSBadFilesFailAtStart(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	y := fmt.Sprintf(`
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
tls: {cert_file: %q, key_file: %q}
`, "bolt://"+filepath.Join(dir, "a.db"), filepath.Join(dir, "spool"), filepath.Join(dir, "k"),
		filepath.Join(dir, "missing.pem"), filepath.Join(dir, "missing.key"))
	cfg, err := config.Parse([]byte(y), "tls-test")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		if g != nil {
			g.Close()
		}
		t.Fatalf("build: %v", err)
	}
}
