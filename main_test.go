package tevent

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: signal
// watchers, thread-proxy senders, blocking-wait helpers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
