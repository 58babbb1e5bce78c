//go:build linux

package iouring_test

import (
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/iouring"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	pollertest.Run(t, func(t *testing.T) poller.Backend {
		b, err := iouring.New()
		if err != nil {
			t.Skipf("no io_uring here: %v", err)
		}
		return b
	})
}
