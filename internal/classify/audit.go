package classify

import "slices"

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
// misspelt. Slow (a matcher per form); never on the request path.
func FormHits(concepts []Concept, texts []string) []FormHit {
	var out []FormHit
	var fo folder
	fs := defaultFeatures
	for _, c := range concepts {
		for _, f := range c.Forms {
			if _, _, _, ok := parseForm(f); !ok {
				continue
			}
			m := newConceptMatcher([]Concept{{ID: c.ID, Forms: []string{f}}})
			n := 0
			for _, t := range texts {
				hit := false
				fo.windows(fs, t, func(w []rune) {
					if !hit && m.find(w) != (conceptSet{}) {
						hit = true
					}
				})
				if hit {
					n++
				}
			}
			out = append(out, FormHit{Concept: c.ID, Form: f, Texts: n})
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
