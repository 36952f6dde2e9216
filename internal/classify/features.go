package classify

import (
	"unicode"
	"unicode/utf8"
)

// Features are hashed: every character n-gram and word n-gram of the
// folded text becomes a 32-bit hash, and the model keeps one weight per
// hash bucket. Character n-grams are what let one small model read 30-odd
// languages (and words cut or spelled oddly); word n-grams carry the
// phrasing of requests. Nothing of the text is kept.

// featureSet says which n-grams are hashed. It is part of the model file,
// so a model is always read with the features it was trained on.
type FeatureSet = featureSet

type featureSet struct {
	CharMin  int `json:"char_min"`  // shortest character n-gram (over folded text, spaces included)
	CharMax  int `json:"char_max"`  // longest character n-gram
	Words    int `json:"words"`     // word n-grams up to this length (0: none)
	MaxRunes int `json:"max_runes"` // a window: longer texts are scored window by window
}

// defaultFeatures were chosen by leave-one-source-out evaluation
// (docs/detection.md): longer character n-grams memorise sources, shorter
// ones cannot tell a request from a mention.
// DefaultFeatures is the feature set of new models.
func DefaultFeatures() FeatureSet { return defaultFeatures }

var defaultFeatures = featureSet{CharMin: 4, CharMax: 4, Words: 2, MaxRunes: 2048}

// Salts keep the hash spaces of the feature kinds apart.
const (
	saltChar  = 0x9e3779b9
	saltWord  = 0x85ebca6b
	saltWord2 = 0xc2b2ae35
	fnvPrime  = 16777619
)

// fold maps a rune to its canonical form for the features: lower case,
// fullwidth forms to ASCII, every digit to '0', letters and marks kept (the
// vowel signs of Indic scripts are marks), format and control characters
// dropped (-1), everything else a word break (' ').
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		case '0' <= r && r <= '9':
			return '0'
		case r == '\'':
			return -1 // don't, it's: one word
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return -1
		}
		return ' '
	}
	if 0xFF01 <= r && r <= 0xFF5E { // fullwidth ASCII
		return fold(r - 0xFEE0)
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

// unspaced reports scripts written without spaces between words: each of
// their characters is a word for the word n-grams.
func unspaced(r rune) bool {
	if r < 0x0E00 {
		return false
	}
	if r < 0x10000 {
		return unspacedBMP[r>>6]&(1<<(r&63)) != 0
	}
	return unspacedScript(r)
}

func unspacedScript(r rune) bool {
	// The prolonged sound mark (ー, and its halfwidth form) is of the
	// Common script but only ever written inside kana words (パスワード).
	return r == 0x30FC || r == 0xFF70 ||
		unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

// unspacedBMP is unspacedScript over the Basic Multilingual Plane, a bit
// per rune (8 KiB): the script tables are slow to search for every rune.
var unspacedBMP = func() (t [0x10000 / 64]uint64) {
	for r := rune(0x0E00); r < 0x10000; r++ {
		if unspacedScript(r) {
			t[r>>6] |= 1 << (r & 63)
		}
	}
	return t
}()

// folder folds whole texts for training (Prepare). A folded text is runes
// with single spaces and a space at each end; Score folds the same windows
// one at a time with a scanner (scan.go), and the tests hold the two equal.
type folder struct {
	runes []rune
}

// windows folds text and calls f for each window of at most fs.MaxRunes
// folded runes, back to back. A text shorter than one window is one window.
func (fo *folder) windows(fs featureSet, text string, f func(w []rune)) {
	r := fo.runes[:0]
	r = append(r, ' ')
	for i := 0; i < len(text); {
		c := rune(text[i])
		if c < utf8.RuneSelf {
			i++
		} else {
			var size int
			c, size = utf8.DecodeRuneInString(text[i:])
			i += size
		}
		c = fold(c)
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
	fo.runes = r
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

// hashes calls emit with the hash of every feature of one folded window.
// Model.harmSum is the same walk, inlined for the hot path;
// TestHarmSumEqualsHashes keeps the two equal.
func (fs featureSet) hashes(w []rune, emit func(h uint32)) {
	// Character n-grams.
	for i := range w {
		h := uint32(saltChar)
		for n := 1; n <= fs.CharMax && i+n <= len(w); n++ {
			h = (h ^ uint32(w[i+n-1])) * fnvPrime
			if n >= fs.CharMin || (n == 1 && unspaced(w[i])) {
				emit(h ^ uint32(n)<<24)
			}
		}
	}
	if fs.Words == 0 {
		return
	}
	// Word n-grams: words are runs between spaces; in unspaced scripts
	// every character is a word.
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
		case c >= 0x0E00 && unspaced(c):
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

// appendHashes appends the hash of every feature of w to dst, in the order
// of hashes; no call per feature.
func (fs featureSet) appendHashes(dst []uint32, w []rune) []uint32 {
	// At most CharMax n-grams and an unspaced character per position, and
	// a word and a bigram per position.
	bound := len(w) * (max(fs.CharMax, 1) + 3)
	if cap(dst)-len(dst) < bound {
		dst = append(make([]uint32, 0, len(dst)+bound), dst...)
	}
	k := len(dst)
	out := dst[:cap(dst)]
	i0 := 0
	if fs.CharMin == 4 && fs.CharMax == 4 {
		// The default features: four multiplies a position, no inner loop.
		for ; i0+3 < len(w); i0++ {
			c := w[i0 : i0+4 : i0+4]
			h := (saltChar ^ uint32(c[0])) * fnvPrime
			if c[0] >= 0x0E00 && unspaced(c[0]) {
				out[k] = h ^ 1<<24
				k++
			}
			h = (h ^ uint32(c[1])) * fnvPrime
			h = (h ^ uint32(c[2])) * fnvPrime
			out[k] = (h^uint32(c[3]))*fnvPrime ^ 4<<24
			k++
		}
	}
	for i := i0; i < len(w); i++ {
		h := uint32(saltChar)
		last := min(fs.CharMax, len(w)-i)
		for n := 1; n <= last; n++ {
			h = (h ^ uint32(w[i+n-1])) * fnvPrime
			if n >= fs.CharMin || n == 1 && w[i] >= 0x0E00 && unspaced(w[i]) {
				out[k] = h ^ uint32(n)<<24
				k++
			}
		}
	}
	if fs.Words == 0 {
		return out[:k]
	}
	bigrams := fs.Words >= 2
	var prev uint32
	have := false
	h, in := uint32(2166136261), false
	for j := 0; j < len(w); j++ {
		c := w[j]
		uns := c >= 0x0E00 && unspaced(c)
		if c != ' ' && !uns {
			h = (h ^ uint32(c)) * fnvPrime
			in = true
			continue
		}
		if in {
			out[k] = h ^ saltWord
			k++
			if bigrams && have {
				out[k] = (prev*fnvPrime ^ h) ^ saltWord2
				k++
			}
			prev, have = h, true
		}
		if uns {
			h = (2166136261 ^ uint32(c)) * fnvPrime
			out[k] = h ^ saltWord
			k++
			if bigrams && have {
				out[k] = (prev*fnvPrime ^ h) ^ saltWord2
				k++
			}
			prev, have = h, true
		}
		h, in = 2166136261, false
	}
	if in {
		out[k] = h ^ saltWord
		k++
		if bigrams && have {
			out[k] = (prev*fnvPrime ^ h) ^ saltWord2
			k++
		}
	}
	return out[:k]
}
