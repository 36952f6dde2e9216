package policy

import (
	"testing"

	"go.uber.org/goleak"
)

// Watchers, background classifications and test servers must all be gone
// when the tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
