// Package identity authenticates apps and turns end-user ids into stable,
// app-scoped pseudonyms and content into keyed digests.
package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"strings"
	"sync"
)

// Secret names under which generated keys are kept by a SecretSource.
const (
	SecretPseudonym = "pseudonym_key"
	SecretDigest    = "digest_key"
)

// AppKey extracts the app key from a request: "X-AUP-App-Key: KEY", else
// "Authorization: Bearer KEY", else "X-Api-Key: KEY" (Anthropic-style
// clients). Empty when none is present.
func AppKey(h http.Header) string {
	if k := h.Get("X-AUP-App-Key"); k != "" {
		return k
	}
	a := h.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return h.Get("X-Api-Key")
}

// Match finds the app whose key digest matches key. It hashes the key once
// and compares against every digest in constant time without stopping at a
// match, so timing reveals neither the key nor which app it belongs to.
// It returns -1 when no digest matches.
func Match(key string, digests [][32]byte) int {
	if key == "" {
		return -1
	}
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range digests {
		eq := subtle.ConstantTimeCompare(sum[:], digests[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	return found
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// PseudonymPrefix starts every pseudonym so support staff recognise them.
const PseudonymPrefix = "aup_"

// Pseudonymizer maps (app, end user) to a stable pseudonym:
// "aup_" + lower-case base32 of the first 16 bytes of
// HMAC-SHA256(key, app || 0x00 || user). The same key gives the same
// pseudonym on every replica and after restarts; apps never share one.
type Pseudonymizer struct {
	pool sync.Pool // of *keyed
}

// keyed is a keyed hash with its input and output buffers: one request's
// pseudonym then costs the returned string alone.
type keyed struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// NewPseudonymizer needs a key of at least 16 bytes.
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if len(key) < 16 {
		return nil, errors.New("identity: pseudonym key shorter than 16 bytes")
	}
	k := append([]byte(nil), key...)
	p := &Pseudonymizer{}
	p.pool.New = func() any { return &keyed{h: hmac.New(sha256.New, k)} }
	return p, nil
}

// Pseudonym returns the pseudonym of user within app.
func (p *Pseudonymizer) Pseudonym(app, user string) string {
	s := p.pool.Get().(*keyed)
	s.h.Reset()
	s.in = append(append(append(s.in[:0], app...), 0), user...)
	s.h.Write(s.in)
	out := s.h.Sum(s.sum[:0])
	var buf [len(PseudonymPrefix) + 26]byte
	copy(buf[:], PseudonymPrefix)
	b32.Encode(buf[len(PseudonymPrefix):], out[:16])
	if cap(s.in) <= 1<<10 { // a huge id is not kept
		p.pool.Put(s)
	}
	for i := len(PseudonymPrefix); i < len(buf); i++ {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return string(buf[:])
}

// Digester computes keyed digests of content: reports keep the digest, so
// the same text can be recognised later without being stored.
type Digester struct {
	pool sync.Pool
}

// NewDigester needs a key of at least 16 bytes.
func NewDigester(key []byte) (*Digester, error) {
	if len(key) < 16 {
		return nil, errors.New("identity: digest key shorter than 16 bytes")
	}
	k := append([]byte(nil), key...)
	d := &Digester{}
	d.pool.New = func() any { return hmac.New(sha256.New, k) }
	return d, nil
}

// Digest returns hex HMAC-SHA256(key, parts joined by 0x00).
func (d *Digester) Digest(parts ...string) string {
	h := d.pool.Get().(hash.Hash)
	h.Reset()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var sum [32]byte
	out := h.Sum(sum[:0])
	d.pool.Put(h)
	return hex.EncodeToString(out)
}

// GenerateKey returns 32 random bytes, the generator for secrets.
func GenerateKey() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
