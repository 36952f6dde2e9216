package tlsreload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// WriteSelfSigned writes a self-signed certificate for 127.0.0.1 and
// localhost to certFile and keyFile and returns it.
func writeSelfSigned(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
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

func TestReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if _, err := Load(cf, kf); err == nil || !strings.Contains(err.Error(), cf) {
		t.Fatalf("missing files: %v", err)
	}
	writeSelfSigned(t, cf, kf, "one")
	c, err := Load(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.GetCertificate(&tls.ClientHelloInfo{})
	if got.Leaf.Subject.CommonName != "one" || c.Config().MinVersion != tls.VersionTLS12 {
		t.Fatalf("loaded %s", got.Leaf.Subject.CommonName)
	}
	writeSelfSigned(t, cf, kf, "two")
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetCertificate(nil); got.Leaf.Subject.CommonName != "two" {
		t.Fatalf("after reload: %s", got.Leaf.Subject.CommonName)
	}
	os.WriteFile(kf, []byte("not a key"), 0o600)
	if err := c.Reload(); err == nil {
		t.Fatal("a broken key reloaded")
	}
	if got, _ := c.GetCertificate(nil); got.Leaf.Subject.CommonName != "two" || c.NotAfter().IsZero() {
		t.Fatalf("a failed reload replaced the certificate: %s", got.Leaf.Subject.CommonName)
	}
}
