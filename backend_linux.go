package tevent

import (
	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/poll"
)

func platformBackends() []string { return []string{"epoll", "poll", "poll_mt", "standard"} }

func newPoller(name string, blocking bool) (poller.Poller, error) {
	switch name {
	case "epoll":
		return epoll.New(blocking)
	case "standard":
		p, err := epoll.New(blocking)
		if err != nil {
			return poll.New()
		}
		return p, nil
	default:
		return poll.New()
	}
}

func newFallbackPoller() (poller.Poller, error) { return poll.New() }
