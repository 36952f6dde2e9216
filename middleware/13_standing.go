package middleware

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/wire"
)

// HeaderStanding tells the app its end user has been warned.
const HeaderStanding = "X-AUP-Standing"

// Standing refuses suspended (until their suspension ends) and banned end
// users before anything else is spent on them, and marks warned users'
// responses with X-AUP-Standing: warned. An error (standing unknown under
// fail_mode closed) is 503 store_unavailable. With statements set, the
// refusal names the sanction's statement of reasons (statement_id).
func Standing(e Enforcer, statements StatementFinder) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		if st.App == nil || st.EndUser == "" {
			c.Next()
			return
		}
		s, err := e.Standing(c.Request.Context(), st.App.Name, st.EndUser)
		if err != nil {
			Refuse(c, wire.ReasonStoreUnavailable, "the end user's standing cannot be checked right now", nil)
			return
		}
		st.Standing = s
		if refuseStanding(c, s, statements) {
			return
		}
		c.Next()
	}
}

// refuseStanding answers for suspended and banned users; true when it did.
func refuseStanding(c *gin.Context, s store.Standing, statements StatementFinder) bool {
	switch s.Status {
	case store.Banned:
		meta := map[string]any{}
		if !s.Until.IsZero() {
			meta["until"] = s.Until.UTC().Format(time.RFC3339)
		}
		addStatement(c, s, statements, meta)
		Refuse(c, wire.ReasonBanned, "this end user is banned from this service", meta)
		return true
	case store.Suspended:
		if s.Until.IsZero() || s.Until.After(Now()) {
			meta := map[string]any{}
			if !s.Until.IsZero() {
				meta["until"] = s.Until.UTC().Format(time.RFC3339)
			}
			addStatement(c, s, statements, meta)
			Refuse(c, wire.ReasonSuspended, "this end user is suspended", meta)
			return true
		}
	case store.Warned:
		c.Writer.Header().Set(HeaderStanding, string(store.Warned))
	}
	return false
}

// addStatement names the statement of reasons of the sanction in force.
func addStatement(c *gin.Context, s store.Standing, statements StatementFinder, meta map[string]any) {
	if statements == nil {
		return
	}
	st := StateOf(c)
	if st.App == nil {
		return
	}
	if id := statements(c.Request.Context(), st.App.Name, st.EndUser, s); id != "" {
		meta["statement_id"] = id
	}
}
