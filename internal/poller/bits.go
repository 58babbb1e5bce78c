//go:build unix

package poller

import "golang.org/x/sys/unix"

// PollBits is the poll(2) event mask for an interest. Linux's epoll uses
// the same bit values (EPOLLIN == POLLIN and so on), so both backends map
// interest and readiness here, in one place.
func PollBits(in Interest) uint32 {
	var e uint32
	if in&Readable != 0 {
		e |= unix.POLLIN
	}
	if in&Writable != 0 {
		e |= unix.POLLOUT
	}
	if in&ReadHangup != 0 {
		e |= pollRdHup
	}
	return e
}

// ReadyFromPollBits is the readiness reported by a poll(2) (or epoll)
// event mask.
func ReadyFromPollBits(re uint32) Ready {
	var r Ready
	if re&(unix.POLLIN|unix.POLLPRI) != 0 {
		r |= ReadyRead
	}
	if re&unix.POLLOUT != 0 {
		r |= ReadyWrite
	}
	if re&(unix.POLLERR|unix.POLLHUP|pollRdHup) != 0 {
		r |= ReadyError
	}
	if re&unix.POLLNVAL != 0 {
		r |= ReadyInvalid
	}
	return r
}
