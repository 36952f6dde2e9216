package classify

import (
	"math"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The reference scorer: the straightforward implementation of Score as it
// was before the hot path was optimised (fold a whole text, cut it into
// windows, call a function per feature). TestScoreMatchesReference holds
// Model.Score to it, bit for bit. Keep it simple; never optimise it.

func refFold(r rune) rune {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		case '0' <= r && r <= '9':
			return '0'
		case r == '\'':
			return -1
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return -1
		}
		return ' '
	}
	if 0xFF01 <= r && r <= 0xFF5E {
		return refFold(r - 0xFEE0)
	}
	switch {
	case unicode.IsLetter(r):
		return unicode.ToLower(r)
	case unicode.IsMark(r):
		return r
	case unicode.IsDigit(r):
		return '0'
	case unicode.In(r, unicode.Cf, unicode.Cc, unicode.Co, unicode.Cs), r == 0x2019:
		return -1
	}
	return ' '
}

func refUnspaced(r rune) bool {
	if r < 0x0E00 {
		return false
	}
	return r == 0x30FC || r == 0xFF70 || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

// refWindows folds text and calls f for each window of at most fs.MaxRunes
// folded runes.
func refWindows(fs featureSet, text string, f func(w []rune)) {
	r := []rune{' '}
	for i := 0; i < len(text); {
		c := rune(text[i])
		if c < utf8.RuneSelf {
			i++
		} else {
			var size int
			c, size = utf8.DecodeRuneInString(text[i:])
			i += size
		}
		c = refFold(c)
		switch {
		case c < 0:
			continue
		case c == ' ':
			if r[len(r)-1] == ' ' {
				continue
			}
		}
		r = append(r, c)
	}
	if r[len(r)-1] != ' ' {
		r = append(r, ' ')
	}
	if len(r) <= 2 {
		return
	}
	max := fs.MaxRunes
	if max <= 0 || len(r) <= max {
		f(r)
		return
	}
	for start := 0; ; start += max {
		end := start + max
		if end >= len(r) {
			f(r[start:])
			return
		}
		f(r[start:end])
	}
}

// refHashes calls emit with the hash of every feature of one folded window.
func refHashes(fs featureSet, w []rune, emit func(h uint32)) {
	for i := range w {
		h := uint32(saltChar)
		for n := 1; n <= fs.CharMax && i+n <= len(w); n++ {
			h = (h ^ uint32(w[i+n-1])) * fnvPrime
			if n >= fs.CharMin || (n == 1 && refUnspaced(w[i])) {
				emit(h ^ uint32(n)<<24)
			}
		}
	}
	if fs.Words == 0 {
		return
	}
	var prev uint32
	have := false
	word := func(h uint32) {
		emit(h ^ saltWord)
		if fs.Words >= 2 && have {
			emit((prev*fnvPrime ^ h) ^ saltWord2)
		}
		prev, have = h, true
	}
	h, in := uint32(2166136261), false
	for _, c := range w {
		switch {
		case c == ' ':
			if in {
				word(h)
			}
			h, in = 2166136261, false
		case c >= 0x0E00 && refUnspaced(c):
			if in {
				word(h)
			}
			word((2166136261 ^ uint32(c)) * fnvPrime)
			h, in = 2166136261, false
		default:
			h = (h ^ uint32(c)) * fnvPrime
			in = true
		}
	}
	if in {
		word(h)
	}
}

// refScore is Model.Score the plain way.
func refScore(m *Model, texts []string) Scores {
	fs := m.h.Features
	best, bestLogit := -1, math.Inf(-1)
	var bestWin []rune
	for i, t := range texts {
		refWindows(fs, t, func(w []rune) {
			var sum int64
			n := 0
			refHashes(fs, w, func(h uint32) { sum += int64(m.harm[h&m.mask]); n++ })
			z := float64(m.h.HarmBias)
			if n > 0 {
				z += float64(sum) * float64(m.h.HarmScale) / math.Sqrt(float64(n))
			}
			if len(m.h.Concepts) > 0 {
				st := m.h.Stack
				z = float64(st[0])*z + float64(st[1])*refConceptLogit(m, refConcepts(m.h.Concepts, w)) + float64(st[2])
			}
			if z > bestLogit {
				bestLogit, best = z, i
				bestWin = append([]rune(nil), w...)
			}
		})
	}
	if best < 0 {
		return Scores{}
	}
	s := Scores{Harmful: 1 / (1 + math.Exp(-bestLogit))}
	if s.Harmful < DetailGate {
		return s
	}
	k := m.nCat
	sums := make([]int64, k)
	n := 0
	addCat := func(h uint32) {
		for j, v := range m.cat[int(h&m.cmask)*k:][:k] {
			sums[j] += int64(v)
		}
		n++
	}
	refHashes(fs, bestWin, addCat)
	if len(m.h.Concepts) > 0 {
		refConcepts(m.h.Concepts, bestWin).each(addCat)
	}
	z := make([]float64, k)
	inv := 1.0
	if n > 0 {
		inv = 1 / math.Sqrt(float64(n))
	}
	max := math.Inf(-1)
	for j := range z {
		z[j] = float64(m.h.CatBias[j]) + float64(sums[j])*float64(m.h.CatScale)*inv
		max = math.Max(max, z[j])
	}
	var total float64
	for j := range z {
		z[j] = math.Exp(z[j] - max)
		total += z[j]
	}
	for j := range z {
		if v := s.Harmful * (z[j] / total); v >= CategoryFloor {
			if s.Categories == nil {
				s.Categories = map[string]float64{}
			}
			s.Categories[m.h.Categories[j]] = v
		}
	}
	return s
}

// refConcepts is conceptMatcher.find the plain way: every form of every
// concept compared at every place it may start.
func refConcepts(cs []Concept, w []rune) conceptSet {
	return refConceptsOf(refParse(cs), w)
}

type refForm struct {
	k           int
	f           []rune
	stem, infix bool
}

var refParsed sync.Map // *Concept (the list's first) -> map[rune][]refForm

// refParse parses the forms, by first rune (so that the search compares
// only forms that can start at a place).
func refParse(cs []Concept) map[rune][]refForm {
	if v, ok := refParsed.Load(&cs[0]); ok {
		return v.(map[rune][]refForm)
	}
	fs := map[rune][]refForm{}
	for k, c := range cs {
		for _, form := range c.Forms {
			if f, stem, infix, ok := parseForm(form); ok {
				fs[f[0]] = append(fs[f[0]], refForm{k, f, stem, infix})
			}
		}
	}
	refParsed.Store(&cs[0], fs)
	return fs
}

func refConceptsOf(byFirst map[rune][]refForm, w []rune) conceptSet {
	var set conceptSet
	wordStart := func(i int) bool { return i == 0 || w[i-1] == ' ' || refUnspaced(w[i-1]) }
	wordEnd := func(j int) bool { return j == len(w) || w[j] == ' ' || refUnspaced(w[j]) }
	at := func(i int, f []rune) bool {
		if i+len(f) > len(w) {
			return false
		}
		for k, r := range f {
			if w[i+k] != r {
				return false
			}
		}
		return true
	}
	for i := range w {
		for _, rf := range byFirst[w[i]] {
			k, f := uint8(rf.k), rf.f
			if w[i] == ' ' || !at(i, f) {
				continue
			}
			switch {
			case refUnspaced(f[0]):
				set.add(k)
			case wordStart(i):
				if rf.stem || wordEnd(i+len(f)) {
					set.add(k)
				}
			case rf.infix:
				// Inside a word, within reach of its start.
				s := i
				for s > 0 && !wordStart(s) {
					s--
				}
				reach := infixReach
				if w[s] < 128 {
					reach = 3
				}
				if i-s < reach {
					set.add(k)
				}
			}
		}
	}
	return set
}

// refConceptLogit is Model.conceptLogit over refConcepts.
func refConceptLogit(m *Model, set conceptSet) float64 {
	n := len(m.h.Concepts)
	var ids []int
	for k := range n {
		if set[k>>6]&(1<<(k&63)) != 0 {
			ids = append(ids, k)
		}
	}
	var sum int64
	cnt := 0
	for a, x := range ids {
		sum += int64(m.con[x])
		cnt++
		for _, y := range ids[a+1:] {
			sum += int64(m.con[n+x*n+y])
			cnt++
		}
	}
	if cnt == 0 {
		return float64(m.h.ConceptBias)
	}
	return float64(m.h.ConceptBias) + float64(sum)*float64(m.h.ConceptScale)/math.Sqrt(float64(cnt))
}
