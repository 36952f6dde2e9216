package detect

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDebugScan prints normalisation and signals for DETECT_DEBUG texts
// ("|"-separated); a tuning aid, skipped otherwise.
func TestDebugScan(t *testing.T) {
	in := os.Getenv("DETECT_DEBUG")
	if in == "" {
		t.Skip("set DETECT_DEBUG")
	}
	d := bundled(t)
	for _, s := range strings.Split(in, "|") {
		b, _ := json.Marshal(d.Scan([]string{s}))
		t.Logf("%q\n  norm: %s\n  sig: %s", s, Normalize(s), b)
	}
}
