package tserver

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests, and serves
// as the client helper process of TestServerManyConnsDropped.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runClientHelper())
	}
	goleak.VerifyTestMain(m)
}
