package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/policy"
)

// AccessLog writes one JSON line per request with slog: method, route,
// status, app, pseudonym, decision, decision_id (the id a refusal's
// metadata.decision_id quotes), reason, latency, bytes, and the request's
// parts no detector read by kind (unscanned, when any). Never content,
// never the raw end-user id, never the raw path (it may carry ids).
func AccessLog(log *slog.Logger) gin.HandlerFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(c *gin.Context) {
		st := StateOf(c)
		// Deferred so aborted streams (a panic with http.ErrAbortHandler) are logged too.
		defer func() {
			app := ""
			if st.App != nil {
				app = st.App.Name
			}
			lvl := slog.LevelInfo
			status := st.status(c)
			if status >= 500 && status != statusClientGone {
				lvl = slog.LevelWarn
			}
			if !log.Enabled(context.Background(), lvl) {
				return // (at log.level warn) not even the attributes are built
			}
			attrs := []slog.Attr{
				slog.String("request_id", st.RequestID),
				slog.String("method", c.Request.Method),
				slog.String("route", st.Route()),
				slog.Int("status", status),
				slog.String("app", app),
				slog.String("pseudonym", st.Pseudonym),
				slog.String("decision", st.Decision),
				slog.String("decision_id", st.DecisionID),
				slog.String("reason", string(st.Reason)),
				slog.Int("upstream_status", st.UpstreamStatus),
				slog.Duration("latency", time.Since(st.Start)),
				slog.Int("bytes", max(c.Writer.Size(), 0)),
			}
			if st.Request != nil {
				if u := policy.Unscanned(st.Request.NonText); u != nil {
					attrs = append(attrs, slog.Any("unscanned", u))
				}
			}
			log.LogAttrs(context.Background(), lvl, "request", attrs...)
		}()
		c.Next()
	}
}
