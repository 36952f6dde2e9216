package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/aupguard/aupguard/internal/fakeupstream"
)

// upstreamKey is the operator key the fake upstream demands: direct and
// floor clients send it, the gateway injects it.
const upstreamKey = "sk-or-v1-aupload-fake-operator-key"

// appKey is the gateway's one app key.
const appKey = "aupload-app-key-0123456789"

// httpServer serves h on a fresh loopback port (keep-alives on).
type httpServer struct {
	srv    *http.Server
	ln     net.Listener
	scheme string // "" is http
}

func serveLoopback(h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &httpServer{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *httpServer) URL() string {
	if s.scheme != "" {
		return s.scheme + "://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

func (s *httpServer) BaseURL() string { return s.URL() }

func (s *httpServer) Close() {
	// Close, not Shutdown: hung idle streams would hold Shutdown forever.
	s.srv.Close()
}

// startUpstream serves the fake OpenRouter; its API root is URL()+"/api/v1".
func startUpstream() (*httpServer, error) {
	return serveLoopback(fakeupstream.Handler(fakeupstream.Options{NoRecord: true, APIKey: upstreamKey}))
}

// startFloor serves a bare reverse proxy to upstream (a base URL without
// path): no logic at all, a pool big enough to never redial under load.
// FlushInterval is ReverseProxy's default, as in the gateway: SSE answers
// and answers of unknown length are flushed at every write, others when
// the handler ends.
func startFloor(upstream string) (*httpServer, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: newTransport(1024),
		ErrorLog:  log.New(io.Discard, "", 0), // clients see its 502s
	}
	return serveLoopback(fullDuplex(rp))
}

// fullDuplex lets a proxy stream the answer while its transport still reads
// the request body. Without it the HTTP/1 server drains and closes the body
// at the first flushed write; a transport that has not yet seen the body's
// EOF then fails and closes the upstream connection mid-stream (clients saw
// "unexpected EOF" on ~1 in 500 proxied streams under load).
func fullDuplex(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		h.ServeHTTP(w, r)
	})
}

func newTransport(perHost int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // loopback only, never an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: perHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}
