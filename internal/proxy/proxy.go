// Package proxy is the upstream hop: one httputil.ReverseProxy that injects
// the operator's key, strips what the caller must not send upstream, flushes
// every stream chunk at once, cancels upstream when the client leaves and
// maps network failures to OpenRouter's error shape.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aupguard/aupguard/internal/wire"
)

// Options configure the upstream hop.
type Options struct {
	Upstream       string        // base URL, e.g. https://openrouter.ai/api/v1
	APIKey         string        // the operator's key, sent as Authorization: Bearer
	Timeout        time.Duration // response-header timeout (0: 60s)
	ConnectTimeout time.Duration // dial and TLS handshake (0: 10s)
	// Transport replaces the tuned default (tests, custom TLS).
	Transport http.RoundTripper
	Logger    *slog.Logger
	// Observe, when set, receives each upstream exchange: the call's route
	// label, the upstream status (0 when none came) and the time to the
	// response headers.
	Observe func(route string, status int, d time.Duration)
}

// Call describes one request to forward and collects what happened.
type Call struct {
	Rel   string // path below the API root, cleaned, no leading slash
	Body  []byte // the body to send; nil sends none
	Route string // metric label (wire.Endpoint.String())
	// Shape is the error shape of the proxy's own errors (wire.ShapeFor
	// the endpoint: Anthropic's on messages).
	Shape wire.Shape

	// OnModeration is called when upstream refuses with OpenRouter's
	// moderation 403, with its metadata.reasons.
	OnModeration func(reasons []string)
	// OnResponse may inspect the upstream response and wrap resp.Body (the
	// answer check does). An error turns the response into a 502.
	OnResponse func(resp *http.Response) error
	// DropFlaggedInput removes metadata.flagged_input (the start of the
	// prompt) from an upstream 403 before it reaches the client: ZDR mode,
	// where no copy of the prompt should travel further than it must.
	DropFlaggedInput bool

	// Filled in by Forward.
	Status   int           // upstream status; 0 if none
	Err      error         // transport error, if any
	Latency  time.Duration // to the upstream response headers
	Canceled bool          // the client went away
	start    time.Time
}

// Proxy forwards calls upstream. It is safe for concurrent use.
type Proxy struct {
	base    *url.URL
	auth    string
	rp      *httputil.ReverseProxy
	log     *slog.Logger
	observe func(string, int, time.Duration)
}

type callKey struct{}

// moderationPeek bounds how much of a 403 body is read to find reasons.
const moderationPeek = 64 << 10

// New builds the proxy.
func New(opt Options) (*Proxy, error) {
	u, err := url.Parse(opt.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("proxy: upstream %q is not an http(s) URL", opt.Upstream)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if opt.APIKey == "" {
		return nil, errors.New("proxy: no upstream API key")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	tr := opt.Transport
	if tr == nil {
		tr = NewTransport(opt.Timeout, opt.ConnectTimeout)
	}
	p := &Proxy{base: u, auth: "Bearer " + opt.APIKey, log: opt.Logger, observe: opt.Observe}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: tr,
		// ReverseProxy flushes every write of an SSE answer, or of one with
		// no length (OpenRouter's whitespace keep-alives before a slow JSON
		// answer), at once whatever this says. 0 spares an answer of known
		// length a flush per read: it goes out whole when the handler ends.
		FlushInterval:  0,
		BufferPool:     bufferPool{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(opt.Logger.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// NewTransport is the tuned upstream transport: many idle keep-alive
// connections to the one upstream host, bounded connect and header waits.
func NewTransport(timeout, connectTimeout time.Duration) *http.Transport {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if connectTimeout <= 0 {
		connectTimeout = 10 * time.Second
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connectTimeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
}

// Forward sends the request upstream as c describes and writes the answer
// to w. The request's context bounds the upstream call: a client that
// disconnects cancels it at once.
func (p *Proxy) Forward(w http.ResponseWriter, r *http.Request, c *Call) {
	c.start = time.Now()
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, c))
	p.rp.ServeHTTP(plainWriter{w}, r)
}

// plainWriter hides http.CloseNotifier, which wrapped writers (gin's) claim
// but cannot always honour; the request context already reports a client
// that left. Unwrap keeps flushing through http.ResponseController.
type plainWriter struct{ http.ResponseWriter }

func (w plainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Headers never sent upstream, besides hop-by-hop ones (ReverseProxy drops
// those): the caller's credentials and anything that identifies the end
// user's machine.
var dropHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "Api-Key",
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
	"Content-Length", "Accept-Encoding", "X-Request-Id", "Expect",
}

// dropSet is dropHeaders by canonical key: one pass over the request's few
// headers costs less than a Del (which canonicalises) per name.
var dropSet = func() map[string]bool {
	m := make(map[string]bool, len(dropHeaders))
	for _, k := range dropHeaders {
		m[http.CanonicalHeaderKey(k)] = true
	}
	return m
}()

// dropped reports whether header k is never sent upstream; k may be
// non-canonical (set straight into the map by a handler).
func dropped(k string) bool {
	if dropSet[k] || len(k) > 6 && strings.EqualFold(k[:6], "x-aup-") {
		return true
	}
	return !canonical(k) && dropSet[http.CanonicalHeaderKey(k)]
}

// canonical reports whether k is in canonical form; the server
// canonicalises the keys it reads, so the second lookup is rare.
func canonical(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	c, _ := pr.In.Context().Value(callKey{}).(*Call)
	out := pr.Out
	rel := ""
	if c != nil {
		rel = c.Rel
	}
	out.URL.Scheme = p.base.Scheme
	out.URL.Host = p.base.Host
	out.URL.Path = p.base.Path + "/" + rel
	out.URL.RawPath = ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = ""
	h := out.Header
	for k := range h {
		if dropped(k) {
			delete(h, k)
		}
	}
	h["Authorization"] = []string{p.auth}
	if c != nil && c.Body != nil {
		body := c.Body
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		// Nothing unread reaches upstream unchecked.
		out.Body = http.NoBody
		out.ContentLength = 0
		out.GetBody = nil
	}
	out.TransferEncoding = nil
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	c, _ := resp.Request.Context().Value(callKey{}).(*Call)
	if c == nil {
		return nil
	}
	c.Status = resp.StatusCode
	c.Latency = time.Since(c.start)
	if p.observe != nil {
		p.observe(c.Route, resp.StatusCode, c.Latency)
	}
	if resp.StatusCode == http.StatusForbidden && (c.OnModeration != nil || c.DropFlaggedInput) {
		peek, err := io.ReadAll(io.LimitReader(resp.Body, moderationPeek))
		if err != nil {
			return err
		}
		if reasons, ok := wire.ModerationReasons(peek); ok && c.OnModeration != nil {
			c.OnModeration(reasons)
		}
		if c.DropFlaggedInput && len(peek) < moderationPeek {
			if b, ok := dropFlaggedInput(peek); ok {
				peek = b
				resp.ContentLength = int64(len(b))
				resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			}
		}
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	}
	if isEventStream(resp.Header) {
		resp.Body = &streamGuard{rc: resp.Body, ctx: resp.Request.Context(), atBoundary: true, shape: c.Shape}
	}
	if c.OnResponse != nil {
		return c.OnResponse(resp)
	}
	return nil
}

// dropFlaggedInput returns body without error.metadata.flagged_input; ok
// is false when the body has none (or is not an error object).
func dropFlaggedInput(body []byte) ([]byte, bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return nil, false
	}
	var e map[string]json.RawMessage
	if json.Unmarshal(doc["error"], &e) != nil {
		return nil, false
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(e["metadata"], &meta) != nil {
		return nil, false
	}
	if _, ok := meta["flagged_input"]; !ok {
		return nil, false
	}
	delete(meta, "flagged_input")
	var err error
	if e["metadata"], err = json.Marshal(meta); err != nil {
		return nil, false
	}
	if doc["error"], err = json.Marshal(e); err != nil {
		return nil, false
	}
	out, err := json.Marshal(doc)
	return out, err == nil
}

func isEventStream(h http.Header) bool {
	ct := h["Content-Type"] // canonical: no Get, which canonicalises
	return len(ct) > 0 && strings.HasPrefix(ct[0], "text/event-stream")
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	c, _ := r.Context().Value(callKey{}).(*Call)
	if c != nil {
		c.Err = err
		if c.Latency == 0 {
			c.Latency = time.Since(c.start)
		}
	}
	if r.Context().Err() != nil {
		// The client left: nobody to answer. The upstream call is already cancelled.
		if c != nil {
			c.Canceled = true
		}
		p.log.Debug("client went away before the upstream answered")
		return
	}
	reason, msg := Classify(err)
	if c != nil && c.Status == 0 && p.observe != nil {
		p.observe(c.Route, 0, c.Latency)
	}
	p.log.Warn("upstream call failed", "reason", string(reason), "error", err.Error())
	shape := wire.ShapeOpenRouter
	if c != nil {
		shape = c.Shape
	}
	shape.WriteError(w, reason, msg, nil)
}

// Classify maps a transport error to the refusal reason and message shown
// to the client (never the upstream address).
func Classify(err error) (wire.Reason, string) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return wire.ReasonUpstreamTimeout, "the upstream API did not answer in time"
	}
	return wire.ReasonUpstreamUnavailable, "the upstream API could not be reached"
}

type readCloser struct {
	io.Reader
	io.Closer
}

// streamGuard ends a stream that upstream broke off (connection reset,
// truncated body) with one SSE error event, as OpenRouter does for errors
// after streaming began, so SDKs raise an error instead of seeing a clean end.
type streamGuard struct {
	rc         io.ReadCloser
	ctx        context.Context
	atBoundary bool // the bytes so far end at an event boundary
	shape      wire.Shape
	tail       []byte
	last       [2]byte
}

func (g *streamGuard) Read(b []byte) (int, error) {
	if g.tail != nil {
		n := copy(b, g.tail)
		g.tail = g.tail[n:]
		if len(g.tail) == 0 {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := g.rc.Read(b)
	if n > 0 {
		if n >= 2 {
			g.last = [2]byte{b[n-2], b[n-1]}
		} else {
			g.last = [2]byte{g.last[1], b[0]}
		}
		g.atBoundary = g.last == [2]byte{'\n', '\n'}
	}
	if err != nil && err != io.EOF && g.ctx.Err() == nil {
		ev := g.shape.StreamError(wire.ReasonUpstreamUnavailable, "the upstream stream broke off", nil)
		if !g.atBoundary {
			ev = append([]byte("\n\n"), ev...)
		}
		g.tail = ev
		return n, nil
	}
	return n, err
}

func (g *streamGuard) Close() error { return g.rc.Close() }

// bufferPool lends ReverseProxy its copy buffers. An open stream holds one
// for its whole life, and SSE events are small: 8 KiB keeps idle streams
// cheap while plain answers still copy in few reads.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
