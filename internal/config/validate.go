package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// Validate checks a configuration and reports every problem at once.
func (c *Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &Error{Source: "config", Problems: p}
	}
	return nil
}

func (c *Config) problems() []string {
	var ps []string
	bad := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }

	checkAddr := func(key, v string) {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			bad("%s: %q is not host:port (e.g. 127.0.0.1:8080)", key, v)
		}
	}
	checkAddr("listen", c.Listen)
	checkAddr("admin_listen", c.AdminListen)
	if c.Listen == c.AdminListen && c.Listen != "" {
		bad("listen and admin_listen must differ (both %q)", c.Listen)
	}

	if u, err := url.Parse(c.Upstream.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("upstream.url: %q is not an http(s) URL", c.Upstream.URL)
	} else if u.RawQuery != "" || u.Fragment != "" {
		bad("upstream.url: %q must not have a query or fragment", c.Upstream.URL)
	}
	if strings.TrimSpace(c.Upstream.APIKey) == "" {
		bad("upstream.api_key is empty; set OPENROUTER_API_KEY (or %s) to the operator's OpenRouter key", EnvName("upstream.api_key"))
	}
	if c.Upstream.Timeout <= 0 {
		bad("upstream.timeout must be positive (e.g. 60s)")
	}
	if c.Upstream.ConnectTimeout <= 0 {
		bad("upstream.connect_timeout must be positive (e.g. 10s)")
	}

	if u, err := url.Parse(c.Store); err != nil {
		bad("store: %q is not a URL", c.Store)
	} else {
		switch u.Scheme {
		case "bolt":
			if u.Host+u.Path == "" {
				bad("store: %q names no file (e.g. bolt://./data/aupguard.db)", c.Store)
			}
		case "redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
		default:
			bad("store: scheme %q is not one of bolt, redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster, rediss+cluster", u.Scheme)
		}
	}
	if c.FailMode != "open" && c.FailMode != "closed" {
		bad("fail_mode: %q is not open or closed", c.FailMode)
	}
	if c.SpoolDir == "" {
		bad("spool_dir is empty")
	}

	for i, d := range c.Policy.DryRun {
		if strings.TrimSpace(d) == "" {
			bad("policy.dry_run[%d] is empty", i)
		}
	}
	checkUnscanned("policy.unscanned", c.Policy.Unscanned, bad)
	if cl := c.Policy.Classifier; cl != nil {
		switch cl.Mode {
		case "", "off":
		case "before", "parallel", "cascade":
			// An empty model means the policy engine's default guard model.
		default:
			bad("policy.classifier.mode: %q is not off, before, parallel or cascade", cl.Mode)
		}
		if b := cl.CascadeBand; b != nil && (len(b) != 2 || b[0] < 0 || b[1] > 1 || b[0] >= b[1]) {
			bad("policy.classifier.cascade_band: want [low, high] with 0 <= low < high <= 1")
		}
		switch cl.OnTimeout {
		case "", "allow", "flag", "block":
		default:
			bad("policy.classifier.on_timeout: %q is not allow, flag or block", cl.OnTimeout)
		}
		if cl.Timeout < 0 {
			bad("policy.classifier.timeout must not be negative")
		}
		if cl.URL != "" {
			if u, err := url.Parse(cl.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("policy.classifier.url: %q is not an http(s) URL", cl.URL)
			}
		}
	}

	checkRates := func(key string, r RateLimits) {
		if r.EndUserPerMinute < 0 {
			bad("%s.end_user_per_minute must be 0 (unlimited) or more", key)
		}
		if r.AppPerMinute < 0 {
			bad("%s.app_per_minute must be 0 (unlimited) or more", key)
		}
	}
	checkRates("rate_limits", c.RateLimits)

	e := c.Escalation
	if e.StrikeHalfLife <= 0 {
		bad("escalation.strike_half_life must be positive")
	}
	if e.SuspendAt <= 0 {
		bad("escalation.suspend_at must be positive")
	}
	if e.SuspendFor <= 0 {
		bad("escalation.suspend_for must be positive")
	}
	if e.BanAt <= 0 {
		bad("escalation.ban_at must be positive")
	} else if e.SuspendAt > 0 && e.BanAt < e.SuspendAt {
		bad("escalation.ban_at (%g) must not be below suspend_at (%g)", e.BanAt, e.SuspendAt)
	}

	l := c.Limits
	if l.MaxBodyBytes <= 0 {
		bad("limits.max_body_bytes must be positive")
	}
	if l.MaxJSONDepth <= 0 {
		bad("limits.max_json_depth must be positive")
	}
	if l.ShutdownGrace < 0 {
		bad("limits.shutdown_grace must not be negative")
	}
	if l.ReadHeaderTimeout <= 0 {
		bad("limits.read_header_timeout must be positive")
	}

	c.hardenProblems(bad)

	if c.Secrets.PseudonymKey != "" && len(c.Secrets.PseudonymKey) < 16 {
		bad("secrets.pseudonym_key is too short: use at least 16 characters (32 random bytes recommended)")
	}
	if c.Secrets.DigestKey != "" && len(c.Secrets.DigestKey) < 16 {
		bad("secrets.digest_key is too short: use at least 16 characters (32 random bytes recommended)")
	}

	names := map[string]bool{}
	keys := map[string]string{}
	for i, a := range c.Apps {
		key := fmt.Sprintf("apps[%d]", i)
		if a.Name != "" {
			key = fmt.Sprintf("apps[%d] (%s)", i, a.Name)
		}
		switch {
		case a.Name == "":
			bad("%s: name is required", key)
		case !validName(a.Name):
			bad("%s: name may hold only letters, digits, '.', '_' and '-'", key)
		case names[a.Name]:
			bad("%s: name %q is used twice", key, a.Name)
		}
		names[a.Name] = true
		digest := ""
		switch {
		case a.Key != "" && a.KeySHA256 != "":
			bad("%s: set key or key_sha256, not both", key)
		case a.Key == "" && a.KeySHA256 == "":
			bad("%s: key or key_sha256 is required", key)
		case a.Key != "":
			if len(a.Key) < 8 {
				bad("%s: key is too short (at least 8 characters)", key)
			}
			digest = sha256Hex(a.Key)
		default:
			if b, err := hex.DecodeString(a.KeySHA256); err != nil || len(b) != 32 {
				bad("%s: key_sha256 must be 64 hex digits (sha256sum of the key)", key)
			}
			digest = strings.ToLower(a.KeySHA256)
		}
		if digest != "" {
			if other, dup := keys[digest]; dup {
				bad("%s: has the same key as %s", key, other)
			}
			keys[digest] = key
		}
		for j, m := range a.Models {
			if _, err := path.Match(m, ""); err != nil || m == "" {
				bad("%s: models[%d] %q is not a valid glob", key, j, m)
			}
		}
		if a.RateLimits != nil {
			checkRates(key+".rate_limits", *a.RateLimits)
		}
		checkUnscanned(key+".unscanned", a.Unscanned, bad)
		checkAppProviders(key+".providers", a.Providers, bad)
		roles := map[string]bool{}
		for j, r := range a.OperatorRoles {
			switch {
			case r != "system" && r != "developer":
				bad("%s: operator_roles[%d] %q: only system and developer may be operator roles", key, j, r)
			case roles[r]:
				bad("%s: operator_roles[%d] %q is listed twice", key, j, r)
			}
			roles[r] = true
		}
	}

	tokNames := map[string]bool{}
	for i, t := range c.AdminTokens {
		key := fmt.Sprintf("admin_tokens[%d]", i)
		if t.Name == "" {
			bad("%s: name is required", key)
		} else if tokNames[t.Name] {
			bad("%s: name %q is used twice", key, t.Name)
		}
		tokNames[t.Name] = true
		switch t.Role {
		case "reviewer", "auditor", "admin":
		default:
			bad("%s: role %q is not reviewer, auditor or admin", key, t.Role)
		}
		switch {
		case t.Token != "" && t.TokenSHA256 != "":
			bad("%s: set token or token_sha256, not both", key)
		case t.Token == "" && t.TokenSHA256 == "":
			bad("%s: token or token_sha256 is required", key)
		case t.Token != "" && len(t.Token) < 16:
			bad("%s: token is too short (at least 16 characters)", key)
		case t.TokenSHA256 != "":
			if b, err := hex.DecodeString(t.TokenSHA256); err != nil || len(b) != 32 {
				bad("%s: token_sha256 must be 64 hex digits", key)
			}
		}
	}

	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s: url %q is not an http(s) URL", key, w.URL)
		}
		if w.Secret == "" {
			bad("%s: secret is required (receivers check the signature with it)", key)
		}
	}

	for i, p := range c.AllowPaths {
		clean := path.Clean(strings.TrimPrefix(p, "/"))
		if p == "" || strings.Contains(p, "..") || strings.Contains(p, "%") || clean == "." {
			bad("allow_paths[%d]: %q is not a plain path below the API root (e.g. \"key\")", i, p)
		}
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	ps = append(ps, c.Retention.problems()...)
	ps = append(ps, c.Appeals.problems()...)
	return ps
}

func validName(s string) bool {
	for _, r := range s {
		if r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return s != ""
}

// checkUnscanned validates policy.unscanned or an app's override.
func checkUnscanned(key, v string, bad func(string, ...any)) {
	switch v {
	case "", "allow", "flag", "block":
	default:
		bad("%s: %q is not allow, flag or block", key, v)
	}
}
