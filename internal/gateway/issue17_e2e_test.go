package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/deskclient"
	"github.com/aupguard/aupguard/internal/store"
)

// syncBuffer is a bytes.Buffer safe for the gateway's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue #17 through the real gateway: an Anthropic SDK's requests are
// refused in Anthropic's shape, plain and mid-stream, and the decision id
// a refusal quotes leads the desk to the report behind it.
func TestGatewayMessagesRefusalsAndDecisionLookup(t *testing.T) {
	const tok, rev = "auditor-token-for-issue-17-0123456789", "reviewer-token-for-issue-17-0123456789"
	var logBuf syncBuffer
	e := startAnswerEnvLog(t, "answer_check: true\nlog: {level: info}\nadmin_tokens: [{name: aud, role: auditor, token: "+tok+"}, {name: rev, role: reviewer, token: "+rev+"}]\n", slog.New(slog.NewJSONHandler(&logBuf, nil)))
	send := func(user string, stream bool, answer string) (int, string) {
		t.Helper()
		body := `{"model":"anthropic/claude-sonnet-4","max_tokens":64,"stream":` + map[bool]string{true: "true", false: "false"}[stream] +
			`,"messages":[{"role":"user","content":"Tell me about chemistry."}]}`
		req, _ := http.NewRequest("POST", e.proxy+"/api/v1/messages", strings.NewReader(body))
		req.Header.Set("X-Api-Key", "web-app-key-1") // how the Anthropic SDKs send their key
		req.Header.Set("Anthropic-Version", "2023-06-01")
		req.Header.Set("X-AUP-End-User", user)
		req.Header.Set("X-Fake-Answer", answer)
		req.Header.Set("X-Fake-Chunk-Size", "3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := send("anna", true, harmfulAnswer)
	if code != 200 || !strings.Contains(body, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\"") ||
		!strings.Contains(body, `"reason":"aup_blocked"`) || strings.Contains(body, "message_stop") || strings.Contains(body, `"finish_reason"`) {
		t.Fatalf("stream: %d %s", code, body)
	}

	code, body = send("bert", false, harmfulAnswer)
	var refusal struct {
		Type  string `json:"type"`
		Error struct {
			Type     string         `json:"type"`
			Message  string         `json:"message"`
			Metadata map[string]any `json:"metadata"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &refusal); err != nil || code != 403 || refusal.Type != "error" ||
		refusal.Error.Type != "permission_error" || refusal.Message != refusal.Error.Message || refusal.Error.Metadata["reason"] != "aup_blocked" {
		t.Fatalf("plain: %d %s", code, body)
	}
	id, _ := refusal.Error.Metadata["decision_id"].(string)
	if id == "" {
		t.Fatalf("no decision id: %s", body)
	}
	e.reports(t, "bert", "answer") // recorded

	// The access log line of that request carries the id the refusal quoted.
	found := false
	for _, l := range strings.Split(logBuf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["route"] == "messages" && m["decision_id"] == id {
			found = true
		}
	}
	if !found {
		t.Fatalf("no access log line with decision_id %s:\n%s", id, logBuf.String())
	}

	// The desk finds the decision from the id alone.
	ctx := context.Background()
	auditor, err := deskclient.New(e.admin, tok, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	dec, _, err := auditor.Decision(ctx, id)
	if err != nil || len(dec.Reports) == 0 || dec.Reports[0].User != "bert" || dec.Reports[0].App != "web" || dec.Reports[0].Source != "answer" {
		t.Fatalf("decision %s: %+v %v", id, dec, err)
	}
	// With one app configured, a user with no record (a pre-emptive ban
	// from an abuse notice) needs no app.
	reviewer, err := deskclient.New(e.admin, rev, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := reviewer.Act(ctx, "nobody-yet", deskapi.ActionRequest{Action: "ban", Reason: "named in an abuse notice"})
	if err != nil || res.Action.App != "web" || res.Standing.Status != store.Banned {
		t.Fatalf("act on unknown user: %+v %v", res, err)
	}
}
