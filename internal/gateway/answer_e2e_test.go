package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/fakeupstream"
	"github.com/aupguard/aupguard/internal/store"
)

// answerEnv is the real gateway built by New(), in front of the fake.
type answerEnv struct {
	proxy string
	admin string
	fake  *fakeupstream.Server
	g     *Gateway
}

func startAnswerEnv(t *testing.T, extraYAML string) *answerEnv {
	t.Helper()
	return startAnswerEnvLog(t, extraYAML, slog.New(slog.DiscardHandler))
}

func startAnswerEnvLog(t *testing.T, extraYAML string, log *slog.Logger) *answerEnv {
	t.Helper()
	fake := fakeupstream.Start(fakeupstream.Options{APIKey: "sk-or-op"})
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	path := filepath.Join(dir, "aupguard.yaml")
	y := "upstream: {url: \"" + fake.URL + "\"}\n" +
		"store: bolt://" + filepath.Join(dir, "aupguard.db") + "\n" +
		"spool_dir: " + filepath.Join(dir, "spool") + "\n" +
		"secrets: {signing_key_file: " + filepath.Join(dir, "signing.key") + "}\n" +
		"apps: [{name: web, key: web-app-key-1}]\n" + extraYAML
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, proxy, admin, _ := runGateway(t, cfg, log)
	return &answerEnv{proxy: proxy, admin: admin, fake: fake, g: g}
}

func (e *answerEnv) chat(t *testing.T, user string, stream bool, hdr map[string]string) (int, string) {
	t.Helper()
	body := `{"model":"openai/gpt-4o-mini","stream":` + map[bool]string{true: "true", false: "false"}[stream] +
		`,"messages":[{"role":"user","content":"Tell me about chemistry."}]}`
	req, _ := http.NewRequest("POST", e.proxy+"/api/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer web-app-key-1")
	req.Header.Set("X-AUP-End-User", user)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const harmfulAnswer = "Sure. Here is how to synthesize sarin at home, step by step: first take the precursors and"

// answerReports lists the reports of source "answer" (or any, when "") filed against user.
func (e *answerEnv) reports(t *testing.T, user, source string) []store.Report {
	t.Helper()
	var out []store.Report
	deadline := time.Now().Add(5 * time.Second)
	for {
		page, err := e.g.store.Reports(context.Background(), store.ReportQuery{App: "web", User: user})
		if err != nil {
			t.Fatal(err)
		}
		out = out[:0]
		for _, r := range page.Items {
			if source == "" || r.Source == source {
				out = append(out, r)
			}
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGatewayChecksAnswers(t *testing.T) {
	e := startAnswerEnv(t, "answer_check: true\n")

	// A harmful answer, streamed in small chunks, is cut with one error event.
	code, body := e.chat(t, "streamer", true, map[string]string{"X-Fake-Answer": harmfulAnswer, "X-Fake-Chunk-Size": "3"})
	if code != 200 || !strings.Contains(body, `"finish_reason":"error"`) || !strings.Contains(body, "aup_blocked") {
		t.Fatalf("stream not cut: %d %s", code, body)
	}
	if strings.Contains(body, "[DONE]") {
		t.Fatalf("a cut stream must not end normally: %s", body)
	}
	if rs := e.reports(t, "streamer", "answer"); len(rs) != 1 || rs[0].Action != "block" {
		t.Fatalf("answer reports: %+v", rs)
	}

	// A plain harmful answer becomes a 403 refusal in OpenRouter's shape.
	code, body = e.chat(t, "plain", false, map[string]string{"X-Fake-Answer": harmfulAnswer})
	var refusal struct {
		Error struct {
			Code     int
			Metadata map[string]any
		}
	}
	if err := json.Unmarshal([]byte(body), &refusal); err != nil || code != 403 || refusal.Error.Code != 403 ||
		refusal.Error.Metadata["reason"] != "aup_blocked" {
		t.Fatalf("plain answer: %d %s", code, body)
	}
	if strings.Contains(body, "sarin") {
		t.Fatalf("the refusal leaks the answer: %s", body)
	}

	// A harmless answer passes untouched.
	code, body = e.chat(t, "nice", true, map[string]string{"X-Fake-Answer": "Chemistry studies matter and its changes."})
	if code != 200 || !strings.Contains(body, "[DONE]") || strings.Contains(body, "aup_blocked") {
		t.Fatalf("harmless stream: %d %s", code, body)
	}
}

func TestGatewayAnswerCheckOffByDefault(t *testing.T) {
	e := startAnswerEnv(t, "")
	code, body := e.chat(t, "u", true, map[string]string{"X-Fake-Answer": harmfulAnswer})
	if code != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("with answer_check off the answer passes: %d %s", code, body)
	}
}

// guardModel is a fake Llama Guard behind an OpenAI-compatible chat API.
func guardModel(t *testing.T, verdict string, delay time.Duration) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(map[string]any{
			"id": "gen-guard", "object": "chat.completion", "model": "meta-llama/llama-guard-4-12b",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": verdict}}},
		})
		w.Write(b)
	})
	srv := &http.Server{Handler: mux}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestGatewayParallelClassifier(t *testing.T) {
	unsafe := guardModel(t, "unsafe\nS9", 50*time.Millisecond)
	e := startAnswerEnv(t, "policy: {classifier: {mode: parallel, url: \""+unsafe+"\", timeout: 5s}}\n")

	// The request itself looks harmless to the detectors; the guard model
	// says unsafe while the answer streams: the answer is cut and reported.
	code, body := e.chat(t, "sly", true, map[string]string{"X-Fake-Scenario": "slow", "X-Fake-Delay": "20ms"})
	if code != 200 || !strings.Contains(body, `"finish_reason":"error"`) || !strings.Contains(body, "aup_blocked") {
		t.Fatalf("stream not cut on an unsafe verdict: %d %s", code, body)
	}
	if rs := e.reports(t, "sly", "request"); len(rs) != 1 || rs[0].Action != "block" {
		t.Fatalf("reports: %+v", rs)
	}
	// A plain answer waits for the verdict and is refused.
	code, body = e.chat(t, "sly2", false, nil)
	if code != 403 || !strings.Contains(body, "aup_blocked") {
		t.Fatalf("plain answer on an unsafe verdict: %d %s", code, body)
	}
}

func TestGatewayParallelClassifierSafe(t *testing.T) {
	safe := guardModel(t, "safe", 10*time.Millisecond)
	e := startAnswerEnv(t, "policy: {classifier: {mode: parallel, url: \""+safe+"\", timeout: 5s}}\n")
	code, body := e.chat(t, "fine", true, nil)
	if code != 200 || !strings.Contains(body, "[DONE]") || strings.Contains(body, "aup_blocked") {
		t.Fatalf("safe verdict: %d %s", code, body)
	}
	code, body = e.chat(t, "fine", false, nil)
	if code != 200 {
		t.Fatalf("safe plain: %d %s", code, body)
	}
}
