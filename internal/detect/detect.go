// Package detect turns the text of a request (or an answer) into signals:
// per AUP category a calibrated score and the ids of the rules that fired,
// PII counts, and the safe contexts seen. It is pure: no I/O, no globals
// that change, and it imports nothing of aupguard. The word lists and rules
// come from a lexicon (policies/aup/lexicon.json) compiled once by Compile;
// docs/detection.md explains the format and the scoring.
package detect

import (
	"math"
	"slices"
	"sort"
	"sync"
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
	override       []int32
	contexts       []contextDef
	cats           []categoryDef
	pool           sync.Pool
	cache          scanCache // ScanCached's
}

// scanState is the per-scan scratch, pooled so a warm Scan allocates only
// its result.
type scanState struct {
	norm  normalizer
	recs  []listHit // the request's hits, all texts shifted into place
	hits  [][]hit
	flags []uint8
	ms    matchScratch
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
	return &scanState{hits: make([][]hit, d.nLists)}
}

// Scan normalises and scans all texts of one request (or answer) in one
// linear pass. Texts are joined with sentence breaks, so a rule can use
// words from two messages only if they are close.
func (d *Detector) Scan(texts []string) Signals { return d.scan(texts, nil) }

// ScanCached is Scan for texts that come again: a chat resends its whole
// history with every turn, and an app its system prompt with every
// request. It remembers what each long text matched (token positions and
// list ids, keyed by a seeded hash, never the text) and scans only the
// texts it has not seen lately. The signals are Scan's.
func (d *Detector) ScanCached(texts []string) Signals { return d.scan(texts, &d.cache) }

// Each text is normalised and matched on its own, and its hits shifted to
// where they would be in the joined text: the normaliser keeps no state
// across a sentence break and every phrase ends at one, so the joined
// text's hits are the texts' hits placed one after another, each text
// 1 + sentenceGap positions after the last non-empty one (the break's
// token and its gap). That is what lets a text's matches be cached.
func (d *Detector) scan(texts []string, c *scanCache) Signals {
	st := d.state()
	defer d.pool.Put(st)
	st.recs = st.recs[:0]
	var pii piiCounts
	length := 0
	next, end := int32(0), int32(0) // where the next text starts; after the last hit
	for _, t := range texts {
		length += len(t)
		m := d.scanText(st, t, c)
		pii.add(&m.pii)
		if m.positions == 0 {
			continue
		}
		if next > 0 {
			next += 1 + sentenceGap
		}
		if next == 0 && len(st.recs) == 0 && m.scratch {
			// the first text's fresh hits need no shift: take them
			// rather than copy them (a 1 MiB prompt has 100,000s)
			st.recs, st.ms.recs = st.ms.recs, st.recs
			if n := len(st.recs); n > 0 {
				end = st.recs[n-1].h.end + 1
			}
		} else {
			for _, r := range m.recs {
				r.h.start += next
				r.h.end += next
				st.recs = append(st.recs, r)
				end = max(end, r.h.end+1)
			}
		}
		next += m.positions
	}
	sig := Signals{Length: length, PII: pii.toMap()}
	d.match(st, end)
	sig.Categories, sig.SafeContext = d.decide(st)
	return sig
}

// scanText is what one text matched, from the cache or scanned now. The
// recs of a fresh scan live in st.ms until the next scanText.
func (d *Detector) scanText(st *scanState, t string, c *scanCache) textScan {
	var key cacheKey
	cacheable := c != nil && len(t) >= cacheMinText
	if cacheable {
		key = c.key(t)
		if m, ok := c.get(key); ok {
			return m
		}
	}
	var m textScan
	scanPII(t, &m.pii)
	n := &st.norm
	n.reset()
	n.add(t)
	n.finish()
	if len(n.out) > 0 {
		m.positions = d.m.scan(n.out, &st.ms)
		m.recs, m.scratch = st.ms.recs, true
	}
	if cacheable {
		c.put(key, m)
	}
	return m
}

// match distributes the hits to st.hits and sets st.flags; end is past the
// last hit's position.
func (d *Detector) match(st *scanState, end int32) {
	st.ms.fillHits(st.recs, st.hits)
	for i := range st.hits {
		hs := st.hits[i]
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
		for _, h := range st.hits[l] {
			if st.flags[h.start]&(flagMasked|flagNegFalse) != 0 {
				continue
			}
			for p := h.end + 1; p <= h.end+d.negWindow; p++ {
				st.flags[p] |= flagNegated
			}
		}
	}
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
	var ctxs []string
	var active []*contextDef
	for i := range d.contexts {
		c := &d.contexts[i]
		if d.present(st, c.unless) || !d.fires(st, &c.rule) {
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
			if d.fires(st, r) {
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
