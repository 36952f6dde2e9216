package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/wire"
)

// On messages the proxy's own errors are in Anthropic's shape.
func TestMessagesErrorsInAnthropicShape(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := newProxy(t, "http://"+addr, nil)
	fr := front(t, p, func(r *http.Request) *Call {
		return &Call{Rel: "messages", Body: []byte("{}"), Shape: wire.ShapeAnthropic}
	})
	resp, err := http.Post(fr.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.HasPrefix(string(b), `{"type":"error","error":{"type":"api_error"`) ||
		!strings.Contains(string(b), `"reason":"upstream_unavailable"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}

	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\"}\n\n")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	p = newProxy(t, up.URL, nil)
	fr = front(t, p, func(r *http.Request) *Call {
		return &Call{Rel: "messages", Body: []byte("{}"), Shape: wire.ShapeAnthropic}
	})
	resp, err = http.Post(fr.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"") {
		t.Fatalf("stream %q", b)
	}
}
