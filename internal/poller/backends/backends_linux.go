package backends

import (
	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/poll"
	"github.com/gotevent/tevent/internal/poller/standard"
)

var table = []entry{
	{"epoll", func(o Options) (poller.Backend, error) { return epoll.New(o.Runtime) }},
	{"poll", func(Options) (poller.Backend, error) { return poll.New(false) }},
	{"poll_mt", func(Options) (poller.Backend, error) { return poll.New(true) }},
	{"standard", func(o Options) (poller.Backend, error) { return standard.New(o.Runtime, o.OnFallback) }},
}
