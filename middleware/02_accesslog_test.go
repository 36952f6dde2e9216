package middleware

import (
	"encoding/json"
	"strings"
	"testing"
)

// The access log line of a refused request carries the decision_id the
// refusal quoted, so a customer's complaint can be traced.
func TestAccessLogCarriesDecisionID(t *testing.T) {
	h := newHarness(t, nil, nil)
	body := strings.Replace(chat, "hello there", "BLOCKME", 1)
	e := wantRefusal(t, h.do("POST", "/api/v1/chat/completions", webKey, map[string]string{"X-AUP-End-User": "m"}, body), 403, "aup_blocked")
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.logBuf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			line = m
		}
	}
	if line == nil || line["decision_id"] != e.Error.Metadata["decision_id"] || line["decision_id"] != "dec-1" || line["reason"] != "aup_blocked" {
		t.Fatalf("access log %v; refusal %v", line, e.Error.Metadata)
	}
}

// A request with media no detector reads says so in its access log line,
// by kind; one without has no such field.
func TestAccessLogCountsUnscanned(t *testing.T) {
	h := newHarness(t, nil, nil)
	img := `{"model":"openai/gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`
	for _, body := range []string{img, chat} {
		h.logBuf.Reset()
		resp := h.do("POST", "/api/v1/chat/completions", webKey, map[string]string{"X-AUP-End-User": "m"}, body)
		if resp.Code != 200 {
			t.Fatalf("status %d: %s", resp.Code, resp.Body)
		}
		var line map[string]any
		for _, l := range strings.Split(strings.TrimSpace(h.logBuf.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
				line = m
			}
		}
		u, has := line["unscanned"].(map[string]any)
		if body == img && (!has || u["image_url"] != float64(1)) || body == chat && line["unscanned"] != nil {
			t.Fatalf("access log %v", line)
		}
	}
}
