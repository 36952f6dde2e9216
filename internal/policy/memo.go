package policy

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/aupguard/aupguard/internal/detect"
)

// Decision memo. A Rego evaluation with signals costs tens to hundreds of
// microseconds, yet most such inputs repeat: the same PII kinds, the same
// rules firing with the same scores, from the same app. A policy's result
// is a function of its data (fixed per bundle version) and of the input
// paths it reads, provided it calls no non-deterministic built-in. So at
// load the compiled modules are walked: every reference into input is
// collected (input.signals.pii, input.subject.app,
// input.by_author.operator.categories, ...), and the memo key is
// built from exactly those parts of the input. A policy that reads the
// whole input (or the whole subject), or calls time.now_ns, http.send,
// rand.intn and the like, is never memoised. Inputs with a classifier
// verdict are not memoised either.
//
// TestMemoEqualsPolicy checks the memo against fresh evaluations over many
// random inputs.

const memoMax = 4096 // entries per bundle version; the map is dropped when full

var subjectFields = [...]string{"app", "end_user", "standing", "strikes", "reports", "zdr", "endpoint", "model", "non_text", "operator_roles"}

const nonTextField = 8 // subjectFields[nonTextField] == "non_text"

var signalFields = [...]string{"categories", "pii", "safe_context", "length", "model"}

// authorFields are the keys of input.by_author, in ByAuthor's order.
var authorFields = [...]string{"operator", "model", "tool"}

// inputUse is what parts of the input a bundle's policy reads.
type inputUse struct {
	memo     bool // false: never memoise
	subject  [len(subjectFields)]bool
	signals  signalUse
	byAuthor [len(authorFields)]signalUse
}

func analyseInput(mods map[string]*ast.Module) inputUse {
	u := inputUse{memo: true}
	mark := func(path []string) {
		if len(path) == 0 {
			u.memo = false
			return
		}
		var names []string
		var used []bool
		switch path[0] {
		case "subject":
			names, used = subjectFields[:], u.subject[:]
		case "signals":
			names, used = signalFields[:], u.signals[:]
		case "by_author":
			// input.by_author.AUTHOR.FIELD; a shorter path (or a dynamic
			// index) reads every author or every field.
			for a, an := range authorFields {
				if len(path) > 1 && path[1] != an {
					continue
				}
				for i, n := range signalFields {
					if len(path) <= 2 || path[2] == n {
						u.byAuthor[a][i] = true
					}
				}
			}
			return
		case "unscanned":
			// input.unscanned is a function of subject.non_text.
			u.subject[nonTextField] = true
			return
		default:
			// input.classifier is only set for verdicts, which bypass the
			// memo; other keys are never set, so always undefined.
			return
		}
		for i, n := range names {
			if len(path) == 1 || path[1] == n {
				used[i] = true
			}
		}
	}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case ast.Ref:
			if !x[0].Equal(ast.VarTerm("input")) {
				return false
			}
			var path []string
			i := 1
			for ; i < len(x); i++ {
				s, ok := x[i].Value.(ast.String)
				if !ok {
					break
				}
				path = append(path, string(s))
			}
			mark(path)
			// Not the head again (it is the input var itself); dynamic
			// index terms may hold refs of their own.
			for ; i < len(x); i++ {
				vis.Walk(x[i])
			}
			return true
		case ast.Var:
			if x.Equal(ast.Var("input")) {
				u.memo = false
			}
		case *ast.Expr:
			if x.IsCall() {
				checkBuiltin(x.Operator(), &u)
			}
		case ast.Call:
			if r, ok := x[0].Value.(ast.Ref); ok {
				checkBuiltin(r, &u)
			}
		}
		return false
	})
	for _, m := range mods {
		vis.Walk(m)
	}
	return u
}

func checkBuiltin(op ast.Ref, u *inputUse) {
	if b, ok := ast.BuiltinMap[op.String()]; ok && b.Nondeterministic {
		u.memo = false
	}
}

// key builds the memo key from the used parts of the input.
func (u *inputUse) key(s Subject, sig detect.Signals, by *ByAuthor) string {
	var b []byte
	str := func(used bool, v string) {
		if used {
			b = append(b, v...)
		}
		b = append(b, 0)
	}
	num := func(used bool, f float64) {
		if used {
			b = strconv.AppendFloat(b, f, 'g', -1, 64)
		}
		b = append(b, 0)
	}
	str(u.subject[0], s.App)
	str(u.subject[1], s.EndUser)
	str(u.subject[2], s.Standing)
	num(u.subject[3], s.Strikes)
	num(u.subject[4], float64(s.Reports))
	str(u.subject[5], strconv.FormatBool(s.ZDR))
	str(u.subject[6], s.Endpoint)
	str(u.subject[7], s.Model)
	if u.subject[8] {
		for _, k := range sortedKeys(s.NonText) {
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendInt(b, int64(s.NonText[k]), 10)
			b = append(b, 1)
		}
	}
	b = append(b, 0)
	if u.subject[9] {
		b = append(b, strings.Join(s.OperatorRoles, "\x01")...)
	}
	b = u.signals.appendKey(b, sig)
	if by == nil {
		by = &ByAuthor{}
	}
	for a, sig := range [...]detect.Signals{by.Operator, by.Model, by.Tool} {
		b = u.byAuthor[a].appendKey(b, sig)
	}
	return string(b)
}

// signalUse is which fields of one signals object the policy reads.
type signalUse [len(signalFields)]bool

func (u signalUse) appendKey(b []byte, sig detect.Signals) []byte {
	b = append(b, 0)
	if u[0] {
		for _, k := range sortedKeys(sig.Categories) {
			c := sig.Categories[k]
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendFloat(b, c.Score, 'g', -1, 64)
			for _, r := range c.Rules {
				b = append(b, 2)
				b = append(b, r...)
			}
			b = append(b, 1)
		}
	}
	b = append(b, 0)
	if u[1] {
		for _, k := range sortedKeys(sig.PII) {
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendInt(b, int64(sig.PII[k]), 10)
			b = append(b, 1)
		}
	}
	b = append(b, 0)
	if u[2] {
		b = append(b, strings.Join(sig.SafeContext, "\x01")...)
	}
	b = append(b, 0)
	if u[3] {
		b = strconv.AppendInt(b, int64(sig.Length), 10)
	}
	b = append(b, 0)
	if u[4] && sig.Model != nil {
		b = strconv.AppendFloat(b, sig.Model.Harmful, 'g', -1, 64)
		b = append(b, 1)
		b = strconv.AppendFloat(b, sig.Model.English, 'g', -1, 64)
		for _, k := range sortedKeys(sig.Model.Categories) {
			b = append(b, 1)
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendFloat(b, sig.Model.Categories[k], 'g', -1, 64)
		}
	}
	return append(b, 0)
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// memo maps keys to decisions (without id). Bounded: dropped when full.
type memo struct {
	mu sync.RWMutex
	m  map[string]Decision
}

func (m *memo) get(k string) (Decision, bool) {
	m.mu.RLock()
	d, ok := m.m[k]
	m.mu.RUnlock()
	return d, ok
}

func (m *memo) put(k string, d Decision) {
	// Clipped slices: a caller appending to a decision's slices never
	// writes into the memoised copy.
	d.Categories, d.Reasons, d.Rules, d.Redactions = slices.Clip(d.Categories), slices.Clip(d.Reasons), slices.Clip(d.Rules), slices.Clip(d.Redactions)
	m.mu.Lock()
	if m.m == nil || len(m.m) >= memoMax {
		m.m = make(map[string]Decision, 64)
	}
	m.m[k] = d
	m.mu.Unlock()
}
