package policy

import (
	"github.com/aupguard/aupguard/internal/classify"

	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/aupguard/aupguard/policies"
)

// LexiconFile is the detectors' word lists inside a bundle; exactly one.
const LexiconFile = "lexicon.json"

// dataFile is a data document; its directory is its path under data
// (aup/data.json → data.aup), as with `opa eval -d`.
const dataFile = "data.json"

// bundle is one policy version: the files that decide, by slash path
// relative to the bundle root.
type bundle struct {
	files map[string][]byte
	tests map[string][]byte // *_test.rego: run by `policy test`, not part of the hash
}

// bundleFS returns the file system of a policy directory, or the embedded
// bundle when dir is empty.
func bundleFS(dir string) fs.FS {
	if dir == "" {
		return policies.FS
	}
	return os.DirFS(dir)
}

func isTest(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// wanted reports whether a file belongs to the bundle: Rego, data.json and
// the lexicon. Hidden files and directories are skipped (editors' swap files).
func wanted(name string) bool {
	base := path.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	return strings.HasSuffix(base, ".rego") || base == dataFile || base == LexiconFile || base == classify.FileName
}

// model returns the bundle's learned model (aup/model.bin), or nil when
// the bundle has none: the policy then sees no input.signals.model.
func (b *bundle) model() (*classify.Model, error) {
	var found []string
	for n := range b.files {
		if path.Base(n) == classify.FileName {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		m, err := classify.Load(b.files[found[0]])
		if err != nil {
			return nil, fmt.Errorf("policy: %s: %w", found[0], err)
		}
		return m, nil
	default:
		sort.Strings(found)
		return nil, fmt.Errorf("policy: bundle has %d model files: %s", len(found), strings.Join(found, ", "))
	}
}

// readBundle reads a policy directory ("" = embedded bundle).
func readBundle(dir string) (*bundle, error) {
	fsys := bundleFS(dir)
	b := &bundle{files: map[string][]byte{}, tests: map[string][]byte{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !wanted(p) {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if isTest(p) {
			b.tests[p] = src
		} else {
			b.files[p] = src
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", describeDir(dir), err)
	}
	return b, nil
}

func describeDir(dir string) string {
	if dir == "" {
		return "embedded bundle"
	}
	return dir
}

// hash is the bundle's version: SHA-256 over the sorted names and contents
// of the files that decide (tests excluded: they change nothing).
func (b *bundle) hash() string {
	names := make([]string, 0, len(b.files))
	for n := range b.files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		// Lengths delimit names and contents, so no two bundles collide by
		// moving bytes between them.
		fmt.Fprintf(h, "%d:%s\n%d:", len(n), n, len(b.files[n]))
		h.Write(b.files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// lexicon returns the one lexicon.json of the bundle.
func (b *bundle) lexicon() ([]byte, error) {
	var found []string
	for n := range b.files {
		if path.Base(n) == LexiconFile {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return b.files[found[0]], nil
	case 0:
		return nil, errors.New("policy: bundle has no " + LexiconFile)
	default:
		sort.Strings(found)
		return nil, fmt.Errorf("policy: bundle has several %s: %v", LexiconFile, found)
	}
}

// modules parses the Rego files (tests too when withTests) in Rego v1 with
// METADATA annotations.
func (b *bundle) modules(withTests bool) (map[string]*ast.Module, error) {
	mods := map[string]*ast.Module{}
	parse := func(files map[string][]byte) error {
		for n, src := range files {
			if !strings.HasSuffix(n, ".rego") {
				continue
			}
			m, err := ast.ParseModuleWithOpts(n, string(src), ast.ParserOptions{
				RegoVersion:       ast.RegoV1,
				ProcessAnnotation: true,
			})
			if err != nil {
				return err
			}
			mods[n] = m
		}
		return nil
	}
	if err := parse(b.files); err != nil {
		return nil, err
	}
	if withTests {
		if err := parse(b.tests); err != nil {
			return nil, err
		}
	}
	if len(mods) == 0 {
		return nil, errors.New("policy: bundle has no .rego files")
	}
	return mods, nil
}

// data merges every data.json under the path of its directory.
func (b *bundle) data() (map[string]any, error) {
	root := map[string]any{}
	names := make([]string, 0)
	for n := range b.files {
		if path.Base(n) == dataFile {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(b.files[n]))
		dec.UseNumber() // keep numbers exact for OPA
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("policy: %s: %w", n, err)
		}
		node := root
		if dir := path.Dir(n); dir != "." {
			for _, seg := range strings.Split(dir, "/") {
				next, ok := node[seg].(map[string]any)
				if !ok {
					if _, exists := node[seg]; exists {
						return nil, fmt.Errorf("policy: %s: path %s conflicts with other data", n, dir)
					}
					next = map[string]any{}
					node[seg] = next
				}
				node = next
			}
		}
		for k, v := range doc {
			if _, dup := node[k]; dup {
				return nil, fmt.Errorf("policy: %s: key %q defined twice", n, k)
			}
			node[k] = v
		}
	}
	return root, nil
}

// fingerprint is a cheap change detector for polling: names, sizes and
// modification times of the bundle's files (a changed hash confirms it).
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !wanted(p) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
