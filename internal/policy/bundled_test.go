package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The bundled policy documents itself: METADATA on every package, both
// entrypoints marked, and every rule of package aup described.
func TestBundledMetadata(t *testing.T) {
	b, err := readBundle("")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := b.modules(true)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range mods {
		var doc *ast.Annotations
		for _, a := range m.Annotations {
			if a.Scope == "package" {
				doc = a
			}
		}
		if doc == nil || doc.Title == "" || doc.Description == "" {
			t.Errorf("%s: package %s has no METADATA title and description", name, m.Package.Path)
		}
	}
	comp := ast.NewCompiler().WithStrict(true)
	if comp.Compile(mods); comp.Failed() {
		t.Fatal(comp.Errors)
	}
	entry := map[string]bool{}
	for _, ref := range comp.GetAnnotationSet().Flatten() {
		if ref.Annotations.Entrypoint {
			if ref.Annotations.Description == "" {
				t.Errorf("entrypoint %s has no description", ref.Path)
			}
			entry[ref.Path.String()] = true
		}
	}
	for _, q := range []string{RequestQuery, OutputQuery} {
		if !entry[q] {
			t.Errorf("%s is not marked `entrypoint: true` (entrypoints: %v)", q, entry)
		}
	}
}

// Every category of the taxonomy has its own examples test in Rego, so a
// category added to data.json without tests fails here.
func TestBundledExamplesPerCategory(t *testing.T) {
	b, err := readBundle("")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Categories map[string]json.RawMessage `json:"categories"`
	}
	if err := json.Unmarshal(b.files["aup/data.json"], &doc); err != nil {
		t.Fatal(err)
	}
	res, err := RunTests(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	passed := map[string]bool{}
	for _, r := range res {
		passed[r.Name] = r.Pass
	}
	if len(doc.Categories) < 14 {
		t.Fatalf("only %d categories", len(doc.Categories))
	}
	for id := range doc.Categories {
		name := "test_" + id + "_examples"
		if p, ok := passed[name]; !ok || !p {
			t.Errorf("%s: missing or failing (ran: %v)", name, ok)
		}
	}
	for name := range passed {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(name, "test_"), "_examples"); ok && doc.Categories[id] == nil {
			t.Errorf("%s tests a category that is not in data.json", name)
		}
	}
}
