package middleware

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// anthropicError is Anthropic's error body, as its API sends it and its
// SDKs read it: {"type":"error","error":{"type":T,"message":M}}; aupguard's
// metadata rides in error.metadata, which the SDKs ignore.
type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type     string         `json:"type"`
		Message  string         `json:"message"`
		Metadata map[string]any `json:"metadata"`
	} `json:"error"`
}

func wantAnthropic(t *testing.T, w *httptest.ResponseRecorder, status int, typ, reason string) anthropicError {
	t.Helper()
	var e anthropicError
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body.String(), err)
	}
	if w.Code != status || e.Type != "error" || e.Error.Type != typ || e.Error.Message == "" ||
		e.Error.Metadata["reason"] != reason || e.Error.Metadata["provider_name"] != "aupguard" {
		t.Fatalf("got %d %s, want %d in Anthropic's shape (%s, %s)", w.Code, w.Body.String(), status, typ, reason)
	}
	if strings.Contains(w.Body.String(), `"code"`) || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("OpenRouter's shape leaked into an Anthropic error: %s", w.Body.String())
	}
	return e
}

const anthropicMsg = `{"model":"anthropic/claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"hello there"}]}`

func TestMessagesRefusalsInAnthropicShape(t *testing.T) {
	h := newHarness(t, nil, nil)
	hdr := map[string]string{"X-AUP-End-User": "mallory", "anthropic-version": "2023-06-01"}
	for _, root := range []string{"/api/v1/", "/v1/"} {
		blocked := strings.Replace(anthropicMsg, "hello there", "please BLOCKME", 1)
		e := wantAnthropic(t, h.do("POST", root+"messages", webKey, hdr, blocked), 403, "permission_error", "aup_blocked")
		if e.Error.Metadata["decision_id"] != "dec-1" || len(e.Error.Metadata["reasons"].([]any)) != 1 {
			t.Fatalf("metadata %v", e.Error.Metadata)
		}
	}
	// Refused before the path is classified (no app key): the path says messages.
	wantAnthropic(t, h.do("POST", "/api/v1/messages", "", nil, anthropicMsg), 401, "authentication_error", "unauthorized")
	wantAnthropic(t, h.do("POST", "/api/v1/messages", webKey, nil, anthropicMsg), 400, "invalid_request_error", "end_user_required")
	wantAnthropic(t, h.do("POST", "/api/v1/messages", webKey, hdr, `{"model":`), 400, "invalid_request_error", "invalid_request")
	huge := strings.Replace(anthropicMsg, "hello there", strings.Repeat("a", 2000), 1)
	wantAnthropic(t, h.do("POST", "/api/v1/messages", webKey, hdr, huge), 413, "request_too_large", "payload_too_large")
	wantAnthropic(t, h.do("POST", "/api/v1/messages", webKey, hdr, strings.Replace(anthropicMsg, "anthropic/claude-sonnet-4", "x/y", 1)),
		403, "permission_error", "model_not_allowed")
	h.enf.deny = true
	w := h.do("POST", "/api/v1/messages", webKey, hdr, anthropicMsg)
	wantAnthropic(t, w, 429, "rate_limit_error", "rate_limited")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	h.enf.deny = false
	if _, ok := h.upstream(); ok {
		t.Fatal("a refused request reached upstream")
	}
	// The other endpoints keep OpenRouter's shape, whatever headers come.
	wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, hdr, strings.Replace(chat, "hello there", "BLOCKME", 1)), 403, "aup_blocked")
}

func TestDoubledV1PathHint(t *testing.T) {
	h := newHarness(t, nil, nil)
	hdr := map[string]string{"X-AUP-End-User": "u", "anthropic-version": "2023-06-01"}
	// The Anthropic SDK given base URL .../api/v1 appends /v1/messages.
	for _, p := range []string{"/api/v1/v1/messages", "/v1/v1/messages"} {
		e := wantAnthropic(t, h.do("POST", p, webKey, hdr, anthropicMsg), 403, "permission_error", "path_not_allowed")
		if !strings.Contains(e.Error.Message, "/api (not /api/v1)") || !strings.Contains(e.Error.Message, "repeats /v1") {
			t.Fatalf("%s: message %q", p, e.Error.Message)
		}
	}
	// An OpenAI SDK given .../api/v1/v1 (or /api/v1/api/v1).
	for _, p := range []string{"/api/v1/v1/chat/completions", "/api/v1/api/v1/chat/completions"} {
		e := wantRefusal(t, h.do("POST", p, webKey, nil, chat), 403, "path_not_allowed")
		if !strings.Contains(e.Error.Message, "http://HOST:PORT/api/v1") {
			t.Fatalf("%s: message %q", p, e.Error.Message)
		}
	}
	// Other refused paths keep the plain message.
	e := wantRefusal(t, h.do("POST", "/api/v1/key", webKey, nil, chat), 403, "path_not_allowed")
	if e.Error.Message != "this path is not served by the gateway" {
		t.Fatalf("message %q", e.Error.Message)
	}
}
