package fakeupstream

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/wire"
)

func post(t *testing.T, s *Server, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func get(t *testing.T, s *Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// events reads a whole SSE body with wire's reader, checking that every
// data event but [DONE] is JSON.
func events(t *testing.T, resp *http.Response) ([]wire.Event, error) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	er := wire.NewEventReader(resp.Body)
	var evs []wire.Event
	for {
		ev, err := er.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func streamText(t *testing.T, ep wire.Endpoint, evs []wire.Event) (text string, errs int) {
	t.Helper()
	for _, ev := range evs {
		if ev.Comment || string(ev.Data) == "[DONE]" {
			continue
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("event data is not JSON: %q", ev.Data)
		}
		ts, isErr := wire.ChunkTexts(ep, ev.Data)
		if isErr {
			errs++
		}
		for _, x := range ts {
			text += x.Text
		}
	}
	return text, errs
}

const chatBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}],"user":"u1"}`

func TestChatPlain(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	resp := post(t, s, "chat/completions", chatBody, map[string]string{"X-Test": "1"})
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	gen := resp.Header.Get("X-Generation-Id")
	m := decode(t, resp)
	if m["id"] != gen || gen == "" || m["object"] != "chat.completion" || m["model"] != "openai/gpt-4o-mini" || m["provider"] == nil {
		t.Fatalf("%v (gen %q)", m, gen)
	}
	ch := m["choices"].([]any)[0].(map[string]any)
	msg := ch["message"].(map[string]any)
	if msg["role"] != "assistant" || msg["content"] != DefaultAnswer || ch["finish_reason"] != "stop" || ch["native_finish_reason"] != "stop" {
		t.Fatalf("%v", ch)
	}
	u := m["usage"].(map[string]any)
	for _, k := range []string{"prompt_tokens", "completion_tokens", "total_tokens", "cost"} {
		if _, ok := u[k]; !ok {
			t.Fatalf("usage lacks %s: %v", k, u)
		}
	}
	// Recorded.
	last, ok := s.Last()
	if !ok || last.Method != "POST" || last.Path != "/api/v1/chat/completions" || string(last.Body) != chatBody || last.Header.Get("X-Test") != "1" {
		t.Fatalf("%+v", last)
	}
	// The generation is known afterwards.
	code, g := get(t, s, "generation?id="+gen)
	if code != 200 || g["data"].(map[string]any)["id"] != gen {
		t.Fatalf("%d %v", code, g)
	}
	if code, _ := get(t, s, "generation?id=nope"); code != 404 {
		t.Fatalf("unknown generation: %d", code)
	}
	if rs := s.Requests(); len(rs) != 3 || rs[1].Query != "id="+gen {
		t.Fatalf("%d requests", len(rs))
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Fatal("Reset")
	}
}

func TestChatStream(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	answer := "The quick brown fox jumps over the lazy dog — naïve café."
	resp := post(t, s, "chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`,
		map[string]string{"X-Fake-Answer": answer, "X-Fake-Chunk-Size": "5"})
	evs, err := events(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	if !evs[0].Comment || string(evs[0].Raw) != ": OPENROUTER PROCESSING\n\n" {
		t.Fatalf("first event %q", evs[0].Raw)
	}
	comments := 0
	for _, ev := range evs {
		if ev.Comment {
			comments++
		}
	}
	if comments != 2 {
		t.Fatalf("%d processing comments, want 2 (first and mid-stream)", comments)
	}
	if string(evs[len(evs)-1].Data) != "[DONE]" {
		t.Fatalf("last event %q", evs[len(evs)-1].Raw)
	}
	text, errs := streamText(t, wire.EndpointChat, evs)
	if text != answer || errs != 0 {
		t.Fatalf("text %q errs %d", text, errs)
	}
	// Role chunk first, usage chunk last.
	var first, final struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Choices []struct {
			Delta        map[string]any `json:"delta"`
			FinishReason *string        `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(evs[1].Data, &first); err != nil || first.Choices[0].Delta["role"] != "assistant" || first.Object != "chat.completion.chunk" {
		t.Fatalf("role chunk %s", evs[1].Data)
	}
	if first.ID != resp.Header.Get("X-Generation-Id") {
		t.Fatal("generation id mismatch")
	}
	if err := json.Unmarshal(evs[len(evs)-2].Data, &final); err != nil || len(final.Choices[0].Delta) != 0 ||
		final.Choices[0].FinishReason == nil || *final.Choices[0].FinishReason != "stop" || final.Usage == nil || final.Usage.TotalTokens == 0 {
		t.Fatalf("final chunk %s", evs[len(evs)-2].Data)
	}
}

func TestToolCalls(t *testing.T) {
	s := Start(Options{Answer: "Paris"})
	defer s.Close()
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	// Plain.
	m := decode(t, post(t, s, "chat/completions", `{"model":"m","messages":[{"role":"user","content":"w"}],`+tools+`}`, nil))
	ch := m["choices"].([]any)[0].(map[string]any)
	tc := ch["message"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
	fn := tc["function"].(map[string]any)
	if ch["finish_reason"] != "tool_calls" || fn["name"] != "get_weather" || fn["arguments"] != `{"input":"Paris"}` || tc["id"] == "" {
		t.Fatalf("%v", ch)
	}
	// Streamed: arguments arrive in pieces and join to the same JSON.
	evs, err := events(t, post(t, s, "chat/completions", `{"model":"m","stream":true,"messages":[],`+tools+`}`, map[string]string{"X-Fake-Chunk-Size": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := streamText(t, wire.EndpointChat, evs)
	if text != `{"input":"Paris"}` {
		t.Fatalf("streamed args %q", text)
	}
	if !strings.Contains(string(evs[len(evs)-2].Data), `"finish_reason":"tool_calls"`) {
		t.Fatalf("final %s", evs[len(evs)-2].Data)
	}
	// tool_choice none: text.
	m = decode(t, post(t, s, "chat/completions", `{"model":"m","tool_choice":"none","messages":[],`+tools+`}`, nil))
	if m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] != "Paris" {
		t.Fatalf("%v", m)
	}
}

func TestOtherEndpoints(t *testing.T) {
	s := Start(Options{Answer: "Answer text here"})
	defer s.Close()
	for _, c := range []struct {
		path string
		ep   wire.Endpoint
		body string
	}{
		{"completions", wire.EndpointCompletions, `{"model":"m","prompt":"Once"}`},
		{"responses", wire.EndpointResponses, `{"model":"m","input":"hi"}`},
		{"messages", wire.EndpointMessages, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		resp := post(t, s, c.path, c.body, nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Generation-Id") == "" {
			t.Fatalf("%s: %s %s", c.path, resp.Status, b)
		}
		var got string
		for _, x := range wire.AnswerTexts(c.ep, b) {
			got += x.Text
		}
		if got != "Answer text here" {
			t.Errorf("%s plain: %q from %s", c.path, got, b)
		}
		// Streamed.
		evs, err := events(t, post(t, s, c.path, strings.Replace(c.body, "{", `{"stream":true,`, 1), map[string]string{"X-Fake-Chunk-Size": "4"}))
		if err != nil {
			t.Fatal(err)
		}
		text, errs := streamText(t, c.ep, evs)
		if text != "Answer text here" || errs != 0 {
			t.Errorf("%s stream: %q", c.path, text)
		}
	}
	// Messages streams name their events, Anthropic style.
	evs, _ := events(t, post(t, s, "messages", `{"model":"m","stream":true,"messages":[]}`, nil))
	if evs[1].Type != "message_start" || evs[len(evs)-1].Type != "message_stop" {
		t.Fatalf("messages events %q .. %q", evs[1].Type, evs[len(evs)-1].Type)
	}
	// Responses with tools answer a function_call.
	b, _ := io.ReadAll(post(t, s, "responses", `{"model":"m","input":"x","tools":[{"type":"function","name":"lookup","parameters":{}}]}`, nil).Body)
	if ts := wire.AnswerTexts(wire.EndpointResponses, b); len(ts) != 1 || ts[0].Text != `{"input":"Answer text here"}` || !strings.Contains(string(b), `"name":"lookup"`) {
		t.Fatalf("%s", b)
	}
	// Embeddings: one vector per input string.
	m := decode(t, post(t, s, "embeddings", `{"model":"e","input":["a","b","c"]}`, nil))
	if d := m["data"].([]any); len(d) != 3 || len(d[2].(map[string]any)["embedding"].([]any)) == 0 {
		t.Fatalf("%v", m)
	}
	m = decode(t, post(t, s, "embeddings", `{"model":"e","input":[1,2,3]}`, nil))
	if d := m["data"].([]any); len(d) != 1 {
		t.Fatalf("%v", m)
	}
}

func TestMetadataEndpoints(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	code, m := get(t, s, "models")
	if code != 200 || len(m["data"].([]any)) == 0 {
		t.Fatalf("%d %v", code, m)
	}
	id := m["data"].([]any)[0].(map[string]any)["id"].(string)
	code, m = get(t, s, "models/"+id+"/endpoints")
	if code != 200 || len(m["data"].(map[string]any)["endpoints"].([]any)) == 0 {
		t.Fatalf("%d %v", code, m)
	}
	if code, _ = get(t, s, "models/no/such/endpoints"); code != 404 {
		t.Fatal(code)
	}
	if code, m = get(t, s, "key"); code != 200 || m["data"] == nil {
		t.Fatal(code)
	}
	if code, m = get(t, s, "credits"); code != 200 || m["data"].(map[string]any)["total_credits"] == nil {
		t.Fatal(code)
	}
	if code, m = get(t, s, "nowhere"); code != 404 || m["error"].(map[string]any)["code"].(float64) != 404 {
		t.Fatal(code, m)
	}
	if code, _ = get(t, s, "chat/completions"); code != 405 {
		t.Fatal(code)
	}
}

func TestAPIKey(t *testing.T) {
	s := Start(Options{APIKey: "sk-or-v1-test"})
	defer s.Close()
	if r := post(t, s, "chat/completions", chatBody, nil); r.StatusCode != 401 {
		t.Fatal(r.Status)
	}
	if r := post(t, s, "chat/completions", chatBody, map[string]string{"Authorization": "Bearer sk-or-v1-test"}); r.StatusCode != 200 {
		t.Fatal(r.Status)
	}
}

func TestErrorScenarios(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	for _, code := range []int{400, 401, 402, 404, 408, 429, 500, 502, 503} {
		sc := "error-" + strconv.Itoa(code)
		for _, how := range []map[string]string{{"X-Fake-Scenario": sc}, nil} {
			body := chatBody
			if how == nil {
				body = strings.Replace(chatBody, "openai/gpt-4o-mini", "fake/"+sc, 1)
			}
			resp := post(t, s, "chat/completions", body, how)
			m := decode(t, resp)
			e := m["error"].(map[string]any)
			if resp.StatusCode != code || int(e["code"].(float64)) != code || e["message"] == "" {
				t.Fatalf("%s: %d %v", sc, resp.StatusCode, m)
			}
			if code == 502 {
				md := e["metadata"].(map[string]any)
				if md["provider_name"] == nil || md["raw"] == nil {
					t.Fatalf("502 metadata %v", md)
				}
			}
			if code == 429 && resp.Header.Get("Retry-After") == "" {
				t.Fatal("no Retry-After")
			}
		}
	}
	long := strings.Repeat("kill ", 40)
	resp := post(t, s, "chat/completions", `{"model":"m","messages":[{"role":"user","content":"`+long+`"}]}`, map[string]string{"X-Fake-Scenario": "moderation"})
	b, _ := io.ReadAll(resp.Body)
	rs, ok := wire.ModerationReasons(b)
	if resp.StatusCode != 403 || !ok || len(rs) != 1 || rs[0] != "violence" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var m struct {
		Error struct {
			Metadata struct {
				FlaggedInput string `json:"flagged_input"`
				ProviderName string `json:"provider_name"`
				ModelSlug    string `json:"model_slug"`
			} `json:"metadata"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &m)
	if md := m.Error.Metadata; md.FlaggedInput != long[:100] || md.ProviderName == "" || md.ModelSlug != "m" {
		t.Fatalf("%+v", md)
	}
	if r := post(t, s, "chat/completions", chatBody, map[string]string{"X-Fake-Scenario": "no-such"}); r.StatusCode != 400 {
		t.Fatal(r.Status)
	}
	if r := post(t, s, "chat/completions", `{not json`, nil); r.StatusCode != 400 {
		t.Fatal(r.Status)
	}
}

func TestMidstreamError(t *testing.T) {
	s := Start(Options{Answer: "abcdefghijklmnopqrstuvwxyz"})
	defer s.Close()
	resp := post(t, s, "chat/completions", `{"model":"m","stream":true,"messages":[]}`, map[string]string{"X-Fake-Scenario": "midstream-error", "X-Fake-Chunk-Size": "4"})
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	evs, err := events(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	text, errs := streamText(t, wire.EndpointChat, evs)
	if text != "abcdefgh" || errs != 1 {
		t.Fatalf("%q %d", text, errs)
	}
	last := evs[len(evs)-1]
	if !strings.Contains(string(last.Data), `"finish_reason":"error"`) || !strings.Contains(string(last.Data), `"error":{`) {
		t.Fatalf("last %s", last.Data)
	}
	// Not streamed: 200 with only an error.
	m := decode(t, post(t, s, "chat/completions", `{"model":"fake/midstream-error","messages":[]}`, nil))
	if m["error"] == nil || m["choices"] != nil {
		t.Fatalf("%v", m)
	}
}

func TestBadScenarios(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	b, _ := io.ReadAll(post(t, s, "chat/completions", chatBody, map[string]string{"X-Fake-Scenario": "bad-json"}).Body)
	if json.Valid(b) || len(b) == 0 {
		t.Fatalf("bad-json is valid: %s", b)
	}
	evs, err := events(t, post(t, s, "chat/completions", `{"model":"m","stream":true}`, map[string]string{"X-Fake-Scenario": "bad-sse"}))
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, ev := range evs {
		if ev.Data != nil && string(ev.Data) != "[DONE]" && !json.Valid(ev.Data) {
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("bad-sse sent only good events")
	}
}

func TestReset(t *testing.T) {
	s := Start(Options{Answer: "a long enough answer to need chunks"})
	defer s.Close()
	resp := post(t, s, "chat/completions", `{"model":"m","stream":true}`, map[string]string{"X-Fake-Scenario": "reset"})
	_, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatal("stream ended cleanly; want a broken connection")
	}
	req, _ := http.NewRequest("POST", s.URL+"/chat/completions", strings.NewReader(`{"model":"fake/reset"}`))
	if _, err := s.Client().Do(req); err == nil {
		t.Fatal("plain reset got a response")
	}
}

func TestHangAndCancel(t *testing.T) {
	for _, sc := range []string{"hang", "hang-stream", "slow"} {
		t.Run(sc, func(t *testing.T) {
			s := Start(Options{Delay: time.Hour})
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
			req.Header.Set("X-Fake-Scenario", sc)
			done := make(chan error, 1)
			go func() {
				resp, err := s.Client().Do(req)
				if err == nil {
					// Streams: read until the cancel breaks the body.
					_, err = io.Copy(io.Discard, bufio.NewReader(resp.Body))
					resp.Body.Close()
				}
				done <- err
			}()
			// Cancel once the fake has the request in hand.
			for {
				if _, ok := s.Last(); ok {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if s.Cancelled() != 0 {
				t.Fatal("cancelled before cancel")
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("client error %v", err)
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer wcancel()
			if !s.WaitCancelled(wctx, 1) {
				t.Fatalf("fake did not see the cancellation (%d)", s.Cancelled())
			}
		})
	}
}

func TestSlowStreamCompletes(t *testing.T) {
	s := Start(Options{Delay: time.Millisecond, Answer: "slow but sure"})
	defer s.Close()
	evs, err := events(t, post(t, s, "chat/completions", `{"model":"fake/slow","stream":true}`, nil))
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := streamText(t, wire.EndpointChat, evs); text != "slow but sure" {
		t.Fatal(text)
	}
}

func TestAnswerBase64(t *testing.T) {
	s := Start(Options{})
	defer s.Close()
	want := "line one\nline two"
	m := decode(t, post(t, s, "chat/completions", chatBody, map[string]string{"X-Fake-Answer": "base64:" + base64.StdEncoding.EncodeToString([]byte(want))}))
	if got := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"]; got != want {
		t.Fatalf("%q", got)
	}
}

func TestHandlerNoRecord(t *testing.T) {
	h := Handler(Options{NoRecord: true})
	for _, p := range []string{"/api/v1/chat/completions", "/v1/chat/completions"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", p, strings.NewReader(chatBody)))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), DefaultAnswer) {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if n := len(h.(*handler).requests()); n != 0 {
		t.Fatalf("recorded %d with NoRecord", n)
	}
}

func BenchmarkHandlerChat(b *testing.B) {
	h := Handler(Options{NoRecord: true})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/chat/completions", strings.NewReader(chatBody)))
	}
}
