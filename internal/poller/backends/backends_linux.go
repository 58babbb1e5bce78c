package backends

import (
	"errors"
	"fmt"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/iouring"
	"github.com/gotevent/tevent/internal/poller/poll"
	"github.com/gotevent/tevent/internal/poller/standard"
)

var table = []entry{
	{"epoll", func(o Options) (poller.Backend, error) { return epoll.New(o.Runtime) }},
	{"poll", func(Options) (poller.Backend, error) { return poll.New(false) }},
	{"poll_mt", func(Options) (poller.Backend, error) { return poll.New(true) }},
	{"standard", func(o Options) (poller.Backend, error) { return standard.New(o.Runtime, o.OnFallback) }},
	{"io_uring", openIOUring},
}

// openIOUring opens the io_uring backend, or epoll in its place where the
// kernel gives no usable io_uring (and says so through OnUnavailable).
func openIOUring(o Options) (poller.Backend, error) {
	b, err := iouring.New()
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, iouring.ErrUnavailable) {
		return nil, err
	}
	e, eerr := epoll.New(o.Runtime)
	if eerr != nil {
		return nil, fmt.Errorf("%w; epoll in its place: %w", err, eerr)
	}
	if o.OnUnavailable != nil {
		o.OnUnavailable("io_uring", "epoll", err)
	}
	return e, nil
}
