//go:build linux

// Package epoll is the Linux epoll backend (see package poller for the
// contract it implements).
//
// By default Wait blocks the calling thread in epoll_wait, as C tevent
// does, and Wake writes to an eventfd registered in the epoll set. With
// Runtime set, the epoll descriptor itself is handed to the Go runtime's
// network poller instead: a waiting loop parks its goroutine rather than
// an OS thread, and Wake readies it without a system call by moving the
// descriptor's read deadline into the past.
package epoll

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/wakefd"
	"golang.org/x/sys/unix"
)

// Syscalls go through these variables so that tests can inject faults
// (see SetFaults).
var (
	sysEpollCtl     = unix.EpollCtl
	sysEpollWait    = unix.EpollWait
	sysEpollWaitRaw = epollWaitRaw
)

// epollWaitRaw is an epoll_wait made as a raw system call: without the
// scheduler's bookkeeping for a call that may block (entersyscall and
// exitsyscall), so the goroutine keeps its P throughout. Wait makes it with
// a zero timeout, and with at most poller.ShortWait before a longer wait.
func epollWaitRaw(epfd int, evs []unix.EpollEvent, ms int) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// SetFaults replaces the epoll_ctl and epoll_wait calls of every epoll
// backend (nil keeps the real one) and returns a function that restores
// them: a test seam for fault injection. Not safe while backends are in
// use on other goroutines.
func SetFaults(ctl func(epfd, op, fd int, ev *unix.EpollEvent) error, wait func(epfd int, evs []unix.EpollEvent, ms int) (int, error)) (restore func()) {
	oldCtl, oldWait, oldRaw := sysEpollCtl, sysEpollWait, sysEpollWaitRaw
	if ctl != nil {
		sysEpollCtl = ctl
	}
	if wait != nil {
		sysEpollWait, sysEpollWaitRaw = wait, wait
	}
	return func() { sysEpollCtl, sysEpollWait, sysEpollWaitRaw = oldCtl, oldWait, oldRaw }
}

// quietWaits is how many waits in a row skip the non-blocking try while
// the loop is quiet (see Backend.quiet).
const quietWaits = 16

// wakeToken marks the eventfd's registration; the core never makes it.
const wakeToken = ^poller.Token(0)

// Backend is an epoll backend.
type Backend struct {
	epfd int
	buf  []unix.EpollEvent
	wake *wakefd.WakeFD // blocking mode
	// quiet counts down the waits that skip the non-blocking try: set
	// when a try found nothing and the wait after it brought at most one
	// descriptor, as a loop trading one message at a time does on every
	// turn, where another try would cost a system call (2-4 µs on a VM)
	// for nothing. Every quietWaits-th wait tries again, so that a loop
	// that always finds one descriptor ready goes back to trying first.
	quiet int
	// ctl is epoll_ctl's argument: the calls go through a function
	// variable (sysEpollCtl), so an argument on the stack would escape,
	// and every Add, Modify (the core's audit: one per registration) and
	// Delete would allocate it.
	ctl unix.EpollEvent

	// runtime mode: epfd as seen by the Go runtime's poller
	file    *os.File
	raw     syscall.RawConn
	past    time.Time
	woken   atomic.Bool       // a Wake not yet seen by a wait
	cur     []unix.EpollEvent // the harvest buffer of the wait in progress
	waitN   int
	waitErr error
	waitFn  func(fd uintptr) bool // rawWait, bound once so Wait does not allocate
}

// New creates an epoll backend; runtime selects the runtime-poller mode.
func New(runtime bool) (*Backend, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	b := &Backend{epfd: epfd, buf: make([]unix.EpollEvent, 256), past: time.Unix(1, 0)}
	if runtime && b.handToRuntime() {
		b.waitFn = b.rawWait
		return b, nil
	}
	w, err := wakefd.New()
	if err != nil {
		unix.Close(b.epfd)
		return nil, fmt.Errorf("wake-up descriptor: %w", err)
	}
	b.wake = w
	ev := epollEvent(wakeToken, unix.EPOLLIN)
	if err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, w.ReadFD(), &ev); err != nil {
		w.Close()
		unix.Close(b.epfd)
		return nil, fmt.Errorf("epoll_ctl(wake-up descriptor): %w", err)
	}
	return b, nil
}

// handToRuntime gives epfd to the runtime's poller, reporting whether the
// runtime took it.
func (b *Backend) handToRuntime() bool {
	if unix.SetNonblock(b.epfd, true) != nil {
		return false
	}
	f := os.NewFile(uintptr(b.epfd), "epoll")
	if f.SetReadDeadline(time.Time{}) == nil {
		if rc, err := f.SyscallConn(); err == nil {
			b.file, b.raw = f, rc
			return true
		}
	}
	// Not pollable by the runtime: take the descriptor back from f.
	fd, err := unix.Dup(b.epfd)
	f.Close()
	if err != nil {
		b.epfd = -1
		return false
	}
	unix.CloseOnExec(fd)
	unix.SetNonblock(fd, false)
	b.epfd = fd
	return false
}

func epollEvent(tok poller.Token, bits uint32) unix.EpollEvent {
	return unix.EpollEvent{Events: bits, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
}

// Caps implements poller.Backend: epoll refuses regular files and forgets
// a descriptor closed behind its back without a word.
func (b *Backend) Caps() poller.Caps { return 0 }

// Add implements poller.Backend.
func (b *Backend) Add(fd int, tok poller.Token, in poller.Interest) error {
	b.ctl = epollEvent(tok, poller.PollBits(in))
	err := sysEpollCtl(b.epfd, unix.EPOLL_CTL_ADD, fd, &b.ctl)
	if err == unix.EEXIST {
		// Registered under a number closed and reused behind our back,
		// whose old file is still open elsewhere: take it over.
		b.ctl = epollEvent(tok, poller.PollBits(in))
		err = sysEpollCtl(b.epfd, unix.EPOLL_CTL_MOD, fd, &b.ctl)
	}
	return ctlError("EPOLL_CTL_ADD", err)
}

// Modify implements poller.Backend.
func (b *Backend) Modify(fd int, tok poller.Token, in poller.Interest) error {
	b.ctl = epollEvent(tok, poller.PollBits(in))
	return ctlError("EPOLL_CTL_MOD", sysEpollCtl(b.epfd, unix.EPOLL_CTL_MOD, fd, &b.ctl))
}

// Delete implements poller.Backend.
func (b *Backend) Delete(fd int) error {
	b.ctl = unix.EpollEvent{}
	err := sysEpollCtl(b.epfd, unix.EPOLL_CTL_DEL, fd, &b.ctl)
	if err == unix.ENOENT || err == unix.EBADF {
		return nil // closed already: the kernel forgot it
	}
	return ctlError("EPOLL_CTL_DEL", err)
}

// ctlError maps an epoll_ctl errno onto the contract's errors.
func ctlError(op string, err error) error {
	switch err {
	case nil:
		return nil
	case unix.EBADF:
		return fmt.Errorf("%s: %w: %w", op, poller.ErrBadFD, err)
	case unix.EPERM:
		return fmt.Errorf("%s: %w (epoll cannot watch regular files or directories): %w", op, poller.ErrRefused, err)
	case unix.ENOENT:
		return fmt.Errorf("%s: %w: %w", op, poller.ErrNotRegistered, err)
	}
	return fmt.Errorf("%s: %w: %w", op, poller.ErrFatal, err)
}

// Wait implements poller.Backend.
func (b *Backend) Wait(evs []poller.Event, ms int) (int, error) {
	buf := b.buf
	if len(buf) > len(evs) {
		buf = buf[:len(evs)]
	}
	var n int
	var err error
	// First without blocking, as a raw system call: readiness that is
	// already there costs no scheduler round trip. Not while the loop is
	// quiet (see Backend.quiet): that try would find nothing again.
	tried := ms == 0 || b.quiet == 0
	if tried {
		n, err = sysEpollWaitRaw(b.epfd, buf, 0)
	} else {
		b.quiet--
	}
	if n == 0 && err == nil && ms != 0 {
		if b.file != nil {
			n, err = b.runtimeWait(buf, ms)
		} else {
			n, err = b.blockingWait(buf, ms)
		}
		switch {
		case n > 1:
			b.quiet = 0
		case tried:
			b.quiet = quietWaits
		}
	}
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("epoll_wait: %w: %w", poller.ErrFatal, err)
	}
	out := 0
	for i := range n {
		e := &buf[i]
		tok := poller.Token(uint32(e.Fd)) | poller.Token(uint32(e.Pad))<<32
		if tok == wakeToken {
			b.wake.Drain()
			continue
		}
		evs[out] = poller.Event{Token: tok, Ready: poller.ReadyFromPollBits(e.Events)}
		out++
	}
	return out, nil
}

// blockingWait blocks the thread in epoll_wait, at most ms milliseconds
// (ms < 0: no limit): the first poller.ShortWait of it as a raw system
// call that keeps the goroutine's P, the rest as an ordinary one (see
// poller.BeforeBlock). A loop trading messages with a peer that answers
// within a millisecond waits only the first way.
func (b *Backend) blockingWait(buf []unix.EpollEvent, ms int) (int, error) {
	poller.BeforeBlock()
	short := ms
	if short < 0 || short > poller.ShortWait {
		short = poller.ShortWait
	}
	n, err := sysEpollWaitRaw(b.epfd, buf, short)
	if n != 0 || err != nil || short == ms {
		return n, err
	}
	if ms > 0 {
		ms -= short
	}
	return sysEpollWait(b.epfd, buf, ms)
}

// runtimeWait waits through the runtime's poller (Wait has tried a
// non-blocking epoll_wait first): a read-readiness wait on the epoll
// descriptor with the timeout as its deadline. Wake sets the woken flag, then moves the
// deadline into the past; the wait sets its deadline, then looks at the
// flag: whichever order they run in, the wait does not block past a Wake.
func (b *Backend) runtimeWait(buf []unix.EpollEvent, ms int) (int, error) {
	var dl time.Time
	if ms > 0 {
		dl = time.Now().Add(time.Duration(ms) * time.Millisecond)
	}
	if err := b.file.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	// Setting the deadline undid the past one of a Wake that came
	// before: the flag, checked after, still shows it. A Wake after
	// the check moves the deadline we just set into the past.
	if b.woken.Swap(false) {
		return 0, nil
	}
	b.waitN, b.waitErr, b.cur = 0, nil, buf
	if err := b.raw.Read(b.waitFn); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.woken.Store(false) // the Wake, if any, is served
			return 0, nil
		}
		return 0, err
	}
	return b.waitN, b.waitErr
}

// rawWait is the RawConn callback of runtimeWait.
func (b *Backend) rawWait(uintptr) bool {
	n, err := sysEpollWait(b.epfd, b.cur, 0)
	if err == unix.EINTR {
		// Back to the loop, which waits again. Reporting "not ready"
		// instead would park until the next edge of the epoll
		// descriptor and strand readiness already queued on it.
		b.waitN, b.waitErr = 0, nil
		return true
	}
	b.waitN, b.waitErr = n, err
	return n != 0 || err != nil
}

// Wake implements poller.Backend.
func (b *Backend) Wake() error {
	if b.file != nil {
		b.woken.Store(true)
		return b.file.SetReadDeadline(b.past)
	}
	return b.wake.Wake()
}

// Close implements poller.Backend.
func (b *Backend) Close() error {
	if b.file != nil {
		return b.file.Close()
	}
	b.wake.Close()
	return unix.Close(b.epfd)
}
