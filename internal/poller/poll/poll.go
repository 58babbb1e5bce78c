//go:build unix

// Package poll is the portable poll(2) backend. Wait blocks the calling
// thread in poll; Wake writes to an eventfd (Linux) or a pipe.
package poll

import (
	"fmt"
	"math"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/wakefd"
	"golang.org/x/sys/unix"
)

// sysPoll is poll(2), replaceable by tests (see SetFaults).
var sysPoll = unix.Poll

// SetFaults replaces the poll call of every poll poller and returns a
// function that restores it: a test seam for fault injection.
func SetFaults(poll func(fds []unix.PollFd, ms int) (int, error)) (restore func()) {
	old := sysPoll
	if poll != nil {
		sysPoll = poll
	}
	return func() { sysPoll = old }
}

// Poller is a poll(2) backend.
type Poller struct {
	wake  *wakefd.WakeFD
	pfds  []unix.PollFd // pfds[0] is the wake fd
	pos   []int32       // fd -> index in pfds + 1; 0 when absent
	start int           // rotating scan start, for fairness when evs fills up
	waker *poller.Waker
	kwake func() error
}

// New returns a poll backend with its wake-up descriptor.
func New() (*Poller, error) {
	w, err := wakefd.New()
	if err != nil {
		return nil, fmt.Errorf("wake-up descriptor: %w", err)
	}
	p := &Poller{wake: w, waker: poller.NewWaker()}
	p.kwake = w.Wake
	p.pfds = append(p.pfds, unix.PollFd{Fd: int32(w.ReadFD()), Events: unix.POLLIN})
	return p, nil
}

func toPoll(m uint32) int16 {
	var e int16
	if m&poller.In != 0 {
		e |= unix.POLLIN
	}
	if m&poller.Out != 0 {
		e |= unix.POLLOUT
	}
	if m&poller.RdHup != 0 {
		e |= pollRdHup
	}
	return e
}

// Control implements poller.Poller.
func (p *Poller) Control(fd int, old, new uint32) error {
	if fd < 0 {
		return unix.EBADF
	}
	var idx int32
	if fd < len(p.pos) {
		idx = p.pos[fd]
	}
	if new == 0 {
		if idx == 0 {
			return nil
		}
		i := int(idx - 1)
		last := len(p.pfds) - 1
		if i != last {
			p.pfds[i] = p.pfds[last]
			p.pos[p.pfds[i].Fd] = int32(i + 1)
		}
		p.pfds = p.pfds[:last]
		p.pos[fd] = 0
		return nil
	}
	if idx != 0 {
		p.pfds[idx-1].Events = toPoll(new)
		return nil
	}
	for fd >= len(p.pos) {
		p.pos = append(p.pos, make([]int32, len(p.pos)+64)...)
	}
	p.pfds = append(p.pfds, unix.PollFd{Fd: int32(fd), Events: toPoll(new)})
	p.pos[fd] = int32(len(p.pfds))
	return nil
}

// Wait implements poller.Poller.
func (p *Poller) Wait(evs []poller.Event, timeout time.Duration) (int, error) {
	ms := -1
	if timeout >= 0 {
		ms = int(min((timeout+time.Millisecond-1)/time.Millisecond, math.MaxInt32)) // the kernel takes a C int
	}
	if ms != 0 && len(p.pfds) == 1 {
		// Nothing to watch but wake-ups and the clock: park on a channel.
		if !p.waker.Announce(poller.ModeChan) {
			p.waker.Park(timeout)
		}
		p.waker.Clear()
		return 0, nil
	}
	if ms != 0 && p.waker.Announce(poller.ModeKernel) {
		ms = 0
	}
	for i := range p.pfds {
		p.pfds[i].Revents = 0
	}
	n, err := sysPoll(p.pfds, ms)
	p.waker.Clear()
	if err != nil {
		if err == unix.EINTR || err == unix.EAGAIN {
			return 0, nil
		}
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	if p.pfds[0].Revents != 0 {
		p.wake.Drain()
	}
	count := len(p.pfds) - 1
	if count == 0 {
		return 0, nil
	}
	if p.start >= count {
		p.start = 0
	}
	out := 0
	k := 0
	for ; k < count && out < len(evs); k++ {
		i := 1 + (p.start+k)%count
		re := p.pfds[i].Revents
		if re == 0 {
			continue
		}
		var m uint32
		if re&(unix.POLLIN|unix.POLLPRI) != 0 {
			m |= poller.In
		}
		if re&unix.POLLOUT != 0 {
			m |= poller.Out
		}
		if re&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL|pollRdHup) != 0 {
			m |= poller.Err
		}
		evs[out] = poller.Event{Fd: p.pfds[i].Fd, Events: m}
		out++
	}
	// When evs filled up, the next scan starts after the last fd taken,
	// so that the ones left out come first. Otherwise every ready fd was
	// taken and the order stays: moving the start would let some fds
	// jump the queue and serve twice while another waits.
	if k < count {
		p.start = (p.start + k) % count
	}
	return out, nil
}

// Wake implements poller.Poller.
func (p *Poller) Wake() error { return p.waker.Wake(p.kwake) }

// Close implements poller.Poller.
func (p *Poller) Close() error { return p.wake.Close() }
