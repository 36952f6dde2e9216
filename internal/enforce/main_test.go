package enforce_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every enforcer and store a test opens is closed by its cleanup; nothing
// may keep running after the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
