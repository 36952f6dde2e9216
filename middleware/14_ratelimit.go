package middleware

import (
	"math"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/wire"
)

// RateLimit takes one request from the end user's and the app's budgets
// (the app's limits); over budget → 429 rate_limited with Retry-After.
func RateLimit(e Enforcer) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		if st.App == nil || st.EndUser == "" || (st.App.UserPerMinute == 0 && st.App.AppPerMinute == 0) {
			c.Next()
			return
		}
		ok, retry := e.Allow(c.Request.Context(), st.App.Name, st.EndUser, st.App.UserPerMinute, st.App.AppPerMinute)
		if !ok {
			secs := int(math.Ceil(retry.Seconds()))
			if secs < 1 {
				secs = 1
			}
			c.Writer.Header().Set("Retry-After", strconv.Itoa(secs))
			Refuse(c, wire.ReasonRateLimited, "too many requests for this end user or app; retry later", map[string]any{"retry_after": secs})
			return
		}
		c.Next()
	}
}
