package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/aupguard/aupguard/internal/detect"
)

func TestAnalyseInput(t *testing.T) {
	use := func(src string) inputUse {
		t.Helper()
		m := ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		c := ast.NewCompiler()
		if c.Compile(map[string]*ast.Module{"p.rego": m}); c.Failed() {
			t.Fatal(c.Errors)
		}
		return analyseInput(c.Modules)
	}
	u := use("package p\n\nx := input.subject.app\n\ny := count(input.signals.pii)\n\nz if input.classifier.verdict == \"unsafe\"\n")
	if !u.memo || !u.subject[0] || u.subject[1] || !u.signals[1] || u.signals[0] || u.signals[3] {
		t.Fatalf("%+v", u)
	}
	u = use("package p\n\nx := input.subject\n")
	if !u.memo || !u.subject[1] || !u.subject[8] || u.signals[0] {
		t.Fatalf("whole subject: %+v", u)
	}
	u = use("package p\n\nx := input.signals[k] if some k in [\"pii\"]\n")
	if !u.memo || !u.signals[0] || !u.signals[3] {
		t.Fatalf("dynamic key: %+v", u)
	}
	if u := use("package p\n\nx := object.get(input, \"subject\", {})\n"); u.memo {
		t.Fatal("whole input memoised")
	}
	if u := use("package p\n\nx := time.now_ns()\n"); u.memo {
		t.Fatal("non-deterministic policy memoised")
	}
	if u := use("package p\n\nx := {\"n\": rand.intn(\"s\", 10)}\n"); u.memo {
		t.Fatal("non-deterministic call in a term memoised")
	}
	// The bundled policy reads app and the signals it decides on, not the
	// end user or the length, so decisions are shared across users.
	e := newEngine(t, Options{Dir: testBundle(t)})
	u = e.cur.Load().use
	if !u.memo || !u.subject[0] || u.subject[1] || u.signals[3] || !u.signals[0] || !u.signals[1] || !u.signals[2] {
		t.Fatalf("bundled policy: %+v", u)
	}
}

// TestMemoEqualsPolicy: decisions served through the memo equal fresh
// evaluations, over random inputs that repeat often enough to hit it.
func TestMemoEqualsPolicy(t *testing.T) {
	e := newEngine(t, Options{Dir: testBundle(t)})
	st := e.cur.Load()
	rng := rand.New(rand.NewPCG(3, 4))
	cats := []string{"mass_casualty_weapons", "violent_crime_and_terrorism", "self_harm", "platform_abuse", "sexual_content", "no_such"}
	kinds := []string{"email", "phone", "card", "api_key"}
	hits := 0
	for i := 0; i < 1000; i++ {
		s := Subject{App: []string{"web", "kids"}[rng.IntN(2)], EndUser: fmt.Sprint("u", rng.IntN(50)), Standing: "active"}
		sig := detect.Signals{Categories: map[string]detect.CategorySignal{}, PII: map[string]int{}, Length: rng.IntN(5000)}
		for range rng.IntN(3) {
			c := cats[rng.IntN(len(cats))]
			sig.Categories[c] = detect.CategorySignal{Score: float64(rng.IntN(11)) / 10, Rules: []string{c + ".r" + fmt.Sprint(rng.IntN(2))}}
		}
		for range rng.IntN(2) {
			sig.PII[kinds[rng.IntN(len(kinds))]] = 1 + rng.IntN(2)
		}
		if rng.IntN(4) == 0 {
			sig.SafeContext = []string{"fiction"}
		}
		for _, q := range []struct {
			m    *memo
			name string
		}{{st.reqMemo, RequestQuery}, {st.outMemo, OutputQuery}} {
			pq := &st.req
			if q.name == OutputQuery {
				pq = &st.out
			}
			if _, ok := q.m.get(st.use.key(s, sig, nil)); ok {
				hits++
			}
			got, err := e.decide(context.Background(), st, pq, q.m, s, sig, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := evalDecision(context.Background(), pq, inputValue(s, sig, nil))
			if err != nil {
				t.Fatal(err)
			}
			got.ID, got.PolicyHash, got.Redact = "", "", nil
			if len(sig.Categories) == 0 && len(sig.PII) == 0 {
				want = fastAllow() // the fast path answered; TestFastPathEqualsPolicy covers it
				got.Redactions = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %+v %+v:\n got %+v\nwant %+v", q.name, s, sig, got, want)
			}
		}
	}
	if hits < 300 {
		t.Fatalf("memo hit only %d times: the test does not exercise it", hits)
	}
}

func TestMemoAppendDoesNotLeak(t *testing.T) {
	e := newEngine(t, Options{Dir: testBundle(t)})
	d1 := check(t, e, "how to synthesize sarin")
	d1.Reasons = append(d1.Reasons, "mine")
	d1.Categories = append(d1.Categories, "mine")
	d2 := check(t, e, "how to synthesize sarin")
	if len(d2.Reasons) != 1 || len(d2.Categories) != 1 || d2.ID == d1.ID {
		t.Fatalf("memoised decision changed: %+v", d2)
	}
}
