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
		ReasonUpstreamUnavailable: 502, ReasonUpstreamTimeout: 504, ReasonStoreUnavailable: 503,
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
