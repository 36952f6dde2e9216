package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// lexicon is the JSON document operators edit (policies/aup/lexicon.json);
// docs/detection.md describes every field.
type lexicon struct {
	Version      int                    `json:"version"`
	About        string                 `json:"about"`
	Lists        map[string]lexList     `json:"lists"`
	Masks        []string               `json:"masks"`
	Negation     lexNegation            `json:"negation"`
	Override     []string               `json:"override"`
	SafeContexts []lexContext           `json:"safe_contexts"`
	Categories   map[string]lexCategory `json:"categories"`
	Encoded      *lexEncoded            `json:"encoded"`
}

// lexEncoded is the signal for encoded text (base64, hex, ROT13): rule
// Rule of Category fires with ScoreHarmful when the decoded text alone
// has a category score of at least HarmfulAt, and with ScoreInstruction
// when a term of DecodeLists ("decode", "rot13") accompanies encoded text.
type lexEncoded struct {
	About            string   `json:"about"`
	Rule             string   `json:"rule"`
	Category         string   `json:"category"`
	DecodeLists      []string `json:"decode_lists"`
	HarmfulAt        float64  `json:"harmful_at"`
	ScoreHarmful     float64  `json:"score_harmful"`
	ScoreInstruction float64  `json:"score_instruction"`
}

type lexList struct {
	About string   `json:"about"`
	Terms []string `json:"terms"`
}

type lexNegation struct {
	About  string   `json:"about"`
	Lists  []string `json:"lists"`
	Except []string `json:"except"`
	Window int      `json:"window"`
	// After lists negate the words just before them ("laundering is detected").
	After       []string `json:"after"`
	AfterWindow int      `json:"after_window"`
	// Instruction: a negator of these lists followed within Window tokens
	// by an instruction verb negates up to the sentence's end or an Until
	// term ("Never provide instructions for X or Y").
	Instruction *lexInstruction `json:"instruction"`
}

type lexInstruction struct {
	About  string   `json:"about"`
	Lists  []string `json:"lists"`
	Verbs  []string `json:"verbs"`
	Window int      `json:"window"`
	Until  []string `json:"until"`
}

type lexContext struct {
	Name   string   `json:"name"`
	About  string   `json:"about"`
	Lists  []string `json:"lists"`
	Window int      `json:"window"`
	Factor float64  `json:"factor"`
	Only   []string `json:"only"`
	Except []string `json:"except"`
	Unless []string `json:"unless"`
}

type lexCategory struct {
	About string    `json:"about"`
	Rules []lexRule `json:"rules"`
}

type lexRule struct {
	ID           string   `json:"id"`
	About        string   `json:"about"`
	Lists        []string `json:"lists"`
	Window       int      `json:"window"`
	Ordered      bool     `json:"ordered"`
	Score        float64  `json:"score"`
	Unless       []string `json:"unless"`
	UnlessWindow int      `json:"unless_window"`
	UnlessBefore bool     `json:"unless_before"`
	NoNegation   bool     `json:"no_negation"`
	NoContext    bool     `json:"no_context"`
}

type ruleDef struct {
	id           string
	idx          int32 // among all rules (Detector.firstOf)
	lists        []int32
	window       int32
	ordered      bool
	score        float64
	unless       []int32
	unlessWindow int32
	unlessBefore bool // unless hits count only before the instance's end
	negatable    bool
	noContext    bool
}

type categoryDef struct {
	id    string
	rules []ruleDef
}

// contextDef is a safe context: present when its lists co-occur (like a
// rule) and none of its unless lists is present.
type contextDef struct {
	name   string
	rule   ruleDef
	unless []int32
	factor float64
	only   map[string]bool // nil: every category not in except
	except map[string]bool
	appl   []bool // applies, by index into Detector.cats (filled at the end of Compile)
}

func (c *contextDef) applies(cat string) bool {
	if c.except[cat] {
		return false
	}
	return c.only == nil || c.only[cat]
}

var idRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// Compile builds a detector from the lexicon JSON (policies/aup/lexicon.json).
// Unknown fields, undefined list names, empty terms and bad scores are errors,
// so a typo in the lexicon fails loudly at load instead of silently not
// matching.
func Compile(data []byte) (*Detector, error) {
	var lx lexicon
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&lx); err != nil {
		return nil, fmt.Errorf("lexicon: %w", err)
	}
	if lx.Version != 1 {
		return nil, fmt.Errorf("lexicon: unsupported version %d (want 1)", lx.Version)
	}
	d := &Detector{}
	// lists get ids in name order so the build is deterministic
	names := make([]string, 0, len(lx.Lists))
	for name := range lx.Lists {
		if !idRE.MatchString(name) {
			return nil, fmt.Errorf("lexicon: list name %q: use lower_snake_case", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	listID := make(map[string]int32, len(names))
	for i, name := range names {
		listID[name] = int32(i)
	}
	d.listNames = names
	used := make(map[string]bool)
	ref := func(where string, ls []string) ([]int32, error) {
		out := make([]int32, 0, len(ls))
		for _, l := range ls {
			id, ok := listID[l]
			if !ok {
				return nil, fmt.Errorf("lexicon: %s: unknown list %q", where, l)
			}
			used[l] = true
			out = append(out, id)
		}
		return out, nil
	}

	// patterns: one per distinct normalised text and prefix flag
	type key struct {
		text   string
		prefix bool
	}
	patID := map[key]int32{}
	var pats []pattern
	for _, name := range names {
		for _, term := range lx.Lists[name].Terms {
			prefix := strings.HasSuffix(term, "*")
			t := Normalize(strings.TrimSuffix(term, "*"))
			if t == "" {
				return nil, fmt.Errorf("lexicon: list %q: term %q is empty after normalisation", name, term)
			}
			if strings.ContainsAny(t, ".") {
				return nil, fmt.Errorf("lexicon: list %q: term %q spans a sentence break", name, term)
			}
			if prefix && len(t) < 3 {
				return nil, fmt.Errorf("lexicon: list %q: prefix term %q is too short", name, term)
			}
			k := key{t, prefix}
			id, ok := patID[k]
			if !ok {
				id = int32(len(pats))
				patID[k] = id
				pats = append(pats, pattern{text: t, prefix: prefix, words: int32(strings.Count(t, " "))})
			}
			lid := listID[name]
			if !slices.Contains(pats[id].lists, lid) {
				pats[id].lists = append(pats[id].lists, lid)
			}
		}
	}
	d.m = buildMatcher(pats)
	d.m.breakList = int32(len(names)) // sentence breaks: the list after the lexicon's
	d.m.joinCuts = true

	var err error
	if d.masks, err = ref("masks", lx.Masks); err != nil {
		return nil, err
	}
	if d.negation, err = ref("negation", lx.Negation.Lists); err != nil {
		return nil, err
	}
	if d.negExcept, err = ref("negation except", lx.Negation.Except); err != nil {
		return nil, err
	}
	if d.negAfter, err = ref("negation after", lx.Negation.After); err != nil {
		return nil, err
	}
	if in := lx.Negation.Instruction; in != nil {
		if d.instrNeg, err = ref("negation instruction", in.Lists); err != nil {
			return nil, err
		}
		if d.instrVerbs, err = ref("negation instruction verbs", in.Verbs); err != nil {
			return nil, err
		}
		if d.instrUntil, err = ref("negation instruction until", in.Until); err != nil {
			return nil, err
		}
		if len(d.instrNeg) == 0 || len(d.instrVerbs) == 0 {
			return nil, fmt.Errorf("lexicon: negation instruction needs lists and verbs")
		}
		d.instrWindow = int32(in.Window)
		if d.instrWindow <= 0 {
			d.instrWindow = 3
		}
	}
	d.negAfterWindow = int32(lx.Negation.AfterWindow)
	if d.negAfterWindow <= 0 {
		d.negAfterWindow = 3
	}
	d.negWindow = int32(lx.Negation.Window)
	if d.negWindow <= 0 {
		d.negWindow = 4
	}
	if d.override, err = ref("override", lx.Override); err != nil {
		return nil, err
	}
	for _, c := range lx.SafeContexts {
		if !idRE.MatchString(c.Name) {
			return nil, fmt.Errorf("lexicon: safe context name %q is invalid", c.Name)
		}
		if c.Factor < 0 || c.Factor > 1 {
			return nil, fmt.Errorf("lexicon: safe context %q: factor %v not in [0,1]", c.Name, c.Factor)
		}
		if len(c.Lists) == 0 || len(c.Lists) > 3 {
			return nil, fmt.Errorf("lexicon: safe context %q: needs 1 to 3 lists", c.Name)
		}
		cd := contextDef{name: c.Name, factor: c.Factor, except: map[string]bool{}}
		cd.rule = ruleDef{id: c.Name, window: int32(c.Window), ordered: true}
		if cd.rule.window <= 0 {
			cd.rule.window = 6
		}
		if cd.rule.lists, err = ref("safe context "+c.Name, c.Lists); err != nil {
			return nil, err
		}
		if cd.unless, err = ref("safe context "+c.Name+" unless", c.Unless); err != nil {
			return nil, err
		}
		for _, e := range c.Except {
			if _, ok := lx.Categories[e]; !ok {
				return nil, fmt.Errorf("lexicon: safe context %q: unknown category %q in except", c.Name, e)
			}
			cd.except[e] = true
		}
		for _, e := range c.Only {
			if _, ok := lx.Categories[e]; !ok {
				return nil, fmt.Errorf("lexicon: safe context %q: unknown category %q in only", c.Name, e)
			}
			if cd.only == nil {
				cd.only = map[string]bool{}
			}
			cd.only[e] = true
		}
		d.contexts = append(d.contexts, cd)
	}

	cats := make([]string, 0, len(lx.Categories))
	for c := range lx.Categories {
		if !idRE.MatchString(c) || strings.Contains(c, ".") {
			return nil, fmt.Errorf("lexicon: category id %q: use lower_snake_case", c)
		}
		cats = append(cats, c)
	}
	sort.Strings(cats)
	ruleIDs := map[string]bool{}
	for _, c := range cats {
		cd := categoryDef{id: c}
		for _, r := range lx.Categories[c].Rules {
			if !idRE.MatchString(r.ID) || ruleIDs[r.ID] {
				return nil, fmt.Errorf("lexicon: category %s: rule id %q is invalid or repeated", c, r.ID)
			}
			ruleIDs[r.ID] = true
			if r.Score <= 0 || r.Score > 1 {
				return nil, fmt.Errorf("lexicon: rule %s: score %v not in (0,1]", r.ID, r.Score)
			}
			if len(r.Lists) == 0 || len(r.Lists) > 3 {
				return nil, fmt.Errorf("lexicon: rule %s: needs 1 to 3 lists", r.ID)
			}
			rd := ruleDef{id: r.ID, score: r.Score, ordered: r.Ordered, window: int32(r.Window),
				unlessWindow: int32(r.UnlessWindow), unlessBefore: r.UnlessBefore, negatable: !r.NoNegation, noContext: r.NoContext}
			if rd.lists, err = ref("rule "+r.ID, r.Lists); err != nil {
				return nil, err
			}
			if rd.unless, err = ref("rule "+r.ID+" unless", r.Unless); err != nil {
				return nil, err
			}
			if len(rd.lists) > 1 && rd.window <= 0 {
				rd.window = 6
			}
			if rd.unlessWindow <= 0 {
				rd.unlessWindow = max(rd.window, 4)
			}
			cd.rules = append(cd.rules, rd)
		}
		d.cats = append(d.cats, cd)
	}
	if e := lx.Encoded; e != nil {
		if !idRE.MatchString(e.Rule) || ruleIDs[e.Rule] {
			return nil, fmt.Errorf("lexicon: encoded: rule id %q is invalid or repeated", e.Rule)
		}
		ci := slices.Index(cats, e.Category)
		if ci < 0 {
			return nil, fmt.Errorf("lexicon: encoded: unknown category %q", e.Category)
		}
		for _, sc := range []float64{e.ScoreHarmful, e.ScoreInstruction, e.HarmfulAt} {
			if sc <= 0 || sc > 1 {
				return nil, fmt.Errorf("lexicon: encoded: score %v not in (0,1]", sc)
			}
		}
		d.enc = encodedDef{rule: e.Rule, cat: e.Category, harmfulAt: e.HarmfulAt,
			scoreHarmful: e.ScoreHarmful, scoreInstruction: e.ScoreInstruction, on: true}
		if d.enc.decode, err = ref("encoded decode_lists", e.DecodeLists); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if !used[name] {
			return nil, fmt.Errorf("lexicon: list %q is not used by any rule, mask, negation, override or safe context", name)
		}
	}
	d.nLists = len(names)
	for i := range d.contexts {
		c := &d.contexts[i]
		c.appl = make([]bool, len(d.cats))
		for ci := range d.cats {
			c.appl[ci] = c.applies(d.cats[ci].id)
		}
	}
	d.indexRules()
	return d, nil
}
