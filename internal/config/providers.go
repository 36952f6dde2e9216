package config

import "strings"

// checkAppProviders validates apps[].providers: slugs are lower-case
// letters, digits, '-', '_', '.', with at most one '/' for an endpoint
// variant ("deepinfra/turbo"); none listed twice; none both allowed and
// ignored (an "only" entry that is also ignored would never be used).
func checkAppProviders(key string, p AppProviders, bad func(string, ...any)) {
	seen := map[string]string{}
	for _, l := range []struct {
		name string
		list []string
	}{{"only", p.Only}, {"ignore", p.Ignore}} {
		for j, s := range l.list {
			k := strings.ToLower(s)
			switch {
			case !validSlug(s):
				bad("%s.%s[%d] %q is not a provider slug (like azure or deepinfra/turbo)", key, l.name, j, s)
			case seen[k] == l.name:
				bad("%s.%s[%d] %q is listed twice", key, l.name, j, s)
			case seen[k] != "":
				bad("%s: %q is in both only and ignore", key, s)
			}
			seen[k] = l.name
		}
	}
}

func validSlug(s string) bool {
	if s == "" || len(s) > 64 || strings.Count(s, "/") > 1 || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '/') {
			return false
		}
	}
	return true
}
