package wire

import (
	"bytes"
	"io"
	"sync"
)

// MaxServedScan bounds how much of a response ServedReader reads for the
// provider and model fields: OpenRouter puts them before "choices" in a
// plain answer and in every chunk of a stream, so the start suffices, and
// a long answer costs nothing past it.
const MaxServedScan = 16 << 10

// maxServedName bounds a captured provider or model name.
const maxServedName = 128

// servedScanner finds the top-level "provider" and "model" string members
// of a JSON object, or of the first events of an SSE stream (each event's
// data is one object; the text between them sits at depth 0 and is
// skipped), fed in pieces. It keeps no other byte of the response.
type servedScanner struct {
	depth      int
	inStr, esc bool
	afterColon bool // at depth 1, a value (not a key) comes next
	isKey      bool // the string being read is a depth-1 key
	want       int  // the value being read: 0 none, 1 provider, 2 model
	last       int  // the key just read: 0 other, 1 provider, 2 model
	capture    bool
	buf        []byte
	scanned    int
	provider   string
	model      string
}

func (s *servedScanner) done() bool {
	return (s.provider != "" && s.model != "") || s.scanned >= MaxServedScan
}

func (s *servedScanner) write(p []byte) {
	if room := MaxServedScan - s.scanned; len(p) > room {
		p = p[:room]
	}
	s.scanned += len(p)
	for len(p) > 0 {
		if s.inStr {
			i := bytes.IndexAny(p, "\"\\")
			if s.esc {
				i = 0
			}
			if i < 0 {
				s.keep(p)
				return
			}
			switch {
			case s.esc:
				s.esc = false
				s.keep(p[:1])
				p = p[1:]
				continue
			case p[i] == '\\':
				s.keep(p[:i+1])
				s.esc = true
			default:
				s.keep(p[:i])
				s.endString()
			}
			p = p[i+1:]
			continue
		}
		i := bytes.IndexAny(p, "\"{}[],:")
		if i < 0 {
			return
		}
		switch p[i] {
		case '{', '[':
			s.depth++
			if s.depth == 1 {
				s.afterColon = false
			}
		case '}', ']':
			if s.depth > 0 {
				s.depth--
			}
		case ',':
			if s.depth == 1 {
				s.afterColon = false
			}
		case ':':
			if s.depth == 1 {
				s.afterColon = true
			}
		case '"':
			s.inStr = true
			s.isKey = s.depth == 1 && !s.afterColon
			s.want = 0
			if s.depth == 1 && s.afterColon {
				s.want = s.last
			}
			s.capture = s.isKey || s.want != 0
			s.buf = s.buf[:0]
		}
		p = p[i+1:]
	}
}

func (s *servedScanner) keep(b []byte) {
	if s.capture {
		if len(s.buf)+len(b) > maxServedName {
			s.capture = false // too long for a name: not one
			s.buf = s.buf[:0]
			return
		}
		s.buf = append(s.buf, b...)
	}
}

func (s *servedScanner) endString() {
	s.inStr = false
	if s.isKey {
		s.last = 0
		if s.capture {
			switch string(s.buf) {
			case "provider":
				s.last = 1
			case "model":
				s.last = 2
			}
		}
		return
	}
	if s.capture && len(s.buf) > 0 {
		switch {
		case s.want == 1 && s.provider == "":
			s.provider = string(s.buf)
		case s.want == 2 && s.model == "":
			s.model = string(s.buf)
		}
	}
	s.last = 0
}

// ServedReader passes a response body through unchanged and reports, once,
// the provider and model named at its start ("" when absent): when both are
// seen, at the end of the body, or when it is closed (a cut stream), so a
// response is counted once whatever happens to it.
type ServedReader struct {
	body   io.ReadCloser
	s      servedScanner
	report func(provider, model string)
	once   sync.Once
}

// NewServedReader wraps body; report is called at most once.
func NewServedReader(body io.ReadCloser, report func(provider, model string)) *ServedReader {
	return &ServedReader{body: body, report: report}
}

func (r *ServedReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if n > 0 && !r.s.done() {
		r.s.write(p[:n])
		if r.s.done() {
			r.fire()
		}
	}
	if err != nil {
		r.fire()
	}
	return n, err
}

func (r *ServedReader) Close() error {
	r.fire()
	return r.body.Close()
}

func (r *ServedReader) fire() {
	r.once.Do(func() { r.report(r.s.provider, r.s.model) })
}
