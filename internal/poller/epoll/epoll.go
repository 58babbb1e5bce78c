//go:build linux

// Package epoll is the Linux epoll backend.
//
// By default the epoll descriptor itself is handed to the Go runtime's
// network poller, so a loop with nothing to do parks its goroutine instead
// of blocking an OS thread in epoll_wait, and Wake readies it without a
// system call (by moving the descriptor's read deadline into the past).
// When the runtime cannot poll the descriptor, Wait blocks in epoll_wait
// and Wake writes to an eventfd.
package epoll

import (
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/wakefd"
	"golang.org/x/sys/unix"
)

// Syscalls go through these variables so that tests can inject faults
// (see SetFaults).
var (
	sysEpollCtl  = unix.EpollCtl
	sysEpollWait = unix.EpollWait
)

// SetFaults replaces the epoll_ctl and epoll_wait calls of every epoll
// poller (nil keeps the real one) and returns a function that restores
// them. It is a test seam for fault injection, not a public knob: the
// package is internal. Not safe while pollers are in use on other
// goroutines.
func SetFaults(ctl func(epfd, op, fd int, ev *unix.EpollEvent) error, wait func(epfd int, evs []unix.EpollEvent, ms int) (int, error)) (restore func()) {
	oldCtl, oldWait := sysEpollCtl, sysEpollWait
	if ctl != nil {
		sysEpollCtl = ctl
	}
	if wait != nil {
		sysEpollWait = wait
	}
	return func() { sysEpollCtl, sysEpollWait = oldCtl, oldWait }
}

// Poller is an epoll backend.
type Poller struct {
	epfd  int
	file  *os.File        // epfd as seen by the runtime poller (netpoll mode)
	raw   syscall.RawConn // its raw view
	wake  *wakefd.WakeFD  // blocking mode only
	buf   []unix.EpollEvent
	waker *poller.Waker
	nfds  int // descriptors registered
	past  time.Time
	kwake func() error

	// scratch for the RawConn callback, kept here so it does not allocate
	waitN   int
	waitErr error
	waitFn  func(fd uintptr) bool
}

// New creates an epoll backend. With blocking set, Wait blocks in
// epoll_wait (C tevent's behaviour) instead of parking in the runtime.
func New(blocking bool) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	p := &Poller{epfd: epfd, buf: make([]unix.EpollEvent, 256), past: time.Unix(1, 0), waker: poller.NewWaker()}
	p.kwake = p.kernelWake
	if !blocking {
		if err := unix.SetNonblock(epfd, true); err == nil {
			f := os.NewFile(uintptr(epfd), "epoll")
			if f.SetReadDeadline(time.Time{}) == nil {
				if rc, err := f.SyscallConn(); err == nil {
					p.file, p.raw = f, rc
				}
			}
			if p.file == nil {
				// Not pollable by the runtime: take the fd back.
				if fd, err := unix.Dup(epfd); err == nil {
					f.Close()
					p.epfd = fd
					unix.CloseOnExec(fd)
				} else {
					f.Close()
					return nil, fmt.Errorf("epoll: %w", err)
				}
			}
		}
	}
	if p.file == nil {
		w, err := wakefd.New()
		if err != nil {
			unix.Close(p.epfd)
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		p.wake = w
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, w.ReadFD(), &ev); err != nil {
			w.Close()
			unix.Close(p.epfd)
			return nil, fmt.Errorf("epoll_ctl(eventfd): %w", err)
		}
	} else {
		p.waitFn = p.rawWait
	}
	return p, nil
}

func toEpoll(m uint32) uint32 {
	var e uint32
	if m&poller.In != 0 {
		e |= unix.EPOLLIN
	}
	if m&poller.Out != 0 {
		e |= unix.EPOLLOUT
	}
	if m&poller.RdHup != 0 {
		e |= unix.EPOLLRDHUP
	}
	return e
}

// Control implements poller.Poller. A descriptor that was closed and
// reopened behind our back (ENOENT on MOD, EEXIST on ADD) is handled.
func (p *Poller) Control(fd int, old, new uint32) error {
	ev := unix.EpollEvent{Events: toEpoll(new), Fd: int32(fd)}
	switch {
	case new == 0:
		if old == 0 {
			return nil
		}
		err := sysEpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, &ev)
		if err == nil {
			// Counted only on success: nfds may overcount descriptors
			// closed behind our back, which costs a kernel wait instead
			// of a channel park, never a missed event.
			p.nfds--
			return nil
		}
		if err == unix.ENOENT || err == unix.EBADF {
			return nil // closed already: the kernel forgot it
		}
		return err
	case old == 0:
		err := sysEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
		if err == unix.EEXIST {
			err = sysEpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
		}
		if err == nil {
			p.nfds++
		}
		return err
	default:
		err := sysEpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
		if err == unix.ENOENT {
			// Closed and reopened behind our back: register anew.
			err = sysEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
			if err == nil {
				p.nfds++
			}
		}
		return err
	}
}

func (p *Poller) rawWait(uintptr) bool {
	n, err := sysEpollWait(p.epfd, p.buf, 0)
	if err == unix.EINTR {
		// Return to the loop, which waits again. Reporting "not ready"
		// instead would park until the next edge of the epoll descriptor
		// and strand readiness already queued on it.
		p.waitN, p.waitErr = 0, nil
		return true
	}
	if err != nil {
		err = fmt.Errorf("epoll_wait: %w: %w", poller.ErrFatal, err)
	}
	p.waitN, p.waitErr = n, err
	return n != 0 || err != nil
}

func (p *Poller) epollWait(ms int) (int, error) {
	{
		n, err := sysEpollWait(p.epfd, p.buf, ms)
		if err == unix.EINTR {
			// The caller's loop re-checks signals and timers and waits
			// again: a storm of interruptions cannot wedge it.
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("epoll_wait: %w: %w", poller.ErrFatal, err)
		}
		return n, nil
	}
}

// Wait implements poller.Poller.
func (p *Poller) Wait(evs []poller.Event, timeout time.Duration) (int, error) {
	if len(p.buf) > len(evs) {
		p.buf = p.buf[:len(evs)]
	}
	var n int
	var err error
	switch {
	case timeout == 0:
		n, err = p.epollWait(0)
	case p.nfds <= 0:
		// Nothing to watch but wake-ups and the clock: park on a channel.
		if !p.waker.Announce(poller.ModeChan) {
			p.waker.Park(timeout)
		}
		p.waker.Clear()
		return 0, nil
	case p.file != nil:
		n, err = p.epollWait(0)
		if n != 0 || err != nil {
			break
		}
		var dl time.Time
		if timeout > 0 {
			dl = time.Now().Add(timeout)
		}
		if err = p.file.SetReadDeadline(dl); err != nil {
			return 0, fmt.Errorf("epoll: %w: %w", poller.ErrFatal, err)
		}
		if p.waker.Announce(poller.ModeKernel) {
			return 0, nil
		}
		p.waitN, p.waitErr = 0, nil
		err = p.raw.Read(p.waitFn)
		p.waker.Clear()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, nil
			}
			return 0, fmt.Errorf("epoll: %w: %w", poller.ErrFatal, err)
		}
		n, err = p.waitN, p.waitErr
	default:
		ms := -1
		if timeout > 0 {
			ms = int(min((timeout+time.Millisecond-1)/time.Millisecond, math.MaxInt32)) // the kernel takes a C int
		}
		if p.waker.Announce(poller.ModeKernel) {
			ms = 0
		}
		n, err = p.epollWait(ms)
		p.waker.Clear()
	}
	if err != nil {
		return 0, err
	}
	out := 0
	for i := 0; i < n; i++ {
		e := &p.buf[i]
		if e.Fd < 0 {
			p.wake.Drain()
			continue
		}
		var m uint32
		if e.Events&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
			m |= poller.In
		}
		if e.Events&unix.EPOLLOUT != 0 {
			m |= poller.Out
		}
		if e.Events&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
			m |= poller.Err
		}
		evs[out] = poller.Event{Fd: e.Fd, Events: m}
		out++
	}
	return out, nil
}

// Wake implements poller.Poller.
func (p *Poller) Wake() error { return p.waker.Wake(p.kwake) }

func (p *Poller) kernelWake() error {
	if p.file != nil {
		return p.file.SetReadDeadline(p.past)
	}
	return p.wake.Wake()
}

// Close implements poller.Poller.
func (p *Poller) Close() error {
	if p.wake != nil {
		p.wake.Close()
	}
	if p.file != nil {
		return p.file.Close()
	}
	return unix.Close(p.epfd)
}
