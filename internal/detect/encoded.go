package detect

import (
	"math"
	"slices"
	"sort"
)

// encodedDef is the lexicon's "encoded" section (see lexEncoded).
type encodedDef struct {
	on                             bool
	rule, cat                      string
	decode                         []int32
	harmfulAt                      float64
	scoreHarmful, scoreInstruction float64
}

// encodedList is the pseudo-list whose hits are the encoded spans (after
// the lexicon's lists and the sentence breaks).
func (d *Detector) encodedList() int32 { return int32(d.nLists) + 1 }

// rot13 reads the text in ROT13 when it looks like it: when many of its
// words are no word of the lexicon and their ROT13 forms are. Without a
// decode request in the text that takes at least half of its words (four
// or more) unknown, and twice as many words of the lexicon plus three in
// the ROT13 form as in the text; with one ("rot13", "decode") three
// unknown words, and half of them readable in ROT13. Then the ROT13
// form's hits are added to the text's, at the same positions, and the
// whole text counts as an encoded span. One extra pass, at most, over the
// normalised text.
func (d *Detector) rot13(st *scanState, positions int32) {
	ms := &st.ms
	if ms.nunk < 3 {
		return
	}
	cue := false
	if d.enc.on && 3*ms.nunk >= ms.ntok { // (a third unknown at the least)
		for _, r := range ms.recs {
			if slices.Contains(d.enc.decode, r.list) {
				cue = true
				break
			}
		}
	}
	if !cue && (ms.nunk < 4 || 2*ms.nunk < ms.ntok) {
		return
	}
	st.rot = append(st.rot[:0], st.norm.out...)
	for i, c := range st.rot {
		if 'a' <= c && c <= 'z' {
			st.rot[i] = 'a' + (c-'a'+13)%26
		}
	}
	rms := &st.rms // not st.ms: the text's own edges and hits stay
	d.m.scan(st.rot, rms)
	known, rotKnown := ms.ntok-ms.nunk, rms.ntok-rms.nunk
	if cue && !(rotKnown >= 3 && 2*rotKnown >= ms.nunk) || !cue && rotKnown < 2*known+3 {
		return
	}
	for _, r := range rms.recs {
		if r.list != d.m.breakList {
			ms.recs = append(ms.recs, r)
		}
	}
	ms.recs = append(ms.recs, listHit{d.encodedList(), hit{0, positions - 1}})
	st.textEncoded = true
}

// encodedSpans adds the normaliser's decoded spans (byte ranges of the
// normalised text) as hits of the encoded pseudo-list, in token positions.
func (d *Detector) encodedSpans(st *scanState) {
	spans := st.norm.spans
	if len(spans) == 0 {
		return
	}
	out := st.norm.out
	pos, k := int32(0), 0
	start := int32(-1)
	for i := 0; i <= len(out) && k < len(spans); i++ {
		if start < 0 && i == spans[k][0] {
			start = pos
		}
		if i == spans[k][1] {
			st.ms.recs = append(st.ms.recs, listHit{d.encodedList(), hit{start, max(start, pos)}})
			st.textEncoded = true
			k, start = k+1, -1
			i-- // a span may start where the last ended
			continue
		}
		if i < len(out) && out[i] == ' ' {
			pos++
			if i+1 < len(out) && out[i+1] == '.' {
				pos += sentenceGap
			}
		}
	}
}

// encodedHarm reports whether the hits inside encoded spans alone make a
// category score of at least harmfulAt (st.recs, before match).
func (d *Detector) encodedHarm(st *scanState) bool {
	if !d.enc.on || !st.encoded {
		return false
	}
	el := d.encodedList()
	spans := st.spans[:0]
	for _, r := range st.recs {
		if r.list == el {
			spans = append(spans, r.h)
		}
	}
	st.spans = spans
	if len(spans) == 0 {
		return false
	}
	st.sub = st.sub[:0]
	end := int32(0)
	// the spans are in order of position within a text, but not across
	// the texts' recs: sort them, then look each hit up (n log n)
	slices.SortFunc(spans, cmpHit)
	for _, r := range st.recs {
		i := sort.Search(len(spans), func(i int) bool { return spans[i].start > r.h.start }) - 1
		for ; i >= 0 && spans[i].end >= r.h.start; i-- {
			if r.h.end <= spans[i].end {
				st.sub = append(st.sub, r)
				end = max(end, r.h.end+1)
				break
			}
		}
	}
	st.recs, st.sub = st.sub, st.recs
	d.match(st, end)
	cats, _ := d.decide(st)
	st.recs, st.sub = st.sub, st.recs
	for _, c := range cats {
		if c.Score >= d.enc.harmfulAt {
			return true
		}
	}
	return false
}

// encodedSignal adds the encoded-text rule to cats (after match and
// decide over the whole request): when the decoded text is harmful, or a
// decode instruction accompanies encoded text.
func (d *Detector) encodedSignal(st *scanState, cats map[string]CategorySignal, harmful bool) {
	if !d.enc.on || !st.encoded || len(st.hits[d.encodedList()]) == 0 {
		return
	}
	score := 0.0
	switch {
	case harmful:
		score = d.enc.scoreHarmful
	case d.present(st, d.enc.decode):
		score = d.enc.scoreInstruction
	default:
		return
	}
	c := cats[d.enc.cat]
	c.Score = math.Round((1-(1-c.Score)*(1-score))*100) / 100
	if !slices.Contains(c.Rules, d.enc.rule) {
		c.Rules = append(slices.Clone(c.Rules), d.enc.rule)
		slices.Sort(c.Rules)
	}
	cats[d.enc.cat] = c
}
