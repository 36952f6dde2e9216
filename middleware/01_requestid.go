package middleware

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/gin-gonic/gin"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-Id"

// RequestID keeps a sane incoming X-Request-Id (up to 64 characters of
// [A-Za-z0-9._-]) or makes one, and echoes it on the response.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		id := c.GetHeader(HeaderRequestID)
		if !saneID(id) {
			id = newID()
		}
		st.RequestID = id
		c.Writer.Header().Set(HeaderRequestID, id)
		c.Next()
	}
}

func saneID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
