package detect

import (
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The normalised form is a byte string over a small alphabet: lower-case
// a-z and 0-9 make up tokens, '#' stands for a letter of another script,
// ' ' separates tokens and '.' marks a sentence break (its own token). Word
// lists are normalised the same way, so every quirk below (squeezed
// repeats, leetspeak) applies to both sides alike and operators write plain
// spelling in lexicon.json.

const (
	sepNone  = 0 // no separator seen since the last token
	sepSoft  = 1 // a single space, dot, hyphen, underscore or asterisk: may rejoin s p a c e d letters
	sepHard  = 2 // anything else between tokens
	sepBreak = 3 // end of a sentence
)

// normalizer turns text into the normalised form in one pass. It is reused
// (see the scanner pool), so Normalize allocates nothing once warm.
type normalizer struct {
	out []byte
	tok []byte // the current token, before leetspeak and squeezing

	tokLetters bool // tok holds at least one letter
	tokConf    bool // tok holds a look-alike folded to Latin
	tokForeign bool // tok holds a letter of another script ('#')
	tokASCII   bool // tok holds an ASCII letter
	sep        int  // strongest separator since the last emitted token
	sepCount   int  // separator characters since the last token
	pendBreak  bool
	// a sentence break before the first token, and one after the last (or,
	// with no token, anywhere): how the text meets its neighbours
	leadBreak, trailBreak bool
	// a run of single letters ("b o m b", "b.o.m.b", "b, o, m, b"): where it
	// starts in out, how many letters it has and how many separator
	// characters its first gap had; joined into one token from 3 letters on.
	runStart int
	runLen   int
	runGap   int

	// decoding of encoded spans (decode.go): the nesting depth, the bytes
	// decoded so far and the budget (the input's size), one buffer per
	// depth, and the top-level decoded spans (byte ranges of out)
	depth           int
	decoded, budget int
	dec             [maxDecodeDepth][]byte
	spans           [][2]int
}

// maxRunGap is the widest gap (in separator characters) between two letters
// of a run of single letters.
const maxRunGap = 3

// Normalize returns the normalised form of s (see the package doc in
// docs/detection.md). It is exported for tests, the fuzz target and tools.
func Normalize(s string) string {
	var n normalizer
	n.reset()
	n.add(s)
	n.finish()
	return string(n.out)
}

func (n *normalizer) reset() {
	n.out = n.out[:0]
	n.tok = n.tok[:0]
	n.tokLetters = false
	n.tokConf, n.tokForeign, n.tokASCII = false, false, false
	n.sep = sepNone
	n.sepCount = 0
	n.pendBreak = false
	n.leadBreak, n.trailBreak = false, false
	n.runStart, n.runLen = -1, 0
	n.depth, n.decoded, n.budget = 0, 0, 0
	n.spans = n.spans[:0]
}

// separate ends one text (message) as if a sentence ended there.
func (n *normalizer) separate() {
	n.flush()
	n.noteSep(sepBreak)
}

func (n *normalizer) finish() {
	n.flush()
	// a trailing break is not part of the form, but it tells how the text
	// meets the next
	n.trailBreak = n.pendBreak
	n.pendBreak = false
}

func (n *normalizer) noteSep(kind int) {
	if kind > n.sep {
		n.sep = kind
	}
	n.sepCount++
	if kind == sepBreak {
		n.pendBreak = true
	}
}

// wholeWord takes the plain ASCII word starting at s[i] in one go when no
// token is open (see word), and a single space after it; it returns where
// to go on, or 0 when the word needs the byte-by-byte path.
func (n *normalizer) wholeWord(s string, i int) int {
	if len(n.tok) != 0 {
		return 0
	}
	j := n.word(s, i)
	if j > 0 && s[j] == ' ' {
		// what the space case does after a flushed word
		n.sep, n.sepCount = sepSoft, 1
		j++
	}
	return j
}

// add appends one text.
func (n *normalizer) add(s string) {
	if n.depth == 0 {
		n.budget += len(s)
	}
	checked := 0 // encoded spans have been looked for up to here
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z':
				if j := n.wholeWord(s, i-1); j > 0 {
					i = j
					continue
				}
				if len(n.tok) == 0 && i-1 >= checked && mayEncode(s, i-1) {
					var j int
					if j, checked = n.tryDecode(s, i-1); j > 0 {
						i = j
						continue
					}
				}
				// a run of lower-case letters goes in at once
				j := i
				for j < len(s) && 'a' <= s[j] && s[j] <= 'z' {
					j++
				}
				n.tokRun(s[i-1 : j])
				n.tokASCII = true
				i = j
			case '0' <= c && c <= '9':
				if len(n.tok) == 0 && i-1 >= checked && mayEncode(s, i-1) {
					var j int
					if j, checked = n.tryDecode(s, i-1); j > 0 {
						i = j
						continue
					}
				}
				n.tokByte(c)
			case 'A' <= c && c <= 'Z':
				if j := n.wholeWord(s, i-1); j > 0 {
					i = j
					continue
				}
				if len(n.tok) == 0 && i-1 >= checked && mayEncode(s, i-1) {
					var j int
					if j, checked = n.tryDecode(s, i-1); j > 0 {
						i = j
						continue
					}
				}
				n.tokByte(c + 'a' - 'A')
				n.tokASCII = true
			case c == '\'':
				i = n.apostrophe(s, i)
			case c == '@' || c == '$' || c == '!' || c == '|':
				// leetspeak only inside a word: "b@mb", "$teal", "k!ll"
				if len(n.tok) > 0 && i < len(s) && isWordByte(s[i]) || len(n.tok) == 0 && i < len(s) && isLetterByte(s[i]) && c != '!' {
					n.tokByte(c)
				} else {
					n.flush()
					if c == '!' {
						n.noteSep(sepBreak)
					} else {
						n.noteSep(sepHard)
					}
				}
			case c == '.':
				n.flush()
				// "b.o.m.b" and "e.g" keep going; ". " ends a sentence
				if i < len(s) && isWordByte(s[i]) {
					n.noteSep(sepSoft)
				} else {
					n.noteSep(sepBreak)
				}
			case c == '?' || c == ';' || c == '\n':
				n.flush()
				n.noteSep(sepBreak)
			case c == ' ' || c == '-' || c == '_' || c == '*':
				n.flush()
				n.noteSep(sepSoft)
			case vanishes(c):
				// a control character (NUL, ESC, ...) vanishes like a
				// format character: it does not split a word
			default:
				n.flush()
				n.noteSep(sepHard)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == '\u2019' || r == '\u02bc' { // typographic apostrophes
			i = n.apostrophe(s, i)
			continue
		}
		n.rune(r)
	}
}

// endsToken marks the ASCII bytes whose first effect in add is to flush the
// current token: everything but letters, digits, the apostrophe and the
// leetspeak symbols, which may continue a word.
var endsToken = func() (t [256]bool) {
	for c := 0; c < utf8.RuneSelf; c++ {
		b := byte(c)
		t[c] = !isLetterByte(b) && !('0' <= b && b <= '9') && b != '\'' && b != '@' && b != '$' && b != '!' && b != '|' && !vanishes(b)
	}
	return
}()

// vanishes reports the ASCII control characters that vanish like format
// characters (NUL, ESC, DEL, ...): all but the white-space ones.
func vanishes(c byte) bool {
	return c < ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' || c == 0x7f
}

// endsWord is endsToken less the bytes that continue base64 ('+', '/',
// '='): a word the fast path takes is never part of an encoded span.
var endsWord = func() (t [256]bool) {
	t = endsToken
	t['+'], t['/'], t['='] = false, false, false
	return
}()

var asciiLetter = func() (t [256]bool) {
	for c := range t {
		t[c] = isLetterByte(byte(c))
	}
	return
}()

// word is the fast path for the commonest token: a run of 2 to maxToken
// ASCII letters starting at i, with no token pending, ended by a byte that
// flushes. It does in one pass what tokRun or tokByte and then flush do
// with it: fold case, squeeze repeats, append to out. (Letters are never
// leetspeak, and a word of two letters or more never joins a run of spaced
// letters.) It returns the run's end, or 0 (and changes nothing) when the
// run is anything else and must take the general path.
func (n *normalizer) word(s string, i int) int {
	base := len(n.out)
	sep := 0
	if base > 0 {
		sep = 1
		if n.pendBreak {
			sep = 3
		}
	} else if n.pendBreak {
		n.leadBreak = true
	}
	out := slices.Grow(n.out, sep+maxToken)
	buf := out[:base+sep+maxToken]
	p := base + sep
	prev := byte(0)
	j := i
	for j < len(s) && asciiLetter[s[j]] {
		if j-i == maxToken {
			n.out = out[:base]
			return 0
		}
		c := s[j] | 0x20 // ASCII letters: lower case
		if c != prev {
			buf[p] = c
			p++
			prev = c
		}
		j++
	}
	if j-i < 2 || j == len(s) || !endsWord[s[j]] || j-i >= minEncoded {
		// (a long run, or one that goes on in base64, may be an encoded span)
		n.out = out[:base]
		return 0
	}
	switch sep {
	case 1:
		buf[base] = ' '
	case 3:
		buf[base], buf[base+1], buf[base+2] = ' ', '.', ' '
	}
	n.out = buf[:p]
	n.pendBreak = false
	n.sep, n.sepCount = sepNone, 0
	n.runStart, n.runLen = -1, 0
	return j
}

func isLetterByte(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isWordByte(c byte) bool   { return isLetterByte(c) || '0' <= c && c <= '9' || c >= utf8.RuneSelf }

// apostrophe handles ' after the current token. The possessive s becomes a
// token of its own ("cleaner's" → "cleaner s", "celebrities'" → "celebrities
// s") so rules can tell "my neighbour's address" from "my address"; a
// contraction is joined ("don't" → "dont"); anything else separates. i is
// just past the apostrophe; it returns the next index to read.
func (n *normalizer) apostrophe(s string, i int) int {
	if len(n.tok) == 0 {
		n.noteSep(sepHard)
		return i
	}
	if i < len(s) && (s[i] == 's' || s[i] == 'S') && (i+1 >= len(s) || !isWordByte(s[i+1])) {
		n.possessive()
		return i + 1
	}
	if (i >= len(s) || !isWordByte(s[i])) && n.tok[len(n.tok)-1] == 's' {
		n.possessive() // plural possessive
		return i
	}
	if i >= len(s) || !isLetterByte(s[i]) {
		n.flush()
		n.noteSep(sepHard)
	}
	return i
}

// possessive ends the current token and emits the possessive "s" token,
// which never joins a run of spaced letters.
func (n *normalizer) possessive() {
	n.flush()
	if len(n.out) > 0 {
		n.out = append(n.out, ' ')
	} else if n.pendBreak {
		n.leadBreak, n.pendBreak = true, false
	}
	n.out = append(n.out, 's')
	n.runStart, n.runLen = -1, 0
	n.sep, n.sepCount = sepHard, 1
}

// invisible reports the characters that vanish without separating a word,
// by Unicode property rather than by a list: format characters (Cf: ZWSP,
// ZWJ, BOM, soft hyphen, bidi controls, tags, U+1D173..U+1D17A musical
// formatting), controls (Cc) that are not white space (NUL, C1 controls),
// other default-ignorable code points (Hangul fillers, CGJ, Khmer inherent
// vowels) and variation selectors.
func invisible(r rune) bool {
	if unicode.IsSpace(r) {
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Cc, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// confusable returns the ASCII letters a look-alike imitates (Cyrillic а →
// "a", Latin small capital ᴀ → "a", Armenian օ → "o", Cherokee Ꭺ → "a"),
// from the table generated from Unicode's TR39 confusables data
// (confusables_table.go); "" when r is not one.
func confusable(r rune) string {
	i, ok := slices.BinarySearch(confusableRunes[:], r)
	if !ok {
		return ""
	}
	return confusableLatin[i]
}

//go:generate go run ./internal/genconfusables

// enclosed maps circled, parenthesised, squared and regional-indicator
// letters (Ⓑ, ⓑ, ⒝, 🄱, 🅑, 🅱, 🇧) to their ASCII letter; 0 otherwise. They
// are symbols, not letters, so NFKD alone does not reach all of them.
func enclosed(r rune) byte {
	switch {
	case 0x24B6 <= r && r <= 0x24CF: // circled capital
		return byte('a' + r - 0x24B6)
	case 0x24D0 <= r && r <= 0x24E9: // circled small
		return byte('a' + r - 0x24D0)
	case 0x249C <= r && r <= 0x24B5: // parenthesised small
		return byte('a' + r - 0x249C)
	case 0x1F110 <= r && r <= 0x1F129: // parenthesised capital
		return byte('a' + r - 0x1F110)
	case 0x1F130 <= r && r <= 0x1F149: // squared
		return byte('a' + r - 0x1F130)
	case 0x1F150 <= r && r <= 0x1F169: // negative circled
		return byte('a' + r - 0x1F150)
	case 0x1F170 <= r && r <= 0x1F189: // negative squared
		return byte('a' + r - 0x1F170)
	case 0x1F1E6 <= r && r <= 0x1F1FF: // regional indicators
		return byte('a' + r - 0x1F1E6)
	}
	return 0
}

// rune folds one non-ASCII rune.
func (n *normalizer) rune(r rune) {
	switch {
	case invisible(r):
		return
	case 0xFF01 <= r && r <= 0xFF5E: // fullwidth ASCII
		n.add(string(rune(r - 0xFEE0)))
		return
	case r == 0x3000: // ideographic space
		n.flush()
		n.noteSep(sepSoft)
		return
	}
	if c := enclosed(r); c != 0 {
		n.tokByte(c)
		return
	}
	if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) {
		return // a combining mark on the previous letter
	}
	if c := confusable(r); c != "" {
		// a look-alike (the table holds no rune that the compatibility
		// decomposition below turns into ASCII, so the order is free)
		for i := 0; i < len(c); i++ {
			n.tokByte(c[i])
		}
		n.tokConf = true
		return
	}
	if unicode.IsLetter(r) || unicode.IsNumber(r) {
		// compatibility decomposition: é → e, ﬁ → fi, 𝐛 → b, ⓑ → b
		// The table's decomposition of the rune, read in place: Append
		// allocates a reorder buffer per call, here for every letter of
		// most scripts. Its ASCII is Append's for every letter and number
		// (TestDecompositionInPlace).
		var enc [utf8.UTFMax]byte
		w := utf8.EncodeRune(enc[:], r)
		d := norm.NFKD.Properties(enc[:w]).Decomposition()
		if d == nil {
			d = enc[:w] // decomposes to itself
		}
		any := false
		for _, c := range d {
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				n.tokByte(c)
				any = true
			case 'A' <= c && c <= 'Z':
				n.tokByte(c + 'a' - 'A')
				any = true
			}
		}
		if !any {
			// ß has no ASCII decomposition but is common enough
			if r == 'ß' {
				n.tokByte('s')
				n.tokByte('s')
				return
			}
			n.tokByte('#')
			n.tokForeign = true
		}
		return
	}
	if unicode.IsSpace(r) {
		n.flush()
		n.noteSep(sepSoft)
		return
	}
	switch r {
	case '。', '！', '？', '…':
		n.flush()
		n.noteSep(sepBreak)
		return
	}
	n.flush()
	n.noteSep(sepHard)
}

func (n *normalizer) tokByte(c byte) {
	if len(n.tok) >= maxToken {
		// a pathological "word" of megabytes: cut it so buffers stay bounded
		n.flush()
		n.noteSep(sepHard)
	}
	n.tok = append(n.tok, c)
	if 'a' <= c && c <= 'z' || c == '#' {
		n.tokLetters = true
	}
}

// tokRun appends a run of lower-case ASCII letters.
func (n *normalizer) tokRun(run string) {
	for len(run) > 0 {
		room := maxToken - len(n.tok)
		if room <= 0 {
			n.flush()
			n.noteSep(sepHard)
			room = maxToken
		}
		k := min(room, len(run))
		n.tok = append(n.tok, run[:k]...)
		n.tokLetters = true
		run = run[k:]
	}
}

// maxToken bounds one token; longer runs are split.
const maxToken = 64

// leet maps leetspeak characters inside a word that has letters.
var leet = [256]byte{'0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', '$': 's', '!': 'i', '|': 'l'}

// flush emits the current token: leetspeak, squeezing, spaced-letter rejoin.
func (n *normalizer) flush() {
	if len(n.tok) == 0 {
		return
	}
	tok := n.tok
	// trailing symbols are punctuation, not leetspeak
	for len(tok) > 0 && (tok[len(tok)-1] == '@' || tok[len(tok)-1] == '$' || tok[len(tok)-1] == '!' || tok[len(tok)-1] == '|') {
		tok = tok[:len(tok)-1]
	}
	letters := n.tokLetters
	if n.tokConf && n.tokForeign && !n.tokASCII {
		// letters of another script that include look-alikes, and no Latin
		// letter, are a word of that script ("пожалуйста"), not a
		// disguised Latin word
		tok = tok[:1]
		tok[0] = '#'
	}
	n.tok = n.tok[:0]
	n.tokLetters = false
	n.tokConf, n.tokForeign, n.tokASCII = false, false, false
	if len(tok) == 0 {
		return
	}
	single := len(tok) == 1 && letters
	// a run of single letters goes on across any gap of spaces, punctuation
	// and symbols (no sentence end) up to maxRunGap characters, as long as
	// the gap is no wider than the run's first: "s a r i n  g a s" is two
	// words, and so is "a  b o m b"
	if single && n.runLen == 2 && !n.pendBreak && n.sepCount < n.runGap {
		// a narrower gap after the first one: the first letter was a word
		// of its own ("a   b o m b"); the run starts at the second
		n.runStart, n.runLen = len(n.out)-1, 1
	}
	if single && n.runLen > 0 && !n.pendBreak && n.sepCount <= maxRunGap && (n.runLen == 1 || n.sepCount <= n.runGap) {
		// continue a run of single letters
		if n.runLen == 1 {
			n.runGap = n.sepCount
		}
		n.runLen++
		if n.runLen == 3 {
			// join the run so far: "x y" + "z" → "xyz"
			w := n.runStart
			for r := n.runStart; r < len(n.out); r++ {
				if n.out[r] != ' ' && (w == n.runStart || n.out[w-1] != n.out[r]) {
					n.out[w] = n.out[r]
					w++
				}
			}
			n.out = n.out[:w]
		}
		if n.runLen >= 3 {
			c := tok[0]
			if n.out[len(n.out)-1] != c {
				n.out = append(n.out, c)
			}
			n.sep, n.sepCount = sepNone, 0
			return
		}
		n.out = append(n.out, ' ', tok[0])
		n.sep, n.sepCount = sepNone, 0
		return
	}
	// leetspeak and squeezing, in place (the write index never passes the read index)
	w := 0
	for _, c := range tok {
		if m := leet[c]; m != 0 {
			if letters {
				c = m
			} else if c > '9' || c < '0' {
				continue // a lone symbol
			}
		}
		// squeeze repeated letters: "kiiill" → "kil", "bomb" stays; digits
		// are kept ("77 year old" is not "7 year old")
		if w > 0 && tok[w-1] == c && (c < '0' || c > '9') {
			continue
		}
		tok[w] = c
		w++
	}
	tok = tok[:w]
	if len(tok) == 0 {
		return
	}
	if len(n.out) > 0 {
		if n.pendBreak {
			n.out = append(n.out, ' ', '.', ' ')
		} else {
			n.out = append(n.out, ' ')
		}
	} else if n.pendBreak {
		n.leadBreak = true
	}
	n.pendBreak = false
	n.sep, n.sepCount = sepNone, 0
	if single {
		n.runStart, n.runLen = len(n.out), 1
	} else {
		n.runStart, n.runLen = -1, 0
	}
	n.out = append(n.out, tok...)
}
