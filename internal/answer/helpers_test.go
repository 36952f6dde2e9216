package answer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
)

// phraseChecker blocks (or flags) any text containing phrase, like an
// output policy with one rule. It records what it was asked, to test the
// window's bounds.
type phraseChecker struct {
	phrase   string
	action   policy.Action // default block
	cats     []string      // default mass_casualty_weapons
	err      error         // returned instead of deciding
	calls    atomic.Int64
	mu       sync.Mutex
	maxBytes int // largest single text checked
}

func (f *phraseChecker) CheckOutput(ctx context.Context, s policy.Subject, texts []string) (policy.Decision, error) {
	f.calls.Add(1)
	f.mu.Lock()
	for _, t := range texts {
		f.maxBytes = max(f.maxBytes, len(t))
	}
	f.mu.Unlock()
	if f.err != nil {
		return policy.Decision{}, f.err
	}
	d := policy.Decision{ID: fmt.Sprintf("dec-%d", f.calls.Load()), Action: policy.Allow, Categories: []string{}}
	for _, t := range texts {
		if strings.Contains(strings.ToLower(t), f.phrase) {
			d.Action = f.action
			if d.Action == "" {
				d.Action = policy.Block
			}
			d.Categories = f.cats
			if d.Categories == nil {
				d.Categories = []string{"mass_casualty_weapons"}
			}
			d.Reasons = []string{"test phrase"}
			d.Strike = 1
			break
		}
	}
	return d, nil
}

func newChecker(t testing.TB, chk OutputChecker, opt Options) *Checker {
	t.Helper()
	c, err := New(chk, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// split cuts s into pieces of n bytes (ASCII in tests).
func split(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// Stream fixtures in the shapes OpenRouter sends.

func chatStream(pieces []string) string {
	var b strings.Builder
	b.WriteString(": OPENROUTER PROCESSING\n\n")
	b.WriteString(`data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
	for _, p := range pieces {
		b.WriteString(`data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p","choices":[{"index":0,"delta":{"content":` + js(p) + `},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"p","choices":[{"index":0,"delta":{},"finish_reason":"stop","native_finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":9,"total_tokens":12,"cost":0.0001}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func toolStream(pieces []string) string {
	var b strings.Builder
	b.WriteString(`data: {"id":"gen-2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"write","arguments":""}}]},"finish_reason":null}]}` + "\n\n")
	for _, p := range pieces {
		b.WriteString(`data: {"id":"gen-2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":` + js(p) + `}}]},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"gen-2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func reasoningStream(pieces []string) string {
	var b strings.Builder
	for _, p := range pieces {
		b.WriteString(`data: {"id":"gen-3","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning":` + js(p) + `},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"gen-3","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func completionsStream(pieces []string) string {
	var b strings.Builder
	for _, p := range pieces {
		b.WriteString(`data: {"id":"gen-4","object":"text_completion","choices":[{"index":0,"text":` + js(p) + `,"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"gen-4","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// responsesStream has event: lines like OpenAI's Responses API, and a
// response.output_text.done / response.completed that repeat the whole text.
func responsesStream(pieces []string) string {
	var b strings.Builder
	ev := func(typ, data string) {
		b.WriteString("event: " + typ + "\ndata: " + data + "\n\n")
	}
	ev("response.created", `{"type":"response.created","response":{"id":"resp_1","status":"in_progress","output":[]}}`)
	ev("response.output_item.added", `{"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}`)
	for _, p := range pieces {
		ev("response.output_text.delta", `{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":`+js(p)+`}`)
	}
	full := js(strings.Join(pieces, ""))
	ev("response.output_text.done", `{"type":"response.output_text.done","item_id":"msg_1","output_index":0,"content_index":0,"text":`+full+`}`)
	ev("response.completed", `{"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":`+full+`}]}]}}`)
	return b.String()
}

// trackBody is an upstream body that records Close.
type trackBody struct {
	io.Reader
	closed atomic.Int32
}

func (b *trackBody) Close() error { b.closed.Add(1); return nil }

// smallReads reads r through a buffer of n bytes, as a proxy with a small
// buffer would.
func smallReads(r io.Reader, n int) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, n)
	for {
		k, err := r.Read(buf)
		out.Write(buf[:k])
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// streamErrorOf parses the last event of out as a mid-stream refusal.
func streamErrorOf(t *testing.T, out []byte) (reason, decisionID string, reasons []string) {
	t.Helper()
	er := wire.NewEventReader(bytes.NewReader(out))
	var last wire.Event
	for {
		ev, err := er.Next()
		if err != nil {
			break
		}
		last = ev
	}
	if last.Type == "error" {
		// Anthropic's shape (messages): {"type":"error","error":{"type","message","metadata"}}.
		var a struct {
			Type  string `json:"type"`
			Error struct {
				Type     string `json:"type"`
				Message  string `json:"message"`
				Metadata struct {
					Reason       string   `json:"reason"`
					Reasons      []string `json:"reasons"`
					DecisionID   string   `json:"decision_id"`
					ProviderName string   `json:"provider_name"`
				} `json:"metadata"`
			} `json:"error"`
		}
		if err := json.Unmarshal(last.Data, &a); err != nil || a.Type != "error" || a.Error.Type == "" || a.Error.Message == "" ||
			a.Error.Metadata.ProviderName != "aupguard" {
			t.Fatalf("error event is not in Anthropic's shape: %q (%v)", last.Raw, err)
		}
		return a.Error.Metadata.Reason, a.Error.Metadata.DecisionID, a.Error.Metadata.Reasons
	}
	var m struct {
		Error struct {
			Code     int    `json:"code"`
			Message  string `json:"message"`
			Metadata struct {
				Reason       string   `json:"reason"`
				Reasons      []string `json:"reasons"`
				DecisionID   string   `json:"decision_id"`
				ProviderName string   `json:"provider_name"`
			} `json:"metadata"`
		} `json:"error"`
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(last.Data, &m); err != nil || m.Error.Code == 0 {
		t.Fatalf("last event is not an error event: %q (%v)", last.Raw, err)
	}
	if len(m.Choices) != 1 || m.Choices[0].FinishReason != "error" || m.Error.Metadata.ProviderName != "aupguard" {
		t.Fatalf("error event shape: %s", last.Data)
	}
	return m.Error.Metadata.Reason, m.Error.Metadata.DecisionID, m.Error.Metadata.Reasons
}
