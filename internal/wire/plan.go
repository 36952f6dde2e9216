package wire

import (
	"bytes"
	"unsafe"
)

// A plan is what one quick pass over a body finds before it is parsed:
// how many values it holds and how many children each container has, in
// the order the parser meets them. With it the parser allocates its node
// and child tables once, at their exact size, and writes each container's
// children straight into their final place: no regrowth, no stack. Its
// memory is then a fixed number of bytes per value, whatever the body's
// shape (docs/security.md, "Bounded memory").
type plan struct {
	nodes  int     // values and keys
	strs   int     // non-empty string values (not keys): Texts at most
	keys   int     // object keys (checkDuplicates may index them in a map)
	counts []int32 // children per container (an object's keys and values), in pre-order
	conts  int     // containers (len(counts) when counted)
}

// Sizes of what a parse allocates per node, child and text (the parser's
// own tables and Request.Texts, spans and a Where per text).
const (
	nodeSize = int64(unsafe.Sizeof(node{}))
	kidSize  = int64(unsafe.Sizeof(int32(0)))
	textSize = int64(unsafe.Sizeof(Text{})) + kidSize + 24
	// counts grows while the plan is made: a slice grown by appends
	// allocates up to 5 times its final size in all.
	containerSize = 5 * kidSize
	keySize       = 48 // a map slot for a string key, with the map's overhead
)

// cost is an upper bound on the bytes ParseRequest allocates for the
// body planned (the texts' own bytes are views of the body, not copies).
func (p *plan) cost() int64 {
	return int64(p.nodes)*(nodeSize+kidSize) + int64(p.conts)*containerSize + int64(p.strs)*textSize + int64(p.keys)*keySize
}

// planDoc scans src. It does not validate: on a body the parser will
// refuse, counts may be off, and the parser stops with an error when a
// container does not hold what was counted. It stops at the first
// container nested past max, where the parser stops too. Without
// perContainer it only counts (no allocation but past 32 levels).
func planDoc(src []byte, max int, perContainer bool) *plan {
	p := &plan{}
	if perContainer {
		p.counts = make([]int32, 0, 16) // a chat request's containers, without regrowth
	}
	// open holds, per open container, its index in counts and whether it
	// is an object whose next string is a key.
	type level struct {
		ci  int32
		obj bool
		key bool
	}
	var fixed [32]level
	open := fixed[:0]
	child := func() {
		p.nodes++
		if n := len(open); n > 0 && perContainer {
			p.counts[open[n-1].ci]++
		}
	}
	for i := 0; i < len(src); {
		switch c := src[i]; c {
		case ' ', '\t', '\n', '\r', ':':
			i++
		case ',':
			if n := len(open); n > 0 && open[n-1].obj {
				open[n-1].key = true
			}
			i++
		case '{', '[':
			child()
			if n := len(open); n > 0 {
				open[n-1].key = false
			}
			if len(open) >= max {
				return p
			}
			open = append(open, level{ci: int32(p.conts), obj: c == '{', key: c == '{'})
			p.conts++
			if perContainer {
				p.counts = append(p.counts, 0)
			}
			i++
		case '}', ']':
			if n := len(open); n > 0 {
				open = open[:n-1]
			}
			i++
		case '"':
			isKey := false
			if n := len(open); n > 0 && open[n-1].key {
				isKey, open[n-1].key = true, false
			}
			child()
			j := closingQuote(src, i)
			if isKey {
				p.keys++
			} else if j > i+1 {
				p.strs++
			}
			i = j + 1
		default: // a number or literal (or junk the parser refuses)
			child()
			if n := len(open); n > 0 {
				open[n-1].key = false
			}
			for i < len(src) && !isDelim(src[i]) {
				i++
			}
		}
	}
	return p
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ':', '[', ']', '{', '}', '"':
		return true
	}
	return false
}

// closingQuote returns the offset of the quote that ends the string whose
// opening quote is at i (len(src) when it never ends).
func closingQuote(src []byte, i int) int {
	for {
		j := bytes.IndexByte(src[i+1:], '"')
		if j < 0 {
			return len(src)
		}
		i += j + 1
		k := i - 1
		for src[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i
		}
	}
}

// MaxParseFactor bounds ParseCost per body byte for any body: the worst
// shape is an array of one-letter strings under a key every string of which
// is inspected (`["a","a",...]`: a node, a child slot and a Text per 4
// bytes); arrays of numbers cost 12, empty containers 10.
const MaxParseFactor = 32

// ParseCost is an upper bound on the bytes ParseRequest allocates to parse
// body, beyond the body itself: a quick pass, no allocation but a few
// bytes per container. Callers that bound memory reserve it first.
func ParseCost(body []byte, maxDepth int) int64 {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	return planDoc(body, maxDepth, false).cost()
}
