package middleware

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// ReadDeadline gives a request with a body d (limits.read_header_timeout)
// to send it. Body lifts the deadline once the body is read; a request
// refused before that keeps it, so net/http's drain of the unread body
// cannot hang on a client that stalls. (No http.Server.ReadTimeout: it
// would end long streams.) d <= 0: no deadline.
func ReadDeadline(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		if d > 0 && c.Request.ContentLength != 0 {
			err := http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(d))
			StateOf(c).ReadDeadlineSet = err == nil
		}
		c.Next()
	}
}
