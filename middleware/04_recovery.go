package middleware

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/wire"
)

// Recovery turns a panic into a 500 internal_error and logs it without any
// request content: only the request id, the route, the panic's type and the
// stack. http.ErrAbortHandler (a stream that broke) is passed on, so the
// server aborts the connection rather than end a truncated answer cleanly.
func Recovery(log *slog.Logger) gin.HandlerFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			st := StateOf(c)
			log.Error("panic while serving a request", "request_id", st.RequestID, "route", st.Route(),
				"panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				Refuse(c, wire.ReasonInternal, "internal error", nil)
			} else {
				st.Reason = wire.ReasonInternal
				c.Abort()
			}
		}()
		c.Next()
	}
}
