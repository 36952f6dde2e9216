package desk

import (
	"strings"
	"testing"
	"time"
)

// FuzzParsePeriod: since/until and suspension lengths from the desk's
// forms and query strings. A duration in days is exactly that many days
// (never wrapped round by overflow), and a time back from now is never
// after now.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"7d", "36h", "90m", "-3d", "2026-11-01", "2026-11-01T10:00:00Z", "", " 5d ", "999999999999d", "1e9h", "0d"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDuration(s); err == nil {
			if days, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
				if d%(24*time.Hour) != 0 || (d < 0) != strings.HasPrefix(days, "-") && d != 0 {
					t.Fatalf("parseDuration(%q) = %v", s, d)
				}
			}
		}
		if tm, err := parseTime(s, now); err == nil && !tm.IsZero() {
			if _, derr := parseDuration(strings.TrimSpace(s)); derr == nil && tm.After(now) {
				t.Fatalf("parseTime(%q) = %v, after now", s, tm)
			}
		}
	})
}
