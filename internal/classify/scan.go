package classify

import (
	"sync"
	"unicode/utf8"
)

// The scoring path folds a text window by window into a buffer of one
// window, instead of folding the whole text first: a megabyte costs the
// memory of one window, and the folded runes are still in the first level
// cache when the window is scored. The windows are exactly those of
// folder.windows (the reference in reference_test.go holds them equal).
//
// Beside each folded rune the scanner writes a symbol: for the 28 runes
// that ASCII folds to (space, '0', 'a'-'z') a number below symASCII, which
// the ASCII kernels index tables with; for any other rune symOther or
// symUnspaced, so the kernels need not call unicode.In.

// Symbols of folded runes.
const (
	symSpace    = 0  // ' '
	symDigit    = 27 // '0'
	symASCII    = 32 // symbols below it are the 28 ASCII runes; 5 bits each
	symOther    = 0x80
	symUnspaced = 0xC0 // a rune of a script without spaces (unspaced)
)

// asciiFold is fold over ASCII: the folded byte in the low byte (0: the
// byte is dropped) and its symbol in the high byte.
var asciiFold = func() (t [utf8.RuneSelf]uint16) {
	for b := range t {
		c := fold(rune(b))
		if c < 0 {
			continue
		}
		t[b] = uint16(symOf(c))<<8 | uint16(c)
	}
	return t
}()

// symOf is the symbol of a folded rune.
func symOf(c rune) byte {
	switch {
	case c == ' ':
		return symSpace
	case c == '0':
		return symDigit
	case 'a' <= c && c <= 'z':
		return byte(c-'a') + 1
	case unspaced(c):
		return symUnspaced
	}
	return symOther
}

// windowBuf holds one folded window: runes and their symbols, with one
// slot more than a window (a rune is known to start the next window only
// once it has been folded) and windowPad more, so kernels may read a few
// slots past the end of a window.
type windowBuf struct {
	runes []rune
	syms  []byte
	words []uint32   // the word kernel's hashes
	set   conceptSet // the window's concepts (with concepts), for the category head
}

const windowPad = 8

// newWindowBuf makes a buffer for windows of n runes, or of
// maxWindowBuf to begin with when n is larger (it grows when needed).
func newWindowBuf(n int) windowBuf {
	n = min(max(n, 64), maxWindowBuf) + 1 + windowPad
	return windowBuf{runes: make([]rune, n), syms: make([]byte, n), words: make([]uint32, n/2+1)}
}

const maxWindowBuf = 8192

// scanner cuts a text into folded windows of at most max runes.
type scanner struct {
	text  string
	i     int    // next byte of text
	max   int    // runes per window
	space uint32 // 1: the folded stream so far ends with a space
	first bool   // the next window is the text's first
	// A full window's successor begins with the rune folded after it.
	carry     bool
	carryRune rune
	carrySym  byte
	done      bool
	bmp       *bmpTable
}

// reset starts on text; max ≤ 0: the whole text is one window.
// bmp, if not nil, is foldBMP().
func (sc *scanner) reset(text string, max int, bmp *bmpTable) {
	if max <= 0 || max > len(text)+2 {
		max = len(text) + 2 // the folded stream has at most this many runes
	}
	*sc = scanner{text: text, max: max, first: true, bmp: bmp}
}

// bmpTable is fold and symOf over the basic multilingual plane, where
// nearly every rune of text is: the folded rune (bmpRune), bmpDrop for a
// rune fold drops, and the symbol in the top byte. unicode's tables are
// searched once a rune, not once a rune of every text.
type bmpTable [1 << 16]uint32

const (
	bmpRune = 1<<21 - 1
	bmpDrop = 1 << 21
)

var foldBMP = sync.OnceValue(func() *bmpTable {
	t := new(bmpTable)
	for r := range rune(len(t)) {
		c := fold(r)
		if c < 0 {
			t[r] = bmpDrop
			continue
		}
		t[r] = uint32(c) | uint32(symOf(c))<<24
	}
	return t
})

// next folds the next window into b, growing it when a window needs more
// room than it has. It returns the window's length (0: no window is left)
// and whether every rune of it is ASCII.
func (sc *scanner) next(b *windowBuf) (n int, ascii bool) {
	if sc.done {
		return 0, false
	}
	first := sc.first
	var or byte // the symbols of non-ASCII runes or-ed
	switch {
	case first:
		b.runes[0], b.syms[0], sc.space, n = ' ', symSpace, 1, 1
		sc.first = false
	case sc.carry:
		b.runes[0], b.syms[0], n = sc.carryRune, sc.carrySym, 1
		or = sc.carrySym
		sc.carry = false
	}
	text, i, space := sc.text, sc.i, sc.space
	for {
		lim := min(sc.max+1, len(b.runes)-windowPad)
		runes, syms := b.runes[:lim], b.syms[:lim]
		for n < len(runes) && i < len(text) {
			n, i, space = foldASCII(runes, syms, n, text, i, space)
			if n == len(runes) || i == len(text) {
				break
			}
			// A byte foldASCII left: not ASCII, dropped, or the last
			// for which the buffer surely had room.
			c, size := utf8.DecodeRuneInString(text[i:])
			i += size
			var s byte
			if c < 1<<16 && sc.bmp != nil {
				e := sc.bmp[c]
				if e&bmpDrop != 0 {
					continue
				}
				c, s = rune(e&bmpRune), byte(e>>24)
			} else {
				c = fold(c)
				if c < 0 {
					continue
				}
				s = symOf(c)
			}
			if c == ' ' && space == 1 {
				continue
			}
			runes[n], syms[n] = c, s
			or |= s
			n++
			space = 0
			if c == ' ' {
				space = 1
			}
		}
		if n == len(runes) && lim < sc.max+1 {
			b.grow(2 * lim)
			continue
		}
		if n < len(runes) && i == len(text) && space == 0 {
			// The stream ends with a space.
			runes[n], syms[n] = ' ', symSpace
			n++
			space = 1
		}
		break
	}
	sc.i, sc.space = i, space
	if n == sc.max+1 {
		// A full window, and a rune beyond it: the next window's first.
		sc.carry, sc.carryRune, sc.carrySym = true, b.runes[sc.max], b.syms[sc.max]
		return sc.max, or < symOther
	}
	sc.done = true
	if first && n == 1 {
		return 0, false // nothing but the leading space
	}
	return n, or < symOther
}

// grow makes room for n runes (and the padding), keeping the contents.
func (b *windowBuf) grow(n int) {
	nb := windowBuf{runes: make([]rune, n+windowPad), syms: make([]byte, n+windowPad), words: make([]uint32, (n+windowPad)/2+1)}
	copy(nb.runes, b.runes)
	copy(nb.syms, b.syms)
	*b = nb
}

// foldASCII folds ASCII bytes of text from i into runes and syms from n,
// until a byte is dropped or not ASCII, the text ends, or as many bytes as
// the buffer has room for are read. No branch on what a byte is: a space
// after a space is written and not counted.
func foldASCII(runes []rune, syms []byte, n int, text string, i int, space uint32) (int, int, uint32) {
	// prev is the symbol of the last rune, or 1 for any but a space: two
	// spaces in a row are prev|s == 0, and symbols are below 32.
	prev := 1 ^ space
	t := text[i:min(len(text), i+len(runes)-n)]
	r, y := runes[n:], syms[n:]
	y = y[:len(r)]
	fr, fs := &foldRune, &foldSym
	k, j := 0, 0
	for j < len(t) {
		b := t[j]
		s := uint32(fs[b])
		if s >= foldSpecial {
			break
		}
		r[k], y[k] = fr[b], byte(s)
		k += int((prev | s + symASCII - 1) / symASCII)
		prev = s
		j++
	}
	space = 0
	if prev == symSpace {
		space = 1
	}
	return n + k, i + j, space
}

// foldRune and foldSym are asciiFold for foldASCII: the folded rune of
// a byte and its symbol, or foldSpecial for bytes dropped or not ASCII.
var (
	foldRune [256]rune
	foldSym  [256]byte
)

const foldSpecial = 0x80

func init() {
	for b := range 256 {
		foldSym[b] = foldSpecial
		if b < utf8.RuneSelf && asciiFold[b] != 0 {
			foldRune[b], foldSym[b] = rune(asciiFold[b]&0xFF), byte(asciiFold[b]>>8)
		}
	}
}
