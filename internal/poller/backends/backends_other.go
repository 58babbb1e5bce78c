//go:build unix && !linux

package backends

import (
	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/poll"
)

var table = []entry{
	{"poll", func(Options) (poller.Backend, error) { return poll.New(false) }},
	{"poll_mt", func(Options) (poller.Backend, error) { return poll.New(true) }},
}
