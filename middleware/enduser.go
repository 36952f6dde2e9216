package middleware

import (
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// HeaderEndUser names the end user; it wins over the body's own field.
const HeaderEndUser = "X-AUP-End-User"

// maxEndUser bounds an end-user id (OpenRouter's "user" is short too).
const maxEndUser = 256

// Pseudonymizer maps (app, end user) to the stable pseudonym sent upstream.
// internal/identity.Pseudonymizer implements it.
type Pseudonymizer interface {
	Pseudonym(app, user string) string
}

// EndUser identifies the end user of a model call: the X-AUP-End-User
// header, else the body's field (user, safety_identifier, metadata.user_id).
// Missing → 400 end_user_required, unless the app allows it (then the user
// is "app:NAME"). Metadata reads need no end user. Runs after Auth and Body.
func EndUser(p Pseudonymizer) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		if !st.Endpoint.IsModelCall() || st.App == nil {
			c.Next()
			return
		}
		user := strings.TrimSpace(c.GetHeader(HeaderEndUser))
		if user == "" && st.Request != nil {
			user = strings.TrimSpace(st.Request.EndUser)
		}
		if user == "" {
			if !st.App.EndUserOptional {
				Refuse(c, wire.ReasonEndUserRequired,
					"an end-user id is required: send the X-AUP-End-User header or the body's user field", nil)
				return
			}
			user = "app:" + st.App.Name
		}
		if len(user) > maxEndUser || !utf8.ValidString(user) {
			Refuse(c, wire.ReasonInvalidRequest, "the end-user id must be valid UTF-8 of at most 256 bytes", nil)
			return
		}
		if user == store.OperatorUser {
			Refuse(c, wire.ReasonInvalidRequest, "the end-user id "+store.OperatorUser+" is reserved for the app's own record", nil)
			return
		}
		st.EndUser = user
		st.Pseudonym = p.Pseudonym(st.App.Name, user)
		c.Next()
	}
}

// Models refuses model calls whose model, or any entry of the models
// fallback list, is outside the app's allow-list (403 model_not_allowed).
// A call naming no model is refused too when the app has an allow-list:
// the account default could be anything.
func Models() gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		if st.App == nil || len(st.App.Models) == 0 || st.Request == nil {
			c.Next()
			return
		}
		req := st.Request
		if req.Preset != "" {
			// A preset may pick any model upstream: an allow-list cannot vouch for it.
			Refuse(c, wire.ReasonModelNotAllowed, "presets are not allowed for an app with a model allow-list", nil)
			return
		}
		if req.Model == "" && len(req.Models) == 0 {
			Refuse(c, wire.ReasonModelNotAllowed, "this app must name a model on its allow-list", nil)
			return
		}
		if req.Model != "" && !st.App.AllowsModel(req.Model) {
			Refuse(c, wire.ReasonModelNotAllowed, "model "+quoteModel(req.Model)+" is not allowed for this app", map[string]any{"model": req.Model})
			return
		}
		for _, m := range req.Models {
			if !st.App.AllowsModel(m) {
				Refuse(c, wire.ReasonModelNotAllowed, "model "+quoteModel(m)+" is not allowed for this app", map[string]any{"model": m})
				return
			}
		}
		c.Next()
	}
}

// quoteModel keeps a hostile model name from bloating the message.
func quoteModel(m string) string {
	if len(m) > 100 {
		m = m[:100] + "…"
	}
	return `"` + m + `"`
}

// NewPseudonymizer returns aupguard's pseudonymizer: "aup_" + keyed
// HMAC-SHA256 of (app, user); the key needs at least 16 bytes.
func NewPseudonymizer(key []byte) (Pseudonymizer, error) {
	p, err := identity.NewPseudonymizer(key)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// NewDigester returns aupguard's keyed content digest (hex HMAC-SHA256).
func NewDigester(key []byte) (Digester, error) {
	d, err := identity.NewDigester(key)
	if err != nil {
		return nil, err
	}
	return d, nil
}
