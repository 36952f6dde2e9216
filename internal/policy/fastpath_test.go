package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aupguard/aupguard/internal/classify"
	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/policies"
)

// TestFastPathEqualsPolicy backs the proof in fastpath.go: for the bundled
// Rego with many random data documents (per-app overrides and dry-run
// lists, global dry run in data and in Options, settings), both entrypoints
// decide exactly what fastAllow returns for random signal-free inputs and
// subjects, and the engine's answer (fast path) equals Rego's.
func TestFastPathEqualsPolicy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := fastAllow()
	for v := 0; v < 12; v++ {
		e, st, apps := randomBundledEngine(t, rng)
		pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
		for i := 0; i < 150; i++ {
			s := Subject{
				App:      pick(append([]string{"", "web", "kids", fmt.Sprintf("app%d", i)}, apps...)...),
				EndUser:  fmt.Sprintf("user-%d", rng.IntN(1000)),
				Standing: pick("", "active", "warned", "suspended", "banned"),
				Strikes:  rng.Float64() * 50,
				Reports:  rng.IntN(100),
				ZDR:      rng.IntN(2) == 1,
				Endpoint: pick("chat", "completions", "responses", "messages", "embeddings"),
				Model:    pick("openai/gpt-4o", "anthropic/claude-sonnet-4", "x-ai/grok-4", ""),
			}
			if rng.IntN(2) == 1 {
				s.NonText = map[string]int{pick("image_url", "input_audio", "file"): 1 + rng.IntN(3)}
			}
			if rng.IntN(2) == 1 {
				s.OperatorRoles = []string{pick("system", "developer")}
			}
			sig := randomSignalFree(rng)
			if rng.IntN(2) == 1 {
				// The learned tier ran and stayed below its flag threshold
				// for the text's language (English or not).
				m := &detect.ModelScores{English: rng.Float64(),
					Categories: map[string]float64{pick("mass_casualty_weapons", "hate_and_harassment"): rng.Float64()}}
				if rng.IntN(2) == 1 {
					m.English = 0
				}
				if bound := st.modelBound.at(m); bound > 0 {
					m.Harmful = rng.Float64() * bound * 0.999
					sig.Model = m
				}
			}
			var by *ByAuthor
			if rng.IntN(2) == 1 {
				by = &ByAuthor{Operator: randomSignalFree(rng), Model: randomSignalFree(rng), Tool: randomSignalFree(rng)}
			}
			for name, pq := range map[string]*rego.PreparedEvalQuery{RequestQuery: &st.req, OutputQuery: &st.out} {
				got, err := evalDecision(context.Background(), pq, inputValueBy(s, sig, by, nil))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("variant %d, %s for %+v / %+v / %+v:\n got %+v\nwant %+v", v, name, s, sig, by, got, want)
				}
			}
			d, err := e.Decide(context.Background(), s, sig, by, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Unscanned, Unscanned(s.NonText)) {
				t.Fatalf("variant %d: decision counts unscanned %v, request has %v", v, d.Unscanned, s.NonText)
			}
			d.ID, d.PolicyHash, d.Unscanned = "", "", nil
			if !reflect.DeepEqual(d, want) {
				t.Fatalf("variant %d, engine for %+v: got %+v", v, s, d)
			}
		}
	}
}

// randomBundledEngine loads the bundled Rego with random data
// (randomData) and a random dry-run list, and fails unless the fast path
// (and with it canon.go's canonical scores) is on for it.
func randomBundledEngine(t *testing.T, rng *rand.Rand) (*Engine, *state, []string) {
	t.Helper()
	dir := testBundle(t)
	apps, dryRun := randomData(t, rng, dir)
	e := newEngine(t, Options{Dir: dir, DryRun: dryRun})
	st := e.cur.Load()
	if !st.fast {
		t.Fatal("bundled Rego with random data did not get the fast path")
	}
	return e, st, apps
}

// randomSignalFree is signals with nothing the policy acts on: no category,
// no PII, no model scores, but safe contexts and lengths.
func randomSignalFree(rng *rand.Rand) detect.Signals {
	sig := detect.Signals{Length: rng.IntN(1 << 20)}
	if rng.IntN(2) == 1 {
		sig.Categories, sig.PII = map[string]detect.CategorySignal{}, map[string]int{}
	}
	if rng.IntN(2) == 1 {
		ctxs := []string{"fiction", "history", "definition", "educational"}
		sig.SafeContext = ctxs[:1+rng.IntN(len(ctxs))]
	}
	return sig
}

// randomData rewrites the bundle's data.json with random settings, a
// random global dry-run list and random per-app overrides; it returns the
// apps it named and a random dry-run list for Options.
func randomData(t *testing.T, rng *rand.Rand, dir string) (apps, dryRun []string) {
	t.Helper()
	name := filepath.Join(dir, "aup", dataFile)
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(src, &data); err != nil {
		t.Fatal(err)
	}
	var cats, kinds []string
	for id := range data["categories"].(map[string]any) {
		cats = append(cats, id)
	}
	for k := range data["pii"].(map[string]any) {
		kinds = append(kinds, k)
	}
	slices.Sort(cats)
	slices.Sort(kinds)
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	num := func() float64 { return float64(rng.IntN(5)) / 2 }    // 0 .. 2
	flag := func() float64 { return float64(1+rng.IntN(4)) / 2 } // 0.5 .. 2: from classify.DetailGate
	dry := func() []any {
		var l []any
		for n := rng.IntN(4); n > 0; n-- {
			switch rng.IntN(3) {
			case 0:
				l = append(l, pick(cats...))
			case 1:
				l = append(l, "pii_"+pick(kinds...))
			default:
				l = append(l, DryRunAll)
			}
		}
		if l == nil {
			l = []any{}
		}
		return l
	}
	set := data["settings"].(map[string]any)
	for _, k := range []string{"safe_context_factor", "flag_strike_factor", "output_strike_factor", "classifier_score"} {
		set[k] = num()
	}
	switch rng.IntN(4) {
	case 0:
		delete(set, "model")
	case 1: // the lowest thresholds the engine accepts (checkModelSettings)
		set["model"] = map[string]any{"flag": classify.DetailGate, "block": 0, "confirm": 0}
	case 2:
		set["model"] = map[string]any{"flag": flag(), "block": num(), "confirm": num()}
	default: // a lower threshold for text that is not English
		set["model"] = map[string]any{"flag": flag(), "block": num(), "confirm": num(), "flag_other_language": flag(), "english_share": num()}
	}
	data["dry_run"] = dry()
	overrides := map[string]any{}
	for n := rng.IntN(4); n > 0; n-- {
		app := pick("web", "kids", "adult", "", "unknown-app", fmt.Sprintf("tenant%d", rng.IntN(10)))
		o := map[string]any{}
		if rng.IntN(2) == 1 {
			o["dry_run"] = dry()
		}
		if rng.IntN(2) == 1 {
			o["categories"] = map[string]any{pick(cats...): map[string]any{
				"action": pick("allow", "flag", "block"), "flag_threshold": 0, "block_threshold": 0,
				"strike": num(), "escalation": pick("", "suspend", "ban"), "relax_in_safe_context": rng.IntN(2) == 1,
			}}
		}
		if rng.IntN(2) == 1 {
			o["pii"] = map[string]any{pick(kinds...): map[string]any{
				"action": pick("allow", "redact", "flag", "block"), "output_action": pick("allow", "redact", "block"),
				"strike": num(),
			}}
		}
		overrides[app] = o
		apps = append(apps, app)
	}
	data["apps"] = overrides
	out, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(name, string(out)); err != nil {
		t.Fatal(err)
	}
	for _, d := range dry() {
		dryRun = append(dryRun, d.(string))
	}
	return apps, dryRun
}

// The operator's rule on input.subject (issue #16): its own Rego test
// passes and the engine obeys it for signal-free text, which must not take
// a fast path the rule knows nothing of.
func TestOperatorSubjectRuleObeyed(t *testing.T) {
	dir := testBundle(t)
	name := filepath.Join(dir, "aup", "decision.rego")
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	const line = `decision := object.union(_decide(_request_hits, 1), {"operator": _operator_decision})`
	if !bytes.Contains(src, []byte(line)) {
		t.Fatal("the bundled decision rule changed; update this test")
	}
	rule := `decision := {"action": "block", "categories": [], "severity": "", "strike": 0, "reasons": ["operator: x-ai/grok-4 is not offered"], "rules": ["operator.no_grok"], "escalation": "", "legal_hold": false, "redact": [], "dry_run": false} if input.subject.model == "x-ai/grok-4"

else := object.union(_decide(_request_hits, 1), {"operator": _operator_decision})`
	if err := writeFile(name, strings.Replace(string(src), line, rule, 1)); err != nil {
		t.Fatal(err)
	}
	test := `package aup_test

import data.aup

test_grok_blocked if {
	aup.decision.action == "block" with input as {"subject": {"app": "web", "model": "x-ai/grok-4"}}
}

test_other_models_allowed if {
	aup.decision.action == "allow" with input as {"subject": {"app": "web", "model": "openai/gpt-4o"}}
}
`
	if err := writeFile(filepath.Join(dir, "aup", "operator_test.rego"), test); err != nil {
		t.Fatal(err)
	}
	res, err := RunTests(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Pass {
			t.Fatalf("Rego test %s failed: %s", r.Name, r.Err)
		}
	}

	e := newEngine(t, Options{Dir: dir})
	if e.cur.Load().fast {
		t.Fatal("fast path on for a changed decision.rego")
	}
	grok := subj
	grok.Model = "x-ai/grok-4"
	for _, texts := range [][]string{{"hello"}, {"hello"}, {}} { // twice: the memo must keep it too
		d, err := e.CheckRequest(context.Background(), grok, EndUserTexts(texts...))
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != Block || !slices.Equal(d.Rules, []string{"operator.no_grok"}) {
			t.Fatalf("grok-4 with %q: %+v", texts, d)
		}
	}
	d, err := e.Decide(context.Background(), grok, detect.Signals{}, nil, nil)
	if err != nil || d.Action != Block {
		t.Fatalf("Decide: %+v, %v", d, err)
	}
	if d := check(t, e, "hello"); d.Action != Allow {
		t.Fatalf("gpt-4o: %+v", d)
	}
}

// Only the bundled Rego, byte for byte, gets the fast path: any change to
// a module (even a comment) or any added module turns it off; tests, data
// and the lexicon do not count.
func TestFastPathOnlyForBundledRego(t *testing.T) {
	decision := filepath.Join("aup", "decision.rego")
	for _, c := range []struct {
		name string
		edit func(dir string) error
		fast bool
		why  string
	}{
		{"copy", func(string) error { return nil }, true, "is the bundled policy's"},
		{"test added", func(dir string) error {
			return writeFile(filepath.Join(dir, "aup", "extra_test.rego"), "package aup_test\n\ntest_true if true\n")
		}, true, "is the bundled policy's"},
		{"data changed", func(dir string) error {
			name := filepath.Join(dir, "aup", dataFile)
			src, err := os.ReadFile(name)
			if err != nil {
				return err
			}
			return writeFile(name, strings.Replace(string(src), `"apps": {}`, `"apps": {"kids": {"dry_run": ["all"]}}`, 1))
		}, true, "is the bundled policy's"},
		{"comment", func(dir string) error {
			src, err := fs.ReadFile(policies.FS, "aup/decision.rego")
			if err != nil {
				return err
			}
			return writeFile(filepath.Join(dir, decision), string(src)+"\n# mine\n")
		}, false, "aup/decision.rego changed"},
		{"module added", func(dir string) error {
			return writeFile(filepath.Join(dir, "aup", "extra.rego"), "package aup\n\n_extra := true\n")
		}, false, "aup/extra.rego added"},
		{"module moved", func(dir string) error {
			return os.Rename(filepath.Join(dir, decision), filepath.Join(dir, "aup", "main.rego"))
		}, false, "aup/decision.rego missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := testBundle(t)
			if err := c.edit(dir); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			e := newEngine(t, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if got := e.cur.Load().fast; got != c.fast {
				t.Fatalf("fast = %v, want %v", got, c.fast)
			}
			if n := strings.Count(logs.String(), "policy: fast path"); n != 1 {
				t.Fatalf("fast path logged %d times:\n%s", n, logs.String())
			}
			if want := fmt.Sprintf("on=%v", c.fast); !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), c.why) {
				t.Fatalf("log lacks %q / %q:\n%s", want, c.why, logs.String())
			}
		})
	}
}

// The embedded bundle itself gets the fast path.
func TestFastPathEmbedded(t *testing.T) {
	e := newEngine(t, Options{})
	if !e.cur.Load().fast {
		t.Fatal("embedded bundle: no fast path")
	}
}

// A policy that decides signal-free input differently (here: banned users
// are refused whatever they send) must not get the fast path.
func TestFastPathDisabledForOtherPolicies(t *testing.T) {
	dir := testBundle(t)
	src := `package aup

decision := object.union(_base, {"action": "block"}) if input.subject.standing == "banned"

decision := _base if input.subject.standing != "banned"

output_decision := _base

_base := {"action": "allow", "categories": [], "reasons": [], "rules": [], "strike": 0, "severity": "", "escalation": "", "legal_hold": false, "redact": [], "dry_run": false}
`
	if err := writeFile(filepath.Join(dir, "aup", "decision.rego"), src); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Dir: dir})
	if e.cur.Load().fast {
		t.Fatal("fast path enabled for a subject-dependent policy")
	}
	banned := subj
	banned.Standing = "banned"
	d, err := e.CheckRequest(context.Background(), banned, EndUserTexts("hello"))
	if err != nil || d.Action != Block {
		t.Fatalf("got %+v, %v", d, err)
	}
}

// The probe covers an app data does not name even when data names
// "unknown-app" (and "" and "web").
func TestProbeSubjectsCoverUnnamedApp(t *testing.T) {
	named := []string{"", "unknown-app", "unknown-app_", "web"}
	for _, s := range probeSubjects(named) {
		if !slices.Contains(named, s.App) {
			return
		}
	}
	t.Fatal("no probe subject of an app data does not name")
}
