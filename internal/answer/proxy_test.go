package answer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// gateway is a tiny reverse proxy in front of the fake upstream that wraps
// each response with Checker.Response, the way the gateway's OnResponse
// hook does. It keeps a copy of what upstream sent, to compare with what
// the client got.
type gateway struct {
	*httptest.Server
	mu       sync.Mutex
	blocks   []policy.Decision
	upstream bytes.Buffer
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newGateway(t testing.TB, fake *fakeupstream.Server, c *Checker) *gateway {
	t.Helper()
	target, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = target.Scheme, target.Host, ""
			pr.Out.Header.Del("Accept-Encoding") // as the gateway does: the transport decodes
		},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			g.mu.Lock()
			g.upstream.Reset()
			g.mu.Unlock()
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.TeeReader(resp.Body, lockedWriter{&g.mu, &g.upstream}), resp.Body}
			if c == nil {
				return nil // the bare proxy, for comparison
			}
			rel := strings.TrimPrefix(resp.Request.URL.Path, "/api/v1/")
			return c.Response(resp, Call{
				Endpoint: wire.Classify(http.MethodPost, rel),
				Subject:  policy.Subject{App: "web", EndUser: "u1", Endpoint: wire.Classify(http.MethodPost, rel).String()},
				OnBlock: func(d policy.Decision) map[string]any {
					g.mu.Lock()
					g.blocks = append(g.blocks, d)
					g.mu.Unlock()
					return map[string]any{"statement_id": "st_test"}
				},
			})
		},
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The gateway reads the request body before forwarding (it inspects
		// it); forwarding an unread body would race the server's own
		// discarding of it once the response starts.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) nBlocks() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.blocks)
}

func (g *gateway) upstreamBytes() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return bytes.Clone(g.upstream.Bytes())
}

// post sends a model call through the gateway and returns the whole body.
func (g *gateway) post(t testing.TB, rel, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/api/v1/"+rel, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// A long tail after the phrase keeps the slow fake busy, so a cut finds it
// still answering and its Cancelled count shows the upstream call ended.
var tail = strings.Repeat(" and then the next step follows", 60)

func violating(answer string) string { return answer + tail }

// delay spaces the fake's chunks: the pause after the cut must outlast the
// cancellation's trip to the fake, which counts a cancellation it sees while
// pausing (not one it meets as a failed write).
var cutCases = []struct {
	name   string
	answer string
	chunk  int
	delay  string
}{
	{"inside one chunk", answerWithPhrase, 64, "50ms"},
	{"split across two chunks", answerWithPhrase, 22, "50ms"},
	{"one-rune chunks", answerWithPhrase, 1, "5ms"},
	{"two-rune chunks", answerWithPhrase, 2, "10ms"},
}

func testCuts(t *testing.T, chk OutputChecker) {
	fake := fakeupstream.Start(fakeupstream.Options{Delay: time.Millisecond})
	defer fake.Close()
	g := newGateway(t, fake, newChecker(t, chk, Options{}))
	paths := []struct{ rel, body string }{
		{"chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"write"}}]}`},
		{"completions", `{"model":"m","stream":true,"prompt":"hi"}`},
		{"responses", `{"model":"m","stream":true,"input":"hi"}`},
	}
	for _, p := range paths {
		for _, tc := range cutCases {
			t.Run(p.rel+"/"+tc.name, func(t *testing.T) {
				before, cancelled := g.nBlocks(), fake.Cancelled()
				resp, out := g.post(t, p.rel, p.body, map[string]string{
					"X-Fake-Scenario": "slow", "X-Fake-Delay": tc.delay,
					"X-Fake-Answer": violating(tc.answer), "X-Fake-Chunk-Size": itoa(tc.chunk)})
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, out)
				}
				reason, id, reasons := streamErrorOf(t, out)
				if reason != "aup_blocked" || len(reasons) == 0 || reasons[0] != "mass_casualty_weapons" {
					t.Fatalf("refusal %q %v", reason, reasons)
				}
				if !bytes.Contains(out, []byte(`"statement_id":"st_test"`)) {
					t.Fatalf("the cut stream's refusal lacks what OnBlock added:\n%s", out)
				}
				if bytes.Contains(out, []byte("[DONE]")) || bytes.Contains(out, []byte("step follows and then the next step follows and then")) {
					t.Fatalf("stream not cut soon after the phrase:\n%s", out)
				}
				if n := g.nBlocks(); n != before+1 {
					t.Fatalf("OnBlock called %d times", n-before)
				}
				g.mu.Lock()
				gotID := g.blocks[len(g.blocks)-1].ID
				g.mu.Unlock()
				if id != gotID {
					t.Fatalf("decision id %q in the event, %q reported", id, gotID)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if !fake.WaitCancelled(ctx, cancelled+1) {
					t.Fatalf("upstream request not cancelled (%d cancellations before, %d now)", cancelled, fake.Cancelled())
				}
				// Everything before the refusal came from upstream, unchanged.
				up := g.upstreamBytes()
				i := bytes.LastIndex(out, []byte(`data: {"object":"chat.completion.chunk","error"`))
				if i < 0 || !bytes.HasPrefix(up, out[:i]) {
					t.Fatalf("client got bytes upstream never sent:\n%s", out)
				}
			})
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestProxyStreamCutFakeChecker(t *testing.T) {
	testCuts(t, &phraseChecker{phrase: phrase})
}

func TestProxyStreamCutPolicyEngine(t *testing.T) {
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	testCuts(t, e)
}

func TestProxyAllowedPassesUnchanged(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{ChunkSize: 3})
	defer fake.Close()
	chk := &phraseChecker{phrase: phrase}
	g := newGateway(t, fake, newChecker(t, chk, Options{Interval: 1}))
	for _, p := range []struct{ rel, body string }{
		{"chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"chat/completions", `{"model":"m","stream":true,"messages":[],"tools":[{"type":"function","function":{"name":"write"}}]}`},
		{"completions", `{"model":"m","stream":true,"prompt":"hi"}`},
		{"responses", `{"model":"m","stream":true,"input":"hi"}`},
		{"messages", `{"model":"m","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`},
		{"chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"responses", `{"model":"m","input":"hi"}`},
	} {
		resp, out := g.post(t, p.rel, p.body, map[string]string{"X-Fake-Answer": "A calm answer about synthesizers and the sari trade."})
		up := g.upstreamBytes()
		if resp.StatusCode != 200 || len(up) == 0 || !bytes.Equal(out, up) {
			t.Fatalf("%s %s: status %d, client got\n%s\nupstream sent\n%s", p.rel, p.body, resp.StatusCode, out, up)
		}
	}
	if g.nBlocks() != 0 || chk.calls.Load() == 0 {
		t.Fatalf("blocks %d, checks %d", g.nBlocks(), chk.calls.Load())
	}
}

func TestProxyPlain(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{})
	defer fake.Close()
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, fake, newChecker(t, e, Options{}))
	for _, p := range []struct{ rel, body string }{
		{"chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"chat/completions", `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"write"}}]}`},
		{"completions", `{"model":"m","prompt":"hi"}`},
		{"responses", `{"model":"m","input":"hi"}`},
	} {
		before := g.nBlocks()
		resp, out := g.post(t, p.rel, p.body, map[string]string{"X-Fake-Answer": violating(answerWithPhrase)})
		var m struct {
			Error struct {
				Code     int `json:"code"`
				Metadata struct {
					Reason     string   `json:"reason"`
					Reasons    []string `json:"reasons"`
					DecisionID string   `json:"decision_id"`
					Statement  string   `json:"statement_id"`
				} `json:"metadata"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &m); err != nil || resp.StatusCode != 403 || m.Error.Code != 403 ||
			m.Error.Metadata.Reason != "aup_blocked" || len(m.Error.Metadata.Reasons) == 0 || m.Error.Metadata.DecisionID == "" ||
			m.Error.Metadata.Statement != "st_test" ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d %s", p.rel, resp.StatusCode, out)
		}
		if bytes.Contains(out, []byte("sarin")) {
			t.Fatal("refusal carries the answer")
		}
		if g.nBlocks() != before+1 {
			t.Fatal("OnBlock not called once")
		}
	}
	// Upstream errors are not model output: passed on untouched.
	resp, out := g.post(t, "chat/completions", `{"model":"m","messages":[]}`, map[string]string{"X-Fake-Scenario": "error-502"})
	if resp.StatusCode != 502 || !bytes.Equal(out, g.upstreamBytes()) {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestPlainDecides(t *testing.T) {
	c := newChecker(t, &phraseChecker{phrase: phrase}, Options{})
	ctx := context.Background()
	for ep, body := range map[wire.Endpoint]string{
		wire.EndpointChat:        `{"choices":[{"message":{"role":"assistant","content":"how to synthesize sarin"}}]}`,
		wire.EndpointCompletions: `{"choices":[{"text":"how to synthesize sarin"}]}`,
		wire.EndpointResponses:   `{"output":[{"type":"message","content":[{"type":"output_text","text":"how to synthesize sarin"}]}]}`,
		wire.EndpointMessages:    `{"content":[{"type":"text","text":"how to synthesize sarin"}]}`,
	} {
		d, err := c.Plain(ctx, ep, policy.Subject{}, []byte(body))
		if err != nil || d.Action != policy.Block {
			t.Fatalf("%v: %+v %v", ep, d, err)
		}
	}
	d, err := c.Plain(ctx, wire.EndpointChat, policy.Subject{}, []byte(`{"choices":[{"message":{"content":"tea"}}]}`))
	if err != nil || d.Action != policy.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	// Categories outside the enabled list count as allow.
	c = newChecker(t, &phraseChecker{phrase: phrase}, Options{Categories: []string{"self_harm"}})
	d, _ = c.Plain(ctx, wire.EndpointChat, policy.Subject{}, []byte(`{"choices":[{"message":{"content":"how to synthesize sarin"}}]}`))
	if d.Action != policy.Allow || len(d.Categories) != 0 {
		t.Fatalf("%+v", d)
	}
}

func TestResponseFailModes(t *testing.T) {
	mk := func(body string, hdr http.Header) *http.Response {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/chat/completions", nil)
		if hdr == nil {
			hdr = http.Header{"Content-Type": {"application/json"}}
		}
		return &http.Response{StatusCode: 200, Header: hdr, Body: io.NopCloser(strings.NewReader(body)), Request: req}
	}
	answer := `{"choices":[{"message":{"content":"how to synthesize sarin"}}]}`
	broken := &phraseChecker{phrase: phrase, err: errors.New("boom")}
	// Fail open: the answer goes through unchanged.
	c := newChecker(t, broken, Options{})
	resp := mk(answer, nil)
	if err := c.Response(resp, Call{Endpoint: wire.EndpointChat}); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != answer {
		t.Fatalf("fail open: %d %s", resp.StatusCode, b)
	}
	// Fail closed: refused.
	c = newChecker(t, broken, Options{FailClosed: true})
	resp = mk(answer, nil)
	_ = c.Response(resp, Call{Endpoint: wire.EndpointChat})
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 500 || !bytes.Contains(b, []byte("internal_error")) {
		t.Fatalf("fail closed: %d %s", resp.StatusCode, b)
	}
	// Too large to check: fail open passes it whole, fail closed refuses.
	big := `{"choices":[{"message":{"content":"` + strings.Repeat("x", 300) + `"}}]}`
	c = newChecker(t, &phraseChecker{phrase: phrase}, Options{MaxPlainBytes: 100})
	resp = mk(big, nil)
	_ = c.Response(resp, Call{Endpoint: wire.EndpointChat})
	if b, _ := io.ReadAll(resp.Body); string(b) != big {
		t.Fatal("large answer not passed whole")
	}
	c = newChecker(t, &phraseChecker{phrase: phrase}, Options{MaxPlainBytes: 100, FailClosed: true})
	resp = mk(big, nil)
	_ = c.Response(resp, Call{Endpoint: wire.EndpointChat})
	if resp.StatusCode != 500 {
		t.Fatalf("large answer under fail closed: %d", resp.StatusCode)
	}
	// An encoding the transport did not undo cannot be read: fail mode.
	resp = mk(answer, http.Header{"Content-Encoding": {"br"}})
	_ = c.Response(resp, Call{Endpoint: wire.EndpointChat})
	if resp.StatusCode != 500 {
		t.Fatalf("encoded answer under fail closed: %d", resp.StatusCode)
	}
}

// The official OpenAI Go SDK raises the cut as an error, on every stream kind.
func TestOpenAISDKSeesTheCut(t *testing.T) {
	fake := fakeupstream.Start(fakeupstream.Options{ChunkSize: 2})
	defer fake.Close()
	e, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, fake, newChecker(t, e, Options{}))
	client := openai.NewClient(option.WithBaseURL(g.URL+"/api/v1/"), option.WithAPIKey("app-key"),
		option.WithMaxRetries(0), option.WithHeader("X-Fake-Answer", violating(answerWithPhrase)))
	ctx := context.Background()
	chat := openai.ChatCompletionNewParams{Model: "openai/gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	const want = "blocked by the acceptable use policy"

	st := client.Chat.Completions.NewStreaming(ctx, chat)
	var got strings.Builder
	for st.Next() {
		if len(st.Current().Choices) > 0 {
			got.WriteString(st.Current().Choices[0].Delta.Content)
		}
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "aup_blocked") {
		t.Fatalf("chat stream: err %v (got %q)", err, got.String())
	}
	if strings.Contains(got.String(), "then the next step follows and then the next step follows") {
		t.Fatalf("chat stream went on after the phrase: %q", got.String())
	}

	cs := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "m", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("hi")}})
	for cs.Next() {
	}
	if err := cs.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("completions stream: %v", err)
	}

	rs := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	completed := false
	for rs.Next() {
		completed = completed || rs.Current().Type == "response.completed"
	}
	if err := rs.Err(); err == nil || !strings.Contains(err.Error(), want) || completed {
		t.Fatalf("responses stream: %v (completed %v)", err, completed)
	}

	// Plain answers become an API error with status 403.
	_, err = client.Chat.Completions.New(ctx, chat)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || !strings.Contains(apiErr.Message, want) ||
		!strings.Contains(apiErr.RawJSON(), "aup_blocked") {
		t.Fatalf("plain: %v %q %s", err, apiErr.Message, apiErr.RawJSON())
	}
	if n := g.nBlocks(); n != 4 {
		t.Fatalf("OnBlock called %d times for 4 blocked answers", n)
	}
}
