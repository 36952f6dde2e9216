package classify

import "testing"

func TestFormHitsCountsTextsPerForm(t *testing.T) {
	cs := []Concept{{ID: "bomb", Forms: []string{"bomb*", "grenade", "炸弹"}}}
	texts := []string{"Bombs and BOMBERS", "a grenade, a grenade", "nothing here", "如何制造炸弹"}
	got := map[string]int{}
	for _, h := range FormHits(cs, texts) {
		if h.Concept != "bomb" {
			t.Fatalf("concept %q", h.Concept)
		}
		got[h.Form] = h.Texts
	}
	if got["bomb*"] != 1 || got["grenade"] != 1 || got["炸弹"] != 1 || len(got) != 3 {
		t.Fatalf("hits %v", got)
	}
}

func TestLanguageConceptsReadsOneFile(t *testing.T) {
	de, err := LanguageConcepts("de")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range de {
		for _, f := range c.Forms {
			if f == "how to" {
				t.Fatal("English form in the German file's concepts")
			}
		}
	}
	if _, err := LanguageConcepts("xx"); err == nil {
		t.Fatal("no error for a language without a file")
	}
}
