package classify

import "encoding/binary"

// The harm head's hot path. Most features of most texts are character
// 4-grams of ASCII: 28 runes (space, '0', 'a'-'z') after folding, so
// 28⁴ 4-grams. For models with 4-grams (the default features) Load
// computes the harm weight of each of them once, into a table indexed by
// the 4-gram's symbols (5 bits each), and a window of ASCII pays one table
// read per position instead of four multiplies and a read. The table is a
// cache of the model's weights, no new parameter: every entry is
// harm[(hash(4-gram) ^ 4<<24) & mask], as featureSet.hashes would hash it.

const g4Bits = 4 * 5

// g4Table: the harm weights of the ASCII 4-grams.
type g4Table [1 << g4Bits]int16

// symRunes are the runes of the ASCII symbols.
var symRunes = func() (r [symASCII]rune) {
	for i := range r {
		r[i] = -1
	}
	for c := range rune(128) {
		if e := asciiFold[c]; e != 0 {
			r[e>>8] = rune(e & 0xFF)
		}
	}
	return r
}()

func buildG4(harm []int16, mask uint32) *g4Table {
	var syms []uint32
	for s, r := range symRunes {
		if r >= 0 {
			syms = append(syms, uint32(s))
		}
	}
	g := new(g4Table)
	for _, s0 := range syms {
		h0 := (saltChar ^ uint32(symRunes[s0])) * fnvPrime
		for _, s1 := range syms {
			h1 := (h0 ^ uint32(symRunes[s1])) * fnvPrime
			for _, s2 := range syms {
				h2 := (h1 ^ uint32(symRunes[s2])) * fnvPrime
				for _, s3 := range syms {
					h3 := (h2 ^ uint32(symRunes[s3])) * fnvPrime
					g[s0<<15|s1<<10|s2<<5|s3] = harm[(h3^4<<24)&mask]
				}
			}
		}
	}
	return g
}

// scorer is the per-call state of Score, pooled: the scanner and two
// window buffers, the one being scored and the best so far (kept for the
// category head).
type scorer struct {
	sc        scanner
	cur, best windowBuf
	hashes    []uint32 // the category head's features
	catSums   []int64
}

// sums returns k zeroed sums.
func (sr *scorer) sums(k int) []int64 {
	if cap(sr.catSums) < k {
		sr.catSums = make([]int64, k)
	}
	s := sr.catSums[:k]
	clear(s)
	return s
}

// prepare readies a model with its weights for scoring: Load and Train
// call it, and it must run again should the weights ever change (the
// tables it builds are derived from them).
func (m *Model) prepare() {
	fs := m.h.Features
	m.pool.New = func() any { return &scorer{cur: newWindowBuf(fs.MaxRunes), best: newWindowBuf(fs.MaxRunes)} }
	m.bmp = foldBMP()
	m.g4 = nil
	if fs.CharMin == 4 && fs.CharMax == 4 {
		m.g4 = buildG4(m.harm, m.mask)
	}
	m.cm = nil
	if len(m.h.Concepts) > 0 {
		m.cm = newConceptMatcher(m.h.Concepts)
	}
	m.catw = nil
	if rows := len(m.cat) / m.nCat; m.nCat <= 2*catWords && rows <= 1<<16 {
		m.catw = buildCatWords(m.cat, m.nCat, rows)
	}
}

// The category head adds a row of nCat weights per feature. With up to 16
// categories a row is also kept as catWords words of two 32-bit lanes,
// each lane a weight + 1<<15 (never negative): eight adds a feature
// instead of sixteen, into sums that stay in registers. A lane holds the
// sum of 65536 features without carrying into the next one.
const (
	catWords    = 8
	catBias     = 1 << 15
	catMaxFeats = 1 << 16
)

func buildCatWords(cat []int16, k, rows int) []uint64 {
	cw := make([]uint64, rows*catWords) // a row is 64 bytes, one cache line
	for r := range rows {
		for j := range k {
			cw[r*catWords+j/2] |= uint64(int32(cat[r*k+j])+catBias) << (32 * (j % 2))
		}
		for j := k; j < 2*catWords; j++ {
			cw[r*catWords+j/2] |= uint64(catBias) << (32 * (j % 2)) // so every lane counts n × catBias
		}
	}
	return cw
}

// catSumsWords sets sums to the category head's sums over hashes, from
// m.catw.
func (m *Model) catSumsWords(sums []int64, hashes []uint32) {
	cw, cmask := m.catw, m.cmask
	var a0, a1, a2, a3, a4, a5, a6, a7 uint64
	for _, h := range hashes {
		r := cw[int(h&cmask)*catWords:][:catWords]
		a0 += r[0]
		a1 += r[1]
		a2 += r[2]
		a3 += r[3]
		a4 += r[4]
		a5 += r[5]
		a6 += r[6]
		a7 += r[7]
	}
	acc := [catWords]uint64{a0, a1, a2, a3, a4, a5, a6, a7}
	off := int64(len(hashes)) * catBias
	for j := range sums {
		sums[j] = int64(uint32(acc[j/2]>>(32*(j%2)))) - off
	}
}

// windowSum is harmSum for a window the scanner folded, with the fastest
// kernel that applies.
func (m *Model) windowSum(w []rune, s []byte, words []uint32, ascii bool) (int64, int) {
	switch {
	case m.g4 == nil:
		return m.harmSum(w)
	case ascii:
		return m.harmSumASCII(w, s, words)
	}
	return m.harmSum4(w, s)
}

// harmSumASCII is harmSum of a window of 4-grams whose runes are all ASCII.
func (m *Model) harmSumASCII(w []rune, s []byte, words []uint32) (sum int64, n int) {
	sum, n = m.harmSumASCII4(w, s)
	if m.h.Features.Words == 0 {
		return sum, n
	}
	ws, wn := m.wordSumASCII(w, words)
	return sum + ws, n + wn
}

// harmSumASCII4 adds the 4-grams of an ASCII window.
func (m *Model) harmSumASCII4(w []rune, s []byte) (sum int64, n int) {
	if len(w) >= 4 {
		g := m.g4[:] // a slice: no nil check in the loop
		s := s[:len(w)]
		code := uint32(s[0])<<10 | uint32(s[1])<<5 | uint32(s[2])
		for _, c := range s[3:] {
			code = code<<5 | uint32(c)
			sum += int64(g[code&(1<<g4Bits-1)])
		}
		n = len(w) - 3
	}
	return sum, n
}

// wordSumASCII adds the word n-grams of an ASCII window: no unspaced
// scripts, and no two spaces in a row. The words are hashed into words
// (room for len(w)/2+1) first, and their weights added after, so that the
// loop over runes carries little.
func (m *Model) wordSumASCII(w []rune, words []uint32) (sum int64, n int) {
	words = words[:len(w)/2+1]
	k := 0
	h, in := uint32(2166136261), false
	for _, c := range w {
		if c != ' ' {
			h = (h ^ uint32(c)) * fnvPrime
			in = true
			continue
		}
		if in {
			words[k] = h
			k++
		}
		h, in = 2166136261, false
	}
	if in {
		words[k] = h
		k++
	}
	harm, mask := m.harm, m.mask
	for _, h := range words[:k] {
		sum += int64(harm[(h^saltWord)&mask])
	}
	n = k
	if m.h.Features.Words >= 2 && k > 1 {
		prev := words[0]
		for _, h := range words[1:k] {
			sum += int64(harm[((prev*fnvPrime^h)^saltWord2)&mask])
			prev = h
		}
		n += k - 1
	}
	return sum, n
}

// harmSum4 is harmSum of a window of 4-grams with runes of any kind: the
// table for the 4-grams of ASCII, hashing for the others.
func (m *Model) harmSum4(w []rune, s []byte) (sum int64, n int) {
	harm, mask, g := m.harm, m.mask, m.g4
	s = s[:len(w)]
	i := 0
	for ; i+3 < len(w); i++ {
		if binary.LittleEndian.Uint32(s[i:])&0xE0E0E0E0 == 0 {
			sum += int64(g[uint32(s[i])<<15|uint32(s[i+1])<<10|uint32(s[i+2])<<5|uint32(s[i+3])])
			continue
		}
		h := (saltChar ^ uint32(w[i])) * fnvPrime
		if s[i] == symUnspaced {
			sum += int64(harm[(h^1<<24)&mask])
			n++
		}
		h = (h ^ uint32(w[i+1])) * fnvPrime
		h = (h ^ uint32(w[i+2])) * fnvPrime
		h = (h ^ uint32(w[i+3])) * fnvPrime
		sum += int64(harm[(h^4<<24)&mask])
	}
	n += i
	for ; i < len(w); i++ {
		if s[i] == symUnspaced {
			sum += int64(harm[((saltChar^uint32(w[i]))*fnvPrime^1<<24)&mask])
			n++
		}
	}
	if m.h.Features.Words == 0 {
		return sum, n
	}
	bigrams := m.h.Features.Words >= 2
	var prev uint32
	have := false
	word := func(h uint32) {
		sum += int64(harm[(h^saltWord)&mask])
		n++
		if bigrams && have {
			sum += int64(harm[((prev*fnvPrime^h)^saltWord2)&mask])
			n++
		}
		prev, have = h, true
	}
	h, in := uint32(2166136261), false
	for i, c := range w {
		switch {
		case c == ' ':
			if in {
				word(h)
			}
			h, in = 2166136261, false
		case s[i] == symUnspaced:
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
	return sum, n
}
