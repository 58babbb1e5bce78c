//go:build linux

// Package iouring is the io_uring backend (see package poller for the
// contract it implements). Readiness is still an epoll set, so level
// triggering, what a close does to a registration, and the rotation of
// ready descriptors are epoll's; what changes is how the loop talks to
// it. The set is waited on through an io_uring with IORING_OP_EPOLL_WAIT
// (Linux 6.15), and the registrations a loop turn changes go to the
// kernel as IORING_OP_EPOLL_CTL entries in the same io_uring_enter as the
// wait: a turn that changes k registrations costs one system call where
// epoll needs 1 + k. Changes are therefore deferred (poller's
// CapDeferredChanges): a refusal comes back with a later harvest as
// ReadyFailed, and Failure says why.
//
// The ring: 128 submission entries and 256 completion entries, set up
// with IORING_SETUP_SUBMIT_ALL (a refused entry does not stop the ones
// after it) and IORING_SETUP_NO_SQARRAY, nothing else. No SQPOLL thread.
// No IORING_SETUP_SINGLE_ISSUER, DEFER_TASKRUN or COOP_TASKRUN: the loop
// goroutine may run on a different OS thread every turn (the core does
// not lock it to one), and SINGLE_ISSUER fails submissions from any
// thread but the first with EEXIST, DEFER_TASKRUN requires SINGLE_ISSUER,
// and COOP_TASKRUN would leave the completion of a wait armed from one
// thread until that thread's next system call, which may not come while
// it sleeps in the Go scheduler. Without them the kernel completes a
// wait by interrupting the thread that armed it, wherever it is.
//
// Changes: Add and Modify append to a batch of up to 63 changes in Go
// memory (a full batch is submitted at once); they are written to the
// ring when the batch is submitted, with the wait, by the next Wait.
//
// The wait: at most one IORING_OP_EPOLL_WAIT is in flight. A Wait with
// changes to submit arms one and submits it with them in one
// io_uring_enter. In a loop that waits (the last look found nothing
// ready), that call also blocks, with the timeout as
// IORING_ENTER_EXT_ARG (the first poller.ShortWait of it as a raw system
// call that keeps the goroutine's P, the rest in a second, ordinary
// call: poller.Block), until every change completed plus one more
// completion: the wait's, or a failed change's marker (each change is
// linked to a NOP that completes silently, IOSQE_CQE_SKIP_SUCCESS, when
// the change succeeds, and with -ECANCELED when it fails), so that a
// refused change ends the wait at once. In a busy loop (the last look
// found readiness) the call is a raw system call, without the scheduler's
// bookkeeping and without markers, and blocks in a second call only if
// nothing was ready after all. A turn with k changes thus costs one
// system call where epoll needs 1 + k (readiness there) or 2 + k (the
// loop blocks). A Wait with nothing to submit in a busy loop looks with a
// raw epoll_wait(2), as the epoll backend does, which costs less than a
// round trip through the ring (about 0.3-0.4 us less on the machine this
// was measured on); after a look that found nothing, this Wait and the
// next few (probeEvery) block in the ring at once, one system call each
// where epoll makes two. A wait still armed when its Wait times out stays
// armed for the next one. A wait that completes between two Waits (while
// the loop runs handlers) is dropped and a new one submitted: its
// readiness may have gone stale since, and a harvest is never older than
// the Wait that returns it.
//
// Wake-ups: an eventfd in the epoll set, as in the epoll backend; a Wake
// from any goroutine is one write(2), and completes the armed wait. No
// IORING_OP_MSG_RING: the waking goroutine has no ring of its own, and
// submitting to the loop's ring would need a lock on its submission
// queue.
//
// Memory the kernel reads or writes after a call returns (the harvest
// buffer of an armed wait) lives in an anonymous mapping, off the Go
// heap, as does what it reads during one (the changes' epoll_event, the
// timeout); a raw epoll_wait fills a Go slice during the call only.
// Close cancels an armed wait and waits for its completion before it
// unmaps it.
//
// Delete is not deferred: it is a direct epoll_ctl(2), after any queued
// change was submitted, because the core deletes a registration right
// before its descriptor is closed. A change the kernel hands to a worker
// thread (an epoll_ctl that could not take a lock without blocking) is
// waited for before the call that submitted it returns, so changes take
// effect in the order they were made.
//
// New fails with an error wrapping ErrUnavailable when the kernel has no
// usable io_uring: io_uring_setup refused (EPERM from a seccomp filter or
// kernel.io_uring_disabled, ENOSYS), or an opcode missing.
package iouring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/wakefd"
	"golang.org/x/sys/unix"
)

// ErrUnavailable: this kernel, or this process's sandbox, gives no
// usable io_uring; the error also says why.
var ErrUnavailable = errors.New("io_uring unavailable")

const (
	sqEntries  = 128 // submission entries
	maxHarvest = 256 // the most events one wait reports (the core asks for 256)

	// maxBatch: changes submitted per io_uring_enter. Each may take two
	// entries (see write), and one is kept for the wait.
	maxBatch = (sqEntries - 1) / 2

	waitUD   = 1 << 63 // user_data of the EPOLL_WAIT
	cancelUD = 1 << 62 // user_data of the cancel of Close
	markUD   = 1 << 61 // user_data of a change's marker (see write)
	// EPOLL_CTL entries carry their index in the batch as user_data.

	// SQE flags.
	sqeIOLink         = 1 << 2
	sqeAsync          = 1 << 4
	sqeCQESkipSuccess = 1 << 6

	wakeToken = ^poller.Token(0) // the eventfd's registration; the core never makes it

	// settleTimeout bounds the wait for changes handed to a kernel
	// worker, and for the cancel of Close: they take microseconds, and a
	// kernel that does not answer at all is a broken backend.
	settleTimeout = 10 * time.Second

	// probeEvery: after a raw epoll_wait found nothing, the next
	// probeEvery Waits without changes block in the ring at once; the
	// one after looks with epoll_wait first again.
	probeEvery = 3
)

// ctlFlags are the SQE flags of EPOLL_CTL entries: tests set
// IOSQE_ASYNC, which hands every change to a kernel worker, the path a
// change takes when epoll_ctl would block.
var ctlFlags uint8

// change is a queued EPOLL_CTL.
type change struct {
	fd int32
	op uint8
	ev unix.EpollEvent
}

type reg struct {
	tok poller.Token
	in  poller.Interest // 0: no registration held
}

type failure struct {
	fd  int
	tok poller.Token
	err error
}

// Backend is an io_uring backend.
type Backend struct {
	r    *ring
	epfd int
	wake *wakefd.WakeFD

	mem     []byte            // anonymous mapping: what the kernel reads and writes
	harvest []unix.EpollEvent // the armed wait's output (maxHarvest)
	direct  []unix.EpollEvent // a raw epoll_wait's output (maxHarvest; Go heap, written during the call only)
	ctlEvs  []unix.EpollEvent // the epoll_event of each change of the batch submitted
	arg     *getEventsArg
	ts      *unix.Timespec

	waitFlags uintptr // flags of a blocking io_uring_enter
	armed     bool    // an EPOLL_WAIT is in flight
	ready     int     // events of a completed wait waiting in harvest
	skipProbe int     // Waits left that go to the ring without a raw epoll_wait first
	// the completions a blocking wait waits for, and kernelWait bound
	// once, so that Wait does not allocate (see blockingWait)
	minComplete uint32
	blockFn     func(ms int, raw bool) (int, error)
	batch       []change // the turn's changes (maxBatch at most)
	written     int      // how many of batch are in the ring
	pending     int      // changes written and not completed
	fatal       error    // a failure seen outside Wait, returned by the next one

	regs     poller.Table[reg] // what the backend holds, by descriptor, with queued changes applied
	failed   []failure         // refused changes not yet reported
	reported []failure         // refused changes reported by the last harvest
}

// New creates an io_uring backend, or fails with an error wrapping
// ErrUnavailable if the kernel gives no usable io_uring.
func New() (*Backend, error) {
	r, err := newRing(sqEntries)
	if err != nil {
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			return nil, err // out of descriptors: not a matter of io_uring
		}
		return nil, fmt.Errorf("%w: %w%s", ErrUnavailable, err, disabledNote(err))
	}
	if err := r.supports(map[uint8]string{
		opEpollCtl: "IORING_OP_EPOLL_CTL", opEpollWait: "IORING_OP_EPOLL_WAIT", opAsyncCancel: "IORING_OP_ASYNC_CANCEL",
	}); err != nil {
		r.close()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	b := &Backend{r: r, epfd: -1}
	if err := b.init(); err != nil {
		b.closeAll(true)
		return nil, err
	}
	return b, nil
}

// disabledNote adds what kernel.io_uring_disabled says to a refusal with
// EPERM: the setting, or, when it allows io_uring, the other usual cause.
func disabledNote(err error) string {
	if !errors.Is(err, unix.EPERM) {
		return ""
	}
	v, rerr := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	switch strings.TrimSpace(string(v)) {
	case "0":
		return " (kernel.io_uring_disabled is 0: a seccomp filter, such as a container's default profile)"
	case "1":
		return " (kernel.io_uring_disabled = 1: only for members of kernel.io_uring_group)"
	case "2":
		return " (kernel.io_uring_disabled = 2: io_uring is off)"
	}
	if rerr != nil {
		return " (a seccomp filter, or kernel.io_uring_disabled)"
	}
	return fmt.Sprintf(" (kernel.io_uring_disabled = %s)", strings.TrimSpace(string(v)))
}

func (b *Backend) init() error {
	var err error
	if b.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if b.wake, err = wakefd.New(); err != nil {
		return fmt.Errorf("wake-up descriptor: %w", err)
	}
	ev := epollEvent(wakeToken, unix.EPOLLIN)
	if err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, b.wake.ReadFD(), &ev); err != nil {
		return fmt.Errorf("epoll_ctl(wake-up descriptor): %w", err)
	}

	// The kernel-visible memory: harvest, changes, wait argument, timeout.
	evSize := int(unsafe.Sizeof(unix.EpollEvent{}))
	harvestOff := 0
	ctlOff := align8(harvestOff + maxHarvest*evSize)
	argOff := align8(ctlOff + maxBatch*evSize)
	tsOff := align8(argOff + int(unsafe.Sizeof(getEventsArg{})))
	size := tsOff + int(unsafe.Sizeof(unix.Timespec{}))
	if b.mem, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	b.harvest = unsafe.Slice((*unix.EpollEvent)(unsafe.Pointer(&b.mem[harvestOff])), maxHarvest)
	b.ctlEvs = unsafe.Slice((*unix.EpollEvent)(unsafe.Pointer(&b.mem[ctlOff])), maxBatch)
	b.arg = (*getEventsArg)(unsafe.Pointer(&b.mem[argOff]))
	b.ts = (*unix.Timespec)(unsafe.Pointer(&b.mem[tsOff]))
	b.direct = make([]unix.EpollEvent, maxHarvest)
	b.batch = make([]change, 0, maxBatch)

	b.blockFn = b.kernelWait
	b.waitFlags = enterGetEvents | enterExtArg
	if b.r.features&featNoIOWait != 0 {
		// Waiting for readiness is not waiting for I/O: do not count it
		// as iowait (epoll_wait does not).
		b.waitFlags |= enterNoIOWait
	}
	return nil
}

func align8(n int) int { return (n + 7) &^ 7 }

func epollEvent(tok poller.Token, bits uint32) unix.EpollEvent {
	return unix.EpollEvent{Events: bits, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
}

func tokenOf(e *unix.EpollEvent) poller.Token {
	return poller.Token(uint32(e.Fd)) | poller.Token(uint32(e.Pad))<<32
}

// Caps implements poller.Backend: epoll's (no regular files, closes not
// reported), and changes are deferred.
func (b *Backend) Caps() poller.Caps { return poller.CapDeferredChanges }

func (b *Backend) held(fd int) bool { return b.regs.At(fd).in != 0 }

// Add implements poller.Backend: the change is queued.
func (b *Backend) Add(fd int, tok poller.Token, in poller.Interest) error {
	if fd < 0 {
		return ctlError("EPOLL_CTL_ADD", unix.EBADF)
	}
	b.regs.Set(fd, reg{tok, in})
	return b.queue(unix.EPOLL_CTL_ADD, fd, tok, in)
}

// Modify implements poller.Backend: the change is queued, unless it
// changes nothing.
func (b *Backend) Modify(fd int, tok poller.Token, in poller.Interest) error {
	if fd < 0 {
		return ctlError("EPOLL_CTL_MOD", unix.EBADF)
	}
	if !b.held(fd) {
		return ctlError("EPOLL_CTL_MOD", unix.ENOENT)
	}
	if r := b.regs.Slot(fd); *r != (reg{tok, in}) {
		*r = reg{tok, in}
		return b.queue(unix.EPOLL_CTL_MOD, fd, tok, in)
	}
	// A change of nothing: the core asking whether the registration is
	// still there (its audit). The answer is wanted now.
	if err := b.flush(); err != nil {
		return err
	}
	if !b.held(fd) { // a queued change of it was just refused
		b.forget(fd)
		return ctlError("EPOLL_CTL_MOD", unix.ENOENT)
	}
	ev := epollEvent(tok, poller.PollBits(in))
	err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	if err != nil {
		b.regs.Set(fd, reg{})
	}
	return ctlError("EPOLL_CTL_MOD", err)
}

// forget drops the refusals of fd not yet reported: the caller reports
// fd's state itself.
func (b *Backend) forget(fd int) {
	if len(b.failed) == 0 {
		return
	}
	out := b.failed[:0]
	for _, f := range b.failed {
		if f.fd != fd {
			out = append(out, f)
		}
	}
	clear(b.failed[len(out):])
	b.failed = out
}

// Delete implements poller.Backend: at once, after whatever is queued.
func (b *Backend) Delete(fd int) error {
	defer b.forget(fd) // a refusal not yet reported concerns what is deleted
	if !b.held(fd) {
		return nil // never held, or refused: the kernel holds nothing
	}
	if len(b.batch) > 0 {
		// A change of fd may be queued: it must not reach the kernel
		// after the delete.
		if err := b.flush(); err != nil {
			return err
		}
		if !b.held(fd) {
			return nil
		}
	}
	b.regs.Set(fd, reg{})
	var ev unix.EpollEvent
	err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_DEL, fd, &ev)
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

func opName(op uint8) string {
	if op == unix.EPOLL_CTL_ADD {
		return "EPOLL_CTL_ADD"
	}
	return "EPOLL_CTL_MOD"
}

// queue adds a change to the batch, submitting the batch first if full.
func (b *Backend) queue(op int, fd int, tok poller.Token, in poller.Interest) error {
	if len(b.batch) == maxBatch {
		if err := b.flush(); err != nil {
			return err
		}
	}
	b.batch = append(b.batch, change{fd: int32(fd), op: uint8(op), ev: epollEvent(tok, poller.PollBits(in))})
	return nil
}

// write puts the batch's changes into the ring. Each gives one
// completion. marked: each also gets a marker, a NOP linked to it that
// completes silently (IOSQE_CQE_SKIP_SUCCESS) when the change succeeds and
// with -ECANCELED when it fails, so that a failed change gives one
// completion more. A call that waits for the changes' completions plus
// one then returns when the wait completes or a change failed, whichever
// comes first: a refused change is reported without waiting for
// readiness.
func (b *Backend) write(marked bool) {
	for i := b.written; i < len(b.batch); i++ {
		c := &b.batch[i]
		ev := &b.ctlEvs[i]
		*ev = c.ev
		s := b.r.next()
		s.opcode = opEpollCtl
		s.flags = ctlFlags
		s.fd = int32(b.epfd)
		s.off = uint64(c.fd)
		s.addr = uint64(uintptr(unsafe.Pointer(ev)))
		s.len = uint32(c.op)
		s.userData = uint64(i)
		if marked {
			s.flags |= sqeIOLink
			m := b.r.next()
			m.opcode = opNop
			m.flags = sqeCQESkipSuccess
			m.userData = markUD
		}
	}
	b.pending += len(b.batch) - b.written
	b.written = len(b.batch)
}

// queueWait writes the EPOLL_WAIT entry, for at most max events.
func (b *Backend) queueWait(max int) {
	s := b.r.next()
	s.opcode = opEpollWait
	s.fd = int32(b.epfd)
	s.addr = uint64(uintptr(unsafe.Pointer(&b.harvest[0])))
	s.len = uint32(max)
	s.userData = waitUD
	b.armed = true
}

// submit hands every entry in the ring to the kernel, without waiting
// for anything. Entries complete inline unless they wait (EPOLL_WAIT with
// nothing ready) or the kernel hands them to a worker.
func (b *Backend) submit() error {
	for tries := 0; b.r.unsubmitted() > 0; tries++ {
		_, err := b.r.enter(0, enterGetEvents, nil, true)
		switch err {
		case nil, unix.EINTR:
		case unix.EAGAIN, unix.EBUSY:
			// Out of request memory, or completions to flush first.
			if tries >= 100 {
				return fmt.Errorf("io_uring_enter: %w: %w", poller.ErrFatal, err)
			}
			b.reap(false)
			time.Sleep(time.Millisecond)
		default:
			return fmt.Errorf("io_uring_enter: %w: %w", poller.ErrFatal, err)
		}
	}
	return nil
}

// flush submits the batch and settles it, outside a Wait.
func (b *Backend) flush() error {
	if len(b.batch) == 0 {
		return nil
	}
	b.write(false)
	if err := b.submit(); err != nil {
		return err
	}
	return b.settle(false)
}

// settle consumes the completions posted so far, and waits for changes
// still in flight (handed to a kernel worker), so that every change took
// effect before the next one is made; then the batch is empty. fresh: a
// wait that completes is this Wait's (see reap).
func (b *Backend) settle(fresh bool) error {
	b.reap(fresh)
	deadline := time.Now().Add(settleTimeout)
	for b.pending > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("io_uring: %w: %d epoll_ctl entries not completed after %v", poller.ErrFatal, b.pending, settleTimeout)
		}
		if err := b.enterWait(10, 1); err != nil {
			return err
		}
		b.reap(fresh)
	}
	clear(b.batch)
	b.batch, b.written = b.batch[:0], 0
	return nil
}

// enterWait submits what is queued and waits in io_uring_enter until
// minComplete completions are posted, at most ms milliseconds (ms < 0:
// no limit). A timeout, a signal, or the kernel short of memory end the
// wait early, without error: the caller reaps what came.
func (b *Backend) enterWait(ms int, minComplete uint32) error {
	return b.enter(ms, minComplete, false)
}

// enter is enterWait, made as a raw system call when raw.
func (b *Backend) enter(ms int, minComplete uint32, raw bool) error {
	*b.arg = getEventsArg{}
	if ms >= 0 {
		*b.ts = unix.NsecToTimespec(int64(ms) * int64(time.Millisecond))
		b.arg.ts = uint64(uintptr(unsafe.Pointer(b.ts)))
	}
	_, err := b.r.enter(minComplete, b.waitFlags, b.arg, raw)
	switch err {
	case nil, unix.ETIME, unix.EINTR, unix.EAGAIN, unix.EBUSY:
		return nil
	}
	return fmt.Errorf("io_uring_enter: %w: %w", poller.ErrFatal, err)
}

// blockingWait is enterWait for the loop's wait (ms != 0), through
// poller.Block: its first poller.ShortWait as a raw system call that
// keeps the goroutine's P, the rest as an ordinary one.
func (b *Backend) blockingWait(ms int, minComplete uint32) error {
	b.minComplete = minComplete
	_, err := poller.Block(ms, b.blockFn)
	return err
}

// kernelWait is the kernel wait of poller.Block: it reports 1 once
// minComplete completions are posted (the first call submitted what was
// queued), 0 when it timed out or was interrupted.
func (b *Backend) kernelWait(ms int, raw bool) (int, error) {
	if err := b.enter(ms, b.minComplete, raw); err != nil {
		return 0, err
	}
	if head, tail := b.r.cq(); tail-head >= b.minComplete {
		return 1, nil
	}
	return 0, nil
}

// reap consumes the completions posted so far. A completed wait is kept
// for the harvest only when fresh (it completed during this Wait);
// otherwise it is dropped. Refused changes are retried where the contract
// allows, else recorded in failed.
func (b *Backend) reap(fresh bool) {
	head, tail := b.r.cq()
	for ; head != tail; head++ {
		c := *b.r.at(head)
		switch c.userData {
		case waitUD:
			b.armed = false
			switch res := c.res; {
			case res > 0:
				// Completions come in the order they happen: a change
				// still in flight here (handed to a worker) was not seen
				// by this harvest, which is then dropped too.
				if fresh && b.pending == 0 {
					b.ready = int(res)
				}
			case res == -int32(unix.ECANCELED), res == -int32(unix.EINTR), res == -int32(unix.EAGAIN):
				// Cut short (its thread exited, or a signal): a new
				// wait is armed by the next Wait.
			default:
				b.fatal = fmt.Errorf("IORING_OP_EPOLL_WAIT: %w: %w", poller.ErrFatal, unix.Errno(-res))
			}
		case cancelUD, markUD:
			// A marker completes only when its change failed: the
			// change's own completion reports it.
		default:
			b.pending--
			if c.res < 0 {
				b.refused(int(c.userData), unix.Errno(-c.res))
			}
		}
	}
	b.r.consume(head)
}

// refused handles a change the kernel refused with errno. It takes over
// a registration a file that had the number left behind (EEXIST on add);
// the state it asks for is fd's latest. Anything else, or a retry refused
// too, is recorded for the next harvest: a registration that is gone
// (ENOENT on modify: the file was closed behind the loop's back, and the
// number may name another file now) is never made anew.
func (b *Backend) refused(i int, errno unix.Errno) {
	fd, op := int(b.batch[i].fd), b.batch[i].op
	if !b.held(fd) {
		return // an earlier change of fd was refused already
	}
	r := b.regs.At(fd)
	ev := epollEvent(r.tok, poller.PollBits(r.in))
	var err error = errno
	switch {
	case op == unix.EPOLL_CTL_ADD && errno == unix.EEXIST:
		err = unix.EpollCtl(b.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if err == nil {
		return
	}
	b.regs.Set(fd, reg{})
	unix.EpollCtl(b.epfd, unix.EPOLL_CTL_DEL, fd, &ev) // leave nothing of it behind
	b.failed = append(b.failed, failure{fd, r.tok, ctlError(opName(op), err)})
}

// Wait implements poller.Backend.
func (b *Backend) Wait(evs []poller.Event, ms int) (int, error) {
	clear(b.reported)
	b.reported = b.reported[:0]
	// What completed since the last Wait, while the loop ran handlers:
	// a wait is dropped (its readiness may be stale; the one armed below
	// sees what is still ready, epoll being level-triggered).
	b.reap(false)
	if b.fatal != nil {
		return 0, b.fatal
	}
	room := min(len(evs), maxHarvest) - len(b.failed)
	// busy: the last look found readiness at once; guess it will again.
	busy := b.skipProbe == 0
	if b.skipProbe > 0 {
		b.skipProbe--
	}
	if room > 0 && len(b.batch) == 0 && (ms == 0 || busy) {
		// Nothing to hand to the kernel: look with a raw epoll_wait,
		// which costs less than a ring round trip when readiness is
		// there.
		n, err := epollWaitNow(b.epfd, b.direct[:room])
		if err != nil {
			return 0, err
		}
		if n > 0 || ms == 0 || len(b.failed) > 0 {
			b.skipProbe = 0
			return b.collect(evs, b.direct, n), nil
		}
		// Nothing there: this loop waits. This Wait and the next few
		// block in the ring at once (one system call instead of two),
		// then look first again.
		b.skipProbe, busy = probeEvery, false
	}
	block := ms != 0 && room > 0 && len(b.failed) == 0
	entered, waited := false, false
	for try := 0; try < 2; try++ {
		// The turn's changes and the wait in one system call: a raw
		// one, or, when this loop waits, one that blocks until the wait
		// completes or a change fails (the markers).
		combined := block && try == 0 && !busy
		b.write(combined)
		if room > 0 && !b.armed {
			b.queueWait(room)
		}
		if b.r.unsubmitted() == 0 {
			break
		}
		var err error
		if combined {
			err = b.blockingWait(ms, uint32(b.pending)+1)
			waited = true
		} else {
			err = b.submit()
		}
		if err != nil {
			return 0, err
		}
		if err := b.settle(true); err != nil {
			return 0, err
		}
		entered = true
		if b.armed || b.ready > 0 || room <= 0 || len(b.failed) > 0 {
			break
		}
		// The wait completed before changes a kernel worker made:
		// dropped (see reap); once more, now that they are made,
		// without blocking (a spurious return is allowed).
	}
	if b.armed && b.ready == 0 && len(b.failed) == 0 && !waited {
		var err error
		switch {
		case block:
			// Armed earlier, or just now by a raw submission that found
			// nothing ready (then this loop was not busy after all).
			if entered {
				b.skipProbe = probeEvery
			}
			err = b.blockingWait(ms, 1)
		case !entered:
			// Run the completion work the kernel queued for this
			// thread, then look.
			_, err = b.r.enter(0, enterGetEvents, nil, true)
			if err == unix.EINTR || err == unix.EAGAIN || err == unix.EBUSY {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("io_uring_enter: %w: %w", poller.ErrFatal, err)
			}
		}
		if err != nil {
			return 0, err
		}
		b.reap(true)
	}
	if b.fatal != nil {
		return 0, b.fatal
	}
	n := b.ready
	b.ready = 0
	return b.collect(evs, b.harvest, n), nil
}

// epollWaitNow is a non-blocking epoll_wait made as a raw system call.
func epollWaitNow(epfd int, evs []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	switch e {
	case 0:
		return int(r), nil
	case unix.EINTR:
		return 0, nil
	}
	return 0, fmt.Errorf("epoll_wait: %w: %w", poller.ErrFatal, e)
}

// collect fills evs with the n events of buf, then the refusals to
// report.
func (b *Backend) collect(evs []poller.Event, buf []unix.EpollEvent, n int) int {
	out := 0
	for i := range n {
		e := &buf[i]
		tok := tokenOf(e)
		if tok == wakeToken {
			b.wake.Drain()
			continue
		}
		if out == len(evs) {
			// Armed by a Wait with room for more: level triggering
			// reports the rest again.
			continue
		}
		evs[out] = poller.Event{Token: tok, Ready: poller.ReadyFromPollBits(e.Events)}
		out++
	}
	k := min(len(b.failed), len(evs)-out)
	for _, f := range b.failed[:k] {
		evs[out] = poller.Event{Token: f.tok, Ready: poller.ReadyFailed}
		out++
	}
	b.reported = append(b.reported, b.failed[:k]...)
	m := copy(b.failed, b.failed[k:])
	clear(b.failed[m:])
	b.failed = b.failed[:m]
	return out
}

// Failure implements poller.Failer.
func (b *Backend) Failure(tok poller.Token) error {
	for _, f := range b.reported {
		if f.tok == tok {
			return f.err
		}
	}
	return nil
}

// Wake implements poller.Backend.
func (b *Backend) Wake() error { return b.wake.Wake() }

// Close implements poller.Backend.
func (b *Backend) Close() error {
	return b.closeAll(b.disarm())
}

// disarm cancels an armed wait and waits for its completion and for
// changes in flight: until then the kernel may still write to the
// harvest buffer. It reports whether it saw them complete.
func (b *Backend) disarm() bool {
	clear(b.batch)
	b.batch, b.written = b.batch[:0], 0 // never submitted: nothing to undo
	if b.armed {
		if b.r.free() == 0 {
			b.submit()
		}
		s := b.r.next()
		s.opcode = opAsyncCancel
		s.addr = waitUD
		s.userData = cancelUD
	}
	if b.submit() != nil {
		return false
	}
	deadline := time.Now().Add(settleTimeout)
	for {
		b.reap(false)
		if !b.armed && b.pending == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		b.enterWait(10, 1)
	}
}

// closeAll releases everything; unmap false leaves the kernel-visible
// memory mapped (a few KiB), when the kernel might still write to it.
func (b *Backend) closeAll(unmap bool) error {
	var errs []error
	if b.r != nil {
		errs = append(errs, b.r.close())
	}
	if b.wake != nil {
		errs = append(errs, b.wake.Close())
	}
	if b.epfd >= 0 {
		errs = append(errs, unix.Close(b.epfd))
	}
	if b.mem != nil && unmap {
		errs = append(errs, unix.Munmap(b.mem))
		b.mem, b.harvest, b.ctlEvs, b.arg, b.ts = nil, nil, nil, nil, nil
	}
	return errors.Join(errs...)
}
