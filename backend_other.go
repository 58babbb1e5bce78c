//go:build unix && !linux

package tevent

import (
	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/poll"
)

func platformBackends() []string { return []string{"poll", "poll_mt"} }

func newPoller(name string, blocking bool) (poller.Poller, error) { return poll.New() }

func newFallbackPoller() (poller.Poller, error) { return poll.New() }
