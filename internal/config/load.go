package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override: the YAML path in upper case,
// joined by "_" (upstream.api_key → AUPGUARD_UPSTREAM_API_KEY).
const EnvPrefix = "AUPGUARD_"

// EnvAppKey defines one app named "default" when the config has no apps, so
// the gateway can run on embedded defaults without a config file.
const EnvAppKey = "AUPGUARD_APP_KEY"

// Default returns the configuration used when nothing else is given: one
// machine, no other service.
func Default() *Config {
	return &Config{
		Listen:      "127.0.0.1:8080",
		AdminListen: "127.0.0.1:8081",
		Upstream: Upstream{
			URL:            "https://openrouter.ai/api/v1",
			APIKey:         "${OPENROUTER_API_KEY}",
			Timeout:        60 * time.Second,
			ConnectTimeout: 10 * time.Second,
		},
		Store:    "bolt://./data/aupguard.db",
		FailMode: "open",
		SpoolDir: "./data/spool",
		Policies: "", // bundled policies
		RateLimits: RateLimits{
			EndUserPerMinute: 60,
			AppPerMinute:     0,
		},
		Escalation: Escalation{
			StrikeHalfLife: 168 * time.Hour,
			SuspendAt:      3,
			SuspendFor:     24 * time.Hour,
			BanAt:          10,
		},
		Limits: Limits{
			MaxBodyBytes:      4 << 20,
			MaxJSONDepth:      64,
			ShutdownGrace:     30 * time.Second,
			ReadHeaderTimeout: 10 * time.Second,
		},
		Secrets: Secrets{
			SigningKeyFile: "./data/signing.key",
		},
		Log:          Log{Level: "info"},
		Retention:    DefaultRetention(),
		Appeals:      DefaultAppeals(),
		AuthThrottle: defaultAuthThrottle(),
	}
}

// Load builds the configuration: defaults, then the YAML file at path (if
// path is not empty; unknown keys are errors), then AUPGUARD_* environment
// overrides, then ${VAR} expansion of string values, then AUPGUARD_APP_KEY
// when no app is configured. The result is validated; every problem found
// is reported at once.
func Load(path string) (*Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		data = b
	}
	return load(data, path, os.LookupEnv)
}

// Parse is Load for a config held in memory (name is used in messages).
func Parse(data []byte, name string) (*Config, error) { return load(data, name, os.LookupEnv) }

func load(data []byte, name string, lookup func(string) (string, bool)) (*Config, error) {
	if name == "" {
		name = "config"
	}
	c := Default()
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	var problems []string
	overridden := map[string]bool{}
	problems = append(problems, applyEnv(reflect.ValueOf(c).Elem(), "", lookup, overridden)...)
	problems = append(problems, expandAll(reflect.ValueOf(c).Elem(), "", lookup, overridden)...)
	if len(c.Apps) == 0 {
		if k, ok := lookup(EnvAppKey); ok && k != "" {
			c.Apps = []App{{Name: "default", Key: k}}
		}
	} else if k, ok := lookup(EnvAppKey); ok && k != "" {
		c.warnings = append(c.warnings, EnvAppKey+" is ignored because the config file lists apps")
	}
	if len(c.Apps) == 0 {
		c.warnings = append(c.warnings, "no apps are configured: every proxied call is refused with 401; set "+EnvAppKey+" or list apps in the config")
	}
	for i := range c.Apps {
		if c.Apps[i].OperatorRoles == nil {
			c.Apps[i].OperatorRoles = []string{"system", "developer"}
		}
	}
	problems = append(problems, c.problems()...)
	if len(problems) > 0 {
		return nil, &Error{Source: name, Problems: problems}
	}
	return c, nil
}

// Error lists every problem found in a configuration.
type Error struct {
	Source   string
	Problems []string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", e.Source, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p)
	}
	return b.String()
}

// Warnings are conditions worth logging at start that do not stop it.
func (c *Config) Warnings() []string { return c.warnings }

var durationType = reflect.TypeOf(time.Duration(0))

// EnvName is the environment variable overriding the YAML path
// (dotted, e.g. "rate_limits.end_user_per_minute").
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// applyEnv sets every scalar (and string list, comma-separated) field from
// its AUPGUARD_* variable when that variable is set. Lists of structs (apps,
// admin tokens, webhooks) come only from the file.
func applyEnv(v reflect.Value, prefix string, lookup func(string) (string, bool), set map[string]bool) []string {
	var problems []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := yamlName(f)
		if tag == "" {
			continue
		}
		path := join(prefix, tag)
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			problems = append(problems, applyEnv(fv, path, lookup, set)...)
			continue
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			// Allocate only when one of its variables is set.
			tmp := reflect.New(f.Type.Elem())
			if !fv.IsNil() {
				tmp.Elem().Set(fv.Elem())
			}
			before := len(set)
			problems = append(problems, applyEnv(tmp.Elem(), path, lookup, set)...)
			if len(set) > before {
				fv.Set(tmp)
			}
			continue
		}
		name := EnvName(path)
		s, ok := lookup(name)
		if !ok {
			continue
		}
		if err := setScalar(fv, s); err != nil {
			problems = append(problems, fmt.Sprintf("%s (from %s): %v", path, name, err))
			continue
		}
		set[path] = true
	}
	return problems
}

func setScalar(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration like 30s or 5m: %q", s)
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		fv.SetFloat(x)
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		fv.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// expandAll replaces ${VAR} (and ${VAR:-default}) in every string value,
// except values that came from the environment themselves.
func expandAll(v reflect.Value, path string, lookup func(string) (string, bool), skip map[string]bool) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return expandAll(v.Elem(), path, lookup, skip)
	case reflect.Struct:
		var problems []string
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := yamlName(t.Field(i))
			if tag == "" {
				continue
			}
			problems = append(problems, expandAll(v.Field(i), join(path, tag), lookup, skip)...)
		}
		return problems
	case reflect.Slice:
		var problems []string
		for i := 0; i < v.Len(); i++ {
			problems = append(problems, expandAll(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lookup, skip)...)
		}
		return problems
	case reflect.String:
		if skip[path] {
			return nil
		}
		s, err := Expand(v.String(), lookup)
		if err != nil {
			msg := fmt.Sprintf("%s: %v", path, err)
			if path == "upstream.api_key" {
				msg += "; set OPENROUTER_API_KEY (or " + EnvName(path) + ") to the operator's OpenRouter key"
			}
			return []string{msg}
		}
		v.SetString(s)
	}
	return nil
}

// Expand replaces ${VAR} with the variable's value and ${VAR:-default} with
// the value or, when unset or empty, the default. "$$" is a literal "$".
// An unset ${VAR} is an error naming it.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", redactHint(s))
		}
		expr := s[i+2 : i+2+end]
		i += 2 + end
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("bad variable name %q in ${...}", name)
		}
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			b.WriteString(def)
		case !ok:
			missing = append(missing, name)
		default:
			b.WriteString(val)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return b.String(), nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// redactHint keeps messages about secrets from echoing them whole.
func redactHint(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	if tag == "" {
		return strings.ToLower(f.Name)
	}
	return tag
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
