package tlsengine

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: handshake
// goroutines, timers' functions, stock peers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
