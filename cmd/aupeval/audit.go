package main

import (
	"fmt"
	"io"

	"github.com/aupguard/aupguard/internal/classify"
	"github.com/aupguard/aupguard/internal/classify/corpus"
)

// auditConcepts prints how often each form of one language's concept file
// matches the corpus's benign rows in that language: the forms at the top
// fire on innocent text (too broad a stem, a common word), the count of
// forms that match nothing is shown too. It reads benign rows only, so
// that keeping the lexicon precise never tunes it on the harmful rows
// that the leave-one-source-out evaluation holds out.
func auditConcepts(lang string, files []string, top int, stdout io.Writer) error {
	cs, err := classify.LanguageConcepts(lang)
	if err != nil {
		return err
	}
	var texts []string
	for _, f := range files {
		rows, _, err := corpus.Read(f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !r.Harmful() && r.Role != "system" && (r.Lang == lang || lang == "en" && r.Lang == "") {
				texts = append(texts, r.Text)
			}
		}
	}
	if len(texts) == 0 {
		return fmt.Errorf("no benign rows in language %q", lang)
	}
	hits := classify.FormHits(cs, texts)
	fmt.Fprintf(stdout, "concepts/%s.txt: %d forms over %d benign rows in %q\n\n| concept | form | benign rows matched | share |\n|---|---|---:|---:|\n", lang, len(hits), len(texts), lang)
	silent := 0
	for i, h := range hits {
		if h.Texts == 0 {
			silent++
			continue
		}
		if i < top {
			fmt.Fprintf(stdout, "| %s | %s | %d | %.3f |\n", h.Concept, h.Form, h.Texts, float64(h.Texts)/float64(len(texts)))
		}
	}
	fmt.Fprintf(stdout, "\n%d of %d forms match no benign row.\n", silent, len(hits))
	return nil
}
