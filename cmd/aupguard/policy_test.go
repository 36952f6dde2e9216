package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyTestBundled(t *testing.T) {
	var out, errb bytes.Buffer
	if code := policyMain([]string{"test"}, &out, &errb); code != 0 {
		t.Fatalf("code %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "PASS data.aup_test.test_empty_input_allows") || !strings.Contains(out.String(), " 0 failed") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestPolicyTestFailure(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package p\n\nx := 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p_test.rego"), []byte("package p_test\n\nimport data.p\n\ntest_one if p.x == 1\n\ntest_two if p.x == 2\n"), 0o644)
	var out, errb bytes.Buffer
	code := policyMain([]string{"test", dir}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "FAIL data.p_test.test_two") || !strings.Contains(out.String(), "PASS data.p_test.test_one") {
		t.Fatalf("code %d\n%s%s", code, out.String(), errb.String())
	}
	if code := policyMain([]string{"lint"}, &out, &errb); code != 2 {
		t.Fatalf("unknown subcommand: code %d", code)
	}
	if code := policyMain([]string{"test", filepath.Join(dir, "missing")}, &out, &errb); code != 1 {
		t.Fatalf("missing dir: code %d", code)
	}
}
