package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// listHits runs a scan that fills per-list hits and returns them sorted.
func listHits(nLists int, scan func(hits [][]hit)) [][]hit {
	hits := make([][]hit, nLists+1) // + the sentence breaks the matcher records
	scan(hits)
	for _, hs := range hits {
		slices.SortFunc(hs, cmpHit)
	}
	return hits
}

// compareWithReference checks that the word matcher reports exactly the
// hits of the byte-level Aho–Corasick reference on a normalised text.
func compareWithReference(t *testing.T, ref *refAutomaton, m *matcher, nLists int, text string) bool {
	t.Helper()
	plain := *m
	plain.joinCuts = false // the reference matches whole tokens only
	m = &plain
	want := listHits(nLists, func(hits [][]hit) {
		ref.scan([]byte(text), func(id int32, h hit) {
			for _, l := range ref.pats[id].lists {
				hits[l] = append(hits[l], h)
			}
		})
	})
	var positions int32
	got := listHits(nLists, func(hits [][]hit) {
		var sc matchScratch
		positions = m.scan([]byte(text), &sc)
		sc.fillHits(sc.recs, hits)
	})
	// positions: one per token, sentenceGap more per sentence break
	wantPositions := int32(0)
	for i, tok := range strings.Split(text, " ") {
		if i > 0 {
			wantPositions++
		}
		if tok == "." {
			wantPositions += sentenceGap
		}
	}
	wantPositions++
	for l := range want[:nLists] {
		if !slices.Equal(got[l], want[l]) {
			t.Errorf("text %.300q, list %d:\n got %v\nwant %v", text, l, got[l], want[l])
			return false
		}
	}
	if positions != wantPositions {
		t.Errorf("text %.300q: takes %d positions, want %d", text, positions, wantPositions)
		return false
	}
	return true
}

// The word matcher finds what the byte automaton found, on the bundled
// lexicon over the whole equivalence corpus.
func TestMatcherEqualsReferenceBundled(t *testing.T) {
	d := bundled(t)
	ref := buildRefAutomaton(d.m.pats)
	data := mustLexicon(t)
	bad := 0
	for _, it := range synthCorpus(t, data) {
		for _, s := range it.texts {
			if !compareWithReference(t, ref, d.m, d.nLists, Normalize(s)) {
				bad++
			}
		}
		if bad > 5 {
			t.FailNow()
		}
	}
}

// Prefix terms ("hack*"), overlapping phrases, digits and sentence breaks,
// on random token sequences: the bundled lexicon has no prefix terms, so
// this is where that path is held to the reference.
func TestMatcherEqualsReferencePrefix(t *testing.T) {
	vocab := []string{"a", "ab", "abc", "abcd", "abcde", "b", "ba", "bab", "c", "cab", "1", "12", "#", "a#", "ab1"}
	r := rand.New(rand.NewPCG(3, 4))
	var pats []pattern
	seen := map[string]bool{}
	for len(pats) < 60 {
		n := 1 + r.IntN(3)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = vocab[r.IntN(len(vocab))]
		}
		text := strings.Join(ws, " ")
		prefix := r.IntN(3) == 0
		if prefix && len(ws[n-1]) < 2 {
			prefix = false
		}
		key := fmt.Sprint(text, prefix)
		if seen[key] {
			continue
		}
		seen[key] = true
		lists := []int32{int32(r.IntN(20))}
		if r.IntN(3) == 0 {
			lists = append(lists, int32(r.IntN(20)))
			if lists[1] == lists[0] {
				lists = lists[:1]
			}
		}
		pats = append(pats, pattern{text: text, prefix: prefix, words: int32(n - 1), lists: lists})
	}
	m := buildMatcher(pats)
	if !m.hasPrefix {
		t.Fatal("no prefix terms generated")
	}
	ref := buildRefAutomaton(pats)
	for range 3000 {
		n := r.IntN(30)
		toks := make([]string, 0, n)
		for i := range n {
			if i > 0 && i < n-1 && toks[len(toks)-1] != "." && r.IntN(8) == 0 {
				toks = append(toks, ".")
				continue
			}
			w := vocab[r.IntN(len(vocab))]
			if r.IntN(4) == 0 {
				w += vocab[r.IntN(len(vocab))]
			}
			toks = append(toks, w)
		}
		if !compareWithReference(t, ref, m, 20, strings.Join(toks, " ")) {
			t.FailNow()
		}
	}
}

var (
	refOnce sync.Once
	refAC   *refAutomaton
)

// FuzzMatcherEqualsReference holds the word matcher to the byte automaton
// on the normalised form of any input.
func FuzzMatcherEqualsReference(f *testing.F) {
	for _, s := range []string{"how to make a bomb", "k i l l him. now", "ｂｏｍｂ the 5ch00l", "a b c d e f", strings.Repeat("x", 100)} {
		f.Add(s)
	}
	d := bundled(f)
	refOnce.Do(func() { refAC = buildRefAutomaton(d.m.pats) })
	f.Fuzz(func(t *testing.T, s string) {
		compareWithReference(t, refAC, d.m, d.nLists, Normalize(s))
	})
}
