package layout

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/aupguard/aupguard/"

// imports maps each package directory (relative to the root) to the
// aupguard packages its non-test files import.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(p, module); ok && !slices.Contains(out[dir], rel) {
				out[dir] = append(out[dir], rel)
			}
		}
		if _, ok := out[dir]; !ok {
			out[dir] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The rules of docs/architecture.md, "Which way dependencies point".
func TestDependenciesPointInward(t *testing.T) {
	deps := imports(t)
	// Packages only these may import.
	onlyImportedBy := map[string][]string{
		"internal/gateway":    {"cmd/aupguard"},
		"internal/server":     {"internal/gateway"},
		"middleware":          {"internal/server"},
		"internal/deskclient": {"cmd/aupguard"},
	}
	// Packages that import only these aupguard packages.
	importsOnly := map[string][]string{
		"internal/store":            {},
		"internal/wire":             {},
		"internal/textcache":        {},
		"internal/detect":           {"internal/textcache"},
		"internal/deskapi":          {"internal/store"},
		"internal/store/embedded":   {"internal/store"},
		"internal/store/redisstore": {"internal/store"},
		"internal/deskclient":       {"internal/deskapi", "internal/store"},
		"middleware":                {"internal/answer", "internal/authguard", "internal/enforce", "internal/identity", "internal/memguard", "internal/policy", "internal/proxy", "internal/store", "internal/wire"},
	}
	for pkg, users := range onlyImportedBy {
		for dir, imps := range deps {
			if slices.Contains(imps, pkg) && !slices.Contains(users, dir) {
				t.Errorf("%s imports %s, which only %v may", dir, pkg, users)
			}
		}
	}
	for pkg, allowed := range importsOnly {
		imps, ok := deps[pkg]
		if !ok {
			t.Errorf("no package %s", pkg)
		}
		for _, imp := range imps {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s; it may import only %v", pkg, imp, allowed)
			}
		}
	}
}
