package policy

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aupguard/aupguard/internal/detect"
)

// The fast path. Most requests carry no signal at all: no category scored,
// no PII, no learned-tier scores, no classifier verdict (signalFree, for
// every author). Evaluating Rego for them costs microseconds; fastAllow
// returns the same decision in nanoseconds. It stands in for Rego only
// where that is proven, never where it is merely observed on a sample:
// an operator's rule on input.subject (block a model, an app, a standing)
// must be obeyed however rarely it fires.
//
// The proof is for the bundled Rego, so the fast path is on only when a
// bundle's Rego modules (tests aside) are byte for byte the embedded
// bundle's (policies.FS): same paths, same contents. Its data, lexicon and
// model may differ. For any other bundle every input is evaluated in Rego,
// which the decision memo (memo.go) keeps cheap for repeated inputs.
//
// Why the bundled policy (policies/aup/decision.rego) allows every
// signal-free input, whatever its data:
//   - input.signals.categories and .pii are empty, input.classifier is
//     absent (no verdict) and input.signals.model is {"ran": false,
//     "harmful": 0, "categories": {}} (signalFree requires Model == nil),
//     or the learned tier ran and its harm probability is below
//     _model_flag: settings.model.flag, or settings.model.flag_other_language
//     where input.signals.model.english is below settings.model.english_share
//     (numbers; signalFreeBelow, modelBoundOf: the same choice). So
//     _classifier_ids is empty; _model_ids is empty (with no model it
//     iterates empty categories, else its first condition, harmful >=
//     _model_flag, fails); _ids is empty. _request_hits and _output_hits, built from _ids and
//     _pii_counts only, are {}.
//   - _decide({}, f) is its first branch (count(hits) == 0), whatever the
//     dry-run lists: action allow, no categories, severity "", strike
//     0 * f = 0, reasons sort(_unknown_reasons), empty (no _ids), no rules
//     or redactions, no escalation, legal_hold false, dry_run false:
//     fastAllow.
//   - _request_hits also holds _unscanned_hits, which is {} unless
//     input.unscanned.total > 0 and the app's data.aup.unscanned action
//     (global, merged with data.aup.apps[app].unscanned) is flag or block.
//     So the proof holds only for input without unscanned media, or when
//     no unscanned action in data acts: decide never takes the fast path
//     for a request with unscanned media when one does (state.unscannedActs,
//     from checkUnscanned at load, which also refuses any action but
//     allow, flag or block), and probeFastPath skips those subjects.
//   - decision.operator is its first branch for signal-free input
//     (input.by_author.operator.categories is empty): allow with nothing
//     named, which decodeOperator turns into nil, as in fastAllow.
//
// What data can still do is make the evaluation fail rather than decide
// otherwise: settings.output_strike_factor not a number (the product), an
// app's entry not an object (object.get in _dry_run). checkTaxonomy refuses
// those; probeFastPath makes sure of the rest. The subject enters the
// decision only through _app := data.aup.apps[input.subject.app]; the
// categories and PII kinds it also feeds are never reached here. So there
// are only as many cases as apps named in data.aup.apps, plus one for any
// other app (_app is {}), and probeFastPath evaluates every one of them at
// load: a failure fails the load, as it would fail every plain request.
//
// Whoever changes decision.rego must keep this reasoning true:
// TestFastPathEqualsPolicy compares fastAllow and Rego over many random
// signal-free inputs, subjects and data (per-app overrides, dry run).

// fastAllow is the decision of the bundled policy for signal-free input.
func fastAllow() Decision {
	return Decision{Action: Allow, Categories: []string{}, Reasons: []string{}, Rules: []string{}}
}

// fastPath tells whether signal-free input may skip Rego in a bundle, and
// why (for the log). An error means the bundle cannot decide a plain
// request.
func fastPath(ctx context.Context, st *state, b *bundle, apps []string) (bool, string, error) {
	same, err := probeFastPath(ctx, st, apps)
	if err != nil {
		return false, "", err
	}
	emb, err := embeddedRego()
	if err != nil {
		return false, "", err
	}
	if diff := regoDiff(regoFiles(b), emb); diff != "" {
		return false, "the bundle's Rego is not the bundled policy's (" + diff + "): every input is evaluated in Rego", nil
	}
	if !same {
		// Unreachable by the reasoning above; kept so a mistake in it
		// costs speed, never a decision.
		return false, "the bundled Rego decides signal-free input otherwise with this data: every input is evaluated in Rego", nil
	}
	return true, "the bundle's Rego is the bundled policy's, which allows every signal-free input: such input skips Rego", nil
}

// regoFiles are the Rego modules of a bundle that decide (tests aside).
func regoFiles(b *bundle) map[string][]byte {
	out := map[string][]byte{}
	for n, src := range b.files {
		if strings.HasSuffix(n, ".rego") {
			out[n] = src
		}
	}
	return out
}

// embeddedRego is regoFiles of the embedded bundle, read once.
var embeddedRego = sync.OnceValues(func() (map[string][]byte, error) {
	b, err := readBundle("")
	if err != nil {
		return nil, err
	}
	return regoFiles(b), nil
})

// regoDiff names the first difference between two sets of modules, "" when
// they are identical.
func regoDiff(got, want map[string][]byte) string {
	names := make([]string, 0, len(got)+len(want))
	for n := range got {
		names = append(names, n)
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, inGot := got[n]
		w, inWant := want[n]
		switch {
		case !inWant:
			return n + " added"
		case !inGot:
			return n + " missing"
		case string(g) != string(w):
			return n + " changed"
		}
	}
	return ""
}

// probeSubjects covers every case of the subject for the bundled policy on
// signal-free input (each app named in data.aup.apps, and apps it does not
// name), and spreads over the other fields of Subject besides.
func probeSubjects(apps []string) []Subject {
	named := map[string]bool{}
	for _, a := range apps {
		named[a] = true
	}
	other := "unknown-app" // an app data does not name, so _app is {}
	for named[other] {
		other += "_"
	}
	apps = append([]string{"", "web", other}, apps...)
	standings := []string{"", "active", "warned", "suspended", "banned"}
	var out []Subject
	for i, app := range apps {
		for j, st := range standings {
			s := Subject{App: app, EndUser: fmt.Sprintf("u%d", j), Standing: st, Endpoint: "chat", Model: "openai/gpt-4o"}
			if (i+j)%2 == 1 {
				s.Strikes, s.Reports, s.ZDR = 42.5, 7, true
				s.Endpoint, s.Model = "responses", "anthropic/claude"
				s.NonText = map[string]int{"image_url": 2}
			}
			out = append(out, s)
		}
	}
	return out
}

func probeSignals() []detect.Signals {
	return []detect.Signals{
		{},
		{Categories: map[string]detect.CategorySignal{}, PII: map[string]int{}, Length: 2048},
		{SafeContext: []string{"fiction", "history"}, Length: 10},
	}
}

// probeFastPath evaluates both entrypoints on signal-free input for
// probeSubjects and reports whether every result equals fastAllow. An
// undefined or malformed result is an error: the bundle cannot decide a
// plain request. For a bundle other than the bundled policy the answer is
// only a sample, never a reason to skip Rego.
func probeFastPath(ctx context.Context, st *state, apps []string) (bool, error) {
	want := fastAllow()
	same := true
	for _, s := range probeSubjects(apps) {
		if st.unscannedActs && hasUnscanned(s.NonText) {
			continue // never fast-pathed (decide)
		}
		for _, sig := range probeSignals() {
			for _, pq := range []struct {
				name string
				q    *rego.PreparedEvalQuery
			}{{RequestQuery, &st.req}, {OutputQuery, &st.out}} {
				got, err := evalDecision(ctx, pq.q, inputValue(s, sig, nil))
				if err != nil {
					return false, fmt.Errorf("%s on a plain request: %w", pq.name, err)
				}
				if !reflect.DeepEqual(got, want) {
					same = false
				}
			}
		}
	}
	return same, nil
}

// appNames lists the apps with overrides in data.aup.apps.
func appNames(data map[string]any) []string {
	aup, _ := data["aup"].(map[string]any)
	apps, _ := aup["apps"].(map[string]any)
	names := make([]string, 0, len(apps))
	for n := range apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// modelBound is where the bundled policy starts reading the learned tier
// (_model_flag): settings.model.flag, or, for text that is not English
// (input.signals.model.english below settings.model.english_share, 0.15
// when absent), settings.model.flag_other_language when that is set.
type modelBound struct {
	flag, other, share float64
	hasOther           bool
}

// at is the bound for one text's scores.
func (b modelBound) at(m *detect.ModelScores) float64 {
	if b.hasOther && m.English < b.share {
		return b.other
	}
	return b.flag
}

// modelBoundOf reads the bound from data. A threshold that is absent or
// not a number bounds at 0 (no score is below it); an english_share that
// is not a number leaves the lower of the two thresholds for every text.
func modelBoundOf(data map[string]any) modelBound {
	aup, _ := data["aup"].(map[string]any)
	set, _ := aup["settings"].(map[string]any)
	m, _ := set["model"].(map[string]any)
	var b modelBound
	b.flag, _ = number(m["flag"]) // 0 when not a number
	v, ok := m["flag_other_language"]
	if !ok {
		return b
	}
	b.hasOther = true
	b.other, _ = number(v)
	b.share = 0.15
	if sv, ok := m["english_share"]; ok {
		var isNum bool
		if b.share, isNum = number(sv); !isNum {
			b.flag, b.hasOther = min(b.flag, b.other), false
		}
	}
	return b
}
