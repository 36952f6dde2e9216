package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("listen: nowhere\nbogus_key: 1\n"), 0o600)
	if code := runServe([]string{"--config", path}); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if code := runServe([]string{"--no-such-flag"}); code != 2 {
		t.Fatalf("exit %d", code)
	}
}

// aupguard check applies policy.unscanned and apps[].unscanned from
// --config, and shows the counts in its decision.
func TestCheckUnscanned(t *testing.T) {
	dir := policyDir(t)
	cfg := filepath.Join(t.TempDir(), "aupguard.yaml")
	yml := "policies: " + dir + "\npolicy: {unscanned: block}\napps: [{name: gallery, key: gallery-key-0123, unscanned: allow}]\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	body := `{"model": "x", "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"},
		{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}`
	code, lines, stderr := runCheckCmd(t, body, "--config", cfg)
	if code != checkBlocked || len(lines) != 1 || lines[0]["action"] != "block" ||
		fmt.Sprint(lines[0]["categories"]) != "[unscanned_media]" || fmt.Sprint(lines[0]["unscanned"]) != "map[input_audio:1]" {
		t.Fatalf("code %d, lines %v, stderr %s", code, lines, stderr)
	}
	code, lines, stderr = runCheckCmd(t, body, "--config", cfg, "--app", "gallery")
	if code != 0 || len(lines) != 1 || lines[0]["action"] != "allow" || fmt.Sprint(lines[0]["unscanned"]) != "map[input_audio:1]" {
		t.Fatalf("gallery: code %d, lines %v, stderr %s", code, lines, stderr)
	}
	// Without a config: the bundle's default, allow, with the count.
	code, lines, _ = runCheckCmd(t, body, "--policies", dir)
	if code != 0 || lines[0]["action"] != "allow" || fmt.Sprint(lines[0]["unscanned"]) != "map[input_audio:1]" {
		t.Fatalf("default: code %d, lines %v", code, lines)
	}
	// A bad value is a clear error, nothing decided.
	if err := os.WriteFile(cfg, []byte("policies: "+dir+"\npolicy: {unscanned: refuse}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, lines, stderr = runCheckCmd(t, body, "--config", cfg)
	if code != checkFailed || len(lines) != 0 || !strings.Contains(stderr, "refuse") {
		t.Fatalf("bad value: code %d, lines %v, stderr %s", code, lines, stderr)
	}
}
