package wire

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The invariant FuzzTextsCovered proves: every string an upstream model
// would read is among Request.Texts, or ParseRequest refuses the request.
//
// The oracle does not know the schemas. It takes every string leaf of the
// body (as encoding/json decodes it, which is how the fake upstream reads
// bodies: keys matched case-insensitively) and demands it among the texts,
// except the non-text control values below. The lists are the whole
// exception; keep them short. A string under a listed key is exempt only
// when it is that key's direct value: an object or array placed under a
// control key must still be inspected.

// oracleControlLeaf: keys, anywhere in the body, whose string value is an
// id, an enum, a media reference or opaque data, never text a model reads.
var oracleControlLeaf = map[string]bool{
	"role": true, "type": true, "id": true, "call_id": true, "tool_call_id": true, "tool_use_id": true,
	"status": true,                                                        // item status enum
	"detail": true, "format": true, "media_type": true, "verbosity": true, // enums
	"url": true, "image_url": true, "file_id": true, "file_url": true, // media references
	"data": true, "file_data": true, "signature": true, "encrypted_content": true, // media bytes, opaque blobs
}

// oracleControlTop: top-level keys whose whole value is request set-up no
// model reads: the end-user and routing fields, and the sampling and
// output parameters of topControlKeys (extract.go documents each).
func oracleControlTop(k string) bool {
	switch k {
	case "model", "models", "preset", "stream", "provider", "metadata":
		return true
	}
	return slices.Contains(topControlKeys, k)
}

// uncovered returns the strings of body (a JSON object) that the oracle
// wants inspected and that texts lacks.
func uncovered(body []byte, texts []Text) []string {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	have := make(map[string]bool, len(texts))
	for _, t := range texts {
		have[t.Text] = true
	}
	var miss []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case string:
			if v != "" && !oracleControlLeaf[key] && !have[v] {
				miss = append(miss, key+"="+v)
			}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					walk(key+"[]", s) // a string in an array is never a control leaf
					continue
				}
				walk(key, e)
			}
		case map[string]any:
			for k, e := range v {
				walk(k, e)
			}
		}
	}
	for k, e := range v {
		if !oracleControlTop(k) {
			walk(k, e)
		}
	}
	return miss
}

// Structural mutation: ops are read three bytes at a time (op, target,
// argument) and applied to the decoded body.

var (
	mutTypes = []string{"item_reference", "function_call", "reasoning", "function_call_output", "custom_tool_call",
		"message", "text", "input_text", "image_url", "tool_result", "tool_use", "thinking", "refusal", "document", "web_search_call"}
	mutKeys = []string{"content", "text", "name", "refusal", "reasoning", "arguments", "output", "input", "summary",
		"thinking", "search_prompt", "instructions", "system", "prompt", "description", "title", "context", "x_extra",
		"type", "role", "id", "function", "tool_calls", "source", "image_url", "file", "messages", "reasoning_details"}
	mutRoles = []string{"user", "assistant", "system", "developer", "tool", "function", "narrator", ""}
)

type mutator struct {
	objs []map[string]any
	arrs [][]any
	strs []strRef
	n    int
}

// strRef locates a string leaf: obj[key] or arr[i].
type strRef struct {
	obj map[string]any
	key string
	arr []any
	i   int
}

func (r strRef) get() string {
	if r.obj != nil {
		s, _ := r.obj[r.key].(string)
		return s
	}
	s, _ := r.arr[r.i].(string)
	return s
}

func (r strRef) set(v any) {
	if r.obj != nil {
		r.obj[r.key] = v
	} else {
		r.arr[r.i] = v
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (m *mutator) index(v any) {
	switch v := v.(type) {
	case map[string]any:
		m.objs = append(m.objs, v)
		for _, k := range sortedKeys(v) {
			if _, ok := v[k].(string); ok {
				m.strs = append(m.strs, strRef{obj: v, key: k})
			}
			m.index(v[k])
		}
	case []any:
		m.arrs = append(m.arrs, v)
		for i, e := range v {
			if _, ok := e.(string); ok {
				m.strs = append(m.strs, strRef{arr: v, i: i})
			}
			m.index(e)
		}
	}
}

func (m *mutator) planted() string {
	m.n++
	return "planted-" + strconv.Itoa(m.n)
}

func caseVariant(k string, how byte) string {
	switch how % 3 {
	case 0:
		return strings.ToUpper(k)
	case 1:
		if k == "" {
			return k
		}
		return strings.ToUpper(k[:1]) + k[1:]
	}
	return strings.ReplaceAll(strings.ReplaceAll(k, "k", "\u212a"), "s", "ſ")
}

// mutate applies ops to root and returns it.
func mutate(root map[string]any, ops []byte) map[string]any {
	for len(ops) >= 3 {
		op, tg, arg := ops[0], int(ops[1]), ops[2]
		ops = ops[3:]
		m := &mutator{}
		m.index(root)
		m.n = len(ops) * 7 // planted strings stay unique across rounds
		obj := m.objs[tg%len(m.objs)]
		switch op % 10 {
		case 0: // a type field on any object
			obj["type"] = mutTypes[int(arg)%len(mutTypes)]
		case 1: // a key renamed by case
			ks := sortedKeys(obj)
			if len(ks) > 0 {
				k := ks[int(arg)%len(ks)]
				if nk := caseVariant(k, arg/7); nk != k {
					if _, clash := obj[nk]; !clash {
						obj[nk] = obj[k]
						delete(obj, k)
					}
				}
			}
		case 2: // an unknown object nested in any object
			obj["x_nest"+strconv.Itoa(int(arg))] = map[string]any{"inner": map[string]any{"text": m.planted(), "list": []any{m.planted()}}}
		case 3: // a string moved into an unknown field of another object
			if len(m.strs) > 0 {
				r := m.strs[int(arg)%len(m.strs)]
				s := r.get()
				if r.obj != nil && r.obj[r.key] != nil {
					delete(r.obj, r.key)
				}
				obj["x_moved"+strconv.Itoa(int(arg))] = s
			}
		case 4: // a string planted under a known or unknown key
			obj[mutKeys[int(arg)%len(mutKeys)]] = m.planted()
		case 5: // a string wrapped in an object or an array
			if len(m.strs) > 0 {
				r := m.strs[tg%len(m.strs)]
				s := r.get()
				switch arg % 4 {
				case 0:
					r.set(map[string]any{"text": s})
				case 1:
					r.set([]any{s})
				case 2:
					r.set(map[string]any{"type": "text", "text": s})
				default:
					r.set(map[string]any{"type": mutTypes[int(arg)%len(mutTypes)], "content": s})
				}
			}
		case 6: // a role set or changed
			obj["role"] = mutRoles[int(arg)%len(mutRoles)]
		case 7: // an array element replaced by a text or a part
			if len(m.arrs) > 0 {
				a := m.arrs[tg%len(m.arrs)]
				if len(a) > 0 {
					i := int(arg) % len(a)
					if arg&1 == 0 {
						a[i] = m.planted()
					} else {
						a[i] = map[string]any{"type": mutTypes[int(arg/2)%len(mutTypes)], "text": m.planted()}
					}
				}
			}
		case 8: // a known key given an object instead of a string
			k := mutKeys[int(arg)%len(mutKeys)]
			obj[k] = map[string]any{"x_deep": []any{m.planted(), map[string]any{"text": m.planted()}}}
		case 9: // a copy of another object grafted under a known or unknown key
			src := m.objs[int(arg)%len(m.objs)]
			if b, err := json.Marshal(src); err == nil && len(b) < 1<<14 {
				var cp map[string]any
				if json.Unmarshal(b, &cp) == nil {
					obj[mutKeys[int(arg/3)%len(mutKeys)]] = cp
				}
			}
		}
	}
	return root
}

// seedBodies reads testdata/bodies: real request bodies of every endpoint,
// the endpoint named by the file name's prefix.
func seedBodies(tb testing.TB) map[string][]byte {
	files, err := filepath.Glob("testdata/bodies/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seed bodies: %v", err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func endpointOf(name string) Endpoint {
	for _, ep := range []Endpoint{EndpointChat, EndpointCompletions, EndpointResponses, EndpointMessages, EndpointEmbeddings} {
		if strings.HasPrefix(name, ep.String()) {
			return ep
		}
	}
	return EndpointOther
}

// checkCovered is the invariant for one body.
func checkCovered(t *testing.T, ep Endpoint, body []byte) {
	t.Helper()
	r, err := ParseRequest(ep, body, ParseOptions{})
	if err != nil {
		return // refused: nothing reaches a model
	}
	if miss := uncovered(body, r.Texts); len(miss) > 0 {
		t.Fatalf("%s: strings a model reads are not inspected: %q\nbody: %s", ep, miss, body)
	}
	// Redaction reaches every text in place: the rewritten body yields the
	// same texts, redacted, with the same provenance. Only prose is
	// redacted (as PII redaction would): a string inspected inside an
	// unknown shape may be a role or a type, and changing those changes
	// the request.
	redact := func(s string) string {
		if strings.Contains(s, " ") || strings.HasPrefix(s, "planted-") {
			return s + "!"
		}
		return s
	}
	out, _, err := r.Rewrite(Rewrite{Pseudonym: "P", Redact: redact})
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	r2, err := ParseRequest(ep, out, ParseOptions{})
	if err != nil {
		t.Fatalf("rewritten body refused: %v\n%s", err, out)
	}
	if len(r2.Texts) != len(r.Texts) {
		t.Fatalf("texts %d -> %d after rewrite\n%s\n%s", len(r.Texts), len(r2.Texts), body, out)
	}
	for i, a := range r.Texts {
		b := r2.Texts[i]
		if b.Text != redact(a.Text) || b.Role != a.Role || b.Author != a.Author || b.New != a.New {
			t.Fatalf("text %d %+v -> %+v after rewrite", i, a, b)
		}
	}
}

// TestSeedBodiesCovered: the seed bodies parse, and everything in them is
// inspected.
func TestSeedBodiesCovered(t *testing.T) {
	for name, b := range seedBodies(t) {
		ep := endpointOf(name)
		if _, err := ParseRequest(ep, b, ParseOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		checkCovered(t, ep, b)
	}
}

func FuzzTextsCovered(f *testing.F) {
	bodies := seedBodies(f)
	names := sortedKeys(func() map[string]any {
		m := map[string]any{}
		for k := range bodies {
			m[k] = nil
		}
		return m
	}())
	for _, name := range names {
		ep := uint8(endpointOf(name))
		b := bodies[name]
		f.Add(ep, b, []byte{})
		for op := byte(0); op < 10; op++ {
			f.Add(ep, b, []byte{op, 3 + op, 11 * op, op + 1, 5, 2*op + 1})
		}
	}
	f.Fuzz(func(t *testing.T, ep8 uint8, body []byte, ops []byte) {
		ep := Endpoint(ep8 % 6)
		checkCovered(t, ep, body) // the body as the fuzzer mangled it
		if len(ops) == 0 || len(ops) > 60 {
			return
		}
		var root map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&root) != nil || root == nil {
			return
		}
		out, err := json.Marshal(mutate(root, ops))
		if err != nil {
			return
		}
		checkCovered(t, ep, out)
	})
}

// The oracle itself: it sees what an extractor skipping a field would miss,
// and exempts only the listed control values.
func TestOracle(t *testing.T) {
	body := []byte(`{"model":"m","temperature":1,"provider":{"order":["x"]},"messages":[{"role":"user","type":"item_reference","content":"c","name":"n",
		"extra":{"type":{"t":"nested"}},"image_url":{"url":"u"}}]}`)
	got := uncovered(body, nil)
	slices.Sort(got)
	want := []string{"content=c", "name=n", "t=nested"}
	if !slices.Equal(got, want) {
		t.Fatalf("uncovered = %q, want %q", got, want)
	}
	if got := uncovered(body, []Text{{Text: "c"}, {Text: "n"}, {Text: "nested"}}); len(got) != 0 {
		t.Fatalf("uncovered = %q", got)
	}
}

// TestTextsCoveredRandom runs the fuzz target's structural mutations from a
// fixed seed on every seed body, so the invariant is checked on each test
// run, not only under -fuzz.
func TestTextsCoveredRandom(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 30
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := seedBodies(t)
	refused := 0
	for name, b := range bodies {
		ep := endpointOf(name)
		for i := 0; i < rounds; i++ {
			ops := make([]byte, 3*(1+rng.IntN(12)))
			for j := range ops {
				ops[j] = byte(rng.Uint32())
			}
			var root map[string]any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&root); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(mutate(root, ops))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseRequest(ep, out, ParseOptions{}); err != nil {
				refused++
			}
			checkCovered(t, ep, out)
		}
	}
	t.Logf("%d of %d mutated bodies refused", refused, rounds*len(bodies))
}
