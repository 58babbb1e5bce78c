//go:build linux

package poller

import "golang.org/x/sys/unix"

// pollRdHup asks poll(2) for a peer's shutdown of its writing side
// (ReadHangup, what FDError events wait for), as EPOLLRDHUP does for
// epoll.
const pollRdHup = unix.POLLRDHUP
