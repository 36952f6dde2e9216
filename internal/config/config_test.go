package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsWithEnvOnly(t *testing.T) {
	c, err := load(nil, "", env(map[string]string{"OPENROUTER_API_KEY": "sk-or-test", EnvAppKey: "choose-a-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.AdminListen != "127.0.0.1:8081" || c.Upstream.URL != "https://openrouter.ai/api/v1" {
		t.Errorf("listeners/upstream defaults: %+v", c)
	}
	if c.Upstream.APIKey != "sk-or-test" {
		t.Errorf("api key not expanded: %q", c.Upstream.APIKey)
	}
	if c.Store != "bolt://./data/aupguard.db" || c.RateLimits.EndUserPerMinute != 60 || c.Limits.MaxBodyBytes != 4<<20 {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.Apps) != 1 || c.Apps[0].Name != "default" || c.Apps[0].Key != "choose-a-secret" {
		t.Errorf("AUPGUARD_APP_KEY app: %+v", c.Apps)
	}
	if len(c.Warnings()) != 0 {
		t.Errorf("unexpected warnings %v", c.Warnings())
	}
}

func TestNoAppsIsAWarningNotAnError(t *testing.T) {
	c, err := load(nil, "", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Apps) != 0 || len(c.Warnings()) != 1 || !strings.Contains(c.Warnings()[0], "no apps") {
		t.Errorf("apps %v warnings %v", c.Apps, c.Warnings())
	}
}

func TestMissingAPIKeyNamesTheVariable(t *testing.T) {
	_, err := load(nil, "", env(nil))
	if err == nil || !strings.Contains(err.Error(), "OPENROUTER_API_KEY") {
		t.Fatalf("want error naming OPENROUTER_API_KEY, got %v", err)
	}
	_, err = load(nil, "", env(map[string]string{"OPENROUTER_API_KEY": ""}))
	if err == nil || !strings.Contains(err.Error(), "upstream.api_key is empty") {
		t.Fatalf("empty key: got %v", err)
	}
	// The env override replaces the ${OPENROUTER_API_KEY} default entirely.
	c, err := load(nil, "", env(map[string]string{"AUPGUARD_UPSTREAM_API_KEY": "sk-direct"}))
	if err != nil || c.Upstream.APIKey != "sk-direct" {
		t.Fatalf("override: %v %v", c, err)
	}
}

func TestYAMLThenEnv(t *testing.T) {
	y := `
listen: 0.0.0.0:9000
upstream:
  url: http://fake:1/api/v1
  api_key: ${MY_KEY}
  timeout: 5s
zdr: false
rate_limits:
  end_user_per_minute: 10
policy:
  dry_run: [all]
apps:
  - name: web
    key: ${WEB_KEY}
    models: ["openai/*"]
  - name: batch
    key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    end_user_optional: true
`
	c, err := load([]byte(y), "t.yaml", env(map[string]string{
		"MY_KEY": "sk-1", "WEB_KEY": "web-secret-key",
		"AUPGUARD_RATE_LIMITS_END_USER_PER_MINUTE": "7",
		"AUPGUARD_ZDR":                    "true",
		"AUPGUARD_UPSTREAM_TIMEOUT":       "9s",
		"AUPGUARD_ALLOW_PATHS":            "key, credits",
		"AUPGUARD_POLICY_CLASSIFIER_MODE": "off",
		EnvAppKey:                         "ignored-because-apps",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.Upstream.APIKey != "sk-1" || c.Apps[0].Key != "web-secret-key" {
		t.Errorf("yaml: %+v", c)
	}
	if c.RateLimits.EndUserPerMinute != 7 || !c.ZDR || c.Upstream.Timeout != 9*time.Second {
		t.Errorf("env overrides: %+v", c)
	}
	if strings.Join(c.AllowPaths, "|") != "key|credits" {
		t.Errorf("allow_paths %v", c.AllowPaths)
	}
	if c.Policy.Classifier == nil || c.Policy.Classifier.Mode != "off" {
		t.Errorf("classifier pointer not allocated from env: %+v", c.Policy.Classifier)
	}
	if len(c.Apps) != 2 || c.Apps[1].KeyDigest()[0] != 0x9f || c.Apps[0].KeyDigest() == ([32]byte{}) {
		t.Errorf("apps %+v", c.Apps)
	}
	if len(c.Warnings()) != 1 || !strings.Contains(c.Warnings()[0], EnvAppKey) {
		t.Errorf("warnings %v", c.Warnings())
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := load([]byte("listen: 1.2.3.4:5\nrate_limit:\n  end_user_per_minute: 3\n"), "t.yaml", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
	if err == nil || !strings.Contains(err.Error(), "rate_limit") {
		t.Fatalf("want unknown-field error, got %v", err)
	}
}

func TestEveryProblemReported(t *testing.T) {
	y := `
listen: nope
admin_listen: nope
upstream: {url: "ftp://x", timeout: -1s}
store: mysql://x
fail_mode: sideways
rate_limits: {end_user_per_minute: -1}
limits: {max_body_bytes: 0}
apps:
  - {name: a, key: short}
  - {name: a, key: "${UNSET_VAR_FOR_TEST}"}
  - {name: "b c", key_sha256: xyz}
  - {name: d, key: some-long-key, key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, models: ["[bad"]}
admin_tokens:
  - {name: x, role: god}
webhooks:
  - {url: "not a url"}
allow_paths: ["../etc"]
log: {level: loud}
`
	_, err := load([]byte(y), "t.yaml", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	want := []string{"listen:", "admin_listen", "upstream.url", "upstream.timeout", "store:", "fail_mode",
		"end_user_per_minute", "max_body_bytes", "key is too short", "used twice", "UNSET_VAR_FOR_TEST",
		"may hold only", "key_sha256 must be", "not both", "not a valid glob", "role", "token or token_sha256",
		"webhooks[0]: url", "secret is required", "allow_paths[0]", "log.level"}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q in:\n%s", w, msg)
		}
	}
}

func TestBadEnvValue(t *testing.T) {
	_, err := load(nil, "", env(map[string]string{"OPENROUTER_API_KEY": "k", "AUPGUARD_LIMITS_MAX_BODY_BYTES": "lots"}))
	if err == nil || !strings.Contains(err.Error(), "AUPGUARD_LIMITS_MAX_BODY_BYTES") {
		t.Fatalf("got %v", err)
	}
}

func TestExpand(t *testing.T) {
	lk := env(map[string]string{"A": "1", "E": ""})
	cases := map[string]string{"x${A}y": "x1y", "${E:-d}": "d", "${NOPE:-z}": "z", "$$A": "$A", "a$b": "a$b"}
	for in, want := range cases {
		got, err := Expand(in, lk)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Expand("${NOPE}", lk); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("missing var: %v", err)
	}
	if _, err := Expand("${A", lk); err == nil {
		t.Error("unterminated accepted")
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("upstream: {api_key: literal-key}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Upstream.APIKey != "literal-key" {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestOperatorRoles(t *testing.T) {
	y := `
apps:
  - {name: web, key: web-app-key-1}
  - {name: playground, key: playground-key-2, operator_roles: []}
  - {name: agents, key: agents-app-key-3, operator_roles: [developer]}
  - {name: nulls, key: nulls-app-key-4, operator_roles: ~}
`
	c, err := load([]byte(y), "t.yaml", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{c.Apps[0].OperatorRoles, c.Apps[1].OperatorRoles, c.Apps[2].OperatorRoles, c.Apps[3].OperatorRoles}
	if fmt.Sprint(got) != "[[system developer] [] [developer] [system developer]]" || got[1] == nil {
		t.Fatalf("operator roles: %q (none must stay empty, not nil: %v)", got, got[1] == nil)
	}
	for _, bad := range []string{`[user]`, `[system, system]`, `[assistant]`} {
		_, err := load([]byte("apps:\n  - {name: web, key: web-app-key-1, operator_roles: "+bad+"}\n"), "t.yaml", env(map[string]string{"OPENROUTER_API_KEY": "k"}))
		if err == nil || !strings.Contains(err.Error(), "operator_roles[") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestUnscanned(t *testing.T) {
	y := `
policy: {unscanned: flag}
apps:
  - {name: web, key: web-app-key-1}
  - {name: gallery, key: gallery-key-2, unscanned: allow}
`
	e := env(map[string]string{"OPENROUTER_API_KEY": "k"})
	c, err := load([]byte(y), "t.yaml", e)
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Unscanned != "flag" || fmt.Sprint(c.AppUnscanned()) != "map[gallery:allow]" {
		t.Fatalf("unscanned %q, per app %v", c.Policy.Unscanned, c.AppUnscanned())
	}
	if c, err := load(nil, "", env(map[string]string{"OPENROUTER_API_KEY": "k", "AUPGUARD_POLICY_UNSCANNED": "block"})); err != nil || c.Policy.Unscanned != "block" {
		t.Fatalf("from the environment: %v %+v", err, c)
	}
	if c, err := load(nil, "", e); err != nil || c.Policy.Unscanned != "" || c.AppUnscanned() != nil {
		t.Fatalf("default (the bundle's): %v %+v", err, c)
	}
	_, err = load([]byte("policy: {unscanned: refuse}\napps:\n  - {name: web, key: web-app-key-1, unscanned: deny}\n"), "t.yaml", e)
	if err == nil || !strings.Contains(err.Error(), `policy.unscanned: "refuse" is not allow, flag or block`) ||
		!strings.Contains(err.Error(), `apps[0] (web).unscanned: "deny" is not allow, flag or block`) {
		t.Fatalf("bad values: %v", err)
	}
}
