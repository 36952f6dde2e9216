package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// Cancelled and broken upstream calls must not leave goroutines behind.
// Idle keep-alive connections of the shared clients are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
