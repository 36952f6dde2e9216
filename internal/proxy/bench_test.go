package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// canned answers every request in memory: what is measured is the proxy's
// own work per request (rewrite, ReverseProxy, response hooks).
type canned struct{ body []byte }

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
	}, nil
}

func BenchmarkForward(b *testing.B) {
	answer := []byte(`{"id":"x","choices":[{"message":{"role":"assistant","content":"` + strings.Repeat("ok ", 300) + `"}}]}`)
	p, err := New(Options{Upstream: "http://up.invalid/api/v1", APIKey: "k", Transport: canned{answer}})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2048)
	in := httptest.NewRequest("POST", "/api/v1/chat/completions", nil)
	for _, h := range []string{"Authorization", "Content-Type", "Accept", "User-Agent", "X-Aup-End-User", "X-Request-Id", "Accept-Encoding", "Content-Length"} {
		in.Header.Set(h, "v")
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		p.Forward(w, in, &Call{Rel: "chat/completions", Body: body, Route: "chat"})
	}
}
