package wire

import "strconv"

// Reading model answers, for answer checks. These never fail: an answer
// aupguard cannot parse yields no text (the proxy forwards it untouched and
// the upstream's own error handling applies). Their nesting bound is far
// above a request's: a model's tool input may nest deeply, and an answer
// skipped for depth would go unchecked.

// answerMaxDepth bounds the nesting of answers.
const answerMaxDepth = 1024

func parseAnswer(b []byte) (*doc, bool) {
	if len(b) == 0 || depthExceeds(b, answerMaxDepth) {
		return nil, false
	}
	d, ok := parseDoc(b, answerMaxDepth)
	if !ok || d.nodes[0].kind != kObject {
		return nil, false
	}
	return d, true
}

// ModerationReasons reads an OpenRouter moderation error (a 403 body with
// error.metadata.reasons) and returns its reasons; ok is false for any other
// body. Invalid UTF-8 in the body is tolerated here: nothing is extracted
// from it but the reasons.
func ModerationReasons(body []byte) ([]string, bool) {
	d, ok := parseAnswer(body)
	if !ok {
		return nil, false
	}
	e := d.get(0, "error")
	if code := d.get(e, "code"); d.kind(code) != int(kNumber) || string(d.src[d.nodes[code].start:d.nodes[code].end]) != "403" {
		return nil, false
	}
	rs := d.get(d.get(e, "metadata"), "reasons")
	if d.kind(rs) != int(kArray) {
		return nil, false
	}
	out := []string{}
	for _, r := range d.items(rs) {
		if s, ok := d.strVal(r); ok {
			out = append(out, s)
		}
	}
	return out, true
}

type answer struct {
	d   *doc
	out []Text
}

func (a *answer) add(n int32, where string) {
	if s, ok := a.d.strVal(n); ok && s != "" {
		a.out = append(a.out, Text{Where: where, Text: s, Role: RoleAssistant, Author: AuthorModel, New: true})
	}
}

// all adds every string under n (tool inputs).
func (a *answer) all(n int32, where string) {
	x := extractor{d: a.d, req: &Request{}, path: []byte(where), role: RoleAssistant, author: AuthorModel, fresh: true}
	x.allStrings(n, false)
	a.out = append(a.out, x.req.Texts...)
}

func (a *answer) toolCalls(n int32, where string) {
	d := a.d
	if d.kind(n) != int(kArray) {
		return
	}
	for i, c := range d.items(n) {
		a.add(d.get(d.get(c, "function"), "arguments"), idx(where, i)+".function.arguments")
	}
}

// AnswerTexts extracts the text of a plain (non-streamed) answer: chat
// choices[].message content (string or parts), reasoning, refusal and
// tool-call arguments; completions choices[].text; responses output[]
// message text, refusals, function_call arguments and reasoning summaries;
// messages content blocks (text, thinking, tool_use input). Every text is
// the model's (Role assistant, Author model, New).
func AnswerTexts(ep Endpoint, body []byte) []Text {
	d, ok := parseAnswer(body)
	if !ok {
		return nil
	}
	a := &answer{d: d}
	if ch := d.get(0, "choices"); d.kind(ch) == int(kArray) {
		for i, c := range d.items(ch) {
			w := idx("choices", i)
			a.add(d.get(c, "text"), w+".text")
			m := d.get(c, "message")
			if m < 0 {
				continue
			}
			a.add(d.get(m, "reasoning"), w+".message.reasoning")
			a.blocks(d.get(m, "content"), w+".message.content")
			a.add(d.get(m, "refusal"), w+".message.refusal")
			a.toolCalls(d.get(m, "tool_calls"), w+".message.tool_calls")
		}
	}
	if out := d.get(0, "output"); d.kind(out) == int(kArray) {
		for i, it := range d.items(out) {
			w := idx("output", i)
			switch t, _ := d.strVal(d.get(it, "type")); t {
			case "message":
				a.blocks(d.get(it, "content"), w+".content")
			case "function_call":
				a.add(d.get(it, "arguments"), w+".arguments")
			case "custom_tool_call":
				a.add(d.get(it, "input"), w+".input")
			case "reasoning":
				for _, key := range [...]string{"summary", "content"} {
					if s := d.get(it, key); d.kind(s) == int(kArray) {
						for j, p := range d.items(s) {
							a.add(d.get(p, "text"), idx(w+"."+key, j)+".text")
						}
					}
				}
			}
		}
	}
	if ep == EndpointMessages || d.get(0, "choices") < 0 && d.get(0, "output") < 0 {
		a.blocks(d.get(0, "content"), "content")
	}
	return a.out
}

// blocks reads a content string or an array of parts/blocks of any API.
func (a *answer) blocks(n int32, where string) {
	d := a.d
	switch d.kind(n) {
	case int(kString):
		a.add(n, where)
	case int(kArray):
		for i, p := range d.items(n) {
			w := idx(where, i)
			switch t, _ := d.strVal(d.get(p, "type")); t {
			case "text", "output_text":
				a.add(d.get(p, "text"), w+".text")
			case "refusal":
				a.add(d.get(p, "refusal"), w+".refusal")
			case "thinking":
				a.add(d.get(p, "thinking"), w+".thinking")
			case "tool_use", "server_tool_use":
				a.all(d.get(p, "input"), w+".input")
			}
		}
	}
}

// ChunkTexts extracts the text of one stream event's data: chat chunks'
// choices[].delta content, reasoning and tool_calls[].function.arguments;
// completions chunks' choices[].text; Responses events
// (response.output_text.delta, response.refusal.delta,
// response.function_call_arguments.delta, response.reasoning_*.delta:
// their "delta"); Anthropic content_block_delta (text, thinking,
// partial_json) and content_block_start blocks. err is true when the chunk
// is an error: a top-level "error" (OpenRouter's mid-stream error), or a
// Responses "error"/"response.failed" event. "[DONE]" and unparsable data
// give nothing.
func ChunkTexts(ep Endpoint, data []byte) (texts []Text, err bool) {
	d, ok := parseAnswer(data)
	if !ok {
		return nil, false
	}
	if e := d.get(0, "error"); e >= 0 && d.kind(e) != int(kNull) {
		err = true
	}
	a := &answer{d: d}
	if ch := d.get(0, "choices"); d.kind(ch) == int(kArray) {
		for i, c := range d.items(ch) {
			w := idx("choices", i)
			a.add(d.get(c, "text"), w+".text")
			if fr, _ := d.strVal(d.get(c, "finish_reason")); fr == "error" {
				err = true
			}
			dl := d.get(c, "delta")
			if dl < 0 {
				continue
			}
			a.add(d.get(dl, "reasoning"), w+".delta.reasoning")
			a.blocks(d.get(dl, "content"), w+".delta.content")
			a.add(d.get(dl, "refusal"), w+".delta.refusal")
			a.toolCalls(d.get(dl, "tool_calls"), w+".delta.tool_calls")
		}
	}
	switch t, _ := d.strVal(d.get(0, "type")); t {
	case "response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
		"response.reasoning_text.delta", "response.reasoning_summary_text.delta", "response.custom_tool_call_input.delta":
		a.add(d.get(0, "delta"), "delta")
	case "error", "response.failed":
		err = true
	case "content_block_delta":
		dl := d.get(0, "delta")
		a.add(d.get(dl, "text"), "delta.text")
		a.add(d.get(dl, "thinking"), "delta.thinking")
		a.add(d.get(dl, "partial_json"), "delta.partial_json")
	case "content_block_start":
		cb := d.get(0, "content_block")
		a.add(d.get(cb, "text"), "content_block.text")
		a.add(d.get(cb, "thinking"), "content_block.thinking")
	}
	return a.out, err
}

func idx(where string, i int) string { return where + "[" + strconv.Itoa(i) + "]" }
