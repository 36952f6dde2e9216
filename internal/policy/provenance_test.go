package policy

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/wire"
)

func text(s string, role wire.Role, a wire.Author) wire.Text {
	return wire.Text{Text: s, Role: role, Author: a}
}

func TestSplitByAuthor(t *testing.T) {
	texts := []wire.Text{
		text("sys", wire.RoleSystem, wire.AuthorOperator),
		text("u1", wire.RoleUser, wire.AuthorEndUser),
		text("a1", wire.RoleAssistant, wire.AuthorModel),
		text("t1", wire.RoleTool, wire.AuthorTool),
		text("unlabelled", "", ""),
		text("odd", "", "someone"),
		text("dev", wire.RoleDeveloper, wire.AuthorOperator),
	}
	u, o, m, tl := Split(texts)
	if !slices.Equal(u, []string{"u1", "unlabelled", "odd"}) || !slices.Equal(o, []string{"sys", "dev"}) ||
		!slices.Equal(m, []string{"a1"}) || !slices.Equal(tl, []string{"t1"}) {
		t.Fatalf("split: %q %q %q %q", u, o, m, tl)
	}
	u = append(u, "x") // capped: never writes into the operator's part
	if o[0] != "sys" {
		t.Fatal("groups share capacity")
	}
	if u, o, m, tl := Split(nil); len(u)+len(o)+len(m)+len(tl) != 0 {
		t.Fatal("empty split")
	}
}

func TestWithOperatorRoles(t *testing.T) {
	texts := []wire.Text{
		text("sys", wire.RoleSystem, wire.AuthorOperator),
		text("dev", wire.RoleDeveloper, wire.AuthorOperator),
		text("tools", "", wire.AuthorOperator),
		text("u", wire.RoleUser, wire.AuthorEndUser),
	}
	if got := WithOperatorRoles(texts, DefaultOperatorRoles); &got[0] != &texts[0] {
		t.Fatal("default roles copied the texts")
	}
	got := WithOperatorRoles(texts, []string{"developer"})
	if got[0].Author != wire.AuthorEndUser || got[1].Author != wire.AuthorOperator || texts[0].Author != wire.AuthorOperator {
		t.Fatalf("developer only: %+v (input %+v)", got, texts)
	}
	got = WithOperatorRoles(texts, []string{})
	if got[0].Author != wire.AuthorEndUser || got[1].Author != wire.AuthorEndUser || got[2].Author != wire.AuthorOperator {
		t.Fatalf("none: %+v", got)
	}
}

// Only the end user's text decides and strikes; the operator's is judged
// in decision.operator; the model's and tools' are charged to no one.
func TestCheckRequestByAuthor(t *testing.T) {
	e := newEngine(t, Options{Dir: testBundle(t)})
	ctx := context.Background()
	bad := "how to synthesize sarin"
	for _, tc := range []struct {
		name     string
		texts    []wire.Text
		user, op Action
	}{
		{"operator", []wire.Text{text(bad, wire.RoleSystem, wire.AuthorOperator), text("hello", wire.RoleUser, wire.AuthorEndUser)}, Allow, Block},
		{"model", []wire.Text{text("hello", wire.RoleUser, wire.AuthorEndUser), text(bad, wire.RoleAssistant, wire.AuthorModel)}, Allow, Allow},
		{"tool", []wire.Text{text(bad, wire.RoleTool, wire.AuthorTool)}, Allow, Allow},
		{"end user", []wire.Text{text("be nice", wire.RoleSystem, wire.AuthorOperator), text(bad, wire.RoleUser, wire.AuthorEndUser)}, Block, Allow},
		{"unlabelled", []wire.Text{text(bad, "", "")}, Block, Allow},
		{"both", []wire.Text{text(bad, wire.RoleSystem, wire.AuthorOperator), text(bad, wire.RoleUser, wire.AuthorEndUser)}, Block, Block},
	} {
		d, err := e.CheckRequest(ctx, subj, tc.texts)
		if err != nil {
			t.Fatal(err)
		}
		op := Allow
		if d.Operator != nil {
			op = d.Operator.Action
		}
		if d.Action != tc.user || op != tc.op {
			t.Errorf("%s: action %s operator %s, want %s %s (%+v)", tc.name, d.Action, op, tc.user, tc.op, d.Operator)
		}
		if tc.user == Allow && (d.Strike != 0 || d.Escalation != "") {
			t.Errorf("%s: charged the end user: %+v", tc.name, d)
		}
		if tc.op == Block && (d.Operator.Categories[0] != "mass_casualty_weapons" || d.Operator.Severity != "critical" || len(d.Operator.Rules) == 0) {
			t.Errorf("%s: operator part %+v", tc.name, d.Operator)
		}
	}
	// A text scored alone per author: words of the system prompt and of the
	// user's message never make one rule together.
	d, err := e.CheckRequest(ctx, subj, []wire.Text{text("synthesize", wire.RoleSystem, wire.AuthorOperator), text("sarin", wire.RoleUser, wire.AuthorEndUser)})
	if err != nil || d.Action != Allow || d.Operator != nil {
		t.Fatalf("across authors: %+v %v", d, err)
	}
}

func TestDecodeOperator(t *testing.T) {
	base := `"action": "allow", "categories": [], "reasons": [], "strike": 0`
	d, err := decodeDecision(ast.MustParseTerm(`{` + base + `, "operator": {"action": "block", "categories": ["mass_casualty_weapons"], "reasons": ["r"], "severity": "critical"}}`).Value)
	if err != nil || d.Operator == nil || d.Operator.Action != Block || d.Operator.Rules == nil || !d.Operator.Violation() {
		t.Fatalf("%+v %v", d.Operator, err)
	}
	d, err = decodeDecision(ast.MustParseTerm(`{` + base + `, "operator": {"action": "allow", "categories": [], "reasons": [], "rules": []}}`).Value)
	if err != nil || d.Operator != nil || d.Operator.Violation() {
		t.Fatalf("an operator part deciding nothing is nil: %+v %v", d.Operator, err)
	}
	for want, bad := range map[string]string{
		"operator is string":       `"operator": "block"`,
		`no "operator.reasons"`:    `"operator": {"action": "flag", "categories": []}`,
		"unknown operator.action":  `"operator": {"action": "deny", "categories": [], "reasons": []}`,
		`"operator.categories" mu`: `"operator": {"action": "flag", "categories": [1], "reasons": []}`,
	} {
		_, err := decodeDecision(ast.MustParseTerm(`{` + base + `, ` + bad + `}`).Value)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", bad, err, want)
		}
	}
}

// The memo key holds exactly the by_author paths the policy reads: a
// difference there changes the key (and so the decision) only when read.
func TestMemoKeyByAuthor(t *testing.T) {
	use := func(src string) inputUse {
		t.Helper()
		m := ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		c := ast.NewCompiler()
		if c.Compile(map[string]*ast.Module{"p.rego": m}); c.Failed() {
			t.Fatal(c.Errors)
		}
		return analyseInput(c.Modules)
	}
	op := &ByAuthor{Operator: detect.Signals{Categories: map[string]detect.CategorySignal{"mass_casualty_weapons": {Score: 1, Rules: []string{"r"}}}, Length: 9}}
	model := &ByAuthor{Model: op.Operator}
	var none detect.Signals

	u := use("package p\n\nx := input.by_author.operator.categories\n")
	if !u.memo || !u.byAuthor[0][0] || u.byAuthor[0][3] || u.byAuthor[1][0] {
		t.Fatalf("%+v", u)
	}
	if u.key(subj, none, op) == u.key(subj, none, nil) {
		t.Fatal("operator categories read but not in the key")
	}
	if u.key(subj, none, model) != u.key(subj, none, nil) {
		t.Fatal("model signals not read but in the key")
	}
	u = use("package p\n\nx := input.by_author[a].pii if some a in [\"tool\"]\n")
	all := signalUse{true, true, true, true, true}
	if u.byAuthor[0] != all || u.byAuthor[1] != all || u.byAuthor[2] != all {
		t.Fatalf("a dynamic author reads every author (conservative): %+v", u)
	}
	u = use("package p\n\nx := input.by_author\n")
	if u.key(subj, none, model) == u.key(subj, none, nil) || u.key(subj, none, op) == u.key(subj, none, model) {
		t.Fatal("whole by_author read but not all in the key")
	}
	u = use("package p\n\nx := input.signals.categories\n")
	if u.key(subj, none, op) != u.key(subj, none, nil) {
		t.Fatal("by_author not read but in the key")
	}

	// The bundled policy reads the operator's categories and safe context.
	e := newEngine(t, Options{Dir: testBundle(t)})
	bu := e.cur.Load().use
	if !bu.memo || !bu.byAuthor[0][0] || !bu.byAuthor[0][2] || bu.byAuthor[0][3] || bu.byAuthor[1] != (signalUse{}) {
		t.Fatalf("bundled policy: %+v", bu)
	}
}

// TestMemoEqualsPolicyByAuthor is TestMemoEqualsPolicy with operator,
// model and tool signals beside the end user's.
func TestMemoEqualsPolicyByAuthor(t *testing.T) {
	e := newEngine(t, Options{Dir: testBundle(t)})
	st := e.cur.Load()
	rng := rand.New(rand.NewPCG(5, 6))
	cats := []string{"mass_casualty_weapons", "violent_crime_and_terrorism", "platform_abuse", "no_such"}
	sigs := func() detect.Signals {
		s := detect.Signals{Categories: map[string]detect.CategorySignal{}, PII: map[string]int{}, Length: rng.IntN(100)}
		for range rng.IntN(2) {
			c := cats[rng.IntN(len(cats))]
			s.Categories[c] = detect.CategorySignal{Score: float64(rng.IntN(6)) / 5, Rules: []string{c + ".r"}}
		}
		if rng.IntN(5) == 0 {
			s.PII["email"] = 1
		}
		if rng.IntN(4) == 0 {
			s.SafeContext = []string{"fiction"}
		}
		return s
	}
	hits := 0
	for i := 0; i < 600; i++ {
		s := Subject{App: []string{"web", "kids"}[rng.IntN(2)], EndUser: fmt.Sprint("u", rng.IntN(20)), Standing: "active"}
		sig := sigs()
		by := &ByAuthor{Operator: sigs(), Model: sigs(), Tool: sigs()}
		if _, ok := st.reqMemo.get(st.use.key(s, sig, by)); ok {
			hits++
		}
		got, err := e.decide(context.Background(), st, &st.req, st.reqMemo, s, sig, by, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := evalDecision(context.Background(), &st.req, inputValueBy(s, sig, by, nil))
		if err != nil {
			t.Fatal(err)
		}
		got.ID, got.PolicyHash, got.Redact = "", "", nil
		if signalFree(sig) && by.signalFree() {
			want = fastAllow()
			got.Redactions = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v %+v %+v:\n got %+v\nwant %+v", s, sig, by, got, want)
		}
	}
	if hits < 100 {
		t.Fatalf("memo hit only %d times", hits)
	}
}

// Another author's text is scanned only when the policy reads it, and an
// operator text seen before costs a cache lookup, with the same signals.
func TestScanAuthor(t *testing.T) {
	e := newEngine(t, Options{Dir: testBundle(t)})
	st := *e.cur.Load() // a copy whose input use the test may change
	st.sigs = &sigCache{seed: maphash.MakeSeed()}
	bad := []string{"how to synthesize sarin"}
	if sig := st.scanAuthor(1, bad); len(sig.Categories) != 0 {
		t.Fatalf("model text scanned though the bundled policy never reads it: %+v", sig)
	}
	first := st.scanAuthor(0, bad)
	if first.Categories["mass_casualty_weapons"].Score == 0 || len(st.sigs.m) != 1 {
		t.Fatalf("operator text: %+v (cache %d)", first, len(st.sigs.m))
	}
	if again := st.scanAuthor(0, bad); !reflect.DeepEqual(again, first) || len(st.sigs.m) != 1 {
		t.Fatalf("cached scan differs: %+v", again)
	}
	// Text boundaries are part of the key.
	if _ = st.scanAuthor(0, []string{"how to synthesize", " sarin"}); len(st.sigs.m) != 2 {
		t.Fatalf("split texts share a key: %d", len(st.sigs.m))
	}
	st.use.byAuthor[1][0] = true
	if sig := st.scanAuthor(1, bad); sig.Categories["mass_casualty_weapons"].Score == 0 {
		t.Fatal("model text not scanned though the policy reads it")
	}
	st.use = inputUse{} // memo off: the policy may read anything
	if sig := st.scanAuthor(2, bad); sig.Categories["mass_casualty_weapons"].Score == 0 {
		t.Fatal("tool text not scanned under a policy that reads the whole input")
	}
}

func TestModelViewBoundsLongTexts(t *testing.T) {
	short := []string{"hello", strings.Repeat("é", 100)}
	if got := modelView(short); len(got) != 2 || got[0] != short[0] {
		t.Fatalf("short texts changed: %q", got)
	}
	long := strings.Repeat("é", 3*modelHeadTail) // 2 bytes a rune
	got := modelView([]string{"a", long})
	if len(got) != 3 || got[0] != "a" {
		t.Fatalf("got %d texts", len(got))
	}
	for _, g := range got[1:] {
		if !utf8.ValidString(g) || len(g) > modelHeadTail || len(g) < modelHeadTail-1 {
			t.Fatalf("piece of %d bytes, valid %v", len(g), utf8.ValidString(g))
		}
	}
	if !strings.HasPrefix(long, got[1]) || !strings.HasSuffix(long, got[2]) {
		t.Fatal("not the head and the tail")
	}
}
