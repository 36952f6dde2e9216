package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestBundledRegoTests runs policies/aup/*_test.rego, so `go test` covers
// the policy itself.
func TestBundledRegoTests(t *testing.T) {
	res, err := RunTests(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 20 {
		t.Fatalf("only %d Rego tests ran", len(res))
	}
	for _, r := range res {
		if !r.Pass {
			t.Errorf("%s %s.%s: FAIL %s", r.Location, r.Package, r.Name, r.Err)
		}
	}
}

// A failing Rego test must be reported as failing.
func TestRunTestsReportsFailure(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "p", "p.rego"), "package p\n\nx := 1\n")
	write(t, filepath.Join(dir, "p", "p_test.rego"), "package p_test\n\nimport data.p\n\ntest_ok if p.x == 1\n\ntest_bad if p.x == 2\n")
	res, err := RunTests(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range res {
		got[r.Name] = r.Pass
	}
	if len(got) != 2 || !got["test_ok"] || got["test_bad"] {
		t.Fatalf("results %v", got)
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
