package policy

import (
	"fmt"
	"sort"
)

// UnscannedCategory is the decision category of a request flagged or
// blocked for carrying media no detector reads (data.aup.unscanned).
const UnscannedCategory = "unscanned_media"

// mergeUnscanned writes the engine's options over data.aup.unscanned.action
// and data.aup.apps.NAME.unscanned.action.
func mergeUnscanned(data map[string]any, global string, apps map[string]string) {
	if global == "" && len(apps) == 0 {
		return
	}
	aup, ok := data["aup"].(map[string]any)
	if !ok {
		aup = map[string]any{}
		data["aup"] = aup
	}
	set := func(parent map[string]any, a string) {
		u, ok := parent["unscanned"].(map[string]any)
		if !ok {
			u = map[string]any{}
			parent["unscanned"] = u
		}
		u["action"] = a
	}
	if global != "" {
		set(aup, global)
	}
	if len(apps) == 0 {
		return
	}
	all, ok := aup["apps"].(map[string]any)
	if !ok {
		all = map[string]any{}
		aup["apps"] = all
	}
	for name, a := range apps {
		if a == "" {
			continue
		}
		app, ok := all[name].(map[string]any)
		if !ok {
			app = map[string]any{}
			all[name] = app
		}
		set(app, a)
	}
}

// checkUnscanned validates data.aup.unscanned and every app's override
// (a misspelt action would otherwise make the rule silently allow), and
// reports whether any of them acts (flag or block).
func checkUnscanned(data map[string]any) (acts bool, err error) {
	aup, _ := data["aup"].(map[string]any)
	check := func(where string, v any) error {
		if v == nil {
			return nil
		}
		u, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("policy: %s: want an object {action, strike, severity}", where)
		}
		keys := make([]string, 0, len(u))
		for k := range u {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch k {
			case "action":
				switch a, _ := u[k].(string); Action(a) {
				case Allow:
				case Flag, Block:
					acts = true
				default:
					return fmt.Errorf("policy: %s.action %v: want allow, flag or block", where, u[k])
				}
			case "strike":
				if f, ok := number(u[k]); !ok || f < 0 {
					return fmt.Errorf("policy: %s.strike %v: want a number >= 0", where, u[k])
				}
			case "severity":
				switch s, _ := u[k].(string); s {
				case "low", "medium", "high", "critical":
				default:
					return fmt.Errorf("policy: %s.severity %v: want low, medium, high or critical", where, u[k])
				}
			default:
				return fmt.Errorf("policy: %s: unknown key %q (want action, strike, severity)", where, k)
			}
		}
		return nil
	}
	if err := check("data.aup.unscanned", aup["unscanned"]); err != nil {
		return false, err
	}
	apps, _ := aup["apps"].(map[string]any)
	for _, name := range appNames(data) {
		app, _ := apps[name].(map[string]any)
		if err := check("data.aup.apps."+name+".unscanned", app["unscanned"]); err != nil {
			return false, err
		}
	}
	return acts, nil
}
