package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/fakeupstream"
)

// Fault tests: the real gateway (policy engine, enforcer on the embedded
// store) in front of a fake OpenRouter that misbehaves. Each test ends
// with a goroutine leak check. The Redis-kill test lives in internal/enforce.

var (
	ftCreated = regexp.MustCompile(`"created":[0-9]+`)
	ftUsage   = regexp.MustCompile(`"usage":\{[^}]*\}`)
)

// ftWait waits for cond, polling; false if it did not hold within limit.
// Only a bound against hangs, never a timing assertion.
func ftWait(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

func ftWaitCancelled(t *testing.T, f *fakeupstream.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if !f.WaitCancelled(ctx, n) {
		t.Fatalf("upstream call not cancelled: %d cancelled, want %d", f.Cancelled(), n)
	}
}

// Upstream that sends no headers in time: 504 upstream_timeout, and the
// upstream call is abandoned. The timeout bounds the wait for headers only:
// a stream whose chunks come slower than it still runs to its end.
func TestFaultUpstreamSlow(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{timeout: "1s"})
	for i, stream := range []bool{false, true} {
		resp, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
			hdr: ftHdr("X-Fake-Scenario", "hang"), body: ftChat("openai/gpt-4o", stream)})
		if resp.StatusCode != 504 || ftReason(t, resp, b) != "upstream_timeout" {
			t.Fatalf("stream=%v: %d %s", stream, resp.StatusCode, b)
		}
		if bytes.Contains(b, []byte(g.fake.URL)) || bytes.Contains(b, []byte("127.0.0.1")) {
			t.Fatalf("the error names the upstream: %s", b)
		}
		ftWaitCancelled(t, g.fake, i+1)
	}

	resp, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr:  ftHdr("X-Fake-Scenario", "slow", "X-Fake-Delay", "1500ms", "X-Fake-Chunk-Size", "32"),
		body: ftChat("openai/gpt-4o", true)})
	if resp.StatusCode != 200 || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Fatalf("slow stream: %d %q", resp.StatusCode, ftTrunc(b))
	}
	if !bytes.Contains(b, []byte(fakeupstream.DefaultAnswer)) {
		t.Fatalf("slow stream lost chunks: %q", ftTrunc(b))
	}
}

// Upstream closing the connection: before any answer → 502
// upstream_unavailable; in the middle of a stream → the chunks so far, then
// exactly one SSE error event, then the end (no [DONE]).
func TestFaultUpstreamReset(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	resp, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr: ftHdr("X-Fake-Scenario", "reset"), body: ftChat("openai/gpt-4o", false)})
	if resp.StatusCode != 502 || ftReason(t, resp, b) != "upstream_unavailable" {
		t.Fatalf("plain reset: %d %s", resp.StatusCode, b)
	}

	resp, b = g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr: ftHdr("X-Fake-Scenario", "reset"), body: ftChat("openai/gpt-4o", true)})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream reset: %d %v", resp.StatusCode, resp.Header)
	}
	evs := ftEvents(t, b)
	var data, errs int
	for i, ev := range evs {
		if ev.Comment || len(ev.Data) == 0 {
			continue
		}
		data++
		if bytes.Equal(ev.Data, []byte("[DONE]")) {
			t.Fatalf("a broken stream must not end cleanly: %q", b)
		}
		if bytes.Contains(ev.Data, []byte(`"error"`)) {
			errs++
			if i != len(evs)-1 {
				t.Fatalf("events after the error event: %q", b)
			}
			if !bytes.Contains(ev.Data, []byte(`"reason":"upstream_unavailable"`)) || !bytes.Contains(ev.Data, []byte(`"finish_reason":"error"`)) {
				t.Fatalf("error event %s", ev.Data)
			}
		}
	}
	if errs != 1 || data < 2 {
		t.Fatalf("want chunks then one error event, got %d data events, %d errors: %q", data, errs, b)
	}

	// Upstream's own mid-stream error is passed through as is, not doubled.
	resp, b = g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr: ftHdr("X-Fake-Scenario", "midstream-error"), body: ftChat("openai/gpt-4o", true)})
	if resp.StatusCode != 200 || bytes.Count(b, []byte(`"finish_reason":"error"`)) != 1 || bytes.Contains(b, []byte("aupguard")) {
		t.Fatalf("midstream error: %d %q", resp.StatusCode, b)
	}
}

// Malformed upstream answers are not the gateway's to repair: without an
// answer check they pass through byte for byte, with no panic and no hang,
// and the gateway keeps serving.
func TestFaultUpstreamMalformed(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	direct := func(scenario string, stream bool) []byte {
		req, _ := http.NewRequest("POST", g.fake.URL+"/chat/completions", strings.NewReader(ftChat("openai/gpt-4o", stream)))
		req.Header.Set("Authorization", "Bearer "+ftOperatorKey)
		req.Header.Set("X-Fake-Scenario", scenario)
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	// Ids and timestamps differ between any two calls, token counts with
	// the body (the gateway adds the pseudonym).
	norm := func(b []byte) string {
		s := genID.ReplaceAllString(string(b), "gen-ID")
		s = ftUsage.ReplaceAllString(s, `"usage":{}`)
		return ftCreated.ReplaceAllString(s, `"created":0`)
	}

	resp, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr: ftHdr("X-Fake-Scenario", "bad-sse"), body: ftChat("openai/gpt-4o", true)})
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("this line is not server-sent events\n")) ||
		!bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Fatalf("bad-sse: %d %q", resp.StatusCode, ftTrunc(b))
	}
	if want := direct("bad-sse", true); norm(b) != norm(want) {
		t.Fatalf("bad-sse changed on the way:\n got  %q\n want %q", norm(b), norm(want))
	}

	resp, b = g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey,
		hdr: ftHdr("X-Fake-Scenario", "bad-json"), body: ftChat("openai/gpt-4o", false)})
	if resp.StatusCode != 200 || resp.Header.Get("X-Generation-Id") == "" {
		t.Fatalf("bad-json: %d %q", resp.StatusCode, b)
	}
	if want := direct("bad-json", false); norm(b) != norm(want) {
		t.Fatalf("bad-json changed on the way:\n got  %q\n want %q", b, want)
	}

	// Still serving.
	resp, b = g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey, hdr: ftEndUser, body: ftChat("openai/gpt-4o", false)})
	if resp.StatusCode != 200 {
		t.Fatalf("after malformed answers: %d %s", resp.StatusCode, b)
	}
}

// A client that leaves in the middle of a stream cancels the upstream
// call; one that leaves while still sending its body sends nothing upstream.
func TestFaultClientVanishes(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{})
	for i, scenario := range []string{"slow", "hang-stream"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+g.proxy+"/api/v1/chat/completions",
			strings.NewReader(ftChat("openai/gpt-4o", true)))
		req.Header.Set("Authorization", "Bearer "+appKey)
		req.Header.Set("X-AUP-End-User", "ft-user-1")
		req.Header.Set("X-Fake-Scenario", scenario)
		req.Header.Set("X-Fake-Delay", "1s")
		req.Header.Set("X-Fake-Chunk-Size", "1")
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		if resp.StatusCode != 200 || line != ": OPENROUTER PROCESSING\n" {
			t.Fatalf("%s: %d %q", scenario, resp.StatusCode, line)
		}
		cancel()
		resp.Body.Close()
		ftWaitCancelled(t, g.fake, i+1)
	}

	// Half a body, then gone.
	n := len(g.fake.Requests())
	c, err := net.Dial("tcp", g.proxy)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+appKey+
		"\r\nX-AUP-End-User: u\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":\"openai/gpt-4o\",")
	c.Close()
	resp, b := g.do(t, ftReq{path: "/api/v1/chat/completions", key: appKey, hdr: ftEndUser, body: ftChat("openai/gpt-4o", false)})
	if resp.StatusCode != 200 {
		t.Fatalf("after a vanished client: %d %s", resp.StatusCode, b)
	}
	if got := len(g.fake.Requests()); got != n+1 {
		t.Fatalf("a half-sent request reached upstream (%d requests, want %d)", got, n+1)
	}
}

// ftGate holds back the end of every stream ("data: [DONE]") until
// release is closed, so a test knows its streams are still in flight.
type ftGate struct {
	http.ResponseWriter
	release <-chan struct{}
	ctx     context.Context
}

func (w ftGate) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("[DONE]")) {
		select {
		case <-w.release:
		case <-w.ctx.Done():
			return 0, w.ctx.Err()
		}
	}
	return w.ResponseWriter.Write(p)
}

func (w ftGate) Flush()                      { w.ResponseWriter.(http.Flusher).Flush() }
func (w ftGate) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SIGTERM during streams (Run's context ending): /readyz turns 503, new
// connections are refused, the streams in flight run to their end, and
// Run returns.
func TestFaultShutdownDuringStreams(t *testing.T) {
	ftNoLeaks(t)
	release := make(chan struct{})
	fake := fakeupstream.Handler(fakeupstream.Options{APIKey: ftOperatorKey, NoRecord: true})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fake.ServeHTTP(ftGate{w, release, r.Context()}, r)
	}))
	t.Cleanup(up.Close)
	g := ftStart(t, ftOpts{upstream: up.URL + "/api/v1", noServe: true,
		yaml: "listen: 127.0.0.1:0\nadmin_listen: localhost:0\nlimits: {shutdown_grace: 30s}\n"})

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- g.srv.Run(ctx) }()
	var addr string
	if !ftWait(10*time.Second, func() bool {
		if a, _ := g.srv.Addrs(); a != nil {
			addr = a.String()
		}
		return addr != ""
	}) {
		t.Fatal("Run did not start listening")
	}

	const streams = 3
	var wg sync.WaitGroup
	rests := make([]string, streams)
	started := make(chan struct{}, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/chat/completions", strings.NewReader(ftChat("openai/gpt-4o", true)))
			req.Header.Set("Authorization", "Bearer "+appKey)
			req.Header.Set("X-AUP-End-User", "ft-user-1")
			resp, err := g.client.Do(req)
			if err != nil {
				t.Error(err)
				started <- struct{}{}
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first, _ := br.ReadString('\n')
			started <- struct{}{}
			rest, err := io.ReadAll(br)
			if err != nil {
				rest = append(rest, "\nREAD ERROR: "+err.Error()...)
			}
			rests[i] = first + string(rest)
		}()
	}
	for range streams {
		<-started
	}

	stop()
	if !ftWait(10*time.Second, func() bool { return get(t, g.srv.ProxyHandler(), "/readyz").Code == 503 }) {
		t.Fatal("/readyz did not turn 503 on shutdown")
	}
	refused := ftWait(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if !refused {
		t.Fatal("new connections still accepted while draining")
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned with streams in flight: %v", err)
	default:
	}
	close(release)
	wg.Wait()
	for i, r := range rests {
		if !strings.HasSuffix(r, "data: [DONE]\n\n") {
			t.Errorf("stream %d cut by shutdown: %q", i, ftTrunc([]byte(r)))
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the streams ended")
	}
}

// A stream that outlives the grace period is cut when it ends (the client
// sees the stream end without [DONE]), its upstream call is cancelled, and
// Run returns.
func TestFaultShutdownGraceExpires(t *testing.T) {
	ftNoLeaks(t)
	g := ftStart(t, ftOpts{yaml: "limits: {shutdown_grace: 200ms}\n"})
	req, _ := http.NewRequest("POST", "http://"+g.proxy+"/api/v1/chat/completions", strings.NewReader(ftChat("openai/gpt-4o", true)))
	req.Header.Set("Authorization", "Bearer "+appKey)
	req.Header.Set("X-AUP-End-User", "ft-user-1")
	req.Header.Set("X-Fake-Scenario", "hang-stream")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, _ := br.ReadString('\n'); l != ": OPENROUTER PROCESSING\n" {
		t.Fatalf("first line %q", l)
	}
	if err := g.shutdown(t); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br) // ends: the connection was closed
	if bytes.Contains(rest, []byte("[DONE]")) {
		t.Fatalf("a cut stream must not look complete: %q", rest)
	}
	ftWaitCancelled(t, g.fake, 1)
}
