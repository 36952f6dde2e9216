package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
)

func TestAppKeyAndMatch(t *testing.T) {
	h := http.Header{}
	h.Set("Authorization", "Bearer k-one")
	if AppKey(h) != "k-one" {
		t.Fatal(AppKey(h))
	}
	h.Set("X-AUP-App-Key", "k-two")
	if AppKey(h) != "k-two" {
		t.Fatal("X-AUP-App-Key should win")
	}
	if AppKey(http.Header{"X-Api-Key": {"k-three"}}) != "k-three" {
		t.Fatal("X-Api-Key not read")
	}
	if AppKey(http.Header{"Authorization": {"Basic abc"}}) != "" {
		t.Fatal("basic auth taken as key")
	}
	ds := [][32]byte{sha256.Sum256([]byte("k-one")), sha256.Sum256([]byte("k-two")), sha256.Sum256([]byte("k-three"))}
	for i, k := range []string{"k-one", "k-two", "k-three"} {
		if got := Match(k, ds); got != i {
			t.Errorf("Match(%q) = %d, want %d", k, got, i)
		}
	}
	for _, k := range []string{"", "k-on", "k-one ", "K-ONE"} {
		if got := Match(k, ds); got != -1 {
			t.Errorf("Match(%q) = %d, want -1", k, got)
		}
	}
}

func TestPseudonym(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	p, err := NewPseudonymizer(key)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Pseudonym("web", "alice")
	if !strings.HasPrefix(a, "aup_") || len(a) != 30 || strings.ToLower(a) != a || strings.Contains(a, "alice") {
		t.Fatalf("bad pseudonym %q", a)
	}
	p2, _ := NewPseudonymizer(key) // a restart or another replica
	if p2.Pseudonym("web", "alice") != a {
		t.Error("pseudonym not stable across instances")
	}
	if p.Pseudonym("mobile", "alice") == a {
		t.Error("apps share a pseudonym")
	}
	if p.Pseudonym("web", "bob") == a {
		t.Error("users share a pseudonym")
	}
	// The separator keeps ("we","balice") apart from ("web","alice").
	if p.Pseudonym("we", "balice") == a {
		t.Error("app/user boundary ambiguous")
	}
	other, _ := NewPseudonymizer(bytes.Repeat([]byte{8}, 32))
	if other.Pseudonym("web", "alice") == a {
		t.Error("key does not matter")
	}
	if _, err := NewPseudonymizer([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}

func TestDigest(t *testing.T) {
	d, _ := NewDigester(bytes.Repeat([]byte{1}, 32))
	x := d.Digest("hello")
	if len(x) != 64 || x != d.Digest("hello") || x == d.Digest("hello!") {
		t.Fatalf("digest %q", x)
	}
	d2, _ := NewDigester(bytes.Repeat([]byte{2}, 32))
	if d2.Digest("hello") == x {
		t.Error("digest not keyed")
	}
}

func TestFileSecretsAndLoadKeys(t *testing.T) {
	dir := t.TempDir()
	src := &FileSecrets{Dir: dir}
	ctx := context.Background()
	k1, err := LoadKeys(ctx, "", "", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.Pseudonym) != 32 || bytes.Equal(k1.Pseudonym, k1.Digest) {
		t.Fatalf("keys %x %x", k1.Pseudonym, k1.Digest)
	}
	k2, err := LoadKeys(ctx, "", "", &FileSecrets{Dir: dir})
	if err != nil || !bytes.Equal(k1.Pseudonym, k2.Pseudonym) || !bytes.Equal(k1.Digest, k2.Digest) {
		t.Fatalf("generated keys not kept: %v", err)
	}
	k3, err := LoadKeys(ctx, "configured-pseudonym-key", "", nil)
	if err == nil {
		t.Fatalf("missing digest key and no source accepted: %+v", k3)
	}
	k4, err := LoadKeys(ctx, "configured-pseudonym-key", "configured-digest-key", nil)
	if err != nil || string(k4.Pseudonym) != "configured-pseudonym-key" {
		t.Fatalf("%v %v", k4, err)
	}
	if _, err := src.GetOrCreateSecret(ctx, "../x", GenerateKey); err == nil {
		t.Error("path traversal in secret name accepted")
	}
}

func BenchmarkPseudonym(b *testing.B) {
	p, _ := NewPseudonymizer(bytes.Repeat([]byte{7}, 32))
	b.ReportAllocs()
	for b.Loop() {
		p.Pseudonym("web", "user-123456")
	}
}

// TestPseudonymStable: a pseudonym is the documented HMAC, so pseudonyms
// kept in the store and sent upstream never change across releases.
func TestPseudonymStable(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	p, _ := NewPseudonymizer(key)
	for _, u := range []string{"alice", "", strings.Repeat("x", 5000), "bob"} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("web\x00" + u))
		want := PseudonymPrefix + strings.ToLower(b32.EncodeToString(m.Sum(nil)[:16]))
		for range 2 { // a pooled hash, then a fresh one after a huge id
			if got := p.Pseudonym("web", u); got != want {
				t.Fatalf("Pseudonym(web, %.10q) = %s, want %s", u, got, want)
			}
		}
	}
}
