package detect

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
)

// pattern is one normalised word-list entry.
type pattern struct {
	text   string
	prefix bool  // "hack*": matches any word starting with the last word
	words  int32 // number of spaces in text (tokens - 1)
	lists  []int32
}

// hit is one word-list match, in token positions of the normalised text.
type hit struct {
	start, end int32
}

// sentenceGap is how far apart a sentence break puts two tokens.
const sentenceGap = 4

// The matcher works on words, not bytes. The normalised text is a sequence
// of tokens separated by single spaces (sentence breaks are "." tokens), and
// a term matches only whole tokens (its last word may be a prefix of a
// token for "hack*" terms). So every distinct word of the lexicon is
// interned into a word id at Compile, the terms form a trie over word ids,
// and the scan looks each token up once in an open-addressing table (words
// of up to 8 bytes are found with one 8-byte load and one compare, and the
// entry carries the root's child) and follows one trie edge per open
// phrase. The byte-level Aho–Corasick automaton it replaces read one entry
// of a 4.6 MB transition table per byte. The hits are the same:
// automaton_test.go compares the two on the bundled lexicon, the
// equivalence corpus and random prefix terms (the old automaton is kept
// in automaton_ref_test.go for that).
//
// Phrases are bounded by the longest term (in words), so at most that many
// walks are open at once and the scan stays linear.

type matcher struct {
	pats []pattern

	// breakList, when >= 0, is the list id under which the scan records
	// every sentence break (a hit at the break's position), so negation can
	// reach to a sentence's end and texts can be joined (see Detector.scan)
	breakList int32
	// edgeLen is how many tokens at each end of a text a phrase can take
	// while spanning into the next text: the longest term's words - 1,
	// at most maxEdge
	edgeLen int
	// joinCuts: words cut in two or three are joined (see joinCut)
	joinCuts    bool
	longestWord int // bytes

	words []string // word id → word
	// words of up to 8 bytes, packed little-endian into a uint64 (tokens
	// never hold a zero byte, so the packing is unambiguous): multiplicative
	// hashing, one compare
	short      []shortSlot
	shortShift uint
	// longer words
	seed  maphash.Seed
	wslot []wordSlot
	wmask uint64

	// trie over word ids; node 0 is the root
	// Lookups return a nodeRef that carries what the scan needs of the
	// node, so a token costs one cache line in the word table (the root's
	// child is stored with the word) and one per open phrase in the edges.
	rootRef []nodeRef // word id → child of the root (node -1 if none)
	nodes   []trieNode
	edges   []edgeSlot // node<<32 | word id → child, for nodes other than the root
	emask   uint64
	outs    []int32 // list ids of the patterns ending at a node (or a prefix output), with repeats

	// prefix terms: a byte trie of their last words (pfRoot and pfEdges) and
	// node<<32 | prefix-word id → range of list ids in outs
	hasPrefix bool
	pfRoot    [256]int32
	pfEdges   u64Table
	pfWord    []int32 // prefix-trie node → prefix-word id ending there, -1 if none
	pfOuts    u64Table
	pfRanges  [][2]int32
}

type wordSlot struct {
	tag uint32 // high bits of the hash; 0 = empty slot
	id  int32
}

type shortSlot struct {
	key uint64 // packed word; 0 = empty
	wid int32
	ref nodeRef
}

type edgeSlot struct {
	key uint64 // node<<32 | word id, +1; 0 = empty
	ref nodeRef
}

// nodeRef is a trie node and what the scan needs of it.
type nodeRef struct {
	node             int32 // -1: none
	outStart, outEnd int32
	more             bool // children or prefix outputs: keep the phrase open
	pf               bool // prefix outputs
}

type trieNode struct {
	outStart, outEnd int32 // lists of the patterns ending exactly at this node
	children         bool
	prefixOuts       bool // some prefix term continues from this node
}

// u64Table is an open-addressing map from non-zero-tagged uint64 keys to
// int32 values, built once.
type u64Table struct {
	keys []uint64 // key+1; 0 = empty
	vals []int32
	mask uint64
}

func newU64Table(n int) u64Table {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return u64Table{keys: make([]uint64, size), vals: make([]int32, size), mask: uint64(size - 1)}
}

func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

func (t *u64Table) put(k uint64, v int32) {
	for i := mix64(k) & t.mask; ; i = (i + 1) & t.mask {
		if t.keys[i] == 0 || t.keys[i] == k+1 {
			t.keys[i], t.vals[i] = k+1, v
			return
		}
	}
}

func (t *u64Table) get(k uint64) (int32, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	for i := mix64(k) & t.mask; ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case k + 1:
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

func buildMatcher(pats []pattern) *matcher {
	m := &matcher{pats: pats, seed: maphash.MakeSeed(), breakList: -1}
	for _, p := range pats {
		m.edgeLen = max(m.edgeLen, min(int(p.words), maxEdge))
	}
	wordID := map[string]int32{}
	intern := func(w string) int32 {
		id, ok := wordID[w]
		if !ok {
			id = int32(len(m.words))
			wordID[w] = id
			m.words = append(m.words, w)
		}
		return id
	}
	pfID := map[string]int32{}
	type pfKey struct{ node, pw int32 }
	pfOuts := map[pfKey][]int32{}
	var pfOrder []pfKey
	type edgeKey struct{ node, w int32 }
	edges := map[edgeKey]int32{}
	nodeOuts := [][]int32{nil}
	m.nodes = []trieNode{{}}
	rootChild := map[int32]int32{}
	for id, p := range pats {
		ws := strings.Split(p.text, " ")
		last := len(ws)
		if p.prefix {
			last--
		}
		node := int32(0)
		for _, w := range ws[:last] {
			wid := intern(w)
			var child int32
			var ok bool
			if node == 0 {
				child, ok = rootChild[wid]
			} else {
				child, ok = edges[edgeKey{node, wid}]
			}
			if !ok {
				child = int32(len(m.nodes))
				m.nodes = append(m.nodes, trieNode{})
				nodeOuts = append(nodeOuts, nil)
				if node == 0 {
					rootChild[wid] = child
				} else {
					edges[edgeKey{node, wid}] = child
				}
				m.nodes[node].children = true
			}
			node = child
		}
		if !p.prefix {
			nodeOuts[node] = append(nodeOuts[node], int32(id))
			continue
		}
		m.hasPrefix = true
		w := ws[last]
		pw, ok := pfID[w]
		if !ok {
			pw = int32(len(pfID))
			pfID[w] = pw
		}
		k := pfKey{node, pw}
		if _, ok := pfOuts[k]; !ok {
			pfOrder = append(pfOrder, k)
		}
		pfOuts[k] = append(pfOuts[k], int32(id))
		m.nodes[node].prefixOuts = true
	}
	for i, o := range nodeOuts {
		m.nodes[i].outStart = int32(len(m.outs))
		m.outs = m.appendLists(m.outs, o)
		m.nodes[i].outEnd = int32(len(m.outs))
	}
	ref := func(node int32) nodeRef {
		n := &m.nodes[node]
		return nodeRef{node: node, outStart: n.outStart, outEnd: n.outEnd, more: n.children || n.prefixOuts, pf: n.prefixOuts}
	}
	m.rootRef = make([]nodeRef, len(m.words))
	for i := range m.rootRef {
		m.rootRef[i] = nodeRef{node: -1}
	}
	for w, c := range rootChild {
		m.rootRef[w] = ref(c)
	}
	esize := 16
	for esize < 2*len(edges) {
		esize <<= 1
	}
	m.edges = make([]edgeSlot, esize)
	m.emask = uint64(esize - 1)
	for k, c := range edges {
		key := uint64(k.node)<<32 | uint64(k.w)
		for i := mix64(key) & m.emask; ; i = (i + 1) & m.emask {
			if m.edges[i].key == 0 {
				m.edges[i] = edgeSlot{key: key + 1, ref: ref(c)}
				break
			}
		}
	}
	for _, w := range m.words {
		m.longestWord = max(m.longestWord, len(w))
	}
	// the word tables
	size, bits := 16, uint(4)
	for size < 2*len(m.words) {
		size <<= 1
		bits++
	}
	m.short = make([]shortSlot, size)
	m.shortShift = 64 - bits
	m.wslot = make([]wordSlot, size)
	m.wmask = uint64(size - 1)
	for id, w := range m.words {
		if len(w) <= 8 {
			k := packWord([]byte(w))
			for i := (k * hashMul) >> m.shortShift; ; i = (i + 1) & m.wmask {
				if m.short[i].key == 0 {
					m.short[i] = shortSlot{key: k, wid: int32(id), ref: m.rootRef[id]}
					break
				}
			}
			continue
		}
		h := maphash.String(m.seed, w)
		tag := uint32(h>>32) | 1
		for i := h & m.wmask; ; i = (i + 1) & m.wmask {
			if m.wslot[i].tag == 0 {
				m.wslot[i] = wordSlot{tag: tag, id: int32(id)}
				break
			}
		}
	}
	// prefix words: a byte trie, and the outputs per (node, prefix word)
	for i := range m.pfRoot {
		m.pfRoot[i] = -1
	}
	if m.hasPrefix {
		type pe struct {
			node int32
			c    byte
		}
		pfEdges := map[pe]int32{}
		for w, pw := range pfID {
			node := int32(-1)
			for j := 0; j < len(w); j++ {
				var next int32
				var ok bool
				if node < 0 {
					next = m.pfRoot[w[j]]
					ok = next >= 0
				} else {
					next, ok = pfEdges[pe{node, w[j]}]
				}
				if !ok {
					next = int32(len(m.pfWord))
					m.pfWord = append(m.pfWord, -1)
					if node < 0 {
						m.pfRoot[w[j]] = next
					} else {
						pfEdges[pe{node, w[j]}] = next
					}
				}
				node = next
			}
			m.pfWord[node] = pw
		}
		m.pfEdges = newU64Table(len(pfEdges))
		for k, v := range pfEdges {
			m.pfEdges.put(uint64(k.node)<<8|uint64(k.c), v)
		}
		m.pfOuts = newU64Table(len(pfOrder))
		for _, k := range pfOrder {
			o := pfOuts[k]
			m.pfOuts.put(uint64(k.node)<<32|uint64(k.pw), int32(len(m.pfRanges)))
			start := int32(len(m.outs))
			m.outs = m.appendLists(m.outs, o)
			m.pfRanges = append(m.pfRanges, [2]int32{start, int32(len(m.outs))})
		}
	}
	return m
}

const hashMul = 0x9E3779B97F4A7C15

func packWord(b []byte) uint64 {
	var k uint64
	for i := len(b) - 1; i >= 0; i-- {
		k = k<<8 | uint64(b[i])
	}
	return k
}

// shortWord returns the id of a packed token of up to 8 bytes and the
// root's child for it, or -1.
func (m *matcher) shortWord(k uint64) (int32, nodeRef) {
	for i := (k * hashMul) >> m.shortShift; ; i = (i + 1) & m.wmask {
		sl := &m.short[i]
		switch sl.key {
		case k:
			return sl.wid, sl.ref
		case 0:
			return -1, nodeRef{}
		}
	}
}

// edge follows the trie edge labelled wid from node (not the root).
func (m *matcher) edge(node, wid int32) (nodeRef, bool) {
	key := uint64(node)<<32 | uint64(wid) + 1
	for i := mix64(key-1) & m.emask; ; i = (i + 1) & m.emask {
		sl := &m.edges[i]
		switch sl.key {
		case key:
			return sl.ref, true
		case 0:
			return nodeRef{}, false
		}
	}
}

// appendLists appends the lists of the patterns: all patterns at one node
// match the same tokens, so the scan appends one hit to each list without
// looking at the patterns.
func (m *matcher) appendLists(dst []int32, pats []int32) []int32 {
	for _, id := range pats {
		dst = append(dst, m.pats[id].lists...)
	}
	return dst
}

// word returns the id of a token, or -1 when no term has the word.
func (m *matcher) word(tok []byte) int32 {
	if len(tok) <= 8 {
		if len(tok) == 0 {
			return -1
		}
		wid, _ := m.shortWord(packWord(tok))
		return wid
	}
	h := maphash.Bytes(m.seed, tok)
	tag := uint32(h>>32) | 1
	for i := h & m.wmask; ; i = (i + 1) & m.wmask {
		s := m.wslot[i]
		if s.tag == 0 {
			return -1
		}
		if s.tag == tag && m.words[s.id] == string(tok) {
			return s.id
		}
	}
}

// walk is an open phrase: the trie node reached and where it started.
type walk struct {
	node  int32
	start int32
	pf    bool // the node has prefix outputs
}

// scan finds every term in the normalised text (not empty) and records a
// hit for each list l of each match in sc.recs, in the order found
// (fillHits distributes them). Hits are in token positions: they advance
// by one per space and by sentenceGap per sentence break, so windows rarely
// reach across sentences. It returns the positions the text takes (its
// last token's position + 1), so that texts can be scanned one by one and
// their hits shifted into place (see Detector.scan).
func (m *matcher) scan(text []byte, sc *matchScratch) int32 {
	walks, recs := sc.walks[:0], sc.recs[:0]
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		spaces = 0x2020202020202020
	)
	pos := int32(0)
	walks = walks[:0]
	nhead, nbreaks, nunkTok := 0, 0, 0
	var unk [2]cutPiece // the unknown tokens just before this one
	nunk := 0
	for i := 0; i <= len(text); {
		// find the token's end and its word id; the common short token
		// takes one 8-byte load: the first space by SWAR, then one lookup
		j := -1
		wid := int32(-1)
		var root nodeRef
		if i+8 <= len(text) {
			x := binary.LittleEndian.Uint64(text[i:])
			t := x ^ spaces
			if z := (t - ones) &^ t & highs; z != 0 {
				k := bits.TrailingZeros64(z) >> 3
				j = i + k
				if k > 0 {
					wid, root = m.shortWord(x & (1<<(8*uint(k)) - 1))
				}
			} else if i+8 == len(text) || text[i+8] == ' ' {
				j = i + 8
				wid, root = m.shortWord(x)
			}
		}
		if j < 0 {
			j = bytes.IndexByte(text[i:], ' ')
			if j < 0 {
				j = len(text)
			} else {
				j += i
			}
			wid = m.word(text[i:j])
			if wid >= 0 {
				root = m.rootRef[wid]
			}
		}
		tok := text[i:j]
		isBreak := len(tok) == 1 && tok[0] == '.'
		// the first edgeLen tokens of the text's first sentence (the last
		// ones are found after the loop)
		if isBreak {
			nbreaks++
		} else if nhead < m.edgeLen && nbreaks == 0 {
			sc.head.t[nhead] = edgeTok{wid, pos}
			nhead++
		}
		switch {
		case isBreak:
			// a sentence break ends every phrase
			walks = walks[:0]
			if m.breakList >= 0 {
				recs = append(recs, listHit{m.breakList, hit{start: pos, end: pos}})
			}
			pos += sentenceGap
		case len(walks) == 0 && !m.hasPrefix:
			// no open phrase: only the root walk, inline
			if wid < 0 || root.node < 0 {
				break
			}
			if root.outEnd > root.outStart {
				for _, l := range m.outs[root.outStart:root.outEnd] {
					recs = append(recs, listHit{l, hit{start: pos, end: pos}})
				}
			}
			if root.more {
				walks = append(walks, walk{node: root.node, start: pos, pf: root.pf})
			}
		default:
			sc.walks, sc.recs = walks, recs
			m.token(tok, wid, root, pos, sc)
			walks, recs = sc.walks, sc.recs
		}
		switch {
		case wid >= 0 || len(tok) == 0 || tok[0] < 'a' || tok[0] > 'z':
			nunk = 0 // a word of the lexicon, a break, a number: no piece of a word
		default:
			nunkTok++
			if m.joinCuts && nunk > 0 && len(tok) < maxToken {
				// a word cut in two or three ("sa rin", "ex plo sives"):
				// tokens that are no word of the lexicon but whose
				// concatenation is (after the token: its walks are gone)
				sc.walks, sc.recs = walks, recs
				m.joinCut(tok, pos, unk[:nunk], sc)
				walks, recs = sc.walks, sc.recs
			}
			if nunk < len(unk) {
				unk[nunk] = cutPiece{tok, pos}
				nunk++
			} else {
				unk[0], unk[1] = unk[1], cutPiece{tok, pos}
			}
		}
		if j == len(text) {
			break
		}
		pos++
		i = j + 1
	}
	sc.walks, sc.recs = walks, recs
	// the last edgeLen tokens after the last break, read backwards
	k, p := 0, pos
	var back [maxEdge]edgeTok
	for e := len(text); k < m.edgeLen && e > 0; k++ {
		b := bytes.LastIndexByte(text[:e], ' ') + 1
		tok := text[b:e]
		if len(tok) == 1 && tok[0] == '.' {
			break
		}
		back[k] = edgeTok{m.word(tok), p}
		p--
		e = b - 1
	}
	for x := 0; x < k; x++ {
		sc.tail.t[x] = back[k-1-x]
	}
	sc.head.n, sc.tail.n, sc.broken = nhead, k, nbreaks > 0
	// tokens: positions less the breaks' own and their gaps
	sc.ntok, sc.nunk = int(pos)+1-nbreaks*(1+sentenceGap), nunkTok
	return pos + 1
}

// cutPiece is a token that no term has, a candidate piece of a cut word.
type cutPiece struct {
	tok []byte
	pos int32
}

// joinCut tries the current unknown token joined to the one or two
// unknown tokens right before it; when the concatenation is a word of the
// lexicon it counts as that word over the pieces' positions (it may start
// a phrase, not continue one). Pieces on both sides of sc.barrier (the
// reference test's text boundaries) are not joined.
func (m *matcher) joinCut(tok []byte, pos int32, unk []cutPiece, sc *matchScratch) {
	for k := len(unk) - 1; k >= 0; k-- {
		start := unk[k].pos
		if start+int32(len(unk)-k) != pos || sc.barrier != nil && sc.barrier(start, pos) {
			return // not adjacent (a break between), or across a boundary
		}
		b := sc.cut[:0]
		for _, u := range unk[k:] {
			b = append(b, u.tok...)
		}
		b = append(b, tok...)
		sc.cut = b
		if len(b) > m.longestWord {
			return
		}
		wid := m.word(b)
		if wid < 0 {
			continue
		}
		r := m.rootRef[wid]
		if r.node < 0 {
			return
		}
		for _, l := range m.outs[r.outStart:r.outEnd] {
			sc.recs = append(sc.recs, listHit{l, hit{start: start, end: pos}})
		}
		if r.more {
			sc.walks = append(sc.walks, walk{node: r.node, start: start, pf: r.pf})
		}
		return
	}
}

// maxEdge bounds the tokens kept at each end of a text for phrases that
// span two texts.
const maxEdge = 8

// edgeTok is one token at the edge of a text: its word id (-1: no term has
// it) and position.
type edgeTok struct {
	wid, pos int32
}

// edge is the first (head) or last (tail) tokens of a text, outside any
// sentence break.
type edge struct {
	t [maxEdge]edgeTok
	n int
}

// across finds the phrases that start in a (tokens before a text boundary)
// and end in b (the first tokens after it), by walking the trie over their
// word ids, and appends their hits to recs. Prefix terms do not span
// texts. Both are at most maxEdge tokens, so this is bounded.
func (m *matcher) across(a, b []edgeTok, recs []listHit) []listHit {
	for i := range a {
		r := nodeRef{node: -1}
		if a[i].wid >= 0 {
			r = m.rootRef[a[i].wid]
		}
		for j := i + 1; r.node >= 0 && r.more && j < len(a)+len(b); j++ {
			t := b[max(0, j-len(a))]
			if j < len(a) {
				t = a[j]
			}
			if t.wid < 0 {
				break
			}
			var ok bool
			if r, ok = m.edge(r.node, t.wid); !ok || r.node < 0 {
				break
			}
			if j >= len(a) {
				for _, l := range m.outs[r.outStart:r.outEnd] {
					recs = append(recs, listHit{l, hit{start: a[i].pos, end: t.pos}})
				}
			}
		}
	}
	return recs
}

// token advances the open phrases over one token and opens a new one.
func (m *matcher) token(tok []byte, wid int32, root nodeRef, pos int32, sc *matchScratch) (any bool) {
	walks, pfBuf, recs := sc.walks, sc.pfBuf[:0], sc.recs
	// prefix terms: which prefix words this token starts with
	if m.hasPrefix && len(tok) > 0 {
		node := m.pfRoot[tok[0]]
		for k := 1; node >= 0; k++ {
			if pw := m.pfWord[node]; pw >= 0 {
				pfBuf = append(pfBuf, pw)
			}
			if k == len(tok) {
				break
			}
			next, ok := m.pfEdges.get(uint64(node)<<8 | uint64(tok[k]))
			if !ok {
				break
			}
			node = next
		}
	}
	// the phrases open so far, then a new one from the root here
	n := len(walks)
	walks = append(walks, walk{node: 0, start: pos, pf: m.nodes[0].prefixOuts})
	kept := 0
	for _, w := range walks[:n+1] {
		if len(pfBuf) > 0 && w.pf {
			for _, pw := range pfBuf {
				if r, ok := m.pfOuts.get(uint64(w.node)<<32 | uint64(pw)); ok {
					rg := m.pfRanges[r]
					for _, l := range m.outs[rg[0]:rg[1]] {
						recs = append(recs, listHit{l, hit{start: w.start, end: pos}})
					}
					any = true
				}
			}
		}
		if wid < 0 {
			continue
		}
		r := root
		if w.node != 0 {
			var ok bool
			if r, ok = m.edge(w.node, wid); !ok {
				continue
			}
		}
		if r.node < 0 {
			continue
		}
		if r.outEnd > r.outStart {
			for _, l := range m.outs[r.outStart:r.outEnd] {
				recs = append(recs, listHit{l, hit{start: w.start, end: pos}})
			}
			any = true
		}
		if r.more {
			walks[kept] = walk{node: r.node, start: w.start, pf: r.pf}
			kept++
		}
	}
	sc.walks, sc.pfBuf, sc.recs = walks[:kept], pfBuf, recs
	return any
}

// matchScratch is the matcher's reusable scratch.
type matchScratch struct {
	walks []walk    // open phrases
	pfBuf []int32   // prefix words of one token
	recs  []listHit // hits in the order found
	buf   []hit     // backing array of the per-list hits
	next  []int32   // fillHits' counts per list
	lists []int32   // the lists fillHits gave hits

	// the text's edges (see across): set by scan when edgeLen > 0
	head, tail edge
	broken     bool // the text has a sentence break
	ntok, nunk int  // tokens, and those that start with a letter and are no word of the lexicon

	cut     []byte                    // joinCut's concatenation
	barrier func(from, to int32) bool // tests only: a text boundary in (from, to]
}

// listHit is a hit of one list. The scan appends them to one array, which
// stays in cache, rather than to one slice per list.
type listHit struct {
	list int32
	h    hit
}

// fillHits sets hits[l] to the hits of list l in recs, in the order found
// (a counting sort); the slices share sc.buf and have no spare capacity.
// Only lists with hits are visited (sc.lists; the previous call's are
// emptied first): a scan costs nothing per list of the lexicon.
func (sc *matchScratch) fillHits(recs []listHit, hits [][]hit) {
	for _, l := range sc.lists {
		hits[l] = nil
	}
	sc.lists = sc.lists[:0]
	if cap(sc.next) < len(hits) {
		sc.next = make([]int32, len(hits))
	}
	count := sc.next[:len(hits)] // all zero between calls
	for _, r := range recs {
		if count[r.list] == 0 {
			sc.lists = append(sc.lists, r.list)
		}
		count[r.list]++
	}
	sc.buf = slices.Grow(sc.buf[:0], len(recs))
	buf := sc.buf[:len(recs)]
	off := int32(0)
	for _, l := range sc.lists {
		n := count[l]
		hits[l] = buf[off : off : off+n]
		off += n
		count[l] = 0
	}
	for _, r := range recs {
		hits[r.list] = append(hits[r.list], r.h)
	}
}
