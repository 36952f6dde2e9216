package wire

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A small strict JSON parser that records where every value sits in the body.
//
// Why not encoding/json: decoding a body into map[string]any and encoding it
// again costs tens of microseconds for a 2 KB chat request, reorders keys and
// needs UseNumber to keep numbers exact (and it boxes every value). This
// parser builds a flat node table in one pass, its tables sized exactly by a
// counting pass first (plan.go), so it allocates a few times and a fixed
// number of bytes per value whatever the shape; Rewrite then splices the few values it
// changes into the original bytes, so every byte it does not touch (numbers,
// key order, whitespace, unknown fields) reaches upstream exactly as the
// client sent it. Its grammar is RFC 8259 as encoding/json accepts it; a fuzz
// target checks the two agree on validity.

const (
	kNull byte = iota
	kFalse
	kTrue
	kNumber
	kString
	kArray
	kObject
)

// node is one JSON value. start/end span the value in the source (strings
// include their quotes). Containers own kids[first:first+n]; an object's kids
// alternate key node, value node.
type node struct {
	kind       byte
	esc        bool // string contains escapes
	start, end int32
	first, n   int32
}

type doc struct {
	src []byte
	// alias: src never changes while the doc is in use (ParseRequest's
	// contract), so unescaped strings are views of it, not copies.
	alias bool
	nodes []node
	kids  []int32
	// counts and next: the plan's child count per container and the
	// next container's index in it (plan.go).
	counts []int32
	next   int
	strs   int // the plan's non-empty string values: Texts at most
	depth  int
	max    int
	err    string
	errAt  int
}

func (d *doc) fail(msg string, at int) int {
	if d.err == "" {
		d.err, d.errAt = msg, at
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *doc) skip(i int) int {
	for i < len(d.src) && isSpace(d.src[i]) {
		i++
	}
	return i
}

// errTooDeep is doc.err for a value nested past max.
const errTooDeep = "nesting too deep"

// errPlan is doc.err when a container does not hold what the plan
// counted: only on a body that is not valid JSON anyway.
const errPlan = "malformed container"

// parseDoc parses src as exactly one JSON value. max bounds nesting. The
// tables are sized by a plan of src (plan.go), so they never regrow.
func parseDoc(src []byte, max int) (*doc, bool) {
	p := planDoc(src, max, true)
	d := &doc{src: src, max: max, counts: p.counts, strs: p.strs}
	d.nodes = make([]node, 0, p.nodes)
	kids := p.nodes - 1
	if kids < 0 {
		kids = 0
	}
	d.kids = make([]int32, 0, kids)
	i := d.skip(0)
	_, i = d.value(i)
	if i < 0 {
		return d, false
	}
	i = d.skip(i)
	if i != len(src) {
		d.fail("invalid character after top-level value", i)
		return d, false
	}
	return d, true
}

// value parses the value at i and returns its node index and the offset after it.
func (d *doc) value(i int) (int32, int) {
	src := d.src
	if i >= len(src) {
		return -1, d.fail("unexpected end of JSON input", i)
	}
	idx := int32(len(d.nodes))
	switch c := src[i]; {
	case c == '"':
		esc, j := d.str(i)
		if j < 0 {
			return -1, -1
		}
		d.nodes = append(d.nodes, node{kind: kString, esc: esc, start: int32(i), end: int32(j)})
		return idx, j
	case c == '{' || c == '[':
		d.depth++
		if d.depth > d.max {
			return -1, d.fail(errTooDeep, i)
		}
		kind := kObject
		closer := byte('}')
		if c == '[' {
			kind, closer = kArray, ']'
		}
		d.nodes = append(d.nodes, node{kind: kind, start: int32(i)})
		// The container's children go straight into their place in kids,
		// reserved now at the size the plan counted.
		if d.next >= len(d.counts) {
			return -1, d.fail(errPlan, i)
		}
		want := d.counts[d.next]
		d.next++
		first := int32(len(d.kids))
		if int(first)+int(want) > cap(d.kids) {
			return -1, d.fail(errPlan, i)
		}
		d.kids = d.kids[:first+want]
		pos := first
		put := func(n int32) bool {
			if pos >= first+want {
				return false
			}
			d.kids[pos] = n
			pos++
			return true
		}
		j := d.skip(i + 1)
		if j < len(src) && src[j] == closer {
			j++
		} else {
			for {
				if kind == kObject {
					if j >= len(src) || src[j] != '"' {
						return -1, d.fail("expected object key", j)
					}
					esc, k := d.str(j)
					if k < 0 {
						return -1, -1
					}
					if !put(int32(len(d.nodes))) {
						return -1, d.fail(errPlan, j)
					}
					d.nodes = append(d.nodes, node{kind: kString, esc: esc, start: int32(j), end: int32(k)})
					k = d.skip(k)
					if k >= len(src) || src[k] != ':' {
						return -1, d.fail("expected colon after object key", k)
					}
					j = d.skip(k + 1)
				}
				v, k := d.value(j)
				if k < 0 {
					return -1, -1
				}
				if !put(v) {
					return -1, d.fail(errPlan, j)
				}
				k = d.skip(k)
				if k >= len(src) {
					return -1, d.fail("unexpected end of JSON input", k)
				}
				if src[k] == ',' {
					j = d.skip(k + 1)
					continue
				}
				if src[k] == closer {
					j = k + 1
					break
				}
				return -1, d.fail("expected comma or closing bracket", k)
			}
		}
		if pos != first+want {
			return -1, d.fail(errPlan, j)
		}
		nd := &d.nodes[idx]
		nd.first, nd.n, nd.end = first, want, int32(j)
		d.depth--
		return idx, j
	case c == 't':
		return d.lit(i, "true", kTrue, idx)
	case c == 'f':
		return d.lit(i, "false", kFalse, idx)
	case c == 'n':
		return d.lit(i, "null", kNull, idx)
	case c == '-' || (c >= '0' && c <= '9'):
		j := d.num(i)
		if j < 0 {
			return -1, -1
		}
		d.nodes = append(d.nodes, node{kind: kNumber, start: int32(i), end: int32(j)})
		return idx, j
	default:
		return -1, d.fail("invalid character looking for beginning of value", i)
	}
}

func (d *doc) lit(i int, word string, kind byte, idx int32) (int32, int) {
	if !bytes.HasPrefix(d.src[i:], []byte(word)) {
		return -1, d.fail("invalid literal", i)
	}
	d.nodes = append(d.nodes, node{kind: kind, start: int32(i), end: int32(i + len(word))})
	return idx, i + len(word)
}

func (d *doc) num(i int) int {
	src := d.src
	digits := func(j int) int {
		k := j
		for k < len(src) && src[k] >= '0' && src[k] <= '9' {
			k++
		}
		return k
	}
	if src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && src[i] >= '1' && src[i] <= '9':
		i = digits(i + 1)
	default:
		return d.fail("invalid number", i)
	}
	if i < len(src) && src[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return d.fail("invalid number", j)
		}
		i = j
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return d.fail("invalid number", j)
		}
		i = j
	}
	return i
}

// str validates the string starting at the quote at i; it returns whether it
// has escapes and the offset after the closing quote. The body is already
// known to be valid UTF-8.
func (d *doc) str(i int) (bool, int) {
	src := d.src
	esc := false
	j := i + 1
	for {
		// Jump to the next quote or backslash; control characters in the
		// skipped run are checked in the same loop. Eight bytes at a time
		// while none of them is one (most of a prompt), then byte by byte.
		for j+8 <= len(src) && !special8(binary.LittleEndian.Uint64(src[j:])) {
			j += 8
		}
		for j < len(src) {
			c := src[j]
			if c == '"' || c == '\\' {
				break
			}
			if c < 0x20 {
				return false, d.fail("invalid control character in string literal", j)
			}
			j++
		}
		if j >= len(src) {
			return false, d.fail("unexpected end of JSON input", j)
		}
		if src[j] == '"' {
			return esc, j + 1
		}
		esc = true
		j++
		if j >= len(src) {
			return false, d.fail("unexpected end of JSON input", j)
		}
		switch src[j] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j++
		case 'u':
			if j+5 > len(src) {
				return false, d.fail("unexpected end of JSON input", len(src))
			}
			for _, h := range src[j+1 : j+5] {
				if hexVal(h) < 0 {
					return false, d.fail("invalid character in \\u hexadecimal character escape", j)
				}
			}
			j += 5
		default:
			return false, d.fail("invalid character in string escape code", j)
		}
	}
}

// special8 reports whether one of the 8 bytes in x may be a quote, a
// backslash or a control character (no false negatives: SWAR zero-byte
// tests, exact for the lowest byte that matches).
func special8(x uint64) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return ((q-ones)&^q|(b-ones)&^b|(x-ones*0x20)&^x)&highs != 0
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// text returns the decoded value of string node n. Unpaired surrogates
// become U+FFFD, as in encoding/json.
func (d *doc) text(n int32) string {
	nd := &d.nodes[n]
	raw := d.src[nd.start+1 : nd.end-1]
	if !nd.esc {
		if d.alias && len(raw) > 0 {
			return unsafe.String(&raw[0], len(raw))
		}
		return string(raw)
	}
	// strings.Builder hands its buffer over without a second copy.
	var out strings.Builder
	out.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			j := bytes.IndexByte(raw[i:], '\\')
			if j < 0 {
				j = len(raw) - i
			}
			out.Write(raw[i : i+j])
			i += j
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r := hex4(raw[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			out.WriteRune(r)
		default: // '"', '\\', '/'
			out.WriteByte(raw[i])
		}
		i++
	}
	return out.String()
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}

// get returns the value of key in object node o, or -1.
func (d *doc) get(o int32, key string) int32 {
	if o < 0 || d.nodes[o].kind != kObject {
		return -1
	}
	nd := d.nodes[o]
	for k := nd.first; k < nd.first+nd.n; k += 2 {
		if d.keyIs(d.kids[k], key) {
			return d.kids[k+1]
		}
	}
	return -1
}

// keyIs compares a string node with key without allocating.
func (d *doc) keyIs(n int32, key string) bool {
	nd := &d.nodes[n]
	if !nd.esc {
		return string(d.src[nd.start+1:nd.end-1]) == key
	}
	return d.text(n) == key
}

// str returns the string value of node n if it is a string.
func (d *doc) strVal(n int32) (string, bool) {
	if n < 0 || d.nodes[n].kind != kString {
		return "", false
	}
	return d.text(n), true
}

func (d *doc) kind(n int32) int {
	if n < 0 {
		return -1
	}
	return int(d.nodes[n].kind)
}

// items returns the element nodes of array node a.
func (d *doc) items(a int32) []int32 {
	nd := &d.nodes[a]
	return d.kids[nd.first : nd.first+nd.n]
}

// appendQuoted appends s as a JSON string. Invalid UTF-8 becomes U+FFFD and
// U+2028/2029 are escaped, as encoding/json does.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
