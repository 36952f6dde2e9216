package classify

import (
	"fmt"
	"slices"
)

// FormHit is how often one concept form matches a set of texts.
type FormHit struct {
	Concept string
	Form    string
	Texts   int // texts with at least one window the form matches
}

// FormHits counts, for every form of concepts, the texts it matches, the
// way the model matches them (folded windows). It is for the people who
// keep concepts/*.txt: a form that fires on many benign texts is too broad
// (a stem that is also a common word), one that never fires may be
// misspelt. Never on the request path: each form is its own concept in
// matchers of up to maxConcepts forms.
func FormHits(concepts []Concept, texts []string) []FormHit {
	var out []FormHit
	for _, c := range concepts {
		for _, f := range c.Forms {
			if _, _, _, ok := parseForm(f); ok {
				out = append(out, FormHit{Concept: c.ID, Form: f})
			}
		}
	}
	var fo folder
	for lo := 0; lo < len(out); lo += maxConcepts {
		chunk := out[lo:min(lo+maxConcepts, len(out))]
		one := make([]Concept, len(chunk))
		for i, h := range chunk {
			one[i] = Concept{ID: fmt.Sprint(i), Forms: []string{h.Form}}
		}
		m := newConceptMatcher(one)
		var ids [maxConcepts]uint8
		for _, t := range texts {
			var set conceptSet
			fo.windows(defaultFeatures, t, func(w []rune) { set.or(m.find(w)) })
			for _, k := range ids[:set.ids(&ids)] {
				chunk[k].Texts++
			}
		}
	}
	slices.SortStableFunc(out, func(a, b FormHit) int { return b.Texts - a.Texts })
	return out
}

// LanguageConcepts are the concepts of one language's file
// (concepts/LANG.txt), with that language's forms only.
func LanguageConcepts(lang string) ([]Concept, error) {
	b, err := conceptFiles.ReadFile("concepts/" + lang + ".txt")
	if err != nil {
		return nil, err
	}
	return ParseConcepts(b)
}
