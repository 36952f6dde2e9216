package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/aupguard/aupguard/internal/detect"
)

// ErrUndefined means the policy produced no decision: a broken or
// incomplete bundle. Callers must refuse, never allow.
var ErrUndefined = errors.New("policy: decision undefined")

// inputValue is inputValueBy with no text but the end user's.
func inputValue(s Subject, sig detect.Signals, v *Verdict) ast.Value {
	return inputValueBy(s, sig, nil, v)
}

// inputValueBy builds the Rego input straight as an AST value: no JSON
// round trip on the hot path. Maps are always objects (never null) and
// by_author always holds every author, so the policy can iterate them
// without guards; by nil is text from the end user only.
func inputValueBy(s Subject, sig detect.Signals, by *ByAuthor, v *Verdict) ast.Value {
	if by == nil {
		by = &ByAuthor{}
	}
	items := [][2]*ast.Term{
		ast.Item(ast.InternedTerm("subject"), subjectTerm(s)),
		ast.Item(ast.InternedTerm("unscanned"), unscannedTerm(s.NonText)),
		ast.Item(ast.InternedTerm("signals"), signalsTerm(sig)),
		ast.Item(ast.InternedTerm("by_author"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("operator"), signalsTerm(by.Operator)),
			ast.Item(ast.InternedTerm("model"), signalsTerm(by.Model)),
			ast.Item(ast.InternedTerm("tool"), signalsTerm(by.Tool)),
		)),
	}
	if v != nil {
		items = append(items, ast.Item(ast.InternedTerm("classifier"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("verdict"), ast.StringTerm(v.Verdict)),
			ast.Item(ast.InternedTerm("codes"), stringsTerm(v.Codes)),
			ast.Item(ast.InternedTerm("categories"), stringsTerm(v.Categories)),
		)))
	}
	return ast.NewObject(items...)
}

// unscannedTerm is input.unscanned: Unscanned(nonText) with its total,
// {"total": 0} when there is none.
func unscannedTerm(nonText map[string]int) *ast.Term {
	items := make([][2]*ast.Term, 0, len(nonText)+1)
	total := 0
	for k, n := range nonText {
		if opaqueByDesign[k] || n <= 0 {
			continue
		}
		items = append(items, ast.Item(ast.StringTerm(k), ast.IntNumberTerm(n)))
		total += n
	}
	items = append(items, ast.Item(ast.InternedTerm("total"), ast.IntNumberTerm(total)))
	return ast.ObjectTerm(items...)
}

func subjectTerm(s Subject) *ast.Term {
	nt := make([][2]*ast.Term, 0, len(s.NonText))
	for k, n := range s.NonText {
		nt = append(nt, ast.Item(ast.StringTerm(k), ast.IntNumberTerm(n)))
	}
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("app"), ast.StringTerm(s.App)),
		ast.Item(ast.InternedTerm("end_user"), ast.StringTerm(s.EndUser)),
		ast.Item(ast.InternedTerm("standing"), ast.StringTerm(s.Standing)),
		ast.Item(ast.InternedTerm("strikes"), ast.FloatNumberTerm(s.Strikes)),
		ast.Item(ast.InternedTerm("reports"), ast.IntNumberTerm(s.Reports)),
		ast.Item(ast.InternedTerm("zdr"), ast.BooleanTerm(s.ZDR)),
		ast.Item(ast.InternedTerm("endpoint"), ast.StringTerm(s.Endpoint)),
		ast.Item(ast.InternedTerm("model"), ast.StringTerm(s.Model)),
		ast.Item(ast.InternedTerm("non_text"), ast.ObjectTerm(nt...)),
		ast.Item(ast.InternedTerm("operator_roles"), stringsTerm(s.OperatorRoles)),
	)
}

func signalsTerm(sig detect.Signals) *ast.Term {
	cats := make([][2]*ast.Term, 0, len(sig.Categories))
	for id, c := range sig.Categories {
		cats = append(cats, ast.Item(ast.StringTerm(id), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("score"), ast.FloatNumberTerm(c.Score)),
			ast.Item(ast.InternedTerm("rules"), stringsTerm(c.Rules)),
		)))
	}
	pii := make([][2]*ast.Term, 0, len(sig.PII))
	for k, n := range sig.PII {
		pii = append(pii, ast.Item(ast.StringTerm(k), ast.IntNumberTerm(n)))
	}
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("categories"), ast.ObjectTerm(cats...)),
		ast.Item(ast.InternedTerm("pii"), ast.ObjectTerm(pii...)),
		ast.Item(ast.InternedTerm("safe_context"), stringsTerm(sig.SafeContext)),
		ast.Item(ast.InternedTerm("length"), ast.IntNumberTerm(sig.Length)),
		ast.Item(ast.InternedTerm("model"), modelTerm(sig.Model)),
	)
}

// modelTerm is the learned tier's scores; "ran" is false (and the scores
// zero) when the bundle has no model or there was no end-user text.
func modelTerm(m *detect.ModelScores) *ast.Term {
	if m == nil {
		return ast.ObjectTerm(
			ast.Item(ast.InternedTerm("ran"), ast.BooleanTerm(false)),
			ast.Item(ast.InternedTerm("harmful"), ast.IntNumberTerm(0)),
			ast.Item(ast.InternedTerm("categories"), ast.ObjectTerm()),
			ast.Item(ast.InternedTerm("english"), ast.IntNumberTerm(0)),
		)
	}
	cats := make([][2]*ast.Term, 0, len(m.Categories))
	for id, v := range m.Categories {
		cats = append(cats, ast.Item(ast.StringTerm(id), ast.FloatNumberTerm(v)))
	}
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("ran"), ast.BooleanTerm(true)),
		ast.Item(ast.InternedTerm("harmful"), ast.FloatNumberTerm(m.Harmful)),
		ast.Item(ast.InternedTerm("categories"), ast.ObjectTerm(cats...)),
		ast.Item(ast.InternedTerm("english"), ast.FloatNumberTerm(m.English)),
	)
}

func stringsTerm(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

// keepAST makes the evaluator hand back the result as an AST value, which
// decodeDecision reads directly.
func keepAST(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

func evalDecision(ctx context.Context, pq *rego.PreparedEvalQuery, input ast.Value) (Decision, error) {
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalGenerateJSON(keepAST))
	if err != nil {
		return Decision{}, fmt.Errorf("policy: eval: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{}, ErrUndefined
	}
	if len(rs) > 1 {
		return Decision{}, fmt.Errorf("policy: decision has %d results, want 1", len(rs))
	}
	v, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return Decision{}, fmt.Errorf("policy: decision is %T", rs[0].Expressions[0].Value)
	}
	return decodeDecision(v)
}

// decodeDecision checks the shape of a decision object: required fields
// must be present and typed, the action known. Anything else is an error.
func decodeDecision(v ast.Value) (Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("policy: malformed decision: %s is not an object", ast.ValueName(v))
	}
	f := fields{obj: obj}
	var d Decision
	d.Action = Action(f.str("action", true))
	d.Categories = f.strs("categories", true)
	d.Reasons = f.strs("reasons", true)
	if x := f.get("strike", true); x != nil {
		var n float64
		num, ok := x.(ast.Number)
		if ok {
			n, ok = num.Float64()
		}
		if (!ok || n < 0) && f.err == nil {
			f.err = fmt.Errorf("policy: malformed decision: strike must be a number >= 0")
		}
		d.Strike = n
	}
	d.Severity = f.str("severity", false)
	d.Rules = f.strs("rules", false)
	d.Escalation = f.str("escalation", false)
	d.LegalHold = f.boolean("legal_hold")
	d.Redactions = f.strs("redact", false)
	d.DryRun = f.boolean("dry_run")
	if d.DryRun {
		d.WouldAction = Action(f.str("would_action", false))
	}
	if x := f.get("operator", false); x != nil && f.err == nil {
		d.Operator, f.err = decodeOperator(x)
	}
	if f.err != nil {
		return Decision{}, f.err
	}
	if !d.Action.valid() {
		return Decision{}, fmt.Errorf("policy: malformed decision: unknown action %q", d.Action)
	}
	switch d.Escalation {
	case "", "suspend", "ban":
	default:
		return Decision{}, fmt.Errorf("policy: malformed decision: unknown escalation %q", d.Escalation)
	}
	if len(d.Redactions) == 0 {
		d.Redactions = nil
	}
	if d.Rules == nil { // printed as [], like categories and reasons
		d.Rules = []string{}
	}
	return d, nil
}

// decodeOperator checks decision.operator: action, categories and reasons
// required, severity and rules optional. A part that decides nothing (allow,
// no category, no reason) is nil, so signal-free input decodes exactly like
// the fast path's decision.
func decodeOperator(v ast.Value) (*OperatorDecision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("policy: malformed decision: operator is %s, want object", ast.ValueName(v))
	}
	f := fields{obj: obj, where: "operator."}
	o := OperatorDecision{
		Action:     Action(f.str("action", true)),
		Categories: f.strs("categories", true),
		Reasons:    f.strs("reasons", true),
		Severity:   f.str("severity", false),
		Rules:      f.strs("rules", false),
	}
	if f.err != nil {
		return nil, f.err
	}
	if !o.Action.valid() {
		return nil, fmt.Errorf("policy: malformed decision: unknown operator.action %q", o.Action)
	}
	if o.Action == Allow && len(o.Categories) == 0 && len(o.Reasons) == 0 {
		return nil, nil
	}
	if o.Rules == nil {
		o.Rules = []string{}
	}
	return &o, nil
}

// fields reads typed fields of a decision object; the first problem is
// kept in err and later reads return zero values.
type fields struct {
	obj   ast.Object
	where string // prefix of field names in messages
	err   error
}

func (f *fields) get(key string, required bool) ast.Value {
	t := f.obj.Get(ast.InternedTerm(key))
	if t == nil {
		if required && f.err == nil {
			f.err = fmt.Errorf("policy: malformed decision: no %q", f.where+key)
		}
		return nil
	}
	return t.Value
}

func (f *fields) str(key string, required bool) string {
	x := f.get(key, required)
	if x == nil {
		return ""
	}
	s, ok := x.(ast.String)
	if !ok && f.err == nil {
		f.err = fmt.Errorf("policy: malformed decision: %q is %s, want string", f.where+key, ast.ValueName(x))
	}
	return string(s)
}

func (f *fields) strs(key string, required bool) []string {
	x := f.get(key, required)
	if x == nil {
		return nil
	}
	out := []string{}
	bad := false
	each := func(t *ast.Term) {
		s, ok := t.Value.(ast.String)
		if !ok {
			bad = true
			return
		}
		out = append(out, string(s))
	}
	switch c := x.(type) {
	case *ast.Array:
		c.Foreach(each)
	case ast.Set:
		c.Foreach(each)
		sort.Strings(out)
	default:
		bad = true
	}
	if bad && f.err == nil {
		f.err = fmt.Errorf("policy: malformed decision: %q must be a list of strings", f.where+key)
	}
	return out
}

func (f *fields) boolean(key string) bool {
	x := f.get(key, false)
	if x == nil {
		return false
	}
	b, ok := x.(ast.Boolean)
	if !ok && f.err == nil {
		f.err = fmt.Errorf("policy: malformed decision: %q is %s, want boolean", f.where+key, ast.ValueName(x))
	}
	return bool(b)
}

func (a Action) valid() bool {
	switch a {
	case Allow, Redact, Flag, Block:
		return true
	}
	return false
}

// Rank orders actions by severity: allow < redact < flag < block.
func (a Action) Rank() int {
	switch a {
	case Redact:
		return 1
	case Flag:
		return 2
	case Block:
		return 3
	}
	return 0
}
