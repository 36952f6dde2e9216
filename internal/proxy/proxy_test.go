package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type seen struct {
	method, path, query string
	header              http.Header
	body                string
}

// upstream records what reached it and answers with h.
func upstream(t *testing.T, h http.HandlerFunc) (*httptest.Server, chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(b)}
		h(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, ch
}

func newProxy(t *testing.T, url string, mod func(*Options)) *Proxy {
	t.Helper()
	o := Options{Upstream: url + "/api/v1", APIKey: "sk-or-operator"}
	if mod != nil {
		mod(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// front serves p with the given call template on a real server, so the
// request context and flushing behave as in production.
func front(t *testing.T, p *Proxy, mk func(r *http.Request) *Call) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Forward(w, r, mk(r))
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestHeadersAndBody(t *testing.T) {
	up, ch := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Generation-Id", "gen-123")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	})
	p := newProxy(t, up.URL, nil)
	fr := front(t, p, func(r *http.Request) *Call {
		return &Call{Rel: "chat/completions", Body: []byte(`{"rewritten":true}`), Route: "chat"}
	})
	req, _ := http.NewRequest("POST", fr.URL+"/api/v1/chat/completions?x=1", strings.NewReader(`{"original":"secret body with a much longer length"}`))
	req.Header.Set("Authorization", "Bearer app-key-of-the-caller")
	req.Header.Set("X-AUP-App-Key", "app-key-of-the-caller")
	req.Header.Set("X-AUP-End-User", "alice@example.com")
	req.Header.Set("Cookie", "session=abc")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	for _, h := range []string{"HTTP-Referer", "X-OpenRouter-Title", "X-Title", "X-OpenRouter-Categories", "X-Session-Id"} {
		req.Header.Set(h, "v-"+h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"ok":true}` || resp.Header.Get("X-Generation-Id") != "gen-123" {
		t.Fatalf("response %d %q %v", resp.StatusCode, body, resp.Header)
	}
	s := <-ch
	if s.path != "/api/v1/chat/completions" || s.query != "x=1" || s.body != `{"rewritten":true}` {
		t.Errorf("upstream saw %+v", s)
	}
	if got := s.header.Get("Authorization"); got != "Bearer sk-or-operator" {
		t.Errorf("Authorization upstream = %q", got)
	}
	for _, h := range []string{"X-Aup-App-Key", "X-Aup-End-User", "Cookie", "X-Forwarded-For", "X-Hop"} {
		if v := s.header.Get(h); v != "" {
			t.Errorf("%s forwarded upstream: %q", h, v)
		}
	}
	for k, v := range s.header {
		if strings.Contains(strings.Join(v, ","), "app-key-of-the-caller") || strings.Contains(strings.Join(v, ","), "alice") {
			t.Errorf("caller secret in upstream header %s", k)
		}
	}
	for _, h := range []string{"HTTP-Referer", "X-OpenRouter-Title", "X-Title", "X-OpenRouter-Categories", "X-Session-Id"} {
		if s.header.Get(h) != "v-"+h {
			t.Errorf("%s not passed: %q", h, s.header.Get(h))
		}
	}
}

func TestNoBodyForMetadataReads(t *testing.T) {
	up, ch := upstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":[]}`) })
	p := newProxy(t, up.URL, nil)
	fr := front(t, p, func(r *http.Request) *Call { return &Call{Rel: "models"} })
	req, _ := http.NewRequest("GET", fr.URL+"/v1/models", strings.NewReader("smuggled"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := <-ch; s.body != "" || s.path != "/api/v1/models" || s.method != "GET" {
		t.Errorf("upstream saw %+v", s)
	}
}

func TestUpstreamErrorReturnedUnchanged(t *testing.T) {
	const e = `{"error":{"code":402,"message":"Insufficient credits","metadata":{"x":1}}}`
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(402)
		io.WriteString(w, e)
	})
	p := newProxy(t, up.URL, nil)
	var c *Call
	fr := front(t, p, func(r *http.Request) *Call { c = &Call{Rel: "chat/completions", Body: []byte("{}")}; return c })
	resp, err := http.Post(fr.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 402 || string(b) != e || c.Status != 402 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func errBody(t *testing.T, r io.Reader) (code int, reason string) {
	t.Helper()
	var v struct {
		Error struct {
			Code     int            `json:"code"`
			Metadata map[string]any `json:"metadata"`
		} `json:"error"`
	}
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		t.Fatal(err)
	}
	s, _ := v.Error.Metadata["reason"].(string)
	return v.Error.Code, s
}

func TestNetworkFailureIs502(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newProxy(t, "http://"+addr, nil)
	fr := front(t, p, func(r *http.Request) *Call { return &Call{Rel: "models"} })
	resp, err := http.Get(fr.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	code, reason := errBody(t, resp.Body)
	if resp.StatusCode != 502 || code != 502 || reason != "upstream_unavailable" {
		t.Fatalf("%d %d %s", resp.StatusCode, code, reason)
	}
}

func TestHeaderTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	p := newProxy(t, up.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	fr := front(t, p, func(r *http.Request) *Call { return &Call{Rel: "models"} })
	resp, err := http.Get(fr.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	code, reason := errBody(t, resp.Body)
	if resp.StatusCode != 504 || code != 504 || reason != "upstream_timeout" {
		t.Fatalf("%d %d %s", resp.StatusCode, code, reason)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": OPENROUTER PROCESSING\n\n")
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
		close(cancelled)
	})
	p := newProxy(t, up.URL, nil)
	fr := front(t, p, func(r *http.Request) *Call { return &Call{Rel: "chat/completions", Body: []byte("{}")} })
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", fr.URL, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != ": OPENROUTER PROCESSING\n" {
		t.Fatalf("first line %q", line)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request not cancelled after the client left")
	}
}

func TestSSEChunksUnbuffered(t *testing.T) {
	next := make(chan struct{})
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			io.WriteString(w, `data: {"i":`+string(rune('0'+i))+"}\n\n")
			w.(http.Flusher).Flush()
			<-next // the next chunk is sent only after the client saw this one
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
	p := newProxy(t, up.URL, nil)
	fr := front(t, p, func(r *http.Request) *Call { return &Call{Rel: "chat/completions", Body: []byte("{}")} })
	resp, err := http.Post(fr.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		line, err := br.ReadString('\n')
		if err != nil || line != `data: {"i":`+string(rune('0'+i))+"}\n" {
			t.Fatalf("chunk %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "data: [DONE]\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestBrokenStreamEndsWithErrorEvent(t *testing.T) {
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[]}\n\n")
		w.(http.Flusher).Flush()
		// Break the connection mid-stream.
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	p := newProxy(t, up.URL, nil)
	fr := front(t, p, func(r *http.Request) *Call { return &Call{Rel: "chat/completions", Body: []byte("{}")} })
	resp, err := http.Post(fr.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(b)
	if !strings.HasPrefix(s, "data: {\"choices\":[]}\n\n") || !strings.Contains(s, `"reason":"upstream_unavailable"`) || !strings.Contains(s, `"finish_reason":"error"`) {
		t.Fatalf("stream %q", s)
	}
}

func TestModerationHookAndBodyKept(t *testing.T) {
	const e = `{"error":{"code":403,"message":"flagged","metadata":{"reasons":["violence"],"flagged_input":"x","provider_name":"openai","model_slug":"m"}}}`
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		io.WriteString(w, e)
	})
	p := newProxy(t, up.URL, nil)
	var got []string
	fr := front(t, p, func(r *http.Request) *Call {
		return &Call{Rel: "chat/completions", Body: []byte("{}"), OnModeration: func(rs []string) { got = rs }}
	})
	resp, err := http.Post(fr.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(b) != e {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if len(got) != 1 || got[0] != "violence" {
		t.Fatalf("moderation reasons %v", got)
	}
}

func TestOnResponseWrapsBody(t *testing.T) {
	up, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "abc") })
	p := newProxy(t, up.URL, nil)
	fr := front(t, p, func(r *http.Request) *Call {
		return &Call{Rel: "x", OnResponse: func(resp *http.Response) error {
			resp.Body = readCloser{io.MultiReader(resp.Body, strings.NewReader("def")), resp.Body}
			resp.ContentLength = -1
			resp.Header.Del("Content-Length")
			return nil
		}}
	})
	resp, err := http.Get(fr.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "abcdef" {
		t.Fatalf("%q", b)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{Upstream: "ftp://x", APIKey: "k"}); err == nil {
		t.Error("ftp upstream accepted")
	}
	if _, err := New(Options{Upstream: "https://x/api/v1"}); err == nil {
		t.Error("missing key accepted")
	}
}

// TestDroppedHeaders: the credentials and client-identifying headers go,
// in any spelling a handler may have put into the map; others stay.
func TestDroppedHeaders(t *testing.T) {
	for _, k := range append([]string{"authorization", "x-api-key", "X-API-KEY", "X-Aup-End-User", "x-aup-zdr", "cookie", "X-Forwarded-for"}, dropHeaders...) {
		if !dropped(k) {
			t.Errorf("%q is sent upstream", k)
		}
	}
	for _, k := range []string{"Content-Type", "content-type", "Accept", "User-Agent", "X-Title", "Http-Referer", "X-Aup", "Authorizations"} {
		if dropped(k) {
			t.Errorf("%q is dropped", k)
		}
	}
}
