package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "signing.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("second load made a new key")
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("key file is not PEM PKCS #8: %q", data[:20])
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	keys := make([]ed25519.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Equal(keys[0]) {
			t.Fatal("racing creators ended with different keys")
		}
	}
}

func TestLoadKeyRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("garbage key file accepted")
	}
}

func TestParseKeys(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	want := ed25519.NewKeyFromSeed(seed)
	pemKey, err := MarshalPrivateKeyPEM(want)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"pem": pemKey, "raw seed": seed, "hex seed": []byte(hex.EncodeToString(seed) + "\n"),
	} {
		got, err := ParsePrivateKey(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{1}, 33),
		[]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")} {
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("private key %q accepted", bad)
		}
	}

	pub := want.Public().(ed25519.PublicKey)
	pemPub, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"pem": pemPub, "raw": pub, "hex": []byte(hex.EncodeToString(pub)), "base64": []byte(b64(pub) + "\n"),
	} {
		got, err := ParsePublicKey(in)
		if err != nil || !got.Equal(pub) {
			t.Errorf("public %s: %v", name, err)
		}
	}
	if _, err := ParsePublicKey(pemKey); err == nil {
		t.Error("private PEM accepted as a public key")
	}
	if fp := Fingerprint(pub); len(fp) != len("sha256:")+64 || fp[:7] != "sha256:" {
		t.Errorf("fingerprint %q", fp)
	}
}
