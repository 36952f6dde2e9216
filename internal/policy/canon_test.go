package policy

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/aupguard/aupguard/internal/detect"
)

// TestCanonicalScoresDecideAlike backs the proof in canon.go: for the
// bundled Rego with random data documents (thresholds for English and
// other text, per-app overrides, dry run), inputs with random lexicon hits
// and learned-tier scores placed on and around every threshold decide
// exactly as their canonical forms do.
func TestCanonicalScoresDecideAlike(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	changed := 0
	for v := 0; v < 16; v++ {
		_, st, apps := randomBundledEngine(t, rng)
		cats := bundledCategories(t)
		for i := 0; i < 120; i++ {
			s := Subject{App: pickOf(rng, append([]string{"", "web"}, apps...)), Endpoint: "chat"}
			sig := randomScored(rng, cats, st.canon)
			var by *ByAuthor
			if rng.IntN(2) == 1 {
				by = &ByAuthor{Operator: randomScored(rng, cats, st.canon)}
			}
			csig, cby := st.canon.apply(sig, by)
			if !reflect.DeepEqual(csig.Model, sig.Model) {
				changed++
			}
			want, err := evalDecision(ctx, &st.req, inputValueBy(s, sig, by, nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := evalDecision(ctx, &st.req, inputValueBy(s, csig, cby, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("variant %d (%+v): %+v / model %+v, canonical %+v:\n got %+v\nwant %+v", v, st.canon, sig, *sig.Model, *csig.Model, got, want)
			}
		}
	}
	if changed < 1000 {
		t.Fatalf("only %d of the inputs had scores to canonicalise: the test no longer covers canon.go", changed)
	}
}

// Inputs whose scores differ only where the bundled policy does not look
// meet in the decision memo.
func TestCanonicalScoresMeetInMemo(t *testing.T) {
	e := newEngine(t, Options{})
	st := e.cur.Load()
	lex := map[string]detect.CategorySignal{"violent_crime_and_terrorism": {Score: 0.7, Rules: []string{"vc.x"}}}
	a := detect.Signals{Categories: lex, Model: &detect.ModelScores{Harmful: 0.97, English: 0.52,
		Categories: map[string]float64{"violent_crime_and_terrorism": 0.61, "hate_and_harassment": 0.2}}}
	b := detect.Signals{Categories: lex, Model: &detect.ModelScores{Harmful: 0.97, English: 0.9,
		Categories: map[string]float64{"violent_crime_and_terrorism": 0.83, "self_harm": 0.07}}}
	op := &ByAuthor{Operator: detect.Signals{Categories: lex, Model: &detect.ModelScores{Harmful: 0.3, English: 0.4}}}
	op2 := &ByAuthor{Operator: detect.Signals{Categories: lex, Model: &detect.ModelScores{Harmful: 0.3, English: 0.8,
		Categories: map[string]float64{"self_harm": 0.3}}}}
	key := func(sig detect.Signals, by *ByAuthor) string {
		sig, by = st.canon.apply(sig, by)
		return st.use.key(subj, sig, by)
	}
	if key(a, op) != key(b, op2) {
		t.Fatal("scores that decide alike make different memo keys")
	}
	c := b
	c.Model = &detect.ModelScores{Harmful: 0.97, English: 0.9, Categories: map[string]float64{"hate_and_harassment": 0.83}}
	if key(a, op) == key(c, op) {
		t.Fatal("a different top category makes the same memo key")
	}
	d1, err := e.Decide(context.Background(), subj, a, op, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := e.Decide(context.Background(), subj, b, op2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d1.Reasons, d2.Reasons) || d1.Action != d2.Action || d1.Action == Allow {
		t.Fatalf("decisions differ: %+v / %+v", d1, d2)
	}
	if len(a.Model.Categories) != 2 || a.Model.English != 0.52 || op.Operator.Model.English != 0.4 {
		t.Fatal("canonicalising modified the caller's scores")
	}
}

func bundledCategories(t *testing.T) []string {
	t.Helper()
	b, err := readBundle("")
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.data()
	if err != nil {
		t.Fatal(err)
	}
	cats, _ := data["aup"].(map[string]any)["categories"].(map[string]any)
	ids := make([]string, 0, len(cats))
	for id := range cats {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func pickOf(rng *rand.Rand, xs []string) string { return xs[rng.IntN(len(xs))] }

// randomScored is signals with lexicon hits, PII and learned-tier scores
// on and around the thresholds the canonical form depends on.
func randomScored(rng *rand.Rand, cats []string, c modelCanon) detect.Signals {
	sig := randomSignalFree(rng)
	if n := rng.IntN(3); n > 0 {
		sig.Categories = map[string]detect.CategorySignal{}
		for ; n > 0; n-- {
			id := pickOf(rng, append(cats, "not_a_category"))
			sig.Categories[id] = detect.CategorySignal{Score: float64(rng.IntN(21)) / 20, Rules: []string{id + ".r"}}
		}
	}
	if rng.IntN(4) == 0 {
		sig.PII = map[string]int{"email": 1 + rng.IntN(2)}
	}
	if rng.IntN(6) == 0 {
		return sig // the learned tier did not run
	}
	near := func(x float64) float64 { return x + float64(rng.IntN(3)-1)/100 }
	m := &detect.ModelScores{}
	switch rng.IntN(4) {
	case 0:
		m.Harmful = float64(rng.IntN(101)) / 100
	case 1:
		m.Harmful = near(min(c.low, 1))
	default:
		// the bundled thresholds, and randomData's (0.5, 1, 1.5 and 2)
		m.Harmful = near([]float64{0.25, 0.4, 0.5, 0.86, 0.96, 0.98, 1, 1.5}[rng.IntN(8)])
	}
	switch rng.IntN(3) {
	case 0:
		m.English = float64(rng.IntN(101)) / 100
	case 1:
		m.English = near(c.share)
	default:
		m.English = 0
	}
	if n := rng.IntN(5); n > 0 {
		m.Categories = map[string]float64{}
		for ; n > 0; n-- {
			m.Categories[pickOf(rng, append(cats, "not_a_category"))] = []float64{0.05, 0.3, 0.3, 0.6, 0.9}[rng.IntN(5)]
		}
	}
	sig.Model = m
	return sig
}
