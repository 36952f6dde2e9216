package gateway

import (
	"testing"

	"github.com/aupguard/aupguard/internal/testpolicy"
)

// policyDir is the bundled policy with a small lexicon (internal/testpolicy).
func policyDir(t *testing.T) string { return testpolicy.Dir(t) }
