package config

import (
	"strings"
	"testing"
)

func TestHardenDefaultsAndProblems(t *testing.T) {
	c, err := Parse([]byte("upstream: {api_key: k}\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if a := c.AuthThrottle; !a.Enabled || a.FreeFailures != 5 || a.IPv4Prefix != 24 || a.IPv6Prefix != 64 || a.MaxDelay.Minutes() != 15 {
		t.Errorf("defaults: %+v", a)
	}
	cases := map[string]string{
		"auth_throttle: {ipv4_prefix: 33}":                   "ipv4_prefix",
		"auth_throttle: {ipv6_prefix: 8}":                    "ipv6_prefix",
		"auth_throttle: {base_delay: 10s, max_delay: 1s}":    "max_delay",
		"auth_throttle: {max_delay: 2h}":                     "forget_after",
		"auth_throttle: {client_ip_header: X-Forwarded-For}": "needs trusted_proxies",
		"auth_throttle: {trusted_proxies: [10.0.0.0/33]}":    "not an address or CIDR",
		"limits: {body_memory: 1048576}":                     "body_memory",
		"limits: {body_memory: -1}":                          "body_memory",
		"limits: {max_calls_per_app: -1}":                    "max_calls_per_app",
		"tls: {cert_file: a.pem}":                            "tls: set both",
		"admin_tls: {key_file: a.key}":                       "admin_tls: set both",
	}
	for y, want := range cases {
		_, err := Parse([]byte("upstream: {api_key: k}\n"+y+"\n"), "t")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", y, err, want)
		}
	}
	// Off, the throttle's other values are not checked.
	if _, err := Parse([]byte("upstream: {api_key: k}\nauth_throttle: {enabled: false, ipv4_prefix: 99}\n"), "t"); err != nil {
		t.Errorf("disabled: %v", err)
	}
	if _, err := Parse([]byte("upstream: {api_key: k}\nlimits: {body_memory: 142606336}\n"), "t"); err != nil {
		t.Errorf("body_memory of exactly 34 × max_body_bytes: %v", err)
	}
}
