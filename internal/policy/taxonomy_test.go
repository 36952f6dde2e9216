package policy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTaxonomyChecked(t *testing.T) {
	edit := func(t *testing.T, f func(doc map[string]any)) string {
		t.Helper()
		dir := testBundle(t)
		name := filepath.Join(dir, "aup", "data.json")
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(src, &doc); err != nil {
			t.Fatal(err)
		}
		f(doc)
		out, _ := json.Marshal(doc)
		if err := writeFile(name, string(out)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cat := func(doc map[string]any, id string) map[string]any {
		return doc["categories"].(map[string]any)[id].(map[string]any)
	}
	model := func(doc map[string]any) map[string]any {
		set := doc["settings"].(map[string]any)
		m, _ := set["model"].(map[string]any)
		if m == nil {
			m = map[string]any{"flag": 0.96, "block": 0.98, "confirm": 0.25}
			set["model"] = m
		}
		return m
	}
	cases := map[string]func(doc map[string]any){
		"categories.self_harm.action":             func(d map[string]any) { cat(d, "self_harm")["action"] = "blok" },
		"categories.self_harm.flag_threshold":     func(d map[string]any) { cat(d, "self_harm")["flag_threshold"] = "0.5" },
		"flag_threshold above block_threshold":    func(d map[string]any) { cat(d, "self_harm")["flag_threshold"] = 0.95 },
		"categories.hate_and_harassment.severity": func(d map[string]any) { delete(cat(d, "hate_and_harassment"), "severity") },
		"categories.self_harm.output.action":      func(d map[string]any) { cat(d, "self_harm")["output"] = map[string]any{"action": "redact"} },
		"pii.email.action":                        func(d map[string]any) { d["pii"].(map[string]any)["email"].(map[string]any)["action"] = "mask" },
		"classifier.map.S1":                       func(d map[string]any) { d["classifier"].(map[string]any)["map"].(map[string]any)["S1"] = "violence" },
		"apps.kids.categories.sexual_contnet": func(d map[string]any) {
			d["apps"] = map[string]any{"kids": map[string]any{"categories": map[string]any{"sexual_contnet": map[string]any{}}}}
		},
		"apps.kids.categories.sexual_content.action": func(d map[string]any) {
			d["apps"] = map[string]any{"kids": map[string]any{"categories": map[string]any{"sexual_content": map[string]any{"action": "ban"}}}}
		},
		"settings.flag_strike_factor":                           func(d map[string]any) { delete(d["settings"].(map[string]any), "flag_strike_factor") },
		"categories.Bad-Id: id must be snake_case":              func(d map[string]any) { d["categories"].(map[string]any)["Bad-Id"] = cat(d, "self_harm") },
		"settings.model: not an object":                         func(d map[string]any) { d["settings"].(map[string]any)["model"] = 0.9 },
		"settings.model.confirm: want a number":                 func(d map[string]any) { model(d)["confirm"] = "0.25" },
		"settings.model.flag: 0.3 is below 0.5":                 func(d map[string]any) { model(d)["flag"] = 0.3 },
		"settings.model.flag_other_language: 0.49 is below 0.5": func(d map[string]any) { model(d)["flag_other_language"] = 0.49 },
	}
	for want, f := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := New(context.Background(), Options{Dir: edit(t, f)})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want %q", err, want)
			}
		})
	}
	// A valid app override loads.
	dir := edit(t, func(d map[string]any) {
		d["apps"] = map[string]any{"kids": map[string]any{
			"categories": map[string]any{"sexual_content": map[string]any{"action": "block", "block_threshold": 0.4}},
			"pii":        map[string]any{"email": map[string]any{"action": "block"}},
		}}
	})
	e := newEngine(t, Options{Dir: dir})
	s := subj
	s.App = "kids"
	if d, err := e.CheckRequest(context.Background(), s, EndUserTexts("mail me: a@example.com")); err != nil || d.Action != Block {
		t.Fatalf("override: %+v %v", d, err)
	}
}
