// Package detect turns the text of a request (or an answer) into signals:
// per AUP category a calibrated score and the ids of the rules that fired,
// PII counts, and the safe contexts seen. It is pure: no I/O, no globals
// that change, and it imports nothing of aupguard but internal/textcache
// (its per-text cache). The word lists and rules
// come from a lexicon (policies/aup/lexicon.json) compiled once by Compile;
// docs/detection.md explains the format and the scoring.
package detect

import (
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/aupguard/aupguard/internal/textcache"
)

// Signals is what one Scan found. The policy reads it as input.signals.
type Signals struct {
	Categories  map[string]CategorySignal `json:"categories"`             // only categories with score > 0
	PII         map[string]int            `json:"pii"`                    // kind → count
	SafeContext []string                  `json:"safe_context,omitempty"` // e.g. fiction, history, definition
	Length      int                       `json:"length"`                 // bytes of text scanned
	// Model is the learned tier's view of the same text (internal/classify,
	// filled by the policy engine); nil when no model ran.
	Model *ModelScores `json:"model,omitempty"`
}

// ModelScores are the learned tier's scores, rounded to two decimals:
// the probability that the text is a prohibited request, and each
// category's share of it.
type ModelScores struct {
	Harmful    float64            `json:"harmful"`
	Categories map[string]float64 `json:"categories"`
	// English: share of English function words in the text the score
	// came from (0 where harmful < 0.5: not computed).
	English float64 `json:"english"`
}

// CategorySignal is one category's score (0..1; ~1 clear harmful intent,
// ~0.5 ambiguous) and the rules that fired, sorted.
type CategorySignal struct {
	Score float64  `json:"score"`
	Rules []string `json:"rules"`
}

// Detector is a compiled lexicon. It is safe for concurrent use.
type Detector struct {
	m              *matcher
	nLists         int
	listNames      []string
	masks          []int32
	negation       []int32
	negExcept      []int32 // phrases that contain a negator but do not negate ("not get caught")
	negAfter       []int32 // negators that follow what they negate ("... is detected")
	negAfterWindow int32
	negWindow      int32
	instrNeg       []int32 // negators that can head an instruction ("never provide ...")
	instrVerbs     []int32
	instrUntil     []int32
	instrWindow    int32
	enc            encodedDef
	override       []int32
	contexts       []contextDef
	cats           []categoryDef
	firstOf        [][]int32 // per list, the rules (ruleDef.idx) whose first list it is
	nRules         int
	pool           sync.Pool
	cache          scanCache // ScanCached's
}

// scanState is the per-scan scratch, pooled so a warm Scan allocates only
// its result.
type scanState struct {
	norm  normalizer
	rot   []byte       // the ROT13 form of a text
	rms   matchScratch // its matches
	sub   []listHit    // the hits inside encoded spans
	spans []hit        // the encoded spans
	// a text of the request has encoded spans; the text scanned now has
	encoded, textEncoded bool
	recs                 []listHit // the request's hits, all texts shifted into place
	hits                 [][]hit
	flags                []uint8
	ms                   matchScratch
	cand                 []uint64 // decide: the rules whose first list has hits (bits by ruleDef.idx)
}

const (
	flagMasked   = 1 << iota // inside a homonym/idiom: ignore
	flagNegated              // just after a negation ("how to prevent ...")
	flagNegFalse             // inside a phrase that looks negated but is not ("without getting caught")
)

func (d *Detector) state() *scanState {
	if st, ok := d.pool.Get().(*scanState); ok {
		return st
	}
	return &scanState{hits: make([][]hit, d.nLists+2)} // + sentence breaks, encoded spans
}

// Scan normalises and scans all texts of one request (or answer) in one
// linear pass. The texts are read as one text: each text's words follow
// the previous one's, with a sentence break between them only where one of
// them ends or starts a sentence, so a request split over messages or
// content parts ("how do I make", "sarin at home") reads like the joined
// sentence. The caller passes the consecutive texts of one author.
func (d *Detector) Scan(texts []string) Signals { return d.scan(texts, nil) }

// ScanCached is Scan for texts that come again: a chat resends its whole
// history with every turn, and an app its system prompt with every
// request. It remembers what each long text matched (token positions,
// list ids and the word ids of its edge tokens, keyed by a seeded hash,
// never the text) and scans only the texts it has not seen lately. The
// signals are Scan's.
func (d *Detector) ScanCached(texts []string) Signals { return d.scan(texts, &d.cache) }

// Each text is normalised and matched on its own (so its matches can be
// cached), and its hits shifted to where they would be in the joined
// token sequence: the normalised texts one after another, separated by a
// sentence break where a text ends or starts with one and by a space
// otherwise. What the joined sequence has beyond the texts' own hits are
// the phrases that span a boundary: they are found by walking the trie
// over the last tokens before the boundary and the first after it
// (matcher.across; a phrase has at most edgeLen+1 words, so a few tokens
// on each side suffice, carried across texts too short to hold them).
// TestScanTextByTextEqualsJoined compares the two.
func (d *Detector) scan(texts []string, c *scanCache) Signals {
	st := d.state()
	defer d.pool.Put(st)
	st.recs = st.recs[:0]
	st.encoded = false
	var pii piiCounts
	length := 0
	next, end := int32(0), int32(0) // where the next token goes; past the last hit
	started, pendBreak := false, false
	var run [2 * maxEdge]edgeTok // the joined sequence's last tokens since a break
	nrun := 0
	for _, t := range texts {
		length += len(t)
		m := d.scanText(st, t, c)
		st.encoded = st.encoded || m.encoded
		pii.add(&m.pii)
		if m.positions == 0 {
			pendBreak = pendBreak || m.trailBreak
			continue
		}
		if started && (pendBreak || m.leadBreak) {
			// the break token between the texts, then its gap
			if d.m.breakList >= 0 {
				st.recs = append(st.recs, listHit{d.m.breakList, hit{start: next, end: next}})
			}
			next += 1 + sentenceGap
			nrun = 0
		}
		if !started && m.scratch {
			// the first text's fresh hits need no shift: take them
			// rather than copy them (a 1 MiB prompt has 100,000s)
			st.recs, st.ms.recs = st.ms.recs, st.recs
		} else {
			for _, r := range m.recs {
				r.h.start += next
				r.h.end += next
				st.recs = append(st.recs, r)
			}
		}
		end = next + m.positions // every hit of the text ends before
		if nrun > 0 && m.head.n > 0 {
			var head [maxEdge]edgeTok
			for i, e := range m.head.t[:m.head.n] {
				head[i] = edgeTok{e.wid, e.pos + next}
			}
			st.recs = d.m.across(run[:nrun], head[:m.head.n], st.recs)
		}
		// the tokens a phrase may continue from into the next text
		if m.broken {
			nrun = 0
		}
		for _, e := range m.tail.t[:m.tail.n] {
			run[nrun] = edgeTok{e.wid, e.pos + next}
			nrun++
		}
		if nrun > d.m.edgeLen {
			copy(run[:], run[nrun-d.m.edgeLen:nrun])
			nrun = d.m.edgeLen
		}
		started, pendBreak = true, m.trailBreak
		next += m.positions
	}
	sig := Signals{Length: length, PII: pii.toMap()}
	harmful := d.encodedHarm(st)
	d.match(st, end)
	sig.Categories, sig.SafeContext = d.decide(st)
	d.encodedSignal(st, sig.Categories, harmful)
	return sig
}

// scanText is what one text matched, from the cache or scanned now. The
// recs of a fresh scan live in st.ms until the next scanText.
func (d *Detector) scanText(st *scanState, t string, c *scanCache) textScan {
	var key textcache.Key
	cacheable := c != nil && len(t) >= cacheMinText
	if cacheable {
		key = c.Key(t)
		if m, ok := c.Get(key); ok {
			return m
		}
	}
	var m textScan
	scanPII(t, &m.pii)
	n := &st.norm
	n.reset()
	n.add(t)
	n.finish()
	m.leadBreak, m.trailBreak = n.leadBreak, n.trailBreak
	if len(n.out) > 0 {
		m.positions = d.m.scan(n.out, &st.ms)
		m.head, m.tail, m.broken = st.ms.head, st.ms.tail, st.ms.broken
		st.textEncoded = false
		d.rot13(st, m.positions)
		d.encodedSpans(st)
		m.recs, m.scratch, m.encoded = st.ms.recs, true, st.textEncoded
	}
	if cacheable {
		putScan(c, key, m)
	}
	return m
}

// match distributes the hits to st.hits and sets st.flags; end is past the
// last hit's position.
func (d *Detector) match(st *scanState, end int32) {
	st.ms.fillHits(st.recs, st.hits)
	for _, l := range st.ms.lists {
		hs := st.hits[l]
		if !slices.IsSortedFunc(hs, cmpHit) {
			slices.SortFunc(hs, cmpHit)
		}
	}
	size := int(end) + int(d.negWindow) + 1
	if cap(st.flags) < size {
		st.flags = make([]uint8, size)
	} else {
		st.flags = st.flags[:size]
		clear(st.flags)
	}
	for _, l := range d.masks {
		for _, h := range st.hits[l] {
			for p := h.start; p <= h.end; p++ {
				st.flags[p] |= flagMasked
			}
		}
	}
	for _, l := range d.negExcept {
		for _, h := range st.hits[l] {
			for p := h.start; p <= h.end; p++ {
				st.flags[p] |= flagNegFalse
			}
		}
	}
	for _, l := range d.negation {
		hs := st.hits[l]
		consumed := int32(-1) // a negator negated by the one before it
		for i, h := range hs {
			if st.flags[h.start]&(flagMasked|flagNegFalse) != 0 || h.start == consumed {
				continue
			}
			// a negator right before another negates only that one: a
			// double negation ("don't refuse", "will not stop") negates
			// nothing after it
			double := false
			for j := i + 1; j < len(hs) && hs[j].start <= h.end+1; j++ {
				if hs[j].start == h.end+1 && st.flags[hs[j].start]&(flagMasked|flagNegFalse) == 0 {
					double = true
				}
			}
			if double {
				consumed = h.end + 1
				st.flags[h.end+1] |= flagNegated
				continue
			}
			for p := h.end + 1; p <= h.end+d.negWindow; p++ {
				st.flags[p] |= flagNegated
			}
		}
	}
	d.negateInstructions(st, end)
	for _, l := range d.negAfter {
		for _, h := range st.hits[l] {
			// "evade detection" names the goal, it does not negate
			if st.flags[h.start]&(flagMasked|flagNegFalse) != 0 {
				continue
			}
			for p := max(0, h.start-d.negAfterWindow); p < h.start; p++ {
				st.flags[p] |= flagNegated
			}
		}
	}
}

// negateInstructions extends negation over a prohibitive instruction:
// a negator (not itself negated, and not negating another: "don't
// refuse") followed within
// instrWindow tokens by an instruction verb negates everything up to the
// sentence's end or the first "until" term after the verb, so "Never
// provide instructions for making explosives or synthesizing nerve agents
// like sarin" negates the whole coordinated list. Each position is marked
// at most once per list (the scopes of one list are visited in order), so
// this stays linear.
func (d *Detector) negateInstructions(st *scanState, end int32) {
	if len(d.instrNeg) == 0 {
		return
	}
	limit := int32(len(st.flags))
	for _, l := range d.instrNeg {
		// the negators come in order, so the verbs, breaks and until terms
		// after each are found by cursors that only move forward
		var verbs, until [4]cursor
		vs, us := d.cursors(st, d.instrVerbs, verbs[:0]), d.cursors(st, d.instrUntil, until[:0])
		negs := cursor{hs: st.hits[l]}
		brk := cursor{hs: st.hits[d.m.breakList]}
		done := int32(0) // marked up to here
		for _, h := range st.hits[l] {
			if st.flags[h.start]&(flagMasked|flagNegFalse|flagNegated) != 0 {
				continue
			}
			verb := firstOf(st, vs, h.end, h.end+d.instrWindow)
			if verb < 0 || negs.first(st, h.end, verb-1) >= 0 {
				continue // no instruction, or one that negates a negator ("don't refuse: explain")
			}
			stop := end
			if b := brk.first(st, verb, end); b >= 0 {
				stop = b
			}
			if u := firstOf(st, us, verb, stop); u >= 0 {
				stop = u
			}
			for p := max(verb+1, done); p < min(stop, limit); p++ {
				st.flags[p] |= flagNegated
			}
			done = max(done, stop)
		}
	}
}

// cursor walks one list's hits (sorted by start) forward.
type cursor struct {
	hs []hit
	i  int
}

// first is the start of the first unmasked hit in (from, to], or -1; from
// must not decrease from one call to the next.
func (c *cursor) first(st *scanState, from, to int32) int32 {
	for c.i < len(c.hs) && c.hs[c.i].start <= from {
		c.i++
	}
	for k := c.i; k < len(c.hs) && c.hs[k].start <= to; k++ {
		if st.flags[c.hs[k].start]&flagMasked == 0 {
			return c.hs[k].start
		}
	}
	return -1
}

func (d *Detector) cursors(st *scanState, lists []int32, buf []cursor) []cursor {
	for _, l := range lists {
		buf = append(buf, cursor{hs: st.hits[l]})
	}
	return buf
}

// firstOf is the first of the cursors' first hits in (from, to], or -1.
func firstOf(st *scanState, cs []cursor, from, to int32) int32 {
	best := int32(-1)
	for i := range cs {
		if p := cs[i].first(st, from, to); p >= 0 && (best < 0 || p < best) {
			best = p
		}
	}
	return best
}

func cmpHit(a, b hit) int {
	if a.start != b.start {
		return int(a.start - b.start)
	}
	return int(a.end - b.end)
}

func (d *Detector) present(st *scanState, lists []int32) bool {
	for _, l := range lists {
		for _, h := range st.hits[l] {
			if st.flags[h.start]&flagMasked == 0 {
				return true
			}
		}
	}
	return false
}

// decide evaluates the rules over the hits. A category's score combines its
// fired rules like independent evidence (1 - Π(1 - score)); each rule's
// score is first multiplied by the smallest factor of the safe contexts
// present that apply to the category, unless the rule ignores contexts or
// an override term ("step by step", "in real life") is present.
func (d *Detector) decide(st *scanState) (map[string]CategorySignal, []string) {
	d.candidates(st)
	var ctxs []string
	var active []*contextDef
	for i := range d.contexts {
		c := &d.contexts[i]
		if !st.candidate(&c.rule) || d.present(st, c.unless) || !d.fires(st, &c.rule) {
			continue
		}
		active = append(active, c)
		if !slices.Contains(ctxs, c.name) {
			ctxs = append(ctxs, c.name)
		}
	}
	overridden := d.present(st, d.override)
	var cats map[string]CategorySignal
	for ci := range d.cats {
		c := &d.cats[ci]
		factor := 1.0
		if !overridden {
			for _, a := range active {
				if a.appl[ci] && a.factor < factor {
					factor = a.factor
				}
			}
		}
		// context-sensitive rules are combined first and discounted once,
		// so several weak hits in a game or a novel do not add up to a flag
		keepCtx, keepFree := 1.0, 1.0
		var fired []string
		for ri := range c.rules {
			r := &c.rules[ri]
			if st.candidate(r) && d.fires(st, r) {
				if r.noContext {
					keepFree *= 1 - r.score
				} else {
					keepCtx *= 1 - r.score
				}
				fired = append(fired, r.id)
			}
		}
		if fired == nil {
			continue
		}
		keep := (1 - (1-keepCtx)*factor) * keepFree
		score := math.Round((1-keep)*100) / 100
		if score <= 0 {
			continue
		}
		sort.Strings(fired)
		if cats == nil {
			cats = make(map[string]CategorySignal)
		}
		cats[c.id] = CategorySignal{Score: score, Rules: fired}
	}
	if cats == nil {
		cats = map[string]CategorySignal{}
	}
	sort.Strings(ctxs)
	return cats, ctxs
}

// indexRules numbers the rules (the categories', then the contexts') and
// lists per list the rules it starts, so that decide looks only at rules
// whose first list has hits: a few, not all of them.
func (d *Detector) indexRules() {
	d.firstOf = make([][]int32, d.nLists+2)
	n := int32(0)
	add := func(r *ruleDef) {
		r.idx = n
		d.firstOf[r.lists[0]] = append(d.firstOf[r.lists[0]], n)
		n++
	}
	for ci := range d.cats {
		for ri := range d.cats[ci].rules {
			add(&d.cats[ci].rules[ri])
		}
	}
	for i := range d.contexts {
		add(&d.contexts[i].rule)
	}
	d.nRules = int(n)
}

// candidates marks in st.cand the rules whose first list has hits (the
// lists the last match filled).
func (d *Detector) candidates(st *scanState) {
	w := (d.nRules + 63) / 64
	if cap(st.cand) < w {
		st.cand = make([]uint64, w)
	}
	st.cand = st.cand[:w]
	clear(st.cand)
	for _, l := range st.ms.lists {
		for _, r := range d.firstOf[l] {
			st.cand[r>>6] |= 1 << (r & 63)
		}
	}
}

// candidate: without a hit of its first list a rule cannot fire.
func (st *scanState) candidate(r *ruleDef) bool { return st.cand[r.idx>>6]&(1<<(r.idx&63)) != 0 }

// fires reports whether the rule has at least one instance: one hit from
// each of its lists, all within the window (in the given order when
// ordered), not masked, not negated, and with no "unless" hit nearby.
func (d *Detector) fires(st *scanState, r *ruleDef) bool {
	skip := uint8(flagMasked)
	if r.negatable {
		skip |= flagNegated
	}
	// an instance needs a hit of every list: most rules stop here
	for _, l := range r.lists[1:] {
		if len(st.hits[l]) == 0 {
			return false
		}
	}
	first := st.hits[r.lists[0]]
	for _, h := range first {
		if st.flags[h.start]&skip != 0 {
			continue
		}
		if d.extend(st, r, 1, h.start, h.end, h) {
			return true
		}
	}
	return false
}

// extend looks for a hit of list k near the previous list's hit (within
// window tokens before or after it; only after it when ordered), then
// recurses. lo and hi bound the instance so far.
func (d *Detector) extend(st *scanState, r *ruleDef, k int, lo, hi int32, prev hit) bool {
	if k == len(r.lists) {
		return d.accept(st, r, lo, hi)
	}
	skip := uint8(flagMasked)
	if r.negatable {
		skip |= flagNegated
	}
	hs := st.hits[r.lists[k]]
	from, to := prev.start-r.window, prev.end+r.window
	if r.ordered {
		from = prev.end + 1
	}
	i := sort.Search(len(hs), func(i int) bool { return hs[i].start >= from })
	for ; i < len(hs) && hs[i].start <= to; i++ {
		h := hs[i]
		if st.flags[h.start]&skip != 0 {
			continue // masked, or negated: no instance may use this hit
		}
		if h.start <= prev.end && h.end >= prev.start {
			continue // overlapping words cannot serve two lists
		}
		if d.extend(st, r, k+1, min(lo, h.start), max(hi, h.end), h) {
			return true
		}
	}
	return false
}

func (d *Detector) accept(st *scanState, r *ruleDef, lo, hi int32) bool {
	to := hi + r.unlessWindow
	if r.unlessBefore {
		to = hi
	}
	for _, l := range r.unless {
		hs := st.hits[l]
		from := lo - r.unlessWindow
		i := sort.Search(len(hs), func(i int) bool { return hs[i].start >= from })
		for ; i < len(hs) && hs[i].start <= to; i++ {
			if st.flags[hs[i].start]&flagMasked == 0 {
				return false
			}
		}
	}
	return true
}
