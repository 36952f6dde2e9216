package fakeupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

const providerName = "FakeProvider"

func (h *handler) newID(ep string) string {
	n := h.genSeq.Add(1)
	prefix := "gen-"
	switch ep {
	case "responses":
		prefix = "resp_"
	case "messages":
		prefix = "msg_"
	}
	return prefix + strconv.FormatInt(time.Now().Unix(), 10) + "-" + strconv.FormatInt(n, 10)
}

type usageJSON struct {
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	TotalTokens      int     `json:"total_tokens"`
	Cost             float64 `json:"cost"`
}

func (c *call) usageJSON() usageJSON {
	p, q := c.usage()
	return usageJSON{p, q, p + q, float64(p+q) * 0.000001}
}

type toolCallJSON struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

func (c *call) toolCall(withIndex bool, args string, head bool) toolCallJSON {
	var t toolCallJSON
	if withIndex {
		zero := 0
		t.Index = &zero
	}
	if head {
		t.ID, t.Type, t.Function.Name = "call_"+c.id, "function", c.toolName
	}
	t.Function.Arguments = args
	return t
}

func (c *call) finishReason() string {
	if c.toolName != "" {
		return "tool_calls"
	}
	return "stop"
}

// plain is the non-streamed answer of each endpoint.
func (c *call) plain() any {
	p, q := c.usage()
	switch c.ep {
	case "completions":
		return map[string]any{"id": c.id, "object": "text_completion", "created": c.created, "model": c.req.Model,
			"provider": providerName, "choices": []any{map[string]any{"index": 0, "text": c.answer,
				"finish_reason": "stop", "native_finish_reason": "stop", "logprobs": nil}}, "usage": c.usageJSON()}
	case "responses":
		var item map[string]any
		if c.toolName != "" {
			item = map[string]any{"type": "function_call", "id": "fc_" + c.id, "call_id": "call_" + c.id,
				"name": c.toolName, "arguments": c.toolArgs(), "status": "completed"}
		} else {
			item = c.responsesMessage(c.answer)
		}
		return map[string]any{"id": c.id, "object": "response", "created_at": c.created, "model": c.req.Model,
			"status": "completed", "output": []any{item}, "error": nil, "incomplete_details": nil,
			"usage": map[string]any{"input_tokens": p, "output_tokens": q, "total_tokens": p + q}}
	case "messages":
		var block map[string]any
		stop := "end_turn"
		if c.toolName != "" {
			block = map[string]any{"type": "tool_use", "id": "toolu_" + c.id, "name": c.toolName,
				"input": map[string]string{"input": c.answer}}
			stop = "tool_use"
		} else {
			block = map[string]any{"type": "text", "text": c.answer}
		}
		return map[string]any{"id": c.id, "type": "message", "role": "assistant", "model": c.req.Model,
			"content": []any{block}, "stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": p, "output_tokens": q}}
	case "embeddings":
		n := 1
		var list []json.RawMessage
		if json.Unmarshal(c.req.Input, &list) == nil && len(list) > 0 {
			// An array of token ids is one input, an array of strings many.
			var first float64
			if json.Unmarshal(list[0], &first) != nil {
				n = len(list)
			}
		}
		data := make([]any, n)
		for i := range data {
			vec := make([]float64, 8)
			for j := range vec {
				vec[j] = float64((i+1)*(j+1)%7) / 7
			}
			data[i] = map[string]any{"object": "embedding", "index": i, "embedding": vec}
		}
		return map[string]any{"id": c.id, "object": "list", "data": data, "model": c.req.Model,
			"usage": map[string]any{"prompt_tokens": p, "total_tokens": p}}
	}
	msg := map[string]any{"role": "assistant", "content": c.answer, "refusal": nil}
	if c.toolName != "" {
		msg["content"] = nil
		msg["tool_calls"] = []any{c.toolCall(false, c.toolArgs(), true)}
	}
	return map[string]any{"id": c.id, "object": "chat.completion", "created": c.created, "model": c.req.Model,
		"provider": providerName, "system_fingerprint": nil,
		"choices": []any{map[string]any{"index": 0, "logprobs": nil, "message": msg,
			"finish_reason": c.finishReason(), "native_finish_reason": c.finishReason()}},
		"usage": c.usageJSON()}
}

func (c *call) responsesMessage(text string) map[string]any {
	return map[string]any{"type": "message", "id": "msg_" + c.id, "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
}

// sse writes events and flushes each at once.
type sse struct {
	c   *call
	err error
}

func (s *sse) raw(b string) bool {
	if s.err != nil {
		return false
	}
	if _, s.err = io.WriteString(s.c.w, b); s.err == nil {
		s.err = s.c.rc.Flush()
	}
	if s.err != nil {
		// The client left. On a busy machine a pause can end before the
		// server has noticed (and cancelled the context): the failed write
		// is the same news.
		s.c.noteCancelled()
	}
	return s.err == nil
}

func (s *sse) data(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return s.raw("data: " + string(b) + "\n\n")
}

func (s *sse) named(event string, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return s.raw("event: " + event + "\ndata: " + string(b) + "\n\n")
}

const processing = ": OPENROUTER PROCESSING\n\n"

// pause waits between chunks ("slow") and notices a client that left.
func (c *call) pause() bool {
	ctx := c.r.Context()
	if c.scenario == "slow" {
		t := time.NewTimer(c.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		c.noteCancelled()
		return false
	}
	return true
}

func (c *call) stream() {
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Generation-Id", c.id)
	c.w.WriteHeader(http.StatusOK)
	s := &sse{c: c}
	if !s.raw(processing) {
		return
	}
	if c.scenario == "hang-stream" {
		<-c.r.Context().Done()
		c.noteCancelled()
		return
	}
	if c.scenario == "bad-sse" {
		s.raw("this line is not server-sent events\n")
		s.raw("data: {\"id\":\"" + c.id + "\",\"choices\":[{\"delta\":{\"content\":\"oops\"\n\n")
	}
	switch c.ep {
	case "responses":
		c.streamResponses(s)
	case "messages":
		c.streamMessages(s)
	default:
		c.streamChat(s)
	}
}

// each streams the pieces of text through emit, with the mid-stream
// processing comment, pauses, and the reset and midstream-error scenarios.
// It reports whether the stream should go on to its normal end.
func (c *call) each(s *sse, text string, emit func(piece string) bool) bool {
	ps := c.pieces(text)
	for i, p := range ps {
		if !emit(p) {
			return false
		}
		if c.scenario == "reset" {
			c.hijackClose()
			return false
		}
		if c.scenario == "midstream-error" && i == 1 {
			break
		}
		if i == 1 && len(ps) > 2 && !s.raw(processing) {
			return false
		}
		if !c.pause() {
			return false
		}
	}
	if c.scenario == "midstream-error" {
		s.data(map[string]any{"id": c.id, "object": "chat.completion.chunk", "created": c.created,
			"model": c.req.Model, "provider": providerName,
			"error": map[string]any{"code": 502, "message": "Provider returned error",
				"metadata": map[string]any{"provider_name": providerName, "raw": "connection lost mid-stream"}},
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": ""},
				"finish_reason": "error", "native_finish_reason": "error"}}})
		return false
	}
	return true
}

func (c *call) chunkJSON(delta any, finish any, usage any) map[string]any {
	obj := "chat.completion.chunk"
	choice := map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish, "logprobs": nil}
	if c.ep == "completions" {
		obj = "text_completion"
		choice = map[string]any{"index": 0, "text": delta, "finish_reason": finish, "native_finish_reason": finish, "logprobs": nil}
	}
	m := map[string]any{"id": c.id, "object": obj, "created": c.created, "model": c.req.Model,
		"provider": providerName, "choices": []any{choice}}
	if usage != nil {
		m["usage"] = usage
	}
	return m
}

func (c *call) streamChat(s *sse) {
	if c.ep == "completions" {
		if !c.each(s, c.answer, func(p string) bool { return s.data(c.chunkJSON(p, nil, nil)) }) {
			return
		}
		s.data(c.chunkJSON("", "stop", c.usageJSON()))
		s.raw("data: [DONE]\n\n")
		return
	}
	if !s.data(c.chunkJSON(map[string]any{"role": "assistant", "content": ""}, nil, nil)) {
		return
	}
	var ok bool
	if c.toolName != "" {
		if !s.data(c.chunkJSON(map[string]any{"tool_calls": []any{c.toolCall(true, "", true)}}, nil, nil)) {
			return
		}
		ok = c.each(s, c.toolArgs(), func(p string) bool {
			return s.data(c.chunkJSON(map[string]any{"tool_calls": []any{c.toolCall(true, p, false)}}, nil, nil))
		})
	} else {
		ok = c.each(s, c.answer, func(p string) bool {
			return s.data(c.chunkJSON(map[string]any{"content": p}, nil, nil))
		})
	}
	if !ok {
		return
	}
	s.data(c.chunkJSON(map[string]any{}, c.finishReason(), c.usageJSON()))
	s.raw("data: [DONE]\n\n")
}

func (c *call) streamResponses(s *sse) {
	seq := 0
	ev := func(typ string, fields map[string]any) bool {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		return s.data(fields)
	}
	resp := func(status string, output []any) map[string]any {
		r := map[string]any{"id": c.id, "object": "response", "created_at": c.created, "model": c.req.Model,
			"status": status, "output": output}
		if status == "completed" {
			p, q := c.usage()
			r["usage"] = map[string]any{"input_tokens": p, "output_tokens": q, "total_tokens": p + q}
		}
		return r
	}
	if !ev("response.created", map[string]any{"response": resp("in_progress", []any{})}) {
		return
	}
	var done map[string]any
	if c.toolName != "" {
		item := map[string]any{"type": "function_call", "id": "fc_" + c.id, "call_id": "call_" + c.id,
			"name": c.toolName, "arguments": "", "status": "in_progress"}
		if !ev("response.output_item.added", map[string]any{"output_index": 0, "item": item}) {
			return
		}
		if !c.each(s, c.toolArgs(), func(p string) bool {
			return ev("response.function_call_arguments.delta", map[string]any{"item_id": "fc_" + c.id, "output_index": 0, "delta": p})
		}) {
			return
		}
		ev("response.function_call_arguments.done", map[string]any{"item_id": "fc_" + c.id, "output_index": 0, "arguments": c.toolArgs()})
		done = map[string]any{"type": "function_call", "id": "fc_" + c.id, "call_id": "call_" + c.id,
			"name": c.toolName, "arguments": c.toolArgs(), "status": "completed"}
	} else {
		item := c.responsesMessage("")
		item["status"], item["content"] = "in_progress", []any{}
		if !ev("response.output_item.added", map[string]any{"output_index": 0, "item": item}) {
			return
		}
		ev("response.content_part.added", map[string]any{"item_id": "msg_" + c.id, "output_index": 0, "content_index": 0,
			"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
		if !c.each(s, c.answer, func(p string) bool {
			return ev("response.output_text.delta", map[string]any{"item_id": "msg_" + c.id, "output_index": 0, "content_index": 0, "delta": p})
		}) {
			return
		}
		ev("response.output_text.done", map[string]any{"item_id": "msg_" + c.id, "output_index": 0, "content_index": 0, "text": c.answer})
		done = c.responsesMessage(c.answer)
	}
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": done})
	ev("response.completed", map[string]any{"response": resp("completed", []any{done})})
	s.raw("data: [DONE]\n\n")
}

func (c *call) streamMessages(s *sse) {
	p, q := c.usage()
	if !s.named("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": c.id, "type": "message", "role": "assistant", "model": c.req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": p, "output_tokens": 1}}}) {
		return
	}
	stop := "end_turn"
	var ok bool
	if c.toolName != "" {
		stop = "tool_use"
		s.named("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": "toolu_" + c.id, "name": c.toolName, "input": map[string]any{}}})
		ok = c.each(s, c.toolArgs(), func(piece string) bool {
			return s.named("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": piece}})
		})
	} else {
		s.named("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "text", "text": ""}})
		ok = c.each(s, c.answer, func(piece string) bool {
			return s.named("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
				"delta": map[string]any{"type": "text_delta", "text": piece}})
		})
	}
	if !ok {
		return
	}
	s.named("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	s.named("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": q}})
	s.named("message_stop", map[string]any{"type": "message_stop"})
}

// Generations, for GET generation?id=.

type genInfo struct {
	ID               string  `json:"id"`
	Model            string  `json:"model"`
	ProviderName     string  `json:"provider_name"`
	CreatedAt        string  `json:"created_at"`
	Streamed         bool    `json:"streamed"`
	TokensPrompt     int     `json:"tokens_prompt"`
	TokensCompletion int     `json:"tokens_completion"`
	TotalCost        float64 `json:"total_cost"`
	FinishReason     string  `json:"finish_reason"`
	Origin           string  `json:"origin"`
}

func (h *handler) remember(c *call) {
	if h.opts.NoRecord {
		return // load tests: no unbounded growth
	}
	p, q := c.usage()
	h.gens.Store(c.id, genInfo{ID: c.id, Model: c.req.Model, ProviderName: providerName,
		CreatedAt: time.Unix(c.created, 0).UTC().Format(time.RFC3339), Streamed: c.req.Stream,
		TokensPrompt: p, TokensCompletion: q, TotalCost: float64(p+q) * 0.000001, FinishReason: c.finishReason(),
		Origin: c.r.Header.Get("HTTP-Referer")})
}

var fakeModels = []map[string]any{
	model("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 128000, "0.00000015", "0.0000006"),
	model("anthropic/claude-sonnet-4.5", "Anthropic: Claude Sonnet 4.5", 200000, "0.000003", "0.000015"),
	model("meta-llama/llama-guard-4-12b", "Meta: Llama Guard 4 12B", 163840, "0.00000005", "0.00000005"),
}

func model(id, name string, ctx int, prompt, completion string) map[string]any {
	return map[string]any{"id": id, "canonical_slug": id, "name": name, "created": 1700000000,
		"description": name + " (fake)", "context_length": ctx,
		"architecture": map[string]any{"modality": "text+image->text", "input_modalities": []string{"text", "image"},
			"output_modalities": []string{"text"}, "tokenizer": "Other"},
		"pricing":               map[string]any{"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
		"top_provider":          map[string]any{"context_length": ctx, "max_completion_tokens": 16384, "is_moderated": true},
		"supported_parameters":  []string{"tools", "tool_choice", "max_tokens", "temperature", "stream"},
		"per_request_limits":    nil,
		"default_parameters":    map[string]any{},
		"hugging_face_id":       "",
		"expiration_date":       nil,
		"knowledge_cutoff_date": nil,
	}
}

func (h *handler) metadata(w http.ResponseWriter, r *http.Request, rel string) {
	switch rel {
	case "models":
		writeJSON(w, 200, map[string]any{"data": fakeModels})
	case "generation":
		id := r.URL.Query().Get("id")
		if id == "" {
			writeError(w, 400, "Missing generation id", nil)
			return
		}
		g, ok := h.gens.Load(id)
		if !ok {
			writeError(w, 404, "Generation not found", nil)
			return
		}
		writeJSON(w, 200, map[string]any{"data": g})
	case "key":
		writeJSON(w, 200, map[string]any{"data": map[string]any{"label": "sk-or-v1-fak...e00", "usage": 1.25,
			"limit": nil, "limit_remaining": nil, "is_free_tier": false, "is_provisioning_key": false,
			"rate_limit": map[string]any{"requests": -1, "interval": "10s"}}})
	case "credits":
		writeJSON(w, 200, map[string]any{"data": map[string]any{"total_credits": 100.0, "total_usage": 1.25}})
	}
}

func (h *handler) modelEndpoints(w http.ResponseWriter, id string) {
	for _, m := range fakeModels {
		if m["id"] != id {
			continue
		}
		writeJSON(w, 200, map[string]any{"data": map[string]any{
			"id": id, "name": m["name"], "created": m["created"], "description": m["description"],
			"architecture": m["architecture"],
			"endpoints": []any{map[string]any{"name": providerName + " | " + id, "provider_name": providerName,
				"context_length": m["context_length"], "pricing": m["pricing"], "status": 0, "quantization": "unknown",
				"max_completion_tokens": 16384, "supported_parameters": m["supported_parameters"],
				"uptime_last_30m": 100.0}},
		}})
		return
	}
	writeError(w, 404, "Model not found", nil)
}

// noteCancelled counts the call as cancelled, once however it was noticed.
func (c *call) noteCancelled() {
	if !c.cancelNoted {
		c.cancelNoted = true
		c.h.noteCancelled()
	}
}
