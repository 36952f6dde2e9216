package policy

import (
	"math"

	"github.com/aupguard/aupguard/internal/detect"
)

// Canonical learned-tier scores. The decision memo (memo.go) reuses a
// decision for inputs equal in every path the policy reads, and the
// learned tier's scores make nearly every flagged request's input new: a
// probability per category and an English share, each to two decimals. A
// new input is a Rego evaluation of hundreds of microseconds, most of a
// flagged request's CPU and most of `check --jsonl`'s. The bundled policy
// reads those values only through comparisons, so for it (the fast path's
// condition: its Rego is the bundled policy's, fastpath.go) the engine
// replaces them, before the memo key is made, by a representative that
// every comparison answers alike. The decision is the same; only the
// number of distinct inputs falls (to about a third on the training
// corpus: docs/benchmarks.md).
//
// Why the bundled policy (policies/aup/decision.rego) decides the
// canonical input as it decides the original:
//   - input.signals.model.harmful and .ran are kept: the harm probability
//     is compared with every threshold and printed in reasons.
//   - input.signals.model.categories is read only by _model_ids: the ids
//     whose value is the largest, once harmful >= _model_flag. Setting
//     those ids to 1 and dropping the others keeps the set; an empty map
//     stays empty.
//   - input.signals.model.english is read only by _model_flag, in
//     english < object.get(settings.model, "english_share", 0.15), and
//     _model_flag only by _model_ids. A share s is a number >= 0
//     (checkModelSettings), so an English share e in [0, s) can be 0 and
//     one at or above s can be s: the comparison is unchanged.
//   - _model_flag is settings.model.flag or .flag_other_language (the
//     default settings hold flag 2); below both thresholds present,
//     _model_ids is empty whatever the categories and the English share,
//     so both become empty.
//   - input.by_author.operator.model is read only for ran and harmful
//     (_operator_model); the model's and tools' signals carry no scores.
//
// Values that compare oddly (NaN) are left as they are. Whoever changes
// decision.rego must keep this reasoning true: TestCanonicalScoresDecideAlike
// compares the decisions of original and canonical inputs over random
// signals and data.
type modelCanon struct {
	low   float64 // the lowest learned-tier flag threshold present (+Inf: none)
	share float64 // settings.model.english_share, 0.15 when absent
}

// modelCanonOf reads the thresholds from data, which checkModelSettings
// has checked: settings.model, when present, is an object of numbers.
func modelCanonOf(data map[string]any) modelCanon {
	aup, _ := data["aup"].(map[string]any)
	set, _ := aup["settings"].(map[string]any)
	m, ok := set["model"].(map[string]any)
	if !ok {
		m = map[string]any{"flag": 2.0} // decision.rego's default _model_settings
	}
	c := modelCanon{low: math.Inf(1), share: 0.15}
	for _, k := range []string{"flag", "flag_other_language"} {
		if f, ok := number(m[k]); ok {
			c.low = min(c.low, f)
		}
	}
	if f, ok := number(m["english_share"]); ok {
		c.share = f
	}
	return c
}

// apply returns the canonical form of the signals and authors' signals;
// the caller's values are not modified (the operator's are shared through
// the signals cache).
func (c modelCanon) apply(sig detect.Signals, by *ByAuthor) (detect.Signals, *ByAuthor) {
	sig.Model = c.user(sig.Model)
	if by != nil && by.Operator.Model != nil {
		b := *by
		b.Operator.Model = &detect.ModelScores{Harmful: by.Operator.Model.Harmful}
		by = &b
	}
	return sig, by
}

func (c modelCanon) user(m *detect.ModelScores) *detect.ModelScores {
	if m == nil {
		return nil
	}
	out := &detect.ModelScores{Harmful: m.Harmful}
	if m.Harmful < c.low {
		return out
	}
	out.English = m.English
	switch {
	case m.English >= 0 && m.English < c.share:
		out.English = 0
	case m.English >= c.share:
		out.English = c.share
	}
	top := math.Inf(-1)
	for _, v := range m.Categories {
		if math.IsNaN(v) {
			out.Categories = m.Categories
			return out
		}
		top = max(top, v)
	}
	out.Categories = make(map[string]float64, 1)
	for id, v := range m.Categories {
		if v == top {
			out.Categories[id] = 1
		}
	}
	return out
}
