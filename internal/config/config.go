// Package config loads, fills in and validates aupguard's configuration:
// one YAML file, every value overridable by an AUPGUARD_* environment
// variable, secrets given as ${ENV_VAR}. A config that passes Validate never
// fails a request later.
package config

import "time"

// Config is the whole configuration. Every field has a default (see Default).
type Config struct {
	Listen      string `yaml:"listen"`       // proxy listener, default 127.0.0.1:8080
	AdminListen string `yaml:"admin_listen"` // admin listener, default 127.0.0.1:8081

	Upstream Upstream `yaml:"upstream"`

	// Store is a URL: bolt://PATH (embedded, default ./data/aupguard.db),
	// redis://, rediss://, redis+sentinel://, redis+cluster://.
	Store string `yaml:"store"`
	// FailMode decides users whose standing is unknown while the store is
	// down: "open" (default) serves them, "closed" refuses with 503.
	FailMode string `yaml:"fail_mode"`
	// SpoolDir holds reports written while the store is down (default ./data/spool).
	SpoolDir string `yaml:"spool_dir"`

	ZDR         bool   `yaml:"zdr"`          // no content at rest anywhere; ZDR routing upstream
	AnswerCheck bool   `yaml:"answer_check"` // check model answers too
	Policies    string `yaml:"policies"`     // policy directory; bundled copy when empty or absent

	Policy      PolicyOptions `yaml:"policy"`
	RateLimits  RateLimits    `yaml:"rate_limits"`
	Escalation  Escalation    `yaml:"escalation"`
	Limits      Limits        `yaml:"limits"`
	Secrets     Secrets       `yaml:"secrets"`
	Apps        []App         `yaml:"apps"`
	AdminTokens []AdminToken  `yaml:"admin_tokens"`
	Webhooks    []Webhook     `yaml:"webhooks"`
	Retention   Retention     `yaml:"retention"` // personal-data retention and legal holds (retention.go)
	Appeals     Appeals       `yaml:"appeals"`   // the complaint-handling system (appeals.go)

	// AllowPaths lists extra upstream paths (relative to the API root, e.g.
	// "key", "credits") that are passed through; everything else not known
	// to be a model or metadata endpoint is refused with path_not_allowed.
	AllowPaths []string `yaml:"allow_paths"`

	Log Log `yaml:"log"`

	AuthThrottle AuthThrottle `yaml:"auth_throttle"` // failed-authentication back-off (harden.go)
	TLS          TLS          `yaml:"tls"`           // HTTPS on the proxy listener
	AdminTLS     TLS          `yaml:"admin_tls"`     // HTTPS on the admin listener

	warnings []string // see Warnings
}

// Upstream is the OpenRouter-compatible API aupguard forwards to.
type Upstream struct {
	URL            string        `yaml:"url"`             // default https://openrouter.ai/api/v1
	APIKey         string        `yaml:"api_key"`         // the operator's key; never logged
	Timeout        time.Duration `yaml:"timeout"`         // response-header timeout, default 60s
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 10s
}

// PolicyOptions tune the policy engine.
type PolicyOptions struct {
	// DryRun logs what would be refused and lets it through: "" (off),
	// "all", or category ids (comma-free list in YAML).
	DryRun     []string    `yaml:"dry_run"`
	Watch      bool        `yaml:"watch"` // reload on file change (SIGHUP always reloads)
	Classifier *Classifier `yaml:"classifier"`
	// Unscanned is what a request carrying media no detector reads gets:
	// allow | flag | block; "" keeps the bundle's data.aup.unscanned (allow).
	Unscanned string `yaml:"unscanned"`
}

// Classifier is the optional guard-model tier.
type Classifier struct {
	Mode string `yaml:"mode"` // off | before | parallel | cascade
	// CascadeBand: in cascade mode, the learned tier's harm probability
	// [low, high) that sends a request to the guard model (default [0.8, 0.96]: policy.DefaultCascadeBand).
	CascadeBand []float64     `yaml:"cascade_band"`
	Model       string        `yaml:"model"`      // e.g. meta-llama/llama-guard-4-12b
	URL         string        `yaml:"url"`        // OpenAI-compatible moderation endpoint; default: the upstream
	APIKey      string        `yaml:"api_key"`    // default: the upstream key
	Timeout     time.Duration `yaml:"timeout"`    // default 2s
	OnTimeout   string        `yaml:"on_timeout"` // allow | flag | block (default allow)
}

// RateLimits are requests per minute; 0 means unlimited.
type RateLimits struct {
	EndUserPerMinute int `yaml:"end_user_per_minute"` // default 60
	AppPerMinute     int `yaml:"app_per_minute"`      // default 0
}

// Escalation turns strikes into sanctions.
type Escalation struct {
	StrikeHalfLife time.Duration `yaml:"strike_half_life"` // strikes decay by half over this, default 168h
	SuspendAt      float64       `yaml:"suspend_at"`       // strike score that suspends, default 3
	SuspendFor     time.Duration `yaml:"suspend_for"`      // default 24h
	BanAt          float64       `yaml:"ban_at"`           // strike score that bans, default 10
}

// Limits bound what a request may cost the gateway.
type Limits struct {
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`      // default 4 MiB → 413 payload_too_large
	MaxJSONDepth      int           `yaml:"max_json_depth"`      // default 64 → 400 invalid_request
	ShutdownGrace     time.Duration `yaml:"shutdown_grace"`      // default 30s for in-flight streams
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"` // default 10s
	// BodyMemory bounds the memory request bodies take at once, all
	// requests together: each body's length and, for model calls, its
	// parse (at most 32 × the body) and the copy sent upstream. Default
	// 64 × max_body_bytes; beyond it 503 overloaded.
	BodyMemory int64 `yaml:"body_memory"`
	// MaxCallsPerApp bounds one app's model calls in flight; 0 = unbounded.
	MaxCallsPerApp int `yaml:"max_calls_per_app"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes; 0: 90 %
	// of the container's limit when one is detected (GOMEMLIMIT wins).
	MemoryLimit int64 `yaml:"memory_limit"`
}

// Secrets are the keys behind pseudonyms, digests and signatures. Empty
// values are generated once and kept in the store, so replicas agree.
type Secrets struct {
	PseudonymKey   string `yaml:"pseudonym_key"`
	DigestKey      string `yaml:"digest_key"`
	SigningKeyFile string `yaml:"signing_key_file"`
}

// App is an operator application allowed to spend the operator's key.
type App struct {
	Name      string   `yaml:"name"`
	Key       string   `yaml:"key"`        // the app key, or
	KeySHA256 string   `yaml:"key_sha256"` // its hex SHA-256
	Models    []string `yaml:"models"`     // optional allow-list, globs like "openai/*"
	// EndUserOptional lets this app's model calls through without an end-user id
	// (they are then attributed to the pseudonymous user "app:NAME").
	EndUserOptional bool        `yaml:"end_user_optional"`
	ZDR             bool        `yaml:"zdr"`          // ZDR for this app even when the global switch is off
	AnswerCheck     *bool       `yaml:"answer_check"` // overrides the global switch
	RateLimits      *RateLimits `yaml:"rate_limits"`
	// OperatorRoles are the roles whose text this app's operator writes
	// (default ["system", "developer"]): its violations are recorded against
	// the app, never the end user. An app whose end users write the system
	// prompt sets [] and then system and developer text is the end user's.
	OperatorRoles []string `yaml:"operator_roles"`
	// Unscanned overrides policy.unscanned for this app.
	Unscanned string `yaml:"unscanned"`
	// Providers constrains which upstream providers serve this app's
	// requests (data residency, subprocessor choice): merged into every
	// request's provider object; a client may narrow it, never widen it.
	Providers AppProviders `yaml:"providers"`
}

// AppProviders is apps[].providers: OpenRouter provider slugs (e.g.
// "azure", "deepinfra/turbo").
type AppProviders struct {
	Only   []string `yaml:"only"`   // allow-list; empty: any provider not ignored
	Ignore []string `yaml:"ignore"` // never these
}

// AppUnscanned lists the apps that override policy.unscanned (for
// policy.Options.AppUnscanned); nil when none does.
func (c *Config) AppUnscanned() map[string]string {
	var out map[string]string
	for _, a := range c.Apps {
		if a.Unscanned != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[a.Name] = a.Unscanned
		}
	}
	return out
}

// AdminToken grants access to the admin API and desk page.
type AdminToken struct {
	Name        string `yaml:"name"`
	Role        string `yaml:"role"` // reviewer | auditor | admin
	Token       string `yaml:"token"`
	TokenSHA256 string `yaml:"token_sha256"`
}

// Webhook receives signed POSTs on critical reports and escalations.
type Webhook struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// Log configures the JSON access log (never content).
type Log struct {
	Level string `yaml:"level"` // debug | info | warn | error, default info
	// Pprof serves Go's profiler under /debug/pprof/ on the admin listener
	// (off by default: profiles show memory, which may hold request content).
	Pprof bool `yaml:"pprof"`
}
