package middleware

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/wire"
)

// BodyOptions bound what the gateway reads.
type BodyOptions struct {
	MaxBytes int64 // 0: 4 MiB
	MaxDepth int   // JSON nesting; 0: wire.DefaultMaxDepth
	// ReadTimeout bounds reading the body (0: unbounded), so a client that
	// stalls its body cannot hold a connection and its buffer for ever.
	// It is lifted once the body is read: streams must not inherit it.
	ReadTimeout time.Duration
}

// Body reads the request body up to MaxBytes (a larger Content-Length is
// refused before reading; a longer body at MaxBytes+1) with 413
// payload_too_large, and parses model calls once with wire.ParseRequest;
// malformed JSON, invalid UTF-8, deep nesting or unknown content parts give
// 400 invalid_request. Metadata reads (GET) are not read at all.
func Body(opt BodyOptions) gin.HandlerFunc {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 4 << 20
	}
	tooLarge := "the request body is larger than " + strconv.FormatInt(opt.MaxBytes, 10) + " bytes"
	return func(c *gin.Context) {
		st := StateOf(c)
		r := c.Request
		if r.Method == "GET" || r.Method == "HEAD" {
			c.Next()
			return
		}
		if r.ContentLength > opt.MaxBytes {
			Refuse(c, wire.ReasonPayloadTooLarge, tooLarge, nil)
			return
		}
		var rc *http.ResponseController
		if opt.ReadTimeout > 0 {
			rc = http.NewResponseController(c.Writer)
			if !st.ReadDeadlineSet && rc.SetReadDeadline(time.Now().Add(opt.ReadTimeout)) != nil {
				rc = nil // not a real connection (tests): nothing to lift
			}
		}
		body, err := readBody(r, opt.MaxBytes)
		if rc != nil && err == nil && int64(len(body)) <= opt.MaxBytes {
			// Lifted only after a whole body: after a failed or cut read
			// net/http drains the rest before answering, bounded by it.
			_ = rc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			var mbe *httpMaxBytesError
			if errors.As(err, &mbe) {
				Refuse(c, wire.ReasonPayloadTooLarge, tooLarge, nil)
				return
			}
			Refuse(c, wire.ReasonInvalidRequest, "the request body could not be read", nil)
			return
		}
		if int64(len(body)) > opt.MaxBytes {
			Refuse(c, wire.ReasonPayloadTooLarge, tooLarge, nil)
			return
		}
		st.Body = body
		if st.Endpoint.IsModelCall() {
			req, err := wire.ParseRequest(st.Endpoint, st.Body, wire.ParseOptions{MaxDepth: opt.MaxDepth})
			if err != nil {
				msg := "the request body is not valid"
				var re *wire.RequestError
				if errors.As(err, &re) {
					msg = re.Message
				}
				Refuse(c, wire.ReasonInvalidRequest, msg, nil)
				return
			}
			st.Request = req
		}
		c.Next()
	}
}

// readBody reads the body, at most max+1 bytes (more means too large). A
// declared length (at most max here) is read into a buffer of exactly that
// size: net/http ends the body there, and a short one is an error.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
	return buf.Bytes(), err
}
