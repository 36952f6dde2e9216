package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		if err != nil {
			return // the client went away while sending
		}
	}
	h.record(r, body)

	rel := r.URL.Path
	for _, p := range [...]string{"/api/v1/", "/v1/", "/"} {
		if s, ok := strings.CutPrefix(rel, p); ok {
			rel = s
			break
		}
	}
	if h.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+h.opts.APIKey {
		writeError(w, 401, "No auth credentials found", nil)
		return
	}
	switch rel {
	case "chat/completions", "completions", "responses", "messages", "embeddings":
		if r.Method != http.MethodPost {
			writeError(w, 405, "Method not allowed", nil)
			return
		}
		h.modelCall(w, r, rel, body)
	case "models", "generation", "key", "credits":
		if r.Method != http.MethodGet {
			writeError(w, 405, "Method not allowed", nil)
			return
		}
		h.metadata(w, r, rel)
	default:
		if a, s, ok := modelEndpointsPath(rel); ok && r.Method == http.MethodGet {
			h.modelEndpoints(w, a+"/"+s)
			return
		}
		writeError(w, 404, "Not Found", nil)
	}
}

func modelEndpointsPath(rel string) (string, string, bool) {
	rest, ok := strings.CutPrefix(rel, "models/")
	if !ok {
		return "", "", false
	}
	mid, ok := strings.CutSuffix(rest, "/endpoints")
	if !ok {
		return "", "", false
	}
	a, s, ok := strings.Cut(mid, "/")
	return a, s, ok && a != "" && s != "" && !strings.Contains(s, "/")
}

// writeError writes OpenRouter's error shape; the status equals error.code.
func writeError(w http.ResponseWriter, status int, msg string, meta map[string]any) {
	e := map[string]any{"code": status, "message": msg}
	if meta != nil {
		e["metadata"] = meta
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own values: a bug in the fake
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// request is what the fake reads from a model call; lenient like OpenRouter.
type request struct {
	Model      string            `json:"model"`
	Stream     bool              `json:"stream"`
	Tools      []json.RawMessage `json:"tools"`
	ToolChoice json.RawMessage   `json:"tool_choice"`
	Messages   []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt json.RawMessage `json:"prompt"`
	Input  json.RawMessage `json:"input"`
}

// call is one model call being answered.
type call struct {
	h           *handler
	cancelNoted bool // counted in Cancelled already
	w           http.ResponseWriter
	r           *http.Request
	rc          *http.ResponseController
	ep          string
	req         request
	body        []byte
	scenario    string
	answer      string
	chunk       int
	delay       time.Duration
	id          string
	created     int64
	toolName    string // "" when answering with text
}

func (h *handler) modelCall(w http.ResponseWriter, r *http.Request, ep string, body []byte) {
	c := &call{h: h, w: w, r: r, rc: http.NewResponseController(w), ep: ep, body: body,
		answer: h.opts.Answer, chunk: h.opts.ChunkSize, delay: h.opts.Delay, created: time.Now().Unix()}
	if err := json.Unmarshal(body, &c.req); err != nil {
		writeError(w, 400, "Invalid JSON body: "+err.Error(), nil)
		return
	}
	c.scenario = r.Header.Get("X-Fake-Scenario")
	if c.scenario == "" {
		c.scenario, _ = strings.CutPrefix(c.req.Model, "fake/")
		if c.scenario == c.req.Model {
			c.scenario = ""
		}
	}
	if a := r.Header.Get("X-Fake-Answer"); a != "" {
		if enc, ok := strings.CutPrefix(a, "base64:"); ok {
			if dec, err := base64.StdEncoding.DecodeString(enc); err == nil {
				a = string(dec)
			}
		}
		c.answer = a
	}
	if n, err := strconv.Atoi(r.Header.Get("X-Fake-Chunk-Size")); err == nil && n > 0 {
		c.chunk = n
	}
	if d, err := time.ParseDuration(r.Header.Get("X-Fake-Delay")); err == nil && d > 0 {
		c.delay = d
	}
	if c.req.Model == "" && ep != "embeddings" {
		c.req.Model = "openai/gpt-4o-mini"
	}
	c.id = h.newID(ep)
	if c.wantsTool() {
		c.toolName = c.firstToolName()
	}

	switch s := c.scenario; {
	case s == "" || s == "ok" || s == "slow" || s == "tools" || s == "bad-sse" || s == "reset" || s == "midstream-error" || s == "hang-stream":
	case strings.HasPrefix(s, "error-"):
		c.errorScenario(strings.TrimPrefix(s, "error-"))
		return
	case s == "moderation":
		writeError(w, 403, c.req.Model+" requires moderation on OpenRouter. Your input was flagged for \"violence\".", map[string]any{
			"reasons": []string{"violence"}, "flagged_input": c.flaggedInput(),
			"provider_name": "OpenAI", "model_slug": c.req.Model,
		})
		return
	case s == "bad-json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Generation-Id", c.id)
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"id":"`+c.id+`","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis`)
		return
	case s == "hang":
		<-r.Context().Done()
		h.noteCancelled()
		return
	default:
		writeError(w, 400, "unknown X-Fake-Scenario "+strconv.Quote(s), nil)
		return
	}
	if c.scenario == "reset" && !(c.req.Stream && ep != "embeddings") {
		c.hijackClose()
		return
	}
	if c.scenario == "midstream-error" && !c.req.Stream {
		// OpenRouter may answer 200 with only an error and no choices.
		w.Header().Set("X-Generation-Id", c.id)
		writeJSON(w, 200, map[string]any{"error": map[string]any{"code": 502, "message": "Provider returned error",
			"metadata": map[string]any{"provider_name": "FakeProvider", "raw": "upstream connection lost"}}})
		return
	}
	h.remember(c)
	if c.req.Stream && ep != "embeddings" {
		c.stream()
		return
	}
	c.w.Header().Set("X-Generation-Id", c.id)
	writeJSON(w, 200, c.plain())
}

func (c *call) errorScenario(code string) {
	status, err := strconv.Atoi(code)
	if err != nil || status < 400 || status > 599 {
		status = 400
	}
	var meta map[string]any
	msg := http.StatusText(status)
	switch status {
	case 400:
		msg = "Bad request (fake upstream)"
	case 401:
		msg = "No auth credentials found"
	case 402:
		msg = "Insufficient credits. Add more using https://openrouter.ai/settings/credits"
	case 404:
		msg = "No endpoints found matching your data policy"
	case 408:
		msg = "Request timed out"
	case 429:
		msg = "Rate limit exceeded"
		c.w.Header().Set("Retry-After", "1")
	case 502:
		msg = "Provider returned error"
		meta = map[string]any{"provider_name": "FakeProvider", "raw": `{"error":"upstream model crashed"}`}
	case 503:
		msg = "No available model provider that meets your routing requirements"
	}
	writeError(c.w, status, msg, meta)
}

func (c *call) hijackClose() {
	conn, _, err := c.rc.Hijack()
	if err != nil {
		// HTTP/2 cannot hijack: abort the stream instead.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (c *call) wantsTool() bool {
	if c.scenario == "tools" {
		return true
	}
	if len(c.req.Tools) == 0 {
		return false
	}
	var choice string
	_ = json.Unmarshal(c.req.ToolChoice, &choice)
	return choice != "none"
}

func (c *call) firstToolName() string {
	if len(c.req.Tools) > 0 {
		var t struct {
			Name     string `json:"name"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		_ = json.Unmarshal(c.req.Tools[0], &t)
		if t.Function.Name != "" {
			return t.Function.Name
		}
		if t.Name != "" {
			return t.Name
		}
	}
	return "fake_tool"
}

// toolArgs are the arguments of the fake's tool call: the answer, so tests
// choose what an answer check sees there too.
func (c *call) toolArgs() string {
	b, _ := json.Marshal(map[string]string{"input": c.answer})
	return string(b)
}

// flaggedInput is the last user text, cut to 100 characters like OpenRouter's.
func (c *call) flaggedInput() string {
	text := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var parts []struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(raw, &parts)
		for _, p := range parts {
			if p.Text != "" {
				return p.Text
			}
		}
		return ""
	}
	s := ""
	for i := len(c.req.Messages) - 1; i >= 0 && s == ""; i-- {
		if c.req.Messages[i].Role == "user" {
			s = text(c.req.Messages[i].Content)
		}
	}
	if s == "" {
		s = text(c.req.Prompt)
	}
	if s == "" {
		s = text(c.req.Input)
	}
	if utf8.RuneCountInString(s) > 100 {
		s = string([]rune(s)[:100])
	}
	return s
}

// pieces splits the streamed text into chunks of c.chunk runes.
func (c *call) pieces(s string) []string {
	var out []string
	for len(s) > 0 {
		n, i := 0, 0
		for i < len(s) && n < c.chunk {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			n++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

func (c *call) usage() (prompt, completion int) {
	return len(c.body)/4 + 1, len(c.answer)/4 + 1
}
