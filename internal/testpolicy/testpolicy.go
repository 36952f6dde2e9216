// Package testpolicy gives tests a policy directory: the bundled Rego and
// data with a small lexicon, so a test's verdicts do not move with the
// tuning of the real word lists.
package testpolicy

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/policies"
)

// lexicon replaces the bundled word lists: two lists, one rule.
const lexicon = `{
  "version": 1,
  "lists": {
    "make_verb": {"terms": ["synthesize"]},
    "nerve_agent": {"terms": ["sarin"]}
  },
  "categories": {
    "mass_casualty_weapons": {"rules": [{"id": "mcw.make_agent", "lists": ["make_verb", "nerve_agent"], "score": 0.95}]}
  }
}`

// Dir copies the bundled Rego and data with a small lexicon, so these
// tests do not depend on the tuning of the real word lists.
func Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(policies.FS, "aup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".rego") && filepath.Base(p) != "data.json") {
			return err
		}
		src, err := fs.ReadFile(policies.FS, p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), src, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "aup", "lexicon.json"), []byte(lexicon), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
