package detect

// The byte-level Aho–Corasick automaton that preceded the word-level
// matcher, kept as the reference the matcher is tested against
// (automaton_test.go).

const (
	refSymSpace = 36
	refSymOther = 37
	refNSyms    = 38
	refSymReset = 255 // '.' and anything outside the alphabet: back to the root
)

var refSymOf = func() (t [256]byte) {
	for i := range t {
		t[i] = refSymReset
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = byte(c - 'a')
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(26 + c - '0')
	}
	t[' '] = refSymSpace
	t['#'] = refSymOther
	return
}()

type refAutomaton struct {
	// state*refNSyms + sym → next state<<1 | has-outputs; the compact
	// uint16 table is used when the states fit, halving the cache footprint.
	next   []int32
	next16 []uint16 // plain state ids; hasOut says which states have outputs
	hasOut []uint64
	// outputs of each state (its own and those reached by suffix links),
	// as a range into outs
	outStart []int32
	outEnd   []int32
	outs     []int32 // pattern ids
	pats     []pattern
}

func buildRefAutomaton(pats []pattern) *refAutomaton {
	type node struct {
		next [refNSyms]int32
		fail int32
		out  []int32
	}
	nodes := []node{{}}
	for i := range nodes[0].next {
		nodes[0].next[i] = -1
	}
	for id, p := range pats {
		s := int32(0)
		for j := 0; j < len(p.text); j++ {
			sym := refSymOf[p.text[j]]
			if nodes[s].next[sym] < 0 {
				nodes = append(nodes, node{})
				n := &nodes[len(nodes)-1]
				for k := range n.next {
					n.next[k] = -1
				}
				nodes[s].next[sym] = int32(len(nodes) - 1)
			}
			s = nodes[s].next[sym]
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}
	// breadth-first: failure links and the completed transition table
	queue := make([]int32, 0, len(nodes))
	for sym := 0; sym < refNSyms; sym++ {
		if t := nodes[0].next[sym]; t < 0 {
			nodes[0].next[sym] = 0
		} else {
			nodes[t].fail = 0
			queue = append(queue, t)
		}
	}
	for h := 0; h < len(queue); h++ {
		s := queue[h]
		f := nodes[s].fail
		// outputs along the suffix chain: parents are done before children
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for sym := 0; sym < refNSyms; sym++ {
			t := nodes[s].next[sym]
			if t < 0 {
				nodes[s].next[sym] = nodes[f].next[sym]
				continue
			}
			nodes[t].fail = nodes[f].next[sym]
			queue = append(queue, t)
		}
	}
	// Renumber states in breadth-first order so the shallow states, where
	// the scan spends most of its time, share cache lines; and fold "this
	// state has outputs" into the low bit of every transition so the hot
	// loop needs no second lookup.
	order := append([]int32{0}, queue...)
	newID := make([]int32, len(nodes))
	for i, old := range order {
		newID[old] = int32(i)
	}
	a := &refAutomaton{
		next:     make([]int32, len(nodes)*refNSyms),
		outStart: make([]int32, len(nodes)),
		outEnd:   make([]int32, len(nodes)),
		pats:     pats,
	}
	for i, old := range order {
		n := &nodes[old]
		for sym := 0; sym < refNSyms; sym++ {
			t := n.next[sym]
			v := newID[t] << 1
			if len(nodes[t].out) > 0 {
				v |= 1
			}
			a.next[i*refNSyms+sym] = v
		}
		a.outStart[i] = int32(len(a.outs))
		a.outs = append(a.outs, n.out...)
		a.outEnd[i] = int32(len(a.outs))
	}
	if len(nodes) <= 1<<16 {
		a.next16 = make([]uint16, len(a.next))
		a.hasOut = make([]uint64, (len(nodes)+63)/64)
		for i, v := range a.next {
			a.next16[i] = uint16(v >> 1)
			if v&1 != 0 {
				t := v >> 1
				a.hasOut[t>>6] |= 1 << (t & 63)
			}
		}
		a.next = nil
	}
	return a
}

// scan runs the automaton over normalised text and calls emit for every
// match that sits on word boundaries. Token positions advance by one per
// space and by sentenceGap per sentence break, so windows rarely reach
// across sentences.
func (a *refAutomaton) scan(text []byte, emit func(pat int32, h hit)) {
	state := int32(0)
	pos := int32(0)
	next, next16 := a.next, a.next16
	for i := 0; i < len(text); i++ {
		c := text[i]
		sym := refSymOf[c]
		if sym == refSymReset {
			if c == '.' {
				pos += sentenceGap
			}
			state = 0
			continue
		}
		if sym == refSymSpace {
			pos++
		}
		if next16 != nil {
			state = int32(next16[int(state)*refNSyms+int(sym)])
			if a.hasOut[state>>6]&(1<<(state&63)) == 0 {
				continue
			}
		} else {
			v := next[int(state)*refNSyms+int(sym)]
			state = v >> 1
			if v&1 == 0 {
				continue
			}
		}
		endsWord := i+1 == len(text) || text[i+1] == ' '
		for o, e := a.outStart[state], a.outEnd[state]; o < e; o++ {
			id := a.outs[o]
			p := &a.pats[id]
			start := i + 1 - len(p.text)
			if start > 0 && text[start-1] != ' ' {
				continue
			}
			if !endsWord && !p.prefix {
				continue
			}
			emit(id, hit{start: pos - p.words, end: pos})
		}
	}
}
