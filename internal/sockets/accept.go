package sockets

import (
	"time"

	"golang.org/x/sys/unix"
)

// Accept takes one connection from the listening socket fd, as a
// non-blocking, close-on-exec descriptor. Errors that concern only the
// connection being taken (EINTR, ECONNABORTED: reset before it was taken,
// EPROTO) are retried; unix.EAGAIN means none is waiting. Other errors are
// returned as the errno: Shortage tells those that call for a Backoff.
func Accept(fd int) (int, error) {
	for {
		nfd, err := accept4(fd)
		switch err {
		case nil:
			return nfd, nil
		case unix.EINTR, unix.ECONNABORTED, unix.EPROTO:
			continue
		}
		return -1, err
	}
}

// Shortage reports whether an accept error says the process or the
// system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM): asking again at once would fail again, so the listener must
// back off instead of spinning the loop on the connection it cannot take.
func Shortage(err error) bool {
	switch err {
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return true
	}
	return false
}

// Backoff is the pause of a listener after a shortage: Min the first
// time, doubled after each further shortage while it is below Max (Min ==
// Max gives a fixed pause). The zero value pauses for nothing; set Min and
// Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the pause after one more shortage.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else if b.cur < b.Max {
		b.cur *= 2
	}
	return b.cur
}

// Reset starts over after a connection was taken.
func (b *Backoff) Reset() { b.cur = 0 }
