package middleware

import (
	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/wire"
)

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
