package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aupguard/aupguard/internal/classify"
)

// checkTaxonomy validates data.aup against the schema the bundled policy
// reads (policies/README.md), so a typo in data.json ("blok", a threshold
// as a string) fails the load instead of quietly deciding otherwise. A
// bundle without data.aup.categories is someone else's design and is not
// checked.
func checkTaxonomy(data map[string]any) error {
	aup, _ := data["aup"].(map[string]any)
	cats, ok := aup["categories"].(map[string]any)
	if !ok {
		return nil
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for _, id := range sortedKeys(cats) {
		c, ok := cats[id].(map[string]any)
		if !ok {
			bad("categories.%s: not an object", id)
			continue
		}
		if !idPattern.MatchString(id) {
			bad("categories.%s: id must be snake_case", id)
		}
		checkCategory(fmt.Sprintf("categories.%s", id), c, true, bad)
		if out, ok := c["output"]; ok {
			o, ok := out.(map[string]any)
			if !ok {
				bad("categories.%s.output: not an object", id)
			} else {
				checkCategory(fmt.Sprintf("categories.%s.output", id), o, false, bad)
			}
		}
	}
	pii, _ := aup["pii"].(map[string]any)
	for _, kind := range sortedKeys(pii) {
		p, ok := pii[kind].(map[string]any)
		if !ok {
			bad("pii.%s: not an object", kind)
			continue
		}
		checkPII(fmt.Sprintf("pii.%s", kind), p, true, bad)
	}
	if cls, ok := aup["classifier"].(map[string]any); ok {
		m, _ := cls["map"].(map[string]any)
		for _, code := range sortedKeys(m) {
			if id, _ := m[code].(string); cats[id] == nil {
				bad("classifier.map.%s: %v is not a category", code, m[code])
			}
		}
	}
	if s, ok := aup["settings"].(map[string]any); ok {
		for _, k := range []string{"safe_context_factor", "flag_strike_factor", "output_strike_factor", "classifier_score"} {
			if f, ok := number(s[k]); !ok || f < 0 {
				bad("settings.%s: want a number >= 0", k)
			}
		}
		if m, present := s["model"]; present {
			checkModelSettings(m, bad)
		}
	} else {
		bad("settings: missing")
	}
	apps, _ := aup["apps"].(map[string]any)
	for _, app := range sortedKeys(apps) {
		a, ok := apps[app].(map[string]any)
		if !ok {
			bad("apps.%s: not an object", app)
			continue
		}
		ac, _ := a["categories"].(map[string]any)
		for _, id := range sortedKeys(ac) {
			o, ok := ac[id].(map[string]any)
			if cats[id] == nil || !ok {
				bad("apps.%s.categories.%s: not a category override", app, id)
				continue
			}
			checkCategory(fmt.Sprintf("apps.%s.categories.%s", app, id), o, false, bad)
		}
		ap, _ := a["pii"].(map[string]any)
		for _, kind := range sortedKeys(ap) {
			o, ok := ap[kind].(map[string]any)
			if pii[kind] == nil || !ok {
				bad("apps.%s.pii.%s: not a PII override", app, kind)
				continue
			}
			checkPII(fmt.Sprintf("apps.%s.pii.%s", app, kind), o, false, bad)
		}
	}
	if len(errs) > 0 {
		return errors.New("policy: data.aup: " + strings.Join(errs, "; "))
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func checkCategory(where string, c map[string]any, full bool, bad func(string, ...any)) {
	oneOf(where, c, "severity", full, bad, "low", "medium", "high", "critical")
	oneOf(where, c, "action", full, bad, "allow", "flag", "block")
	oneOf(where, c, "escalation", full, bad, "", "suspend", "ban")
	for _, k := range []string{"flag_threshold", "block_threshold", "strike"} {
		v, present := c[k]
		if !present {
			if full {
				bad("%s.%s: missing", where, k)
			}
			continue
		}
		if f, ok := number(v); !ok || f < 0 {
			bad("%s.%s: want a number >= 0", where, k)
		}
	}
	for _, k := range []string{"legal_hold", "relax_in_safe_context"} {
		v, present := c[k]
		if _, ok := v.(bool); (present || full) && !ok {
			bad("%s.%s: want true or false", where, k)
		}
	}
	if full {
		ft, _ := number(c["flag_threshold"])
		bt, _ := number(c["block_threshold"])
		if ft > bt {
			bad("%s: flag_threshold above block_threshold", where)
		}
	}
}

// checkModelSettings validates settings.model. The learned tier computes
// a text's categories and English share only from a harm probability of
// classify.DetailGate on, and the policy takes the category it flags from
// them: a flag threshold below the gate would quietly not act below it.
func checkModelSettings(v any, bad func(string, ...any)) {
	m, ok := v.(map[string]any)
	if !ok {
		bad("settings.model: not an object")
		return
	}
	for _, k := range []string{"flag", "block", "confirm", "flag_other_language", "english_share"} {
		x, present := m[k]
		if !present {
			continue
		}
		f, ok := number(x)
		switch {
		case !ok || f < 0:
			bad("settings.model.%s: want a number >= 0", k)
		case (k == "flag" || k == "flag_other_language") && f < classify.DetailGate:
			bad("settings.model.%s: %v is below %v, the harm probability from which the learned tier names categories", k, x, classify.DetailGate)
		}
	}
}

func checkPII(where string, p map[string]any, full bool, bad func(string, ...any)) {
	oneOf(where, p, "action", full, bad, "allow", "redact", "flag", "block")
	oneOf(where, p, "output_action", false, bad, "allow", "redact", "flag", "block")
	oneOf(where, p, "severity", full, bad, "low", "medium", "high", "critical")
	if v, present := p["strike"]; present || full {
		if f, ok := number(v); !ok || f < 0 {
			bad("%s.strike: want a number >= 0", where)
		}
	}
}

func oneOf(where string, m map[string]any, key string, required bool, bad func(string, ...any), allowed ...string) {
	v, present := m[key]
	if !present {
		if required {
			bad("%s.%s: missing", where, key)
		}
		return
	}
	if s, ok := v.(string); ok && slices.Contains(allowed, s) {
		return
	}
	bad("%s.%s: %v is not one of %q", where, key, v, allowed)
}

// number reads a JSON number decoded with UseNumber (or a float).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}
