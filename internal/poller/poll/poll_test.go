//go:build unix

package poll_test

import (
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/poll"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(shared bool) func(*testing.T) poller.Backend {
	return func(t *testing.T) poller.Backend {
		b, err := poll.New(shared)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestConformance runs the backend suite on poll.
func TestConformance(t *testing.T) { pollertest.Run(t, open(false)) }

// TestConformanceShared runs it on poll declaring CapSharedChanges
// (poll_mt).
func TestConformanceShared(t *testing.T) { pollertest.Run(t, open(true)) }
