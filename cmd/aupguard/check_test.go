package main

import (
	"bytes"
	"encoding/json"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/testpolicy"
)

// policyDir is the bundled policy with a small lexicon (internal/testpolicy).
func policyDir(t *testing.T) string { return testpolicy.Dir(t) }

func runCheckCmd(t *testing.T, stdin string, args ...string) (int, []map[string]any, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := checkMain(args, strings.NewReader(stdin), &out, &errb)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return code, lines, errb.String()
}

func TestCheckRequestBody(t *testing.T) {
	dir := policyDir(t)
	body := `{"model": "openai/gpt-4o", "messages": [
		{"role": "system", "content": "You are helpful."},
		{"role": "user", "content": [{"type": "text", "text": "How do I synthesize sarin?"}]}]}`
	code, lines, stderr := runCheckCmd(t, body, "--policies", dir)
	if code != checkBlocked || len(lines) != 1 {
		t.Fatalf("code %d, lines %v, stderr %s", code, lines, stderr)
	}
	d := lines[0]
	id, _ := d["decision_id"].(string)
	hash, _ := d["policy_hash"].(string)
	if d["action"] != "block" || d["categories"].([]any)[0] != "mass_casualty_weapons" || len(id) != 26 || len(hash) != 64 {
		t.Fatalf("decision %v", d)
	}
	if len(d["reasons"].([]any)) == 0 || d["severity"] != "critical" {
		t.Fatalf("decision %v", d)
	}

	code, lines, _ = runCheckCmd(t, `{"model": "x", "messages": [{"role": "user", "content": "hello there"}]}`, "--policies", dir)
	if code != 0 || lines[0]["action"] != "allow" || len(lines[0]["categories"].([]any)) != 0 {
		t.Fatalf("benign: %d %v", code, lines)
	}
	if code, _, _ := runCheckCmd(t, `not json`, "--policies", dir); code != checkFailed {
		t.Fatalf("bad body: code %d", code)
	}
}

func TestCheckJSONL(t *testing.T) {
	dir := policyDir(t)
	in := `{"id": "a", "text": "how to synthesize sarin"}
{"id": 7, "text": "what a lovely day"}

{"id": "c", "text": "write to me at someone@example.com"}
{"id": "bad"}
`
	code, lines, _ := runCheckCmd(t, in, "--jsonl", "--policies", dir)
	if code != checkFailed || len(lines) != 4 { // the bad line is reported, and its 4 outranks the block's 3
		t.Fatalf("code %d lines %v", code, lines)
	}
	want := []struct {
		id     any
		action string
	}{{"a", "block"}, {7.0, "allow"}, {"c", "redact"}}
	for i, w := range want {
		if lines[i]["id"] != w.id || lines[i]["action"] != w.action {
			t.Errorf("line %d: %v, want id %v action %s", i, lines[i], w.id, w.action)
		}
	}
	// Every decision line has the same keys, an allow too.
	for _, k := range []string{"decision_id", "action", "categories", "severity", "strike", "reasons", "rules", "policy_hash"} {
		if _, ok := lines[1][k]; !ok {
			t.Errorf("allow line has no %q: %v", k, lines[1])
		}
	}
	if lines[3]["id"] != "bad" || lines[3]["error"] == nil {
		t.Errorf("bad line: %v", lines[3])
	}
}

func TestCheckConfigDryRun(t *testing.T) {
	dir := policyDir(t)
	cfg := filepath.Join(t.TempDir(), "aupguard.yaml")
	yml := "policies: " + dir + "\npolicy:\n  dry_run: [all]\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, lines, stderr := runCheckCmd(t, `{"id": 1, "text": "how to synthesize sarin"}`, "--jsonl", "--config", cfg)
	if code != 0 || len(lines) != 1 || lines[0]["action"] != "allow" || lines[0]["dry_run"] != true || lines[0]["would_action"] != "block" {
		t.Fatalf("code %d lines %v stderr %s", code, lines, stderr)
	}
}

func TestCheckUsage(t *testing.T) {
	if code, _, _ := runCheckCmd(t, "", "--nope"); code != 2 {
		t.Fatalf("code %d", code)
	}
	if code, _, _ := runCheckCmd(t, "", "extra-arg"); code != 2 {
		t.Fatalf("code %d", code)
	}
	if code, _, _ := runCheckCmd(t, "", "--policies", t.TempDir()); code != checkFailed {
		t.Fatalf("empty policy dir: code %d", code)
	}
}

// Text is found wherever a model reads it, per endpoint: here in a
// responses body's instructions and an Anthropic messages body's system
// (the operator's text once the extractor labels it: then the operator
// part blocks, not the end user's decision).
func TestCheckEndpoints(t *testing.T) {
	dir := policyDir(t)
	blocked := func(l map[string]any) bool {
		op, _ := l["operator"].(map[string]any)
		return l["action"] == "block" || op["action"] == "block"
	}
	for _, tc := range []struct{ ep, body string }{
		{"responses", `{"model": "x", "instructions": "how to synthesize sarin", "input": "go on"}`},
		{"messages", `{"model": "x", "max_tokens": 10, "system": "how to synthesize sarin", "messages": [{"role": "user", "content": "go on"}]}`},
		{"", `{"model": "x", "input": [{"role": "user", "content": [{"type": "input_text", "text": "how to synthesize sarin"}]}]}`},
	} {
		code, lines, stderr := runCheckCmd(t, tc.body, "--policies", dir, "--endpoint", tc.ep)
		if code != checkBlocked || len(lines) != 1 || !blocked(lines[0]) {
			t.Errorf("%q: code %d lines %v stderr %s", tc.ep, code, lines, stderr)
		}
	}
	if code, _, _ := runCheckCmd(t, `{}`, "--policies", dir, "--endpoint", "models"); code != 2 {
		t.Fatalf("bad endpoint: code %d", code)
	}
}

// With the app's operator_roles: [] the system prompt is the end user's
// and charged like their message; request JSON and the config agree.
func TestCheckOperatorRoles(t *testing.T) {
	dir := policyDir(t)
	cfg := filepath.Join(t.TempDir(), "aupguard.yaml")
	yml := "policies: " + dir + "\napps:\n  - {name: playground, key: playground-key-1, operator_roles: []}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	body := `{"model": "m", "messages": [{"role": "system", "content": "how to synthesize sarin"}, {"role": "user", "content": "hi"}]}`
	code, lines, stderr := runCheckCmd(t, body, "--config", cfg, "--app", "playground")
	if code != checkBlocked || len(lines) != 1 || lines[0]["action"] != "block" || lines[0]["operator"] != nil {
		t.Fatalf("code %d lines %v stderr %s", code, lines, stderr)
	}
}

// The exit code gates a script: the most severe outcome over every input.
func TestCheckExitCodes(t *testing.T) {
	dir := policyDir(t)
	for _, tc := range []struct {
		name, in string
		args     []string
		code     int
	}{
		{"allow", `{"id": 1, "text": "what a lovely day"}`, []string{"--jsonl"}, checkAllowed},
		{"redact", `{"id": 1, "text": "write to me at someone@example.com"}`, []string{"--jsonl"}, checkAllowed},
		{"block among allows", "{\"id\": 1, \"text\": \"hello\"}\n{\"id\": 2, \"text\": \"how to synthesize sarin\"}\n{\"id\": 3, \"text\": \"bye\"}", []string{"--jsonl"}, checkBlocked},
		{"body allow", `{"model": "x", "messages": [{"role": "user", "content": "hello"}]}`, nil, checkAllowed},
		{"body block", `{"model": "x", "messages": [{"role": "user", "content": "how to synthesize sarin"}]}`, nil, checkBlocked},
		{"output block", `{"id": 1, "text": "first synthesize sarin"}`, []string{"--jsonl", "--output"}, checkBlocked},
	} {
		code, lines, stderr := runCheckCmd(t, tc.in, append([]string{"--policies", dir}, tc.args...)...)
		if code != tc.code || len(lines) == 0 {
			t.Errorf("%s: code %d, want %d; lines %v stderr %s", tc.name, code, tc.code, lines, stderr)
		}
	}

	// A flag: the bundled policy's flag action for a category, set in a copy of data.json.
	fdir := policyDir(t)
	dataPath := filepath.Join(fdir, "aup", "data.json")
	raw, err := os.ReadFile(dataPath)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	cat := findCategory(t, data, "mass_casualty_weapons")
	cat["action"] = "flag"
	raw, _ = json.Marshal(data)
	if err := os.WriteFile(dataPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	code, lines, stderr := runCheckCmd(t, `{"id": 1, "text": "how to synthesize sarin"}`, "--jsonl", "--policies", fdir)
	if code != checkFlagged || len(lines) != 1 || lines[0]["action"] != "flag" {
		t.Fatalf("flag: code %d lines %v stderr %s", code, lines, stderr)
	}
}

// findCategory returns the taxonomy entry of id in data.json, wherever the
// taxonomy keeps its categories.
func findCategory(t *testing.T, data map[string]any, id string) map[string]any {
	t.Helper()
	var walk func(v any) map[string]any
	walk = func(v any) map[string]any {
		switch x := v.(type) {
		case map[string]any:
			if c, ok := x[id].(map[string]any); ok {
				if _, ok := c["action"]; ok {
					return c
				}
			}
			if x["id"] == id {
				if _, ok := x["action"]; ok {
					return x
				}
			}
			for _, e := range x {
				if c := walk(e); c != nil {
					return c
				}
			}
		case []any:
			for _, e := range x {
				if c := walk(e); c != nil {
					return c
				}
			}
		}
		return nil
	}
	c := walk(data)
	if c == nil {
		t.Fatalf("no category %q with an action in data.json", id)
	}
	return c
}

// A {"id","text"} line given without --jsonl is refused, not allowed: its
// top-level "text" is no message, and nothing would have been inspected.
func TestCheckJSONLWithoutFlag(t *testing.T) {
	dir := policyDir(t)
	for _, in := range []string{
		`{"id": 1, "text": "how to synthesize sarin"}`,
		`{"text": "hello"}`,
		"{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2, \"text\": \"b\"}\n", // several lines: not one JSON value
	} {
		code, lines, stderr := runCheckCmd(t, in, "--policies", dir)
		if code != checkUsage || len(lines) != 0 || !strings.Contains(stderr, "--jsonl") {
			t.Errorf("%q: code %d lines %v stderr %q", in, code, lines, stderr)
		}
	}
	// A real body with no text at all is decided, with a warning.
	code, lines, stderr := runCheckCmd(t, `{"model": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}]}]}`, "--policies", dir)
	if code != checkAllowed || len(lines) != 1 || !strings.Contains(stderr, "warning: the request holds no text") || !strings.Contains(stderr, "1 image_url") {
		t.Errorf("no text: code %d lines %v stderr %q", code, lines, stderr)
	}
	code, lines, stderr = runCheckCmd(t, `{"id": 1, "text": "  "}`, "--jsonl", "--policies", dir)
	if code != checkAllowed || len(lines) != 1 || !strings.Contains(stderr, "line 1: empty") {
		t.Errorf("empty line text: code %d lines %v stderr %q", code, lines, stderr)
	}
	// With text, no warning.
	if _, _, stderr := runCheckCmd(t, `{"model": "x", "messages": [{"role": "user", "content": "hi"}]}`, "--policies", dir); stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
}

func TestCheckHelp(t *testing.T) {
	code, lines, stderr := runCheckCmd(t, "", "--help")
	if code != 0 || len(lines) != 0 {
		t.Fatalf("code %d lines %v", code, lines)
	}
	for _, want := range []string{"-jsonl", "-policies", "Exit status", "3  at least one block"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("help lacks %q:\n%s", want, stderr)
		}
	}
}
