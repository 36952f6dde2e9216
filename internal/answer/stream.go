package answer

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// Stream returns a reader over the upstream SSE body that the proxy copies
// to the client instead of body. Every event is passed on as soon as it is
// read, byte for byte (stray blank lines aside). The text it carries is
// added to the window; once Interval bytes are pending, the window is
// checked at the next Read, that is after the chunk has gone out and before
// the next one is awaited, so the check uses the time the stream spends
// waiting for the model anyway. Events without answer text (the finish and
// usage chunk, [DONE], Responses' *.done and response.completed events that
// repeat the whole text, upstream error events) and the end of the body
// are released only after the pending text is checked: a violation in the
// last chunk is still cut. Comments pass at once.
//
// On a block the reader returns one SSE error event (wire.StreamError,
// reason aup_blocked, metadata reasons and decision_id), closes body (which
// cancels the upstream request) and then io.EOF; call.OnBlock is called
// once. ctx is the request's context: when it is done, checks stop.
//
// The returned reader is not safe for concurrent Reads; Close may be called
// at any time and closes body once.
func (c *Checker) Stream(ctx context.Context, call Call, body io.ReadCloser) io.ReadCloser {
	return &stream{
		c:    c,
		ctx:  ctx,
		call: call,
		body: body,
		er:   wire.NewEventReader(body),
		w:    window{size: c.opt.Window, max: c.opt.MaxChannels},

		boundary: true,
	}
}

type stream struct {
	c    *Checker
	ctx  context.Context
	call Call
	body io.ReadCloser
	er   *wire.EventReader
	w    window

	out     []byte // bytes to hand out before anything else
	due     bool   // a check is due before the next event is read
	ended   bool   // after out: return endErr
	endErr  error
	flagged bool
	warned  bool
	// boundary: what was handed out so far ends with a whole event (false
	// only after a last event cut short by a read error).
	boundary bool

	closeOnce sync.Once
	closeErr  error
}

func (s *stream) Read(p []byte) (int, error) {
	for {
		if len(s.out) > 0 {
			n := copy(p, s.out)
			s.out = s.out[n:]
			return n, nil
		}
		if s.ended {
			return 0, s.endErr
		}
		if s.due {
			s.check()
			continue
		}
		ev, err := s.er.Next()
		if err != nil {
			// The end: check what is pending before the client learns the
			// stream is over.
			if s.w.pending > 0 {
				s.check()
				if s.ended {
					continue
				}
			}
			if err != io.EOF && s.ctx.Err() == nil {
				// A broken or unreadable upstream (an event over the SSE
				// reader's bounds, a reset the proxy did not already turn
				// into an event): end the way OpenRouter ends a failed
				// stream, so SDKs raise an error rather than see a clean end.
				s.c.log.Warn("answer stream: upstream read failed", "endpoint", s.call.Endpoint.String(), "error", err.Error())
				s.cut(wire.ShapeFor(s.call.Endpoint).StreamError(wire.ReasonUpstreamUnavailable, "the upstream stream broke off", nil))
				continue
			}
			s.ended, s.endErr = true, err
			s.w.reset()
			continue
		}
		s.boundary = endsEvent(ev.Raw)
		if ev.Comment || len(ev.Data) == 0 {
			s.out = ev.Raw
			continue
		}
		texts, _ := wire.ChunkTexts(s.call.Endpoint, ev.Data)
		if len(texts) == 0 {
			// Held back only while pending text is checked: it may end the
			// stream ([DONE], finish chunk) or repeat the whole answer
			// (response.completed).
			if s.w.pending > 0 {
				s.check()
				if s.ended {
					continue // cut: this event is dropped
				}
			}
			s.out = ev.Raw
			continue
		}
		// Where is positional; a stream's choices come one per chunk, told
		// apart by their "index" field, so that goes into the channel key.
		prefix := ""
		if i := choiceIndex(ev.Data); i > 0 {
			prefix = strconv.Itoa(i) + ":"
		}
		for _, t := range texts {
			s.w.add(prefix+t.Where, t.Text)
		}
		if finishes(ev.Data) {
			// The last chunk of a choice (text and finish_reason together,
			// common in completions): checked before it goes, like [DONE].
			s.check()
			if s.ended {
				continue
			}
		}
		s.due = s.w.pending >= s.c.opt.Interval
		s.out = ev.Raw
	}
}

// check decides the pending text and acts on the decision.
func (s *stream) check() {
	s.due = false
	if s.ctx.Err() != nil {
		// The client is gone; the upstream read fails next.
		s.w.done()
		return
	}
	d, err := s.c.chk.CheckOutput(s.ctx, s.call.Subject, s.w.texts())
	s.w.done()
	if err != nil {
		if s.ctx.Err() != nil {
			return
		}
		if s.c.opt.FailClosed {
			s.c.log.Warn("answer check failed; stream cut (fail closed)",
				"endpoint", s.call.Endpoint.String(), "app", s.call.Subject.App, "error", err.Error())
			s.cut(wire.ShapeFor(s.call.Endpoint).StreamError(wire.ReasonInternal, msgUnchecked, nil))
			return
		}
		if !s.warned {
			s.warned = true
			s.c.log.Warn("answer check failed; stream goes on unchecked until a check succeeds (fail open)",
				"endpoint", s.call.Endpoint.String(), "app", s.call.Subject.App, "error", err.Error())
		}
		return
	}
	d = s.c.filter(d)
	switch {
	case d.Action == policy.Block:
		s.c.log.Info("answer stream cut by policy", "decision_id", d.ID,
			"categories", d.Categories, "endpoint", s.call.Endpoint.String(), "app", s.call.Subject.App)
		s.cut(wire.ShapeFor(s.call.Endpoint).StreamError(wire.ReasonAUPBlocked, msgBlocked, s.call.blocked(d)))
	case d.Violation() && !s.flagged:
		s.flagged = true
		if s.call.OnFlag != nil {
			s.call.OnFlag(d)
		}
	}
}

// cut ends the stream with ev and cancels the upstream request.
func (s *stream) cut(ev []byte) {
	if !s.boundary {
		ev = append([]byte("\n\n"), ev...)
	}
	s.out = ev
	s.ended, s.endErr = true, io.EOF
	s.w.reset()
	_ = s.Close()
}

func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.body.Close() })
	return s.closeErr
}

// endsEvent reports whether raw ends with the blank line that ends an event.
func endsEvent(raw []byte) bool {
	return bytes.HasSuffix(raw, []byte("\n\n")) || bytes.HasSuffix(raw, []byte("\n\r\n"))
}

var finishKey = []byte(`"finish_reason"`)

// finishes reports whether a chunk carries a non-null finish_reason (a
// string value). It looks at the bytes only: finish_reason inside a JSON
// string is escaped (\"finish_reason\") and so never matches.
func finishes(data []byte) bool {
	for {
		i := bytes.Index(data, finishKey)
		if i < 0 {
			return false
		}
		data = data[i+len(finishKey):]
		j := 0
		for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r' || data[j] == ':') {
			j++
		}
		if j < len(data) && data[j] == '"' {
			return true
		}
	}
}

var choicesKey = []byte(`"choices"`)

// choiceIndex returns the "index" field of the first object in the chunk's
// "choices" array (0 when there is none). It scans bytes, minding strings
// and nesting, without decoding the chunk a second time.
func choiceIndex(data []byte) int {
	i := bytes.Index(data, choicesKey)
	if i < 0 {
		return 0
	}
	p := i + len(choicesKey)
	skip := func(set string) {
		for p < len(data) && bytes.IndexByte([]byte(set), data[p]) >= 0 {
			p++
		}
	}
	skip(" \t\r\n:")
	skip(" \t\r\n[")
	if p >= len(data) || data[p] != '{' {
		return 0
	}
	p++
	for p < len(data) {
		skip(" \t\r\n,")
		if p >= len(data) || data[p] != '"' {
			return 0 // '}' or malformed: no index
		}
		kStart := p + 1
		p = skipString(data, p)
		key := data[kStart : p-1]
		skip(" \t\r\n:")
		if string(key) == "index" {
			n, j := 0, p
			for j < len(data) && data[j] >= '0' && data[j] <= '9' && n < 1<<20 {
				n = n*10 + int(data[j]-'0')
				j++
			}
			return n
		}
		p = skipValue(data, p)
	}
	return 0
}

// skipString returns the position after the JSON string starting at p.
func skipString(data []byte, p int) int {
	for p++; p < len(data); p++ {
		switch data[p] {
		case '\\':
			p++
		case '"':
			return p + 1
		}
	}
	return len(data)
}

// skipValue returns the position after the JSON value starting at p.
func skipValue(data []byte, p int) int {
	depth := 0
	for p < len(data) {
		switch c := data[p]; c {
		case '"':
			p = skipString(data, p)
			if depth == 0 {
				return p
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return p
			}
			depth--
			if depth == 0 {
				return p + 1
			}
		case ',':
			if depth == 0 {
				return p
			}
		}
		p++
	}
	return p
}
