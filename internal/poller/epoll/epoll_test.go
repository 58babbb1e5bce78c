//go:build linux

package epoll_test

import (
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(runtime bool) func(*testing.T) poller.Backend {
	return func(t *testing.T) poller.Backend {
		b, err := epoll.New(runtime)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestConformance runs the backend suite on epoll blocking a thread in
// epoll_wait.
func TestConformance(t *testing.T) { pollertest.Run(t, open(false)) }

// TestConformanceRuntime runs it on epoll handed to the Go runtime's
// network poller.
func TestConformanceRuntime(t *testing.T) { pollertest.Run(t, open(true)) }
