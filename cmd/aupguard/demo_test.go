package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The demo on free ports: its banner names the proxy and the keys; an
// allowed request gets the fake model's answer, a prohibited one the real
// 403 aup_blocked, which reaches the desk queue; at exit its temporary data
// directory is gone.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	noEnv := func(string) string { return "" }
	go func() {
		code := demoMain(ctx, []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, pw, io.Discard, noEnv)
		pw.Close()
		done <- code
	}()

	banner := map[string]string{}
	sc := bufio.NewScanner(pr)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		if n == 0 && !strings.Contains(line, "THIS IS A DEMO") {
			t.Fatalf("banner starts with %q, not the demo warning", line)
		}
		for _, k := range []string{"proxy", "admin", "app key", "desk token", "data"} {
			if rest, ok := strings.CutPrefix(line, "  "+k+" "); ok && banner[k] == "" {
				banner[k] = strings.Fields(rest)[0]
			}
		}
		if strings.HasPrefix(line, "Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"proxy", "admin", "app key", "desk token", "data"} {
		if banner[k] == "" {
			t.Fatalf("banner has no %q: %v", k, banner)
		}
	}
	if !strings.HasPrefix(banner["app key"], "demo-app-") || !strings.HasSuffix(banner["proxy"], "/api/v1") {
		t.Fatalf("banner %v", banner)
	}

	chat := func(prompt string) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"model": "openai/gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": prompt}}})
		req, _ := http.NewRequest("POST", banner["proxy"]+"/chat/completions", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+banner["app key"])
		req.Header.Set("X-AUP-End-User", "demo-user-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	code, out := chat("Hello!")
	msg, _ := out["choices"].([]any)
	if code != 200 || len(msg) != 1 || msg[0].(map[string]any)["message"].(map[string]any)["content"] != demoAnswer {
		t.Fatalf("allowed: %d %v", code, out)
	}
	code, out = chat(demoBlockedPrompt)
	e, _ := out["error"].(map[string]any)
	meta, _ := e["metadata"].(map[string]any)
	if code != 403 || e["code"] != 403.0 || meta["reason"] != "aup_blocked" || meta["provider_name"] != "aupguard" {
		t.Fatalf("blocked: %d %v", code, out)
	}

	// The desk token works on the admin API, and the block is in the queue.
	req, _ := http.NewRequest("GET", banner["admin"]+"/admin/v1/queue", nil)
	req.Header.Set("Authorization", "Bearer "+banner["desk token"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(q), `"demo-user-1"`) {
		t.Fatalf("queue: %d %s", resp.StatusCode, q)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exit %d", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop")
	}
	if _, err := os.Stat(banner["data"]); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s left behind: %v", banner["data"], err)
	}
}
