package config

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// KeyDigest is the SHA-256 of the app's key, from key or key_sha256.
func (a App) KeyDigest() [32]byte {
	var d [32]byte
	if a.Key != "" {
		return sha256.Sum256([]byte(a.Key))
	}
	b, err := hex.DecodeString(strings.ToLower(a.KeySHA256))
	if err == nil && len(b) == 32 {
		copy(d[:], b)
	}
	return d
}

// Limits returns the app's rate limits, falling back to the global ones.
func (c *Config) AppRateLimits(a App) RateLimits {
	if a.RateLimits != nil {
		return *a.RateLimits
	}
	return c.RateLimits
}

// AppAnswerCheck reports whether answers of this app are checked.
func (c *Config) AppAnswerCheck(a App) bool {
	if a.AnswerCheck != nil {
		return *a.AnswerCheck
	}
	return c.AnswerCheck
}
