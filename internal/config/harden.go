package config

import (
	"net"
	"net/http"
	"time"
)

// AuthThrottle slows down guessing of app keys, admin tokens and desk
// sign-ins: per client address and per network prefix, failures beyond a
// free allowance lock the source out for a delay that doubles with every
// further failure. There is no per-account lock-out: tokens have no user
// name, and an attacker must not be able to lock a real operator out.
type AuthThrottle struct {
	Enabled bool `yaml:"enabled"` // default true
	// FreeFailures are the failures an address may make before back-off
	// starts (default 5); PrefixFreeFailures the same for the whole
	// network prefix (default 20).
	FreeFailures       int `yaml:"free_failures"`
	PrefixFreeFailures int `yaml:"prefix_free_failures"`
	// IPv4Prefix and IPv6Prefix are the prefix lengths counted together
	// (default 24 and 64; 32 and 128 count single addresses only).
	IPv4Prefix  int           `yaml:"ipv4_prefix"`
	IPv6Prefix  int           `yaml:"ipv6_prefix"`
	BaseDelay   time.Duration `yaml:"base_delay"`   // first lock-out, default 1s
	MaxDelay    time.Duration `yaml:"max_delay"`    // longest lock-out, default 15m
	ForgetAfter time.Duration `yaml:"forget_after"` // failures forgotten this long after the last one, default 1h
	// ClientIPHeader names the header holding the client address
	// (X-Forwarded-For, X-Real-IP, ...) set by a proxy in front. It is read
	// only from peers in TrustedProxies; empty: the peer address is the client.
	ClientIPHeader string   `yaml:"client_ip_header"`
	TrustedProxies []string `yaml:"trusted_proxies"` // CIDRs or addresses
}

// TLS serves a listener over HTTPS from PEM files, reloaded on SIGHUP.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// MaxParseFactor is wire.MaxParseFactor (config imports nothing of ours).
const MaxParseFactor = 32

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" }

func defaultAuthThrottle() AuthThrottle {
	return AuthThrottle{
		Enabled: true, FreeFailures: 5, PrefixFreeFailures: 20, IPv4Prefix: 24, IPv6Prefix: 64,
		BaseDelay: time.Second, MaxDelay: 15 * time.Minute, ForgetAfter: time.Hour,
	}
}

func (c *Config) hardenProblems(bad func(string, ...any)) {
	a := c.AuthThrottle
	if a.Enabled {
		if a.FreeFailures < 0 || a.PrefixFreeFailures < 0 {
			bad("auth_throttle.free_failures and prefix_free_failures must not be negative")
		}
		if a.IPv4Prefix < 8 || a.IPv4Prefix > 32 {
			bad("auth_throttle.ipv4_prefix must be between 8 and 32, not %d", a.IPv4Prefix)
		}
		if a.IPv6Prefix < 16 || a.IPv6Prefix > 128 {
			bad("auth_throttle.ipv6_prefix must be between 16 and 128, not %d", a.IPv6Prefix)
		}
		if a.BaseDelay <= 0 || a.MaxDelay < a.BaseDelay {
			bad("auth_throttle: base_delay must be positive and max_delay at least base_delay")
		}
		if a.ForgetAfter < a.MaxDelay {
			bad("auth_throttle.forget_after (%s) must be at least max_delay (%s)", a.ForgetAfter, a.MaxDelay)
		}
		if a.ClientIPHeader != "" && len(a.TrustedProxies) == 0 {
			bad("auth_throttle.client_ip_header needs trusted_proxies: the header is believed only from them")
		}
		if a.ClientIPHeader != "" && http.CanonicalHeaderKey(a.ClientIPHeader) == "" {
			bad("auth_throttle.client_ip_header %q is not a header name", a.ClientIPHeader)
		}
		for _, p := range a.TrustedProxies {
			if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
				bad("auth_throttle.trusted_proxies: %q is not an address or CIDR", p)
			}
		}
	}
	l := c.Limits
	// A body of the largest size and the costliest shape must fit when the
	// gateway is idle, or it would be refused for ever.
	if need := (2 + MaxParseFactor) * l.MaxBodyBytes; l.BodyMemory < 0 {
		bad("limits.body_memory must not be negative")
	} else if l.BodyMemory > 0 && l.BodyMemory < need {
		bad("limits.body_memory (%d) must be at least %d × max_body_bytes (%d): one body of the largest size and costliest shape must fit", l.BodyMemory, 2+MaxParseFactor, need)
	}
	if l.MaxCallsPerApp < 0 {
		bad("limits.max_calls_per_app must not be negative")
	}
	if l.MemoryLimit < 0 {
		bad("limits.memory_limit must not be negative")
	}
	for key, t := range map[string]TLS{"tls": c.TLS, "admin_tls": c.AdminTLS} {
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("%s: set both cert_file and key_file, or neither", key)
		}
	}
}
