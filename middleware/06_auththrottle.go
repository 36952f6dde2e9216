package middleware

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/authguard"
	"github.com/aupguard/aupguard/internal/wire"
)

// AuthThrottle goes right before Auth: a source locked out for failed
// authentications (internal/authguard) is refused with 429 auth_throttled
// before its key is looked at, and Auth's refusals count as failures. A nil
// guard lets everything through.
func AuthThrottle(g *authguard.Guard) gin.HandlerFunc {
	return func(c *gin.Context) {
		if g == nil {
			c.Next()
			return
		}
		if retry, locked := g.Check(c.Request.Context(), c.Request); locked {
			secs := authguard.RetryAfterSeconds(retry)
			c.Writer.Header().Set("Retry-After", strconv.Itoa(secs))
			Refuse(c, wire.ReasonAuthThrottled, "too many failed authentications from this address; retry in "+strconv.Itoa(secs)+"s", map[string]any{"retry_after": secs})
			return
		}
		c.Next()
		if st := StateOf(c); st.App == nil && st.Reason == wire.ReasonUnauthorized {
			g.Fail(c.Request.Context(), c.Request, authguard.AreaAppKey)
		}
	}
}
