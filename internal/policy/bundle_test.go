package policy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHashFollowsContent(t *testing.T) {
	dir := testBundle(t)
	hash := func() string {
		t.Helper()
		b, err := readBundle(dir)
		if err != nil {
			t.Fatal(err)
		}
		return b.hash()
	}
	h1 := hash()
	if h1 != hash() {
		t.Fatal("hash not stable")
	}
	// Tests, hidden files and other files do not change the version.
	writeFile(filepath.Join(dir, "aup", "more_test.rego"), "package aup_test\n")
	writeFile(filepath.Join(dir, "aup", ".decision.rego.swp"), "junk")
	writeFile(filepath.Join(dir, "aup", "README.md"), "notes")
	if hash() != h1 {
		t.Fatal("hash changed by a file that does not decide")
	}
	// Content, a new policy file and a rename do.
	data := filepath.Join(dir, "aup", "data.json")
	src, _ := os.ReadFile(data)
	writeFile(data, string(src)+" ")
	h2 := hash()
	if h2 == h1 {
		t.Fatal("hash unchanged by content")
	}
	writeFile(filepath.Join(dir, "aup", "extra.rego"), "package aup\n")
	h3 := hash()
	if h3 == h2 {
		t.Fatal("hash unchanged by a new file")
	}
	os.Rename(filepath.Join(dir, "aup", "extra.rego"), filepath.Join(dir, "aup", "extra2.rego"))
	if hash() == h3 {
		t.Fatal("hash unchanged by a rename")
	}
}

func TestDataPaths(t *testing.T) {
	b := &bundle{files: map[string][]byte{
		"aup/data.json":      []byte(`{"settings": {"x": 1}}`),
		"aup/apps/data.json": []byte(`{"web": {}}`),
		"data.json":          []byte(`{"top": true}`),
	}}
	d, err := b.data()
	if err != nil {
		t.Fatal(err)
	}
	aup := d["aup"].(map[string]any)
	if _, ok := aup["settings"]; !ok || aup["apps"].(map[string]any)["web"] == nil || d["top"] != true {
		t.Fatalf("data %v", d)
	}
	b.files["aup/more/data.json"] = []byte(`[]`)
	if _, err := b.data(); err == nil {
		t.Fatal("non-object data accepted")
	}
	delete(b.files, "aup/more/data.json")
	b.files["aup/settings/data.json"] = []byte(`{"y": 2}`) // merges into data.aup.settings
	if _, err := b.data(); err != nil {
		t.Fatal(err)
	}
	b.files["aup/settings/x/data.json"] = []byte(`{"z": 3}`) // data.aup.settings.x is a number
	if _, err := b.data(); err == nil {
		t.Fatal("conflicting data accepted")
	}
	delete(b.files, "aup/settings/x/data.json")
	b.files["aup/settings/data.json"] = []byte(`{"x": 5}`) // data.aup.settings.x is in aup/data.json
	if _, err := b.data(); err == nil {
		t.Fatal("key defined twice accepted")
	}
}
