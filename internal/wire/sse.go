package wire

import (
	"bytes"
	"errors"
	"io"
)

// Limits of EventReader. A line longer than MaxLineBytes, or an event longer
// than MaxEventBytes, is an error rather than unbounded memory: an upstream
// (or a man in the middle) must not be able to make the gateway buffer
// without end.
const (
	MaxLineBytes  = 1 << 20
	MaxEventBytes = 8 << 20
)

// ErrLineTooLong and ErrEventTooLong are returned by EventReader.Next.
var (
	ErrLineTooLong  = errors.New("wire: SSE line longer than 1 MiB")
	ErrEventTooLong = errors.New("wire: SSE event longer than 8 MiB")
)

// Event is one server-sent event.
type Event struct {
	// Raw is the whole event as received, including its trailing blank line
	// (absent only for a final event cut off by EOF); forwarding Raw
	// reproduces the stream byte for byte, minus stray blank lines.
	Raw []byte
	// Comment is true when the event holds only comment lines (": OPENROUTER
	// PROCESSING"); clients ignore such events.
	Comment bool
	// Data is the event's data lines joined by "\n", as the SSE spec says.
	Data []byte
	// Type is the "event:" field, if any (Anthropic streams name their events).
	Type string
}

// EventReader reads server-sent events incrementally. It accepts "\n" and
// "\r\n" line ends, comment lines anywhere, multi-line data, events split
// across reads, and a last event without its blank line. Raw and Data are
// owned by the caller (freshly allocated per event).
type EventReader struct {
	r    io.Reader
	buf  []byte
	off  int // start of unconsumed bytes in buf
	err  error
	done bool
}

// NewEventReader reads events from r.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{r: r, buf: make([]byte, 0, 4096)}
}

// line returns the next line including its line end, or what remains at EOF.
func (er *EventReader) line() ([]byte, error) {
	scanned := 0
	for {
		rest := er.buf[er.off:]
		if i := bytes.IndexByte(rest[scanned:], '\n'); i >= 0 {
			n := scanned + i + 1
			if n > MaxLineBytes+2 {
				return nil, ErrLineTooLong
			}
			er.off += n
			return rest[:n], nil
		}
		scanned = len(rest)
		if scanned > MaxLineBytes+1 {
			return nil, ErrLineTooLong
		}
		if er.err != nil {
			if len(rest) > 0 {
				er.off += len(rest)
				return rest, nil
			}
			return nil, er.err
		}
		// Compact, grow, read.
		if er.off > 0 {
			n := copy(er.buf, rest)
			er.buf = er.buf[:n]
			er.off = 0
		}
		if len(er.buf) == cap(er.buf) {
			nb := make([]byte, len(er.buf), 2*cap(er.buf))
			copy(nb, er.buf)
			er.buf = nb
		}
		n, err := er.r.Read(er.buf[len(er.buf):cap(er.buf)])
		er.buf = er.buf[:len(er.buf)+n]
		if err != nil {
			er.err = err
		} else if n == 0 {
			// A reader returning 0, nil forever would spin; the io.Reader
			// contract discourages it, and we treat it as no progress.
			continue
		}
	}
}

// Next returns the next event. At the end of the stream it returns io.EOF
// (or the underlying read error); a final event without a trailing blank line
// is returned first.
func (er *EventReader) Next() (Event, error) {
	if er.done {
		return Event{}, er.err
	}
	var (
		raw      []byte
		data     []byte
		nData    int
		fields   int
		comments int
		typ      string
	)
	for {
		ln, err := er.line()
		if err != nil {
			if err == ErrLineTooLong {
				er.done, er.err = true, err
				return Event{}, err
			}
			er.done = true
			if fields+comments > 0 {
				return er.event(raw, data, nData, fields, typ), nil
			}
			return Event{}, err
		}
		content := ln
		if n := len(content); n > 0 && content[n-1] == '\n' {
			content = content[:n-1]
		}
		if n := len(content); n > 0 && content[n-1] == '\r' {
			content = content[:n-1]
		}
		if len(content) == 0 {
			if fields+comments == 0 {
				continue // stray blank line: nothing to dispatch
			}
			raw = append(raw, ln...)
			return er.event(raw, data, nData, fields, typ), nil
		}
		if len(raw)+len(ln) > MaxEventBytes {
			er.done, er.err = true, ErrEventTooLong
			return Event{}, ErrEventTooLong
		}
		raw = append(raw, ln...)
		if content[0] == ':' {
			comments++
			continue
		}
		fields++
		name, value := content, []byte(nil)
		if i := bytes.IndexByte(content, ':'); i >= 0 {
			name, value = content[:i], content[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "data":
			if nData > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
			nData++
		case "event":
			typ = string(value)
		}
	}
}

func (er *EventReader) event(raw, data []byte, nData, fields int, typ string) Event {
	ev := Event{Raw: raw, Comment: fields == 0, Type: typ}
	if nData > 0 {
		if data == nil {
			data = []byte{}
		}
		ev.Data = data
	}
	return ev
}
