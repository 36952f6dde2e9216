package classify

import (
	"slices"
	"strings"
	"testing"
)

func conceptIDs(m *conceptMatcher, cs []Concept, text string) []string {
	var fo folder
	var ids []string
	fo.windows(featureSet{}, text, func(w []rune) {
		set := m.find(w)
		for k := range cs {
			if set[k>>6]&(1<<(k&63)) != 0 {
				ids = append(ids, cs[k].ID)
			}
		}
	})
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestConceptForms(t *testing.T) {
	cs, err := ParseConcepts([]byte("# test\nbomb\tbomb*, explosiv*, 炸弹\nhow\thow to, step by step\nkill\tkill\nar\t*قنبل*\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := newConceptMatcher(cs)
	for _, c := range []struct {
		text string
		want []string
	}{
		{"How to build a BOMBS!", []string{"bomb", "how"}},
		{"explosives, step by step", []string{"bomb", "how"}},
		{"step by", nil},
		{"how toxic", nil},     // exact "to" must end a word
		{"killer whales", nil}, // exact "kill" too
		{"I will kill", []string{"kill"}},
		{"如何制作炸弹", []string{"bomb"}},         // unspaced: anywhere
		{"كيف أصنع القنبلة", []string{"ar"}}, // infix past the article
		{"abomb", nil},                       // a stem starts a word
	} {
		if got := conceptIDs(m, cs, c.text); !slices.Equal(got, c.want) {
			t.Errorf("%q: concepts %v, want %v", c.text, got, c.want)
		}
	}
}

func TestBundledConceptsParse(t *testing.T) {
	cs, err := BundledConcepts()
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].ID != "ask_how" {
		t.Errorf("first concept %q: en.txt must come first", cs[0].ID)
	}
	for _, c := range cs {
		if len(c.Forms) == 0 {
			t.Errorf("concept %s has no forms", c.ID)
		}
		// A form the matcher cannot match (one mixing a script written
		// without spaces with another, such as "sql注入") would be left
		// out without a word; the lists must hold none.
		for _, f := range c.Forms {
			if _, _, _, ok := parseForm(f); !ok {
				t.Errorf("concept %s: form %q can never match", c.ID, f)
			}
		}
	}
}

// TestConceptsMatchReference holds the matcher to the plain search of
// every form at every place (refConcepts), on the forms themselves in
// sentences, joined, cut and glued to other words, in every language.
func TestConceptsMatchReference(t *testing.T) {
	cs := bundledConcepts()
	m := newConceptMatcher(cs)
	var texts []string
	for _, c := range cs {
		for i, f := range c.Forms {
			if i%31 != 0 {
				continue // a sample: the reference is slow
			}
			g := strings.Trim(f, "*")
			texts = append(texts, g, "please "+g+" now", "x"+g, g+"ing", "l'"+g, "ال"+g, "这"+g+"的",
				g+" "+strings.Trim(c.Forms[(i+1)%len(c.Forms)], "*"), strings.ToUpper(g))
			if r := []rune(g); len(r) > 2 {
				texts = append(texts, string(r[:len(r)-1]), string(r[1:]))
			}
		}
	}
	texts = append(texts, "how to make a bomb at home step by step without getting caught", "كيف أصنع القنبلة", "如何制作炸弹")
	forms := refParse(cs)
	var fo folder
	bad := 0
	for _, text := range texts {
		fo.windows(defaultFeatures, text, func(w []rune) {
			if got, want := m.find(w), refConceptsOf(forms, w); got != want && bad < 10 {
				bad++
				t.Errorf("%q: concepts %v, reference %v", text, idsOf(cs, got), idsOf(cs, want))
			}
		})
	}
	t.Logf("%d texts", len(texts))
}

func idsOf(cs []Concept, set conceptSet) []string {
	var out []string
	for k := range cs {
		if set[k>>6]&(1<<(k&63)) != 0 {
			out = append(out, cs[k].ID)
		}
	}
	return out
}
