package middleware

import (
	"crypto/sha256"
	"log/slog"
	"path"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// App is an operator application allowed to spend the operator's key.
type App struct {
	Name      string
	KeyDigest [32]byte // SHA-256 of the app key
	Models    []string // allow-list globs ("openai/*"); empty allows every model
	// EndUserOptional lets model calls through without an end-user id; they
	// are attributed to the end user "app:NAME".
	EndUserOptional bool
	ZDR             bool // always ZDR for this app
	AnswerCheck     bool
	UserPerMinute   int // rate limits; 0 = unlimited
	AppPerMinute    int
	// OperatorRoles are the roles (system, developer) whose text the
	// operator writes; text in the others is charged to the end user. nil:
	// both (policy.DefaultOperatorRoles); empty: none, for apps whose end
	// users write the system prompt.
	OperatorRoles []string
	// Providers constrains the upstream providers that may serve the app
	// (apps[].providers); nil: none. Forward merges it into every request.
	Providers *wire.ProviderRule
}

// KeyDigest hashes an app key for App.KeyDigest.
func KeyDigest(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// AllowsModel reports whether model is on the app's allow-list.
func (a *App) AllowsModel(model string) bool {
	if len(a.Models) == 0 {
		return true
	}
	for _, g := range a.Models {
		if ok, _ := path.Match(g, model); ok {
			return true
		}
	}
	return false
}

// operatorRoles is the app's operator roles (nil: the default).
func (a *App) operatorRoles() []string {
	if a.OperatorRoles == nil {
		return policy.DefaultOperatorRoles
	}
	return a.OperatorRoles
}

// Auth authenticates the app by "Authorization: Bearer KEY" or
// "X-AUP-App-Key: KEY" or "X-Api-Key: KEY", comparing digests of every app in constant time.
// With no apps configured every call is refused: aupguard is never an
// open relay.
func Auth(apps []*App, log *slog.Logger) gin.HandlerFunc {
	digests := make([][32]byte, len(apps))
	for i, a := range apps {
		digests[i] = a.KeyDigest
	}
	if len(apps) == 0 && log != nil {
		log.Warn("no apps are configured: every proxied call is refused with 401")
	}
	return func(c *gin.Context) {
		if len(apps) == 0 {
			Refuse(c, wire.ReasonUnauthorized, "no apps are configured on this gateway", nil)
			return
		}
		i := identity.Match(identity.AppKey(c.Request.Header), digests)
		if i < 0 {
			Refuse(c, wire.ReasonUnauthorized, "missing or unknown app key (send it as Authorization: Bearer <app key>, X-AUP-App-Key or X-Api-Key)", nil)
			return
		}
		StateOf(c).App = apps[i]
		c.Next()
	}
}
