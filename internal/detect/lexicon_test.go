package detect

import (
	"strings"
	"testing"
)

const miniLexicon = `{
  "version": 1,
  "lists": {
    "verbs": {"terms": ["build", "make*"]},
    "things": {"terms": ["widget bomb"]},
    "masks": {"terms": ["make believe"]},
    "neg": {"terms": ["never"]},
    "story": {"terms": ["novel"]}
  },
  "masks": ["masks"],
  "negation": {"lists": ["neg"]},
  "safe_contexts": [{"name": "fiction", "lists": ["story"], "factor": 0.5}],
  "categories": {
    "demo": {"rules": [{"id": "demo.make", "lists": ["verbs", "things"], "window": 3, "ordered": true, "score": 0.8}]}
  }
}`

func TestCompileMini(t *testing.T) {
	d, err := Compile([]byte(miniLexicon))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		want float64
	}{
		{"how to build a widget bomb", 0.8},
		{"makeshift widget bomb", 0.8},              // prefix term
		{"a widget bomb to build", 0},               // ordered
		{"build a very large green widget bomb", 0}, // outside the window
		{"never build a widget bomb", 0},            // negated
		{"make believe widget bomb", 0},             // masked
		{"in my novel they build a widget bomb", 0.4},
	} {
		if got := d.Scan([]string{c.text}).Categories["demo"].Score; got != c.want {
			t.Errorf("%q: score %v, want %v", c.text, got, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct{ name, from, to, want string }{
		{"unknown field", `"version": 1,`, `"version": 1, "extra": true,`, "unknown field"},
		{"version", `"version": 1`, `"version": 2`, "version"},
		{"unknown list", `["verbs", "things"]`, `["verbs", "thingz"]`, `unknown list "thingz"`},
		{"bad score", `"score": 0.8`, `"score": 1.5`, "score"},
		{"unused list", `"story": {"terms": ["novel"]}`, `"story": {"terms": ["novel"]}, "spare": {"terms": ["x"]}`, "not used"},
		{"empty term", `["build", "make*"]`, `["build", "!!"]`, "empty"},
		{"short prefix", `["build", "make*"]`, `["build", "ma*"]`, "too short"},
		{"dup rule", `"score": 0.8}]`, `"score": 0.8}, {"id": "demo.make", "lists": ["verbs"], "score": 0.5}]`, "repeated"},
		{"bad factor", `"factor": 0.5`, `"factor": 2`, "factor"},
		{"too many lists", `["verbs", "things"]`, `["verbs", "things", "verbs", "things"]`, "1 to 3"},
	} {
		src := strings.Replace(miniLexicon, c.from, c.to, 1)
		if src == miniLexicon {
			t.Fatalf("%s: replacement did not apply", c.name)
		}
		_, err := Compile([]byte(src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := Compile([]byte("not json")); err == nil {
		t.Error("Compile accepted garbage")
	}
}

// The matcher must report every occurrence of every pattern, overlapping
// ones included, exactly as a naive search of the token string does.
func TestMatcherMatchesNaive(t *testing.T) {
	words := []string{"he", "she", "his", "hers", "she sells", "sells sea", "sea", "shells", "sea shells", "ells",
		"13 year old", "17 year old", "year old", "c4", "c8"}
	var pats []pattern
	for _, w := range words {
		pats = append(pats, pattern{text: w, words: int32(strings.Count(w, " ")), lists: []int32{int32(len(pats))}})
	}
	a := buildMatcher(pats)
	text := "she sells sea shells he his hers ushers shells a 17 year old c4 c0 19 year old c8"
	type occ struct {
		id         int32
		start, end int32
	}
	var got []occ
	hits := make([][]hit, len(pats))
	var sc matchScratch
	a.scan([]byte(text), &sc)
	sc.fillHits(sc.recs, hits)
	for l, hs := range hits {
		for _, h := range hs {
			got = append(got, occ{int32(l), h.start, h.end})
		}
	}
	var want []occ
	toks := strings.Fields(text)
	for id, w := range words {
		n := strings.Count(w, " ") + 1
		for i := 0; i+n <= len(toks); i++ {
			if strings.Join(toks[i:i+n], " ") == w {
				want = append(want, occ{int32(id), int32(i), int32(i + n - 1)})
			}
		}
	}
	count := func(os []occ) map[occ]int {
		m := map[occ]int{}
		for _, o := range os {
			m[o]++
		}
		return m
	}
	g, w := count(got), count(want)
	if len(g) != len(w) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for k, n := range w {
		if g[k] != n {
			t.Errorf("occurrence %+v (%q): got %d, want %d", k, words[k.id], g[k], n)
		}
	}
}
