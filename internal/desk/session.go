package desk

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The session cookie is payload "." mac, both base64url:
//
//	payload = {"n": token name, "e": expiry (Unix s), "s": random session id}
//	mac     = HMAC-SHA256(key, "aupguard-desk-session\x00" + payload + "\x00" + SHA-256 of the token)
//
// It holds no token and no role: the role is the token's as configured
// now, so a role change holds at once. Mixing the token's digest into the
// MAC ends every session of a token when the token is rotated or removed;
// the expiry ends it after SessionTTL; sign-out revokes its id in the store
// (store.RevokeSession), so it holds on every replica sharing the store and
// across restarts, and clears the cookie.
const cookieName = "aupguard_desk"

type session struct {
	Name   string `json:"n"`
	Expiry int64  `json:"e"`
	ID     string `json:"s"`
}

var b64 = base64.RawURLEncoding

func (d *Desk) mac(payload string, digest []byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("aupguard-desk-session\x00"))
	m.Write([]byte(payload))
	m.Write([]byte{0})
	m.Write(digest)
	return m.Sum(nil)
}

// newSession makes the cookie value for token tk.
func (d *Desk) newSession(tk *token) (string, session) {
	id := make([]byte, 16)
	rand.Read(id)
	s := session{Name: tk.name, Expiry: d.now().Add(d.opt.SessionTTL).Unix(), ID: b64.EncodeToString(id)}
	js, _ := json.Marshal(s)
	payload := b64.EncodeToString(js)
	return payload + "." + b64.EncodeToString(d.mac(payload, tk.digest[:])), s
}

// readSession checks the cookie and returns its session and principal.
func (d *Desk) readSession(r *http.Request) (*session, *principal) {
	ck, err := r.Cookie(cookieName)
	if err != nil || len(ck.Value) > 1024 {
		return nil, nil
	}
	payload, sig, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return nil, nil
	}
	js, err1 := b64.DecodeString(payload)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	var s session
	if json.Unmarshal(js, &s) != nil {
		return nil, nil
	}
	tk := d.tokenByName(s.Name)
	if tk == nil || !hmac.Equal(mac, d.mac(payload, tk.digest[:])) {
		return nil, nil
	}
	now := d.now()
	if now.Unix() >= s.Expiry || d.isRevoked(r.Context(), s.ID, now) {
		return nil, nil
	}
	return &s, &principal{Name: tk.name, Role: tk.role}
}

// revoke signs s out everywhere. When the store cannot take it the
// session is still dead on this replica, and the caller is told.
func (d *Desk) revoke(ctx context.Context, s *session) error {
	d.revMu.Lock()
	now := d.now()
	for id, exp := range d.revoked { // drop what has expired anyway
		if now.After(exp) {
			delete(d.revoked, id)
		}
	}
	d.revoked[s.ID] = time.Unix(s.Expiry, 0)
	d.revMu.Unlock()
	return d.opt.Store.RevokeSession(context.WithoutCancel(ctx), s.ID, time.Unix(s.Expiry, 0))
}

// isRevoked asks the store (another replica, or this one before a restart,
// may have signed the session out); a store that cannot say fails closed.
func (d *Desk) isRevoked(ctx context.Context, id string, now time.Time) bool {
	d.revMu.Lock()
	_, ok := d.revoked[id]
	d.revMu.Unlock()
	if ok {
		return true
	}
	revoked, err := d.opt.Store.SessionRevoked(ctx, id)
	if err != nil {
		d.log.Warn("desk: cannot check the session against the store; refusing it", "err", err)
		return true
	}
	return revoked
}

// csrfToken is the per-session CSRF token every form carries: an HMAC of
// the session id, so it differs per session and needs no server state.
func (d *Desk) csrfToken(s *session) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("aupguard-desk-csrf\x00"))
	m.Write([]byte(s.ID))
	return b64.EncodeToString(m.Sum(nil))
}

func (d *Desk) csrfOK(s *session, got string) bool {
	if s == nil || got == "" {
		return false
	}
	return hmac.Equal([]byte(d.csrfToken(s)), []byte(got))
}

// sameOrigin checks Origin, else Referer, against the request's host when
// the browser sent one. A cross-site form post fails here even before its
// CSRF token is checked; "Origin: null" (sandboxed or privacy-stripped)
// is refused.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && o != "null" && strings.EqualFold(u.Host, r.Host)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	return true
}

func (d *Desk) secure(r *http.Request) bool {
	return d.opt.SecureCookie || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (d *Desk) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/desk", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secure(r),
	})
}
