package classify

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"path"
	"slices"
	"strings"
)

//go:embed concepts/*.txt
var conceptFiles embed.FS

// BundledConcepts are the concepts of concepts/*.txt: English first (its
// order is the ids' order), then the other languages by file name.
func BundledConcepts() ([]Concept, error) {
	names, err := fs.Glob(conceptFiles, "concepts/*.txt")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case path.Base(a) == "en.txt":
			return -1
		case path.Base(b) == "en.txt":
			return 1
		}
		return strings.Compare(a, b)
	})
	var files [][]byte
	for _, n := range names {
		b, err := conceptFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files = append(files, b)
	}
	return ParseConcepts(files...)
}

// Concepts carry meaning across languages. Hashed n-grams are specific to
// a language: what the model learns from English rows ("bomb", "how to
// make") says nothing about Swahili or Thai ones, and most harmful rows of
// the corpus are English. A concept is one id for the words of every
// language that mean the same thing (bomb, bombe, bomba, 炸弹, ระเบิด): a
// concept feature learned from English is the same feature in Thai. The
// lexicon is in concepts/*.txt (one file per language, same ids), compiled
// into the model file at training, so a model is always read with the
// concepts it was trained on.
//
// A window's concept features are binary: each concept present, and each
// unordered pair of concepts present (word order differs between
// languages, so "how to"+"bomb" must not depend on it).

// Concept is one concept and its forms in every language.
type Concept struct {
	ID    string   `json:"id"`
	Forms []string `json:"forms"`
}

// bundledConcepts is BundledConcepts for code that cannot fail: the files
// are compiled in, and TestBundledConceptsParse holds them valid.
func bundledConcepts() []Concept {
	cs, err := BundledConcepts()
	if err != nil {
		panic(err)
	}
	return cs
}

// Form syntax (concepts/en.txt explains it to translators):
//
//	word     the whole word (words, for a form with spaces)
//	stem*    a word starting with stem
//	*part*   part starting at one of a word's first infixReach runes (3
//	         in a word of ASCII letters): past an article or conjunction
//	         fused to the word (l'explosif folds to lexplosif, القنبلة)
//
// A form in a script written without spaces matches anywhere.
const infixReach = 4

// maxConcepts bounds the ids: a window's concepts are a 128-bit set.
const maxConcepts = 128

// Salts of the concept features' hash space.
const (
	saltConcept     = 0x27d4eb2f
	saltConceptPair = 0x165667b1
)

// ParseConcepts reads concept files (the contents of concepts/*.txt, in
// the order given) into one list: the ids in the order of their first
// appearance, each with the forms of every file. A line is
// `id<TAB>form, form, ...`; `#` starts a comment line.
func ParseConcepts(files ...[]byte) ([]Concept, error) {
	var out []Concept
	at := map[string]int{}
	for fi, b := range files {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			l := strings.TrimSpace(sc.Text())
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			id, forms, ok := strings.Cut(l, "\t")
			id = strings.TrimSpace(id)
			if !ok || id == "" {
				return nil, fmt.Errorf("classify: concept file %d line %d: want id<TAB>forms", fi+1, line)
			}
			k, seen := at[id]
			if !seen {
				if len(out) == maxConcepts {
					return nil, fmt.Errorf("classify: more than %d concepts", maxConcepts)
				}
				k = len(out)
				at[id] = k
				out = append(out, Concept{ID: id})
			}
			for f := range strings.SplitSeq(forms, ",") {
				if f = strings.TrimSpace(f); f != "" && f != "*" && f != "**" {
					out[k].Forms = append(out[k].Forms, f)
				}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errors.New("classify: no concepts")
	}
	return out, nil
}

// conceptMatcher finds the concepts of a folded window word by word, the
// way the detector matches its lexicon: a rolling FNV-1a hash over each
// word's runes is tested at every rune against a bit set of the hashes of
// all forms (terms), and only where its bit is set is the table of forms
// read. The tests are independent loads from a bit set that stays in
// cache, not a chain of dependent steps down a trie, so a word costs
// about a multiply and a load per rune. A form of several words is a run
// of the same hash over the words and the spaces between them: a word
// whose hash (with the space after it) begins such a form opens a phrase,
// which the next words continue.
type conceptMatcher struct {
	n          int                  // concepts
	term       *[termWords]uint64   // bloom2(hash, termShift): some form may end here
	phrase     *[phraseWords]uint64 // bloom2(hash, phraseShift): some multi-word form continues past here (a space)
	slots      []cslot              // open addressing by hash
	mask       uint64
	maxUnspace int          // the longest form of an unspaced script, in runes
	sets       []conceptSet // sets[0] is empty
	infixFirst map[rune]bool
	infixASCII [2]uint64
	// stem4: the first four symbols of every stem's last word. Most words
	// begin none: only their end is looked up, not every rune of them (an
	// exact form ends with the word).
	stem4 *start4
	// infix4: the first four symbols of every infix form.
	infix4 *start4
}

// cslot is the forms with one hash: the concepts of its exact forms (which
// must end a word), of its stems and infix forms (a word may go on), and of
// its infix forms alone (they may start inside a word), as indexes into
// conceptMatcher.sets (0: none). A form may mean two concepts.
type cslot struct {
	tag                uint32 // the hash's low 32 bits; 0: empty
	exact, stem, infix uint16
}

const (
	termShift   = 64 - 14 // the term filter: 2^14 words, 1 Mi bits (128 KiB)
	termWords   = 1 << (64 - termShift)
	phraseShift = 64 - 12 // the phrase filter: 2^12 words (32 KiB)
	phraseWords = 1 << (64 - phraseShift)
	fnv64Offset = 14695981039346656037
	fnv64Prime  = 1099511628211
)

// bloom2 is where hash h is in a filter of 2^(64-shift) words: a word
// and two bits of it, a Bloom filter blocked to one load. With the
// bundled forms the term filter sends a third as many misses on to the
// slot table (a cache miss each on real text) as one bit per hash did in
// the same space. The bits come from the hash's top bits (those below
// the word's, shift >= 50): FNV-1a mixes a rune only into the bits above
// it, so its low bits hardly tell similar words apart.
func bloom2(h uint64, shift uint) (word uint64, bits uint64) {
	return h >> shift, 1<<(h>>44&63) | 1<<(h>>38&63)
}

func newConceptMatcher(cs []Concept) *conceptMatcher {
	m := &conceptMatcher{n: len(cs), term: new([termWords]uint64),
		phrase: new([phraseWords]uint64), stem4: new(start4), infix4: new(start4), infixFirst: map[rune]bool{}}
	type entry struct{ exact, stem, infix conceptSet }
	entries := map[uint64]*entry{}
	for k, c := range cs {
		for _, f := range c.Forms {
			runes, stem, infix, ok := parseForm(f)
			if !ok {
				continue
			}
			if unspaced(runes[0]) {
				m.maxUnspace = max(m.maxUnspace, len(runes))
			}
			if infix {
				m.infixFirst[runes[0]] = true
			}
			if stem {
				last := runes
				for i := slices.Index(last, ' '); i >= 0; i = slices.Index(last, ' ') {
					last = last[i+1:]
				}
				m.stem4.mark(last)
			}
			if infix {
				m.infix4.mark(runes)
			}
			h := uint64(fnv64Offset)
			for _, r := range runes {
				if r == ' ' {
					w, bits := bloom2((h^' ')*fnv64Prime, phraseShift)
					m.phrase[w] |= bits
				}
				h = (h ^ uint64(r)) * fnv64Prime
			}
			if h&0xFFFFFFFF == 0 {
				h |= 1 // tag 0 marks an empty slot
			}
			e := entries[h]
			if e == nil {
				e = &entry{}
				entries[h] = e
			}
			switch {
			case infix:
				e.infix.add(uint8(k))
				e.stem.add(uint8(k))
			case stem:
				e.stem.add(uint8(k))
			default:
				e.exact.add(uint8(k))
			}
		}
	}
	for r := range m.infixFirst {
		if r < 128 {
			m.infixASCII[r>>6] |= 1 << (r & 63)
		}
	}
	size := 1
	for size < 2*len(entries)+2 {
		size <<= 1
	}
	m.slots, m.mask = make([]cslot, size), uint64(size-1)
	m.sets = []conceptSet{{}}
	index := map[conceptSet]uint16{{}: 0}
	intern := func(s conceptSet) uint16 {
		i, ok := index[s]
		if !ok {
			i = uint16(len(m.sets))
			index[s] = i
			m.sets = append(m.sets, s)
		}
		return i
	}
	for h, e := range entries {
		w, bits := bloom2(h, termShift)
		m.term[w] |= bits
		i := (h >> 32) & m.mask
		for m.slots[i].tag != 0 {
			i = (i + 1) & m.mask
		}
		m.slots[i] = cslot{tag: uint32(h), exact: intern(e.exact), stem: intern(e.stem), infix: intern(e.infix)}
	}
	return m
}

// parseForm folds a form and says how it matches: stem (a word may go
// on after it), infix (it may start inside a word, past a clitic).
// ok is false for a form that can never match: empty, or mixing a script
// written without spaces with others (a word of a spaced script ends
// where such a script starts).
func parseForm(f string) (runes []rune, stem, infix, ok bool) {
	infix = strings.HasPrefix(f, "*")
	stem = strings.HasSuffix(f, "*")
	var fo folder
	fo.windows(featureSet{}, strings.Trim(f, "*"), func(w []rune) { runes = append(runes, w...) })
	// Folded runes come with a space at each end.
	for len(runes) > 0 && runes[0] == ' ' {
		runes = runes[1:]
	}
	for len(runes) > 0 && runes[len(runes)-1] == ' ' {
		runes = runes[:len(runes)-1]
	}
	if len(runes) == 0 {
		return nil, false, false, false
	}
	first := unspaced(runes[0])
	for _, r := range runes {
		if first && (r == ' ' || !unspaced(r)) || !first && unspaced(r) {
			return nil, false, false, false
		}
	}
	switch {
	case first:
		stem, infix = true, false // matches anywhere
	case infix && strings.ContainsRune(string(runes), ' '):
		infix = false // a phrase starts at a word
	}
	if infix {
		stem = true
	}
	return runes, stem, infix, true
}

// lookup is the entry of the forms with hash h, or nil.
func (m *conceptMatcher) lookup(h uint64) *cslot {
	if h&0xFFFFFFFF == 0 {
		h |= 1
	}
	for i := (h >> 32) & m.mask; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		switch s.tag {
		case uint32(h):
			return s
		case 0:
			return nil
		}
	}
}

// conceptSet is a window's concepts.
type conceptSet [2]uint64

func (s *conceptSet) add(k uint8) { s[k>>6] |= 1 << (k & 63) }

func (s *conceptSet) or(o conceptSet) { s[0] |= o[0]; s[1] |= o[1] }

// maxOpen bounds the phrases followed at once: more than a few forms of
// several words never overlap in one place of a text.
const maxOpen = 8

// find returns the concepts of folded window w.
func (m *conceptMatcher) find(w []rune) conceptSet {
	syms := make([]byte, len(w)+symsPad)
	for i, c := range w {
		syms[i] = symOf(c)
	}
	return m.findSyms(w, syms)
}

// symsPad is how far past a window findSyms may read its symbols.
const symsPad = 4

// findSyms is find for a window whose runes' symbols (symOf) are known,
// as the scanner's are, with symsPad readable bytes past the window (any
// value): words are cut and their first runes read on the symbols, a
// byte each.
func (m *conceptMatcher) findSyms(w []rune, syms []byte) conceptSet {
	var set conceptSet
	// Phrases begun at earlier words, their hashes up to here: those that
	// go on through the current word (open[cur]), then past it.
	var open [2][maxOpen]uint64
	cur, nOpen := 0, 0
	for i := 0; i < len(w); {
		switch syms[i] {
		case symSpace:
			i++
			continue
		case symUnspaced:
			m.unspacedAt(w, i, &set)
			nOpen = 0
			i++
			continue
		}
		e := i + 1
		for e < len(w) && syms[e] != symSpace && syms[e] != symUnspaced {
			e++
		}
		word := w[i:e]
		// Where no stem may end inside the word, only its end is looked up.
		stems := m.stem4.may(syms[i:], e-i)
		h := m.walk(fnv64Offset, word, stems, &set)
		next, nNext := &open[cur^1], 0
		for _, p := range open[cur][:nOpen] {
			p = m.walk((p^' ')*fnv64Prime, word, stems, &set)
			if m.continues(p) && nNext < maxOpen {
				next[nNext] = p
				nNext++
			}
		}
		if m.continues(h) && nNext < maxOpen {
			next[nNext] = h
			nNext++
		}
		cur, nOpen = cur^1, nNext
		// Infix forms, from the next few runes of the word: past an Arabic
		// or Hebrew article and conjunction (3 runes), a Romance elided
		// article (l', d', qu') or a Bantu noun-class prefix (2).
		reach := infixReach
		if word[0] < 128 {
			reach = 3
		}
		for j := 1; j < reach && j < len(word); j++ {
			if m.startsInfix(word[j]) && m.infix4.may(syms[i+j:], e-i-j) {
				m.roll(fnv64Offset, word[j:], true, &set)
			}
		}
		i = e
	}
	return set
}

// walk continues hash h over one word and adds the concepts of the forms
// that end in it: at every rune (roll) where a stem may, else at its end.
func (m *conceptMatcher) walk(h uint64, word []rune, stems bool, set *conceptSet) uint64 {
	if stems {
		return m.roll(h, word, false, set)
	}
	for _, r := range word {
		h = (h ^ uint64(r)) * fnv64Prime
	}
	if w, bits := bloom2(h, termShift); m.term[w]&bits == bits {
		if s := m.lookup(h); s != nil {
			set.or(m.sets[s.stem])
			set.or(m.sets[s.exact])
		}
	}
	return h
}

// continues reports whether some multi-word form goes on past hash h and
// a space.
func (m *conceptMatcher) continues(h uint64) bool {
	w, bits := bloom2((h^' ')*fnv64Prime, phraseShift)
	return m.phrase[w]&bits == bits
}

// asciiSym numbers the runes ASCII folds to: 0 space, 1-26 letters, 27
// '0'; -1 for any other rune.
func asciiSym(c rune) int {
	switch {
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 1
	case c == ' ':
		return 0
	case c == '0':
		return 27
	}
	return -1
}

// may reports whether a form t marks may start at the first of the n
// runes whose symbols begin syms (with 4 readable bytes): false only when
// the first four (spaces past the n) are ASCII and t marks no form
// starting with them. The four are read in one load, without a branch
// per rune: which words pass is as unpredictable as the words.
func (t *start4) may(syms []byte, n int) bool {
	v := binary.LittleEndian.Uint32(syms)
	if n < 4 {
		v &= 1<<(8*n) - 1
	}
	if v&0xE0E0E0E0 != 0 {
		return true // a rune that is not ASCII
	}
	x := int(v&0xFF)*(28*28*28) + int(v>>8&0xFF)*(28*28) + int(v>>16&0xFF)*28 + int(v>>24)
	return t[x>>6]&(1<<(x&63)) != 0
}

// start4 is a bit per four symbols (asciiSym).
type start4 [28 * 28 * 28 * 28 / 64]uint64

// mark sets the bits of the first four runes of form r, which any rune
// may follow (a stem). A form whose first runes are not all ASCII sets
// none: may never rules it out.
func (t *start4) mark(r []rune) {
	var syms [4]int
	n := 0
	for _, c := range r[:min(4, len(r))] {
		if syms[n] = asciiSym(c); syms[n] < 0 {
			return
		}
		n++
	}
	// Runes past a short stem are any symbol, space included.
	var mark func(k, x int)
	mark = func(k, x int) {
		if k == 4 {
			t[x>>6] |= 1 << (x & 63)
			return
		}
		if k < n {
			mark(k+1, x*28+syms[k])
			return
		}
		for s := range 28 {
			mark(k+1, x*28+s)
		}
	}
	mark(0, 0)
}

// roll continues hash h over the runes of one word, adding the concepts
// of the forms that end inside it (stems) or with it (exact forms; inside:
// infix forms only). It returns the hash at the word's end.
func (m *conceptMatcher) roll(h uint64, word []rune, inside bool, set *conceptSet) uint64 {
	last := len(word) - 1
	for k, r := range word {
		h = (h ^ uint64(r)) * fnv64Prime
		if w, bits := bloom2(h, termShift); m.term[w]&bits != bits {
			continue
		}
		s := m.lookup(h)
		switch {
		case s == nil:
		case inside:
			set.or(m.sets[s.infix])
		default:
			set.or(m.sets[s.stem])
			if k == last {
				set.or(m.sets[s.exact])
			}
		}
	}
	return h
}

// unspacedAt adds the concepts of the forms that start at w[i], a rune of
// a script written without spaces.
func (m *conceptMatcher) unspacedAt(w []rune, i int, set *conceptSet) {
	h := uint64(fnv64Offset)
	for j := i; j < len(w) && j < i+m.maxUnspace && unspaced(w[j]); j++ {
		h = (h ^ uint64(w[j])) * fnv64Prime
		if wd, bits := bloom2(h, termShift); m.term[wd]&bits == bits {
			if s := m.lookup(h); s != nil {
				set.or(m.sets[s.stem])
			}
		}
	}
}

func (m *conceptMatcher) startsInfix(r rune) bool {
	if r < 128 {
		return m.infixASCII[r>>6]&(1<<(r&63)) != 0
	}
	return len(m.infixFirst) > 0 && m.infixFirst[r]
}

// conceptDim is the size of the concept head for n concepts: a weight per
// concept and per ordered pair (only a < b is used; the square keeps the
// index arithmetic plain).
func conceptDim(n int) int {
	if n == 0 {
		return 0
	}
	return n + n*n
}

// dense calls f with the concept head's index of every feature of a set
// of n concepts: each concept, and each unordered pair.
func (set conceptSet) dense(n int, f func(i int)) {
	var ids [maxConcepts]uint8
	k := set.ids(&ids)
	for a := 0; a < k; a++ {
		f(int(ids[a]))
		for b := a + 1; b < k; b++ {
			f(n + int(ids[a])*n + int(ids[b]))
		}
	}
}

func (set conceptSet) ids(ids *[maxConcepts]uint8) int {
	n := 0
	for b := range 2 {
		for v := set[b]; v != 0; v &= v - 1 {
			ids[n] = uint8(b*64 + bits.TrailingZeros64(v))
			n++
		}
	}
	return n
}

// each calls f with the hash of every concept feature of a set: each
// concept, and each unordered pair.
func (set conceptSet) each(f func(h uint32)) {
	var ids [maxConcepts]uint8
	n := set.ids(&ids)
	for a := 0; a < n; a++ {
		f((saltConcept ^ uint32(ids[a])) * fnvPrime)
		for b := a + 1; b < n; b++ {
			f(((saltConceptPair ^ uint32(ids[a])<<8 ^ uint32(ids[b])) * fnvPrime) ^ saltConceptPair)
		}
	}
}
