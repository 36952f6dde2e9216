package wire

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReasonStatus(t *testing.T) {
	want := map[Reason]int{
		ReasonAUPBlocked: 403, ReasonSuspended: 403, ReasonBanned: 403, ReasonPathNotAllowed: 403,
		ReasonModelNotAllowed: 403, ReasonEndUserRequired: 400, ReasonInvalidRequest: 400,
		ReasonUnauthorized: 401, ReasonPayloadTooLarge: 413, ReasonRateLimited: 429,
		ReasonUpstreamUnavailable: 502, ReasonUpstreamTimeout: 504, ReasonStoreUnavailable: 503, ReasonAuthThrottled: 429, ReasonOverloaded: 503,
		ReasonInternal: 500, Reason("nonsense"): 500,
	}
	for r, s := range want {
		if got := r.Status(); got != s {
			t.Errorf("%s.Status() = %d, want %d", r, got, s)
		}
	}
}

type errShape struct {
	Error struct {
		Code     int            `json:"code"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	} `json:"error"`
	Choices []struct {
		Index        int             `json:"index"`
		Delta        json.RawMessage `json:"delta"`
		FinishReason string          `json:"finish_reason"`
	} `json:"choices"`
}

func TestErrorBody(t *testing.T) {
	b := ErrorBody(ReasonAUPBlocked, "blocked by policy", map[string]any{
		"reasons": []string{"violence"}, "decision_id": "d1", "reason": "spoofed", "provider_name": "spoofed"})
	var e errShape
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	md := e.Error.Metadata
	if e.Error.Code != 403 || e.Error.Message != "blocked by policy" || md["reason"] != "aup_blocked" ||
		md["provider_name"] != "aupguard" || md["decision_id"] != "d1" {
		t.Fatalf("%s", b)
	}
	if rs, _ := md["reasons"].([]any); len(rs) != 1 || rs[0] != "violence" {
		t.Fatalf("reasons: %s", b)
	}
	// Unencodable meta still yields a well-formed error.
	b = ErrorBody(ReasonBanned, "x", map[string]any{"f": func() {}})
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code != 500 {
		t.Fatalf("%s %v", b, err)
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, ReasonRateLimited, "slow down", nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var e errShape
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != 429 || e.Error.Metadata["reason"] != "rate_limited" {
		t.Fatalf("%s %v", rec.Body, err)
	}
}

func TestStreamError(t *testing.T) {
	b := StreamError(ReasonAUPBlocked, "answer blocked", map[string]any{"decision_id": "d"})
	if !strings.HasPrefix(string(b), "data: ") || !strings.HasSuffix(string(b), "\n\n") || strings.Count(string(b), "\n") != 2 {
		t.Fatalf("not one SSE event: %q", b)
	}
	ev, err := NewEventReader(strings.NewReader(string(b))).Next()
	if err != nil {
		t.Fatal(err)
	}
	var e errShape
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		t.Fatal(err)
	}
	if e.Error.Code != 403 || e.Error.Metadata["reason"] != "aup_blocked" || len(e.Choices) != 1 ||
		e.Choices[0].FinishReason != "error" || string(e.Choices[0].Delta) != "{}" {
		t.Fatalf("%s", ev.Data)
	}
	if _, isErr := ChunkTexts(EndpointChat, ev.Data); !isErr {
		t.Fatal("ChunkTexts does not see the stream error")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		m, p string
		want Endpoint
		call bool
		name string
	}{
		{"POST", "chat/completions", EndpointChat, true, "chat"},
		{"POST", "completions", EndpointCompletions, true, "completions"},
		{"POST", "responses", EndpointResponses, true, "responses"},
		{"POST", "messages", EndpointMessages, true, "messages"},
		{"POST", "embeddings", EndpointEmbeddings, true, "embeddings"},
		{"GET", "models", EndpointModels, false, "models"},
		{"GET", "models/openai/gpt-4o/endpoints", EndpointModels, false, "models"},
		{"GET", "generation", EndpointGeneration, false, "generation"},
		{"GET", "key", EndpointAccount, false, "account"},
		{"GET", "credits", EndpointAccount, false, "account"},
		{"GET", "chat/completions", EndpointOther, false, "other"},
		{"POST", "models", EndpointOther, false, "other"},
		{"GET", "models/openai/endpoints", EndpointOther, false, "other"},
		{"GET", "models/a/b/c/endpoints", EndpointOther, false, "other"},
		{"GET", "models//x/endpoints", EndpointOther, false, "other"},
		{"POST", "keys", EndpointOther, false, "other"},
		{"DELETE", "key", EndpointOther, false, "other"},
	}
	for _, c := range cases {
		got := Classify(c.m, c.p)
		if got != c.want || got.IsModelCall() != c.call || got.String() != c.name {
			t.Errorf("Classify(%s %s) = %v (%s, call %v)", c.m, c.p, got, got, got.IsModelCall())
		}
	}
	if Endpoint(99).String() != "other" {
		t.Error("out-of-range endpoint name")
	}
}

// Anthropic's error types by HTTP status, as its API documents them
// (docs.anthropic.com, "Errors"); the SDKs pick their error class by status.
var anthropicRecorded = map[int]string{
	400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
	404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
	500: "api_error", 529: "overloaded_error",
}

func TestAnthropicType(t *testing.T) {
	for status, typ := range anthropicRecorded {
		if got := AnthropicType(status); got != typ {
			t.Errorf("AnthropicType(%d) = %q, want %q", status, got, typ)
		}
	}
	for _, status := range []int{502, 504} {
		if got := AnthropicType(status); got != "api_error" {
			t.Errorf("AnthropicType(%d) = %q", status, got)
		}
	}
}

type anthropicErr struct {
	Type  string `json:"type"`
	Error struct {
		Type     string         `json:"type"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	} `json:"error"`
}

func TestAnthropicShape(t *testing.T) {
	if ShapeFor(EndpointMessages) != ShapeAnthropic || ShapeFor(EndpointChat) != ShapeOpenRouter {
		t.Fatal("ShapeFor")
	}
	// A recorded Anthropic error (docs.anthropic.com, "Errors") decodes into
	// the same structure as ours.
	var rec anthropicErr
	if err := json.Unmarshal([]byte(`{"type":"error","error":{"type":"not_found_error","message":"The requested resource could not be found."}}`), &rec); err != nil || rec.Error.Type != "not_found_error" {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	ShapeAnthropic.WriteError(w, ReasonAUPBlocked, "blocked by policy", BlockedMeta([]string{"violence"}, "d1"))
	var e anthropicErr
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	md := e.Error.Metadata
	if w.Code != 403 || e.Type != "error" || e.Error.Type != "permission_error" || e.Error.Message != "blocked by policy" ||
		md["reason"] != "aup_blocked" || md["decision_id"] != "d1" || md["provider_name"] != "aupguard" ||
		w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(w.Body.Bytes(), &top)
	if len(top) != 3 || string(top["message"]) != `"blocked by policy"` {
		// Anthropic's type and error, and the message the TypeScript SDK
		// takes for its error's message (it prints the body without one).
		t.Fatalf("top-level keys: %s", w.Body)
	}
	// OpenRouter's shape is unchanged elsewhere.
	if b := ShapeOpenRouter.ErrorBody(ReasonRateLimited, "m", nil); string(b) != string(ErrorBody(ReasonRateLimited, "m", nil)) {
		t.Fatalf("%s", b)
	}

	// Mid-stream: one event named "error", like Anthropic's own
	// ("event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", ...}}").
	ev := ShapeAnthropic.StreamError(ReasonUpstreamUnavailable, "the upstream stream broke off", nil)
	er := NewEventReader(strings.NewReader(string(ev)))
	got, err := er.Next()
	if err != nil || got.Type != "error" || !strings.HasSuffix(string(ev), "\n\n") {
		t.Fatalf("%q %v", ev, err)
	}
	e = anthropicErr{}
	if err := json.Unmarshal(got.Data, &e); err != nil || e.Type != "error" || e.Error.Type != "api_error" || e.Error.Metadata["reason"] != "upstream_unavailable" {
		t.Fatalf("%s %v", got.Data, err)
	}

	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	ShapeAnthropic.ReplaceResponse(resp, ReasonAUPBlocked, "no", nil)
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%+v", resp)
	}
}
