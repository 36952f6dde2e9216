package classify

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A form of another language that is also a common English word ("kind",
// "offer", "speed", "furt*" in further) gives English text a concept it
// does not have. TestConceptCollisions finds the forms of concepts/*.txt
// that match an English word used in at least collisionRows rows of the
// vendored corpus's English text, where the English lexicon does not give
// that word the same concept; CONCEPTS_UPDATE=1 removes them from the
// files. The corpus's words are used, never its labels.
const collisionRows = 3

const vendoredCorpus = "../../testdata/corpus/train-permissive.jsonl.gz"

func englishWords(t *testing.T) map[string]int {
	rows := map[string]int{}
	var fo folder
	eachCorpusText(t, func(text, lang string) {
		if lang != "en" && lang != "" {
			return
		}
		seen := map[string]bool{}
		fo.windows(featureSet{}, text, func(w []rune) {
			for _, x := range strings.Fields(string(w)) {
				if !seen[x] {
					seen[x] = true
					rows[x]++
				}
			}
		})
	})
	for w, n := range rows {
		if n < collisionRows {
			delete(rows, w)
		}
	}
	return rows
}

// eachCorpusText calls f with the text and language of every row of the
// vendored corpus, in order.
func eachCorpusText(tb testing.TB, f func(text, lang string)) {
	tb.Helper()
	fc, err := os.Open(vendoredCorpus)
	if err != nil {
		tb.Fatal(err)
	}
	defer fc.Close()
	zr, err := gzip.NewReader(fc)
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r struct{ Text, Lang string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatal(err)
		}
		f(r.Text, r.Lang)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
}

func TestConceptCollisions(t *testing.T) {
	words := englishWords(t)
	en, err := os.ReadFile("concepts/en.txt")
	if err != nil {
		t.Fatal(err)
	}
	encs, err := ParseConcepts(en)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for k, c := range encs {
		ids[c.ID] = k
	}
	enm := newConceptMatcher(encs)
	enOf := map[string]conceptSet{}
	for w := range words {
		enOf[w] = enm.find([]rune(w))
	}
	files, _ := filepath.Glob("concepts/*.txt")
	update := os.Getenv("CONCEPTS_UPDATE") != ""
	for _, file := range files {
		if filepath.Base(file) == "en.txt" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		for line := range strings.Lines(string(b)) {
			id, forms, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
			k, known := ids[strings.TrimSpace(id)]
			if !ok || !known || strings.HasPrefix(line, "#") {
				out.WriteString(line)
				continue
			}
			var keep []string
			for f := range strings.SplitSeq(forms, ",") {
				f = strings.TrimSpace(f)
				if w := collides(f, k, words, enOf); w != "" {
					if !update {
						t.Errorf("%s: %s form %q matches the English word %q (%d rows)", file, id, f, w, words[w])
					}
					continue
				}
				keep = append(keep, f)
			}
			out.WriteString(id + "\t" + strings.Join(keep, ", ") + "\n")
		}
		if update && !bytes.Equal(out.Bytes(), b) {
			if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// collides returns an English word that form (of concept k) matches
// although the English lexicon gives it no concept k, or "".
func collides(form string, k int, words map[string]int, enOf map[string]conceptSet) string {
	r, stem, infix, ok := parseForm(form)
	if !ok || slices.Contains(r, ' ') || unspaced(r[0]) {
		return ""
	}
	f := string(r)
	best := ""
	for w := range words {
		if s := enOf[w]; s[k>>6]&(1<<(k&63)) != 0 {
			continue
		}
		i := strings.Index(w, f)
		hit := w == f || stem && strings.HasPrefix(w, f) || infix && i > 0 && len([]rune(w[:i])) < 3
		if hit && (best == "" || words[w] > words[best] || words[w] == words[best] && w < best) {
			best = w
		}
	}
	return best
}
