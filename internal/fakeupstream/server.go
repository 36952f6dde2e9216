package fakeupstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure the fake.
type Options struct {
	// Answer is the default answer text (default DefaultAnswer).
	Answer string
	// ChunkSize is how many runes of the answer each stream chunk carries
	// (default 8); X-Fake-Chunk-Size overrides it per request.
	ChunkSize int
	// Delay spaces chunks in the "slow" scenario (default 20ms);
	// X-Fake-Delay overrides it per request.
	Delay time.Duration
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>".
	APIKey string
	// NoRecord turns request recording off: the cheap path for benchmarks.
	NoRecord bool
}

// DefaultAnswer is the answer when neither Options nor the request choose one.
const DefaultAnswer = "Hello from the fake upstream."

// Recorded is one request the fake received.
type Recorded struct {
	Method string
	Path   string // URL path, e.g. /api/v1/chat/completions
	Query  string // raw query
	Header http.Header
	Body   []byte
}

// Server is a running fake; URL ends in /api/v1.
type Server struct {
	URL string
	ts  *httptest.Server
	h   *handler
}

// Start serves a fake on a loopback port. Close it when done.
func Start(opts Options) *Server {
	h := newHandler(opts)
	ts := httptest.NewServer(h)
	return &Server{URL: ts.URL + "/api/v1", ts: ts, h: h}
}

// Handler returns the fake as a plain http.Handler.
func Handler(opts Options) http.Handler { return newHandler(opts) }

// Close closes client connections and shuts the server down.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Client is an http.Client for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Recorded { return s.h.requests() }

// Last returns the most recent request; ok is false if there was none.
func (s *Server) Last() (Recorded, bool) { return s.h.last() }

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.h.mu.Lock()
	s.h.recs = nil
	s.h.mu.Unlock()
}

// Cancelled counts requests whose context ended while the fake was still
// answering.
func (s *Server) Cancelled() int { return int(s.h.cancelled.Load()) }

// WaitCancelled blocks until Cancelled() >= n or ctx ends, and reports
// whether the count was reached.
func (s *Server) WaitCancelled(ctx context.Context, n int) bool {
	for {
		s.h.mu.Lock()
		ch := s.h.changed
		s.h.mu.Unlock()
		if s.Cancelled() >= n {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Cancelled() >= n
		}
	}
}

type handler struct {
	opts      Options
	mu        sync.Mutex
	recs      []Recorded
	changed   chan struct{} // closed and replaced when cancelled changes
	cancelled atomic.Int64
	genSeq    atomic.Int64
	gens      sync.Map // generation id → genInfo
}

func newHandler(opts Options) *handler {
	if opts.Answer == "" {
		opts.Answer = DefaultAnswer
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 8
	}
	if opts.Delay <= 0 {
		opts.Delay = 20 * time.Millisecond
	}
	return &handler{opts: opts, changed: make(chan struct{})}
}

func (h *handler) record(r *http.Request, body []byte) {
	if h.opts.NoRecord {
		return
	}
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
}

func (h *handler) noteCancelled() {
	h.cancelled.Add(1)
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *handler) requests() []Recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Recorded(nil), h.recs...)
}

func (h *handler) last() (Recorded, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recs) == 0 {
		return Recorded{}, false
	}
	return h.recs[len(h.recs)-1], true
}
