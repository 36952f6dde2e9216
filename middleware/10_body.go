package middleware

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	// DrainBytes bounds how much of an over-limit body is read and thrown
	// away before the 413 (0: 4 × MaxBytes; negative: none). Clients that
	// write the whole body before reading the answer (Python's httpx) would
	// otherwise see a broken pipe, not the 413: the gateway closes the
	// connection on an unread body. A body declared longer than this is not
	// drained at all, nor one sent with "Expect: 100-continue" (its client
	// waits for the answer before sending it).
	DrainBytes int64
	// DrainTimeout bounds that drain (0: 10s), so a client dripping an
	// over-limit body holds the connection no longer.
	DrainTimeout time.Duration
	// Reserve, when set, is asked once the body is read and before it is
	// parsed (Admitter.Reserve); false: it refused the request.
	Reserve func(c *gin.Context, body []byte) bool
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
	if opt.DrainBytes == 0 {
		opt.DrainBytes = 4 * opt.MaxBytes
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = 10 * time.Second
	}
	tooLarge := "the request body is larger than " + strconv.FormatInt(opt.MaxBytes, 10) + " bytes"
	refuseTooLarge := func(c *gin.Context, started bool) {
		opt.drain(c, started)
		Refuse(c, wire.ReasonPayloadTooLarge, tooLarge, nil)
	}
	return func(c *gin.Context) {
		st := StateOf(c)
		r := c.Request
		if r.Method == "GET" || r.Method == "HEAD" {
			c.Next()
			return
		}
		if r.ContentLength > opt.MaxBytes {
			refuseTooLarge(c, false)
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
			// An http.MaxBytesReader in front of the gateway: too large, not broken.
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				Refuse(c, wire.ReasonPayloadTooLarge, tooLarge, nil)
				return
			}
			Refuse(c, wire.ReasonInvalidRequest, "the request body could not be read", nil)
			return
		}
		if int64(len(body)) > opt.MaxBytes {
			refuseTooLarge(c, true)
			return
		}
		if opt.Reserve != nil && !opt.Reserve(c, body) {
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

// drain reads and discards what is left of an over-limit body, at most
// DrainBytes within DrainTimeout, so that a client still writing it reads
// the 413 instead of a reset connection. started says the body has been
// read from already (so a 100 Continue, if asked for, has gone out).
func (opt BodyOptions) drain(c *gin.Context, started bool) {
	r := c.Request
	if opt.DrainBytes < 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength > opt.DrainBytes {
		return
	}
	if !started && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return // the client sends nothing until it has our answer
	}
	// Past the drain bound or the deadline, net/http closes the connection
	// after the answer, as before.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(opt.DrainTimeout))
	_, _ = io.CopyN(io.Discard, r.Body, opt.DrainBytes)
}
