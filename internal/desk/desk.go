// Package desk is the abuse desk: the admin JSON API under /admin/v1/ and
// the reviewers' web page under /desk/, both served on the admin listener.
//
// Access is by admin token, each with a role: reviewer (read, act),
// auditor (read, export) or admin (all). The API takes the token as a
// bearer token on every request; the page takes it once at sign-in and
// then uses a signed session cookie that holds the token's name, an expiry
// and an HMAC — never the token. Both enforce the same role table (can).
//
// The desk reads the store directly and applies reviewer actions through
// an Actor (the enforcer), so a suspension takes effect on the gateway at
// once. It never reaches into the proxy.
package desk

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/transparency"
)

// Actor applies a reviewer action so that it takes effect on the gateway
// at once (internal/enforce's Enforcer satisfies it).
type Actor interface {
	Act(ctx context.Context, a store.Action) (store.Standing, error)
}

// ExportFilter selects what an evidence bundle holds. Its fields match
// evidence.Filter's, so the wiring converts one into the other directly.
type ExportFilter struct {
	Since    time.Time
	Until    time.Time
	App      string
	User     string
	Category string
}

// Exporter writes a signed evidence bundle (.tar.gz) to w.
type Exporter interface {
	Export(ctx context.Context, w io.Writer, f ExportFilter) error
}

// ExporterFunc adapts a function to Exporter.
type ExporterFunc func(ctx context.Context, w io.Writer, f ExportFilter) error

// Export calls f.
func (f ExporterFunc) Export(ctx context.Context, w io.Writer, x ExportFilter) error {
	return f(ctx, w, x)
}

// Options configure a Desk.
type Options struct {
	Store store.Store // required: every read
	// Actor applies actions; nil applies them with Store.ApplyAction (the
	// gateway then sees them through the store's change feed).
	Actor Actor
	// Exporter writes evidence bundles; nil answers export with 501.
	Exporter Exporter
	Tokens   []config.AdminToken
	// ZDR drops report excerpts from every answer (defence in depth: a ZDR
	// gateway never stores any).
	ZDR    bool
	Clock  func() time.Time
	Logger *slog.Logger
	// SessionKey signs session cookies and CSRF tokens. Empty: the key is
	// taken from the store (GetOrCreateSecret "desk_session_key"), so every
	// replica sharing the store accepts every replica's cookies.
	SessionKey []byte
	SessionTTL time.Duration // default 8h
	// SecureCookie sets the cookie's Secure flag even on plain HTTP (TLS
	// terminated in front of aupguard). It is set anyway under TLS or
	// X-Forwarded-Proto: https.
	SecureCookie bool
	MaxBodyBytes int64 // request body bound, default 64 KiB
	// Throttle slows down token guessing on the API and the sign-in form
	// (an *authguard.Guard); nil: none.
	Throttle Throttle
	// Apps names the configured apps. With exactly one, a user id no app
	// has a record of is that app's (acting on a user who only ever made
	// clean requests, or banning one named in an abuse notice, needs no
	// ?app=); with several, the caller must say which, and is told the names.
	Apps []string
	// Casework gives the transparency report its appeals and notices
	// (their records); nil: those figures read zero.
	Casework transparency.Casework

	// Compliance decides appeals, takes notices in and keeps the
	// statements of reviewers' suspensions and bans; nil: those routes
	// answer 501 (the lists still read the store).
	Compliance *compliance.Service
}

// Throttle is what the desk needs of internal/authguard.
type Throttle interface {
	Check(ctx context.Context, r *http.Request) (retryAfter time.Duration, locked bool)
	Fail(ctx context.Context, r *http.Request, area string)
}

// Areas passed to Throttle.Fail (authguard's names).
const (
	areaAdminToken = "admin_token"
	areaSignIn     = "desk_sign_in"
)

// throttled answers a locked-out source's request with 429 and
// Retry-After, or reports false.
func (d *Desk) throttled(c *gin.Context) (secs int, locked bool) {
	if d.opt.Throttle == nil {
		return 0, false
	}
	retry, locked := d.opt.Throttle.Check(c.Request.Context(), c.Request)
	if !locked {
		return 0, false
	}
	secs = max(int((retry+time.Second-1)/time.Second), 1)
	c.Header("Retry-After", strconv.Itoa(secs))
	return secs, true
}

func (d *Desk) failed(c *gin.Context, area string) {
	if d.opt.Throttle != nil {
		d.opt.Throttle.Fail(c.Request.Context(), c.Request, area)
	}
}

// Role names.
const (
	RoleReviewer = "reviewer"
	RoleAuditor  = "auditor"
	RoleAdmin    = "admin"
)

type perm int

const (
	permRead perm = iota
	permAct
	permExport
)

// can is the one role table: the API and the page both ask it.
func can(role string, p perm) bool {
	switch role {
	case RoleAdmin:
		return true
	case RoleReviewer:
		return p == permRead || p == permAct
	case RoleAuditor:
		return p == permRead || p == permExport
	}
	return false
}

// principal is who is calling: an admin token's name and role.
type principal struct {
	Name string
	Role string
}

func (p *principal) Can(x perm) bool { return p != nil && can(p.Role, x) }

type token struct {
	name, role string
	digest     [sha256.Size]byte
}

// Desk serves the admin API and the desk page.
type Desk struct {
	opt    Options
	tokens []token
	key    []byte
	now    func() time.Time
	log    *slog.Logger
	pages  map[string]*template.Template

	revMu   sync.Mutex
	revoked map[string]time.Time // session nonce → expiry, for logout
}

// New checks opt and prepares the desk.
func New(opt Options) (*Desk, error) {
	if opt.Store == nil {
		return nil, errors.New("desk: a store is required")
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 8 * time.Hour
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 64 << 10
	}
	d := &Desk{opt: opt, now: opt.Clock, log: opt.Logger, revoked: map[string]time.Time{}}
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]bool{}
	for i, t := range opt.Tokens {
		if t.Name == "" {
			return nil, fmt.Errorf("desk: admin_tokens[%d]: name is required", i)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("desk: admin_tokens[%d]: name %q is used twice", i, t.Name)
		}
		names[t.Name] = true
		if t.Role != RoleReviewer && t.Role != RoleAuditor && t.Role != RoleAdmin {
			return nil, fmt.Errorf("desk: admin_tokens[%d] (%s): role %q is not reviewer, auditor or admin", i, t.Name, t.Role)
		}
		tk := token{name: t.Name, role: t.Role}
		switch {
		case t.Token != "" && t.TokenSHA256 == "":
			tk.digest = sha256.Sum256([]byte(t.Token))
		case t.Token == "" && t.TokenSHA256 != "":
			b, err := hex.DecodeString(t.TokenSHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("desk: admin_tokens[%d] (%s): token_sha256 must be 64 hex digits", i, t.Name)
			}
			copy(tk.digest[:], b)
		default:
			return nil, fmt.Errorf("desk: admin_tokens[%d] (%s): set exactly one of token and token_sha256", i, t.Name)
		}
		if digests[tk.digest] {
			return nil, fmt.Errorf("desk: admin_tokens[%d] (%s): the same token is configured twice", i, t.Name)
		}
		digests[tk.digest] = true
		d.tokens = append(d.tokens, tk)
	}
	d.key = opt.SessionKey
	if len(d.key) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		k, err := opt.Store.GetOrCreateSecret(ctx, "desk_session_key", func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		})
		if err != nil {
			return nil, fmt.Errorf("desk: session key: %w", err)
		}
		d.key = k
	}
	if len(d.key) < 16 {
		return nil, errors.New("desk: the session key must be at least 16 bytes")
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	d.pages = pages
	return d, nil
}

// authenticate finds the token tok among the configured ones. It compares
// SHA-256 digests in constant time against every token, so neither the
// answer's timing nor an early exit tells which token came close.
func (d *Desk) authenticate(tok string) *principal {
	if tok == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(tok))
	found := -1
	for i := range d.tokens {
		if subtle.ConstantTimeCompare(sum[:], d.tokens[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &principal{Name: d.tokens[found].name, Role: d.tokens[found].role}
}

func (d *Desk) tokenByName(name string) *token {
	for i := range d.tokens {
		if d.tokens[i].name == name {
			return &d.tokens[i]
		}
	}
	return nil
}

// Register mounts the API on /admin/v1/ and the page on /desk/ of r (the
// admin listener's engine).
func (d *Desk) Register(r gin.IRouter) {
	d.registerPrivacy(r) // first: it picks users/{user}/export|erase out of the catch-all (privacy.go)
	d.registerAPI(r)
	d.registerWeb(r)
	d.registerTransparency(r) // transparency report and subprocessor register (transparency.go)
}

// Handler is the desk on a gin engine of its own, for mounting on a plain
// http.ServeMux (at "/admin/v1/" and "/desk/") and for tests.
func (d *Desk) Handler() http.Handler {
	e := gin.New()
	// As on the admin listener: routes see paths as sent.
	e.RedirectTrailingSlash, e.RedirectFixedPath, e.RemoveExtraSlash = false, false, false
	e.Use(gin.Recovery())
	d.Register(e)
	return e
}

// act applies a through the Actor, or the store when there is none.
func (d *Desk) act(ctx context.Context, a store.Action) (store.Standing, error) {
	if d.opt.Actor != nil {
		return d.opt.Actor.Act(ctx, a)
	}
	_, st, err := d.opt.Store.ApplyAction(ctx, a)
	return st, err
}

// resolveApp decides which app's user is meant when the caller gave no
// app: the only app that knows the id, else, when no app knows it, the
// only configured app. apps is set when there are several (the caller must
// choose) or none.
func (d *Desk) resolveApp(ctx context.Context, app, user string) (string, []string, error) {
	if app != "" {
		return app, nil, nil
	}
	apps, err := d.opt.Store.Apps(ctx, user)
	if err != nil {
		return "", nil, err
	}
	if len(apps) == 1 {
		return apps[0], nil, nil
	}
	if len(apps) == 0 && len(d.opt.Apps) == 1 {
		return d.opt.Apps[0], nil, nil
	}
	if apps == nil {
		apps = []string{}
	}
	return "", apps, nil
}

// unknownUser is the answer for an id no app has a record of, when the
// caller must name the app: it says which apps there are.
func (d *Desk) unknownUser() (string, map[string]any) {
	msg := "no app knows this user id; name the app with ?app=NAME to act anyway"
	if len(d.opt.Apps) > 1 {
		return msg + " (configured apps: " + strings.Join(d.opt.Apps, ", ") + ")", map[string]any{"configured_apps": d.opt.Apps}
	}
	return msg, nil
}

// scrub removes what ZDR mode must never show.
func (d *Desk) scrub(reps []store.Report) []store.Report {
	if !d.opt.ZDR {
		return reps
	}
	for i := range reps {
		reps[i].Excerpt = ""
	}
	return reps
}

// maxDays bounds a duration in days: a century.
const maxDays = 36500

// parseDuration reads a suspension length: a Go duration ("36h", "90m")
// or whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days {
			return 0, fmt.Errorf("duration %q: want e.g. 24h, 90m or 7d", s)
		}
		// More days would overflow a Duration (about 106,000 days) and wrap
		// round to a short or negative one.
		if n < -maxDays || n > maxDays {
			return 0, fmt.Errorf("duration %q: at most %dd", s, maxDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 24h, 90m or 7d", s)
	}
	return d, nil
}

// fmtDuration prints a duration the way reviewers type it.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	return s
}

// parseTime reads since/until: RFC 3339, a date (midnight UTC), or a
// duration back from now ("24h", "7d"); "" is the zero time.
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date (2026-11-01) or a duration back from now (24h, 7d)", s)
}
