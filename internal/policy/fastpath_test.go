package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aupguard/aupguard/internal/detect"
)

// TestFastPathEqualsPolicy is the proof behind the fast path: over many
// random subjects and signal-free inputs, both entrypoints of the bundled
// policy decide exactly what fastAllow returns.
func TestFastPathEqualsPolicy(t *testing.T) {
	e := newEngine(t, Options{Dir: testBundle(t)})
	st := e.cur.Load()
	if !st.fast {
		t.Fatal("bundled policy did not pass the fast-path probe")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	want := fastAllow()
	for i := 0; i < 500; i++ {
		s := Subject{
			App:      pick("", "web", "kids", "adult", fmt.Sprintf("app%d", i)),
			EndUser:  fmt.Sprintf("user-%d", rng.IntN(1000)),
			Standing: pick("", "active", "warned", "suspended", "banned"),
			Strikes:  rng.Float64() * 50,
			Reports:  rng.IntN(100),
			ZDR:      rng.IntN(2) == 1,
			Endpoint: pick("chat", "completions", "responses", "messages", "embeddings"),
			Model:    pick("openai/gpt-4o", "anthropic/claude-sonnet-4", ""),
		}
		if rng.IntN(2) == 1 {
			s.NonText = map[string]int{pick("image_url", "input_audio", "file"): 1 + rng.IntN(3)}
		}
		sig := detect.Signals{Length: rng.IntN(1 << 20)}
		if rng.IntN(2) == 1 {
			sig.Categories, sig.PII = map[string]detect.CategorySignal{}, map[string]int{}
		}
		if rng.IntN(2) == 1 {
			sig.SafeContext = []string{pick("fiction", "history", "definition", "educational")}
		}
		for name, pq := range map[string]*rego.PreparedEvalQuery{RequestQuery: &st.req, OutputQuery: &st.out} {
			got, err := evalDecision(context.Background(), pq, inputValue(s, sig, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s for %+v / %+v:\n got %+v\nwant %+v", name, s, sig, got, want)
			}
		}
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
