package wire

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// chat2K is a realistic ~2 KB chat request: system prompt, a few turns, one tool.
func chat2K() []byte {
	msgs := []map[string]any{
		{"role": "system", "content": "You are a helpful assistant for an online bookshop. Answer briefly, cite titles exactly, and never invent prices."},
	}
	for i := 0; i < 6; i++ {
		msgs = append(msgs,
			map[string]any{"role": "user", "content": "Could you recommend a few novels similar to the one I read last week? I liked the slow pacing, the coastal setting and the unreliable narrator."},
			map[string]any{"role": "assistant", "content": "Here are three suggestions with a similar mood: a quiet literary mystery, a family saga by the sea, and a memoir-like novel."})
	}
	body := map[string]any{
		"model": "openai/gpt-4o-mini", "temperature": 0.7, "max_tokens": 512, "stream": true, "user": "customer-1234",
		"messages": msgs,
		"tools": []any{map[string]any{"type": "function", "function": map[string]any{
			"name": "search_catalog", "description": "Search the shop catalog by free text.",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{
				"query": map[string]any{"type": "string", "description": "Search words"}}, "required": []string{"query"}}}}},
	}
	b, _ := json.Marshal(body)
	return b
}

func prompt1M() []byte {
	return []byte(`{"model":"m","prompt":"` + strings.Repeat("All work and no play makes Jack a dull boy. \\n", 1<<20/46) + `","user":"u"}`)
}

func BenchmarkParseRequestChat2K(b *testing.B) {
	body := chat2K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(EndpointChat, body, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRewriteChat2K(b *testing.B) {
	body := chat2K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRequest(EndpointChat, body, ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.Rewrite(Rewrite{Pseudonym: "ps_0123456789abcdef", ZDR: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestPrompt1M(b *testing.B) {
	body := prompt1M()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(EndpointCompletions, body, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// manyKeys is a ~1 MiB hostile body: a message with tens of thousands of
// unknown keys, half of them non-ASCII, at the top level and in a message.
func manyKeys() []byte {
	var b strings.Builder
	b.WriteString(`{"messages":[{"role":"user","content":"c"`)
	for i := 0; b.Len() < 1<<19; i++ {
		fmt.Fprintf(&b, `,"k%dé":1,"Ke%d":2`, i, i)
	}
	b.WriteString(`}]`)
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, `,"t%dé":1,"To%d":2`, i, i)
	}
	b.WriteString(`}`)
	return []byte(b.String())
}

func BenchmarkParseRequestManyKeys1M(b *testing.B) {
	body := manyKeys()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(EndpointChat, body, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingJSONChat2K is the yardstick json.go is measured against.
func BenchmarkEncodingJSONChat2K(b *testing.B) {
	body := chat2K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventReader(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 100; i++ {
		sb.WriteString(`data: {"id":"gen-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"word "}}]}` + "\n\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		er := NewEventReader(strings.NewReader(s))
		for {
			if _, err := er.Next(); err != nil {
				break
			}
		}
	}
}

func TestBenchBodies(t *testing.T) {
	// The benchmark bodies parse and are the sizes they claim.
	c := chat2K()
	if len(c) < 1800 || len(c) > 2600 {
		t.Fatalf("chat body %d bytes", len(c))
	}
	r, err := ParseRequest(EndpointCompletions, prompt1M(), ParseOptions{})
	if err != nil || r.TextBytes < 1<<19 {
		t.Fatalf("%v", err)
	}
}
