package middleware

import (
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// HeaderEndUser names the end user; it wins over the body's own field.
const HeaderEndUser = "X-AUP-End-User"

// maxEndUser bounds an end-user id (OpenRouter's "user" is short too).
const maxEndUser = 256

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
