// Package logsink batches the gateway's log lines: at log.level info the
// access log writes a line per request, and one write(2) per line to
// stderr is a syscall (and, through a pipe, a wake-up of the reader) on
// every request. A Writer collects the lines and writes them together,
// at most Every later; a line at Warn or above (Handler) is written at
// once, with everything before it, so trouble is never held back.
//
// Lines are whole: slog handlers write each record with one Write, and a
// Writer never splits one. What is still buffered when the process dies
// without Close (SIGKILL, a fatal runtime error) is lost: at most Every's
// worth of lines; the runtime's own crash output goes to fd 2 directly.
package logsink

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults for New.
const (
	DefaultEvery = 50 * time.Millisecond
	DefaultSize  = 64 << 10
)

// Writer is an io.Writer that batches lines; safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	size    int
	every   time.Duration
	pending bool // a flush is scheduled
	timer   *time.Timer
	closed  bool
	err     error // the last write error, returned by Flush
}

// New batches writes to w: they are written when size bytes are waiting,
// every at the latest (<= 0: the defaults), on Flush and on Close.
func New(w io.Writer, every time.Duration, size int) *Writer {
	if every <= 0 {
		every = DefaultEvery
	}
	if size <= 0 {
		size = DefaultSize
	}
	s := &Writer{w: w, size: size, every: every, buf: make([]byte, 0, size)}
	s.timer = time.AfterFunc(time.Hour, func() { s.Flush() })
	s.timer.Stop()
	return s
}

// Write keeps p (one log line) for the next flush; a closed Writer writes
// through.
func (s *Writer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.w.Write(p)
	}
	if len(s.buf)+len(p) > s.size && len(s.buf) > 0 {
		s.flushLocked()
	}
	if len(p) >= s.size {
		return s.w.Write(p) // too big to batch; nothing is buffered now
	}
	s.buf = append(s.buf, p...)
	if !s.pending {
		s.pending = true
		s.timer.Reset(s.every)
	}
	return len(p), nil
}

// Flush writes what is waiting and returns the last write error.
func (s *Writer) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	return s.err
}

func (s *Writer) flushLocked() {
	s.pending = false
	if len(s.buf) == 0 {
		return
	}
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
	}
	s.buf = s.buf[:0]
}

// Close flushes and makes later writes go straight through.
func (s *Writer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer.Stop()
	s.flushLocked()
	s.closed = true
	return s.err
}

// Handler wraps h, whose output is w, so that a record at urgent or above
// is written at once together with the lines before it.
func Handler(h slog.Handler, w *Writer, urgent slog.Level) slog.Handler {
	return &handler{h: h, w: w, urgent: urgent}
}

type handler struct {
	h      slog.Handler
	w      *Writer
	urgent slog.Level
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.h.Handle(ctx, r)
	if r.Level >= h.urgent {
		h.w.Flush()
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{h: h.h.WithAttrs(as), w: h.w, urgent: h.urgent}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), w: h.w, urgent: h.urgent}
}
