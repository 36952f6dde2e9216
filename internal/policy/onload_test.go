package policy

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// OnLoad hears of every version loaded, before it decides, and never of a
// broken one.
func TestOnLoad(t *testing.T) {
	dir := testBundle(t)
	var mu sync.Mutex
	var seen []string
	var e *Engine
	onLoad := func(hash string, files map[string][]byte) {
		mu.Lock()
		defer mu.Unlock()
		if len(files) == 0 || files["aup/decision.rego"] == nil {
			t.Errorf("OnLoad(%s) without the bundle's files: %d", hash, len(files))
		}
		if e != nil && e.Hash() == hash && len(seen) > 0 && seen[len(seen)-1] != hash {
			t.Errorf("OnLoad(%s) after the version was published", hash)
		}
		seen = append(seen, hash)
	}
	e = newEngine(t, Options{Dir: dir, OnLoad: onLoad})
	h1 := e.Hash()
	if err := writeFile(filepath.Join(dir, "aup", "extra.rego"), "package aup\n\nbundle_version := \"2\"\n"); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2 := e.Hash()
	if err := writeFile(filepath.Join(dir, "aup", "decision.rego"), "package aup\n\ndecision := {\n"); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(context.Background()); err == nil {
		t.Fatal("broken policy loaded")
	}
	mu.Lock()
	defer mu.Unlock()
	if h1 == h2 || !slices.Equal(seen, []string{h1, h2}) {
		t.Fatalf("OnLoad saw %v, want [%s %s]", seen, h1, h2)
	}
}
