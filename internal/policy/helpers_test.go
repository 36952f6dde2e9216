package policy

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/policies"
)

// testLexicon is a tiny lexicon so the engine's tests do not depend on the
// real word lists (owned and tuned elsewhere): two categories, one rule each.
const testLexicon = `{
  "version": 1,
  "lists": {
    "make_verb": {"terms": ["synthesize", "produce"]},
    "nerve_agent": {"terms": ["sarin", "nerve agent"]},
    "kill_verb": {"terms": ["kill", "murder"]},
    "neighbour": {"terms": ["my neighbor", "my neighbour"]},
    "ignore": {"terms": ["ignore previous instructions"]}
  },
  "categories": {
    "mass_casualty_weapons": {"rules": [{"id": "mcw.make_agent", "lists": ["make_verb", "nerve_agent"], "score": 0.95}]},
    "violent_crime_and_terrorism": {"rules": [{"id": "vc.kill_person", "lists": ["kill_verb", "neighbour"], "score": 0.7}]},
    "platform_abuse": {"rules": [{"id": "pa.injection", "lists": ["ignore"], "score": 0.6}]}
  }
}`

// testBundle copies the bundled Rego and data into a temp dir with the test
// lexicon, and returns the bundle root.
func testBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(policies.FS, "aup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(p, ".rego") && filepath.Base(p) != "data.json" {
			return nil
		}
		src, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, p), string(src))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(dir, "aup", LexiconFile), testLexicon); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeFile(name, content string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	// Write then rename, as editors and deploy tools do, so a poll never
	// sees half a file.
	tmp := name + ".tmp~"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

func newEngine(t testing.TB, opt Options) *Engine {
	t.Helper()
	e, err := New(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

var subj = Subject{App: "web", EndUser: "u1", Standing: "active", Endpoint: "chat", Model: "openai/gpt-4o"}

func check(t testing.TB, e *Engine, texts ...string) Decision {
	t.Helper()
	d, err := e.CheckRequest(context.Background(), subj, EndUserTexts(texts...))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
