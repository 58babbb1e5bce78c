package tevent

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"golang.org/x/sys/unix"
)

// FDFlags says what an fd event waits for, and what a handler is given.
type FDFlags uint16

const (
	// FDRead waits for the fd to be readable. An error or hang-up is
	// reported as FDRead to an event that asks for reading: its read then
	// returns 0 or the error.
	FDRead FDFlags = 1
	// FDWrite waits for the fd to be writable.
	FDWrite FDFlags = 2
	// FDError waits for an error or hang-up on the fd (tevent 0.16's
	// TEVENT_FD_ERROR).
	FDError FDFlags = 4
)

const fdAllFlags = FDRead | FDWrite | FDError

// String returns the flags as "FDRead|FDWrite", or "0".
func (fl FDFlags) String() string {
	if fl == 0 {
		return "0"
	}
	var parts []string
	for _, f := range [...]struct {
		bit  FDFlags
		name string
	}{{FDRead, "FDRead"}, {FDWrite, "FDWrite"}, {FDError, "FDError"}} {
		if fl&f.bit != 0 {
			parts = append(parts, f.name)
			fl &^= f.bit
		}
	}
	if fl != 0 {
		parts = append(parts, fmt.Sprintf("FDFlags(%#x)", uint16(fl)))
	}
	return strings.Join(parts, "|")
}

// FDHandler is called when the fd is ready for some of the flags the event
// asked for; flags holds only those.
type FDHandler func(ev *Context, fde *FD, flags FDFlags)

// FD is an fd event (tevent_fd). Several FD events may watch one
// descriptor; each sees only its own flags, and they take turns while the
// descriptor stays ready.
//
// Descriptors should be non-blocking: the loop harvests many ready fds
// per kernel wait, and a handler that consumes the data of a different fd
// can leave that fd's harvested readiness stale (see WithOneEventPerWait).
//
// A descriptor must stay open while events watch it: free the events
// first (or let SetAutoClose close it). One closed behind the loop's back
// is found (at once by poll; with epoll when its events' flags change, or
// by a periodic audit while the loop is idle), reported once to each event
// as an error, logged, and its events are disabled (their Flags become 0).
// With epoll and io_uring an event is never registered anew on a file that
// took the closed one's number.
type FD struct {
	link      ownLink
	ctx       *Context // the context it was added through (a wrapper or main)
	state     *fdState
	handler   FDHandler
	closeFn   func(ev *Context, fde *FD, fd int)
	fd        int32 // int32 packs with the flags
	flags     FDFlags
	autoClose bool
	freed     bool
	tag       uint64
}

// fdState is what the loop knows of one descriptor number: the events on
// it and what the kernel was last told.
//
// It is 56 bytes (one per watched descriptor, from slabs): tokens are
// kept as their generation, the part that is not the fd number.
type fdState struct {
	events []*FD
	inline [1]*FD // events' storage while the fd has one event
	fd     int32
	rr     int32 // round-robin start among events
	// gen is the generation of the registration's current token (see
	// token). A new one is made for every event added: readiness
	// harvested under an older token may belong to a file that had this
	// number before, and is dropped.
	gen  uint32
	kgen uint32 // the generation of the token the kernel holds
	// checked is the turn (low 32 bits of loop.waits+1) in which the
	// number was last seen open: AddFD checks a descriptor once per turn,
	// not once per event, so adding and freeing events between turns
	// costs no syscall. (A wrapped turn number costs at most one missed
	// check, which the kernel's refusal then reports.)
	checked uint32
	kmask   poller.Interest // interest registered with the kernel; 0: not registered
	dirty   bool            // kernel interest must be recomputed before the next wait
	gotErr  bool            // error seen that no event wanted: stop asking until flags change
}

// token is the registration's current token: its generation and number.
func (st *fdState) token() poller.Token { return makeToken(st.gen, st.fd) }

// ktoken is the token the kernel holds.
func (st *fdState) ktoken() poller.Token { return makeToken(st.kgen, st.fd) }

func makeToken(gen uint32, fd int32) poller.Token {
	return poller.Token(gen)<<32 | poller.Token(uint32(fd))
}

// fdReport is an error handed to an event before it is disabled.
type fdReport struct {
	f     *FD
	flags FDFlags
}

// AddFD adds an fd event on fd waiting for flags (tevent_add_fd). A
// negative or closed fd gives ErrBadFD; a freed scope or context gives
// ErrFreed; a call from another goroutine while the loop waits gives
// ErrConcurrentUse. A nil handler panics.
//
// Changes reach the kernel lazily, once per loop turn, so adding and
// freeing events between two turns costs no system call: the validity
// check runs once per descriptor per turn. The price is that a descriptor
// the kernel refuses (a regular file on epoll) or one closed after its
// events were freed and added again before the next turn is not caught
// here; the loop then reports it once to each event's handler as an error
// (FDRead or FDError, whose read sees the error; FDWrite to a write-only
// event), logs it, and disables the events: their Flags become 0, and
// SetFlags tries again.
func (s *Scope) AddFD(fd int, flags FDFlags, h FDHandler) (*FD, error) {
	if h == nil {
		panic("tevent: AddFD called with a nil FDHandler")
	}
	ctx := s.ev
	l := ctx.loop
	if s.freed || ctx.freed {
		return nil, s.freedError("AddFD")
	}
	if err := l.foreign("AddFD"); err != nil {
		return nil, err
	}
	if fd < 0 {
		return nil, fmt.Errorf("%w: %d", ErrBadFD, fd)
	}
	st := l.fdStateFor(fd)
	if st.checked != uint32(l.waits+1) {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("%w: %d: %w", ErrBadFD, fd, err)
		}
		st.checked = uint32(l.waits + 1)
	}
	f := &FD{ctx: ctx, state: st, handler: h, fd: int32(fd), flags: flags & fdAllFlags}
	st.events = append(st.events, f)
	st.gen = l.newGen()
	l.nFDEvents++
	if f.flags != 0 {
		l.nFDActive++
	}
	l.markDirty(st)
	s.adopt(&f.link, f)
	if l.tracers != nil && l.tracers.fd != nil {
		l.tracers.fd(f, EventAttach)
	}
	return f, nil
}

// newGen makes the generation of a new registration's token.
func (l *loop) newGen() uint32 {
	l.tokenGen++
	return l.tokenGen
}

// fdTable maps descriptor numbers to their states, in pages: growing it
// never copies it or leaves the old copy behind as garbage, which a
// server's memory per idle connection would count.
type fdTable struct {
	pages []*fdPage
}

const fdPageBits = 9

type fdPage [1 << fdPageBits]*fdState

// get returns fd's state, or nil.
func (t *fdTable) get(fd int) *fdState {
	if p := fd >> fdPageBits; p < len(t.pages) {
		if pg := t.pages[p]; pg != nil {
			return pg[fd&(1<<fdPageBits-1)]
		}
	}
	return nil
}

// slot returns where fd's state is kept, making room for it.
func (t *fdTable) slot(fd int) **fdState {
	p := fd >> fdPageBits
	if p >= len(t.pages) {
		t.pages = append(t.pages, make([]*fdPage, p+1-len(t.pages))...)
	}
	pg := t.pages[p]
	if pg == nil {
		pg = new(fdPage)
		t.pages[p] = pg
	}
	return &pg[fd&(1<<fdPageBits-1)]
}

// each calls fn for every state in the table.
func (t *fdTable) each(fn func(st *fdState)) {
	for _, pg := range t.pages {
		if pg == nil {
			continue
		}
		for _, st := range pg {
			if st != nil {
				fn(st)
			}
		}
	}
}

// fdStateSlab is the number of states in a slab: 73 of 56 bytes fill
// 4088 of the allocator's 4096-byte size class (64 would take 3584 bytes,
// rounded up to 4096: 8 bytes a descriptor for nothing).
const fdStateSlab = 73

func (l *loop) fdStateFor(fd int) *fdState {
	slot := l.fdTable.slot(fd)
	st := *slot
	if st == nil {
		if len(l.stateSlab) == 0 {
			// States come from slabs, so the states of neighbouring fds
			// share cache lines as they would in a C array.
			l.stateSlab = make([]fdState, fdStateSlab)
		}
		st = &l.stateSlab[0]
		l.stateSlab = l.stateSlab[1:]
		st.fd = int32(fd)
		st.events = st.inline[:0]
		*slot = st
	}
	return st
}

func (l *loop) markDirty(st *fdState) {
	st.gotErr = false
	if !st.dirty || l.sharedChanges {
		l.addDirty(st)
	}
}

// addDirty is markDirty's part for a state not queued yet, or a loop
// whose changes are shared (poll_mt): out of line, so that markDirty,
// called for every change, inlines.
//
//go:noinline
func (l *loop) addDirty(st *fdState) {
	if !st.dirty {
		st.dirty = true
		l.dirty = append(l.dirty, st)
	}
	if l.sharedChanges {
		l.wake()
	}
}

// Context returns the context the event was added to (a wrapper, if it
// was added through one).
func (f *FD) Context() *Context { return f.ctx }

// Fd returns the descriptor.
func (f *FD) Fd() int { return int(f.fd) }

// Flags returns the flags the event waits for: 0 once it was disabled
// after an error report (see AddFD).
func (f *FD) Flags() FDFlags { return f.flags }

// SetFlags changes what the event waits for (tevent_fd_set_flags); 0
// disables it without freeing it. Allowed inside handlers.
func (f *FD) SetFlags(flags FDFlags) {
	flags &= fdAllFlags
	if f.freed || f.flags == flags {
		return
	}
	l := f.ctx.loop
	if f.flags == 0 {
		l.nFDActive++
	} else if flags == 0 {
		l.nFDActive--
	}
	f.flags = flags
	l.markDirty(f.state)
}

// SetAutoClose makes Free close the descriptor (tevent_fd_set_auto_close).
func (f *FD) SetAutoClose() { f.autoClose = true }

// SetCloseFn sets a function that Free calls to close the descriptor,
// instead of closing it itself (tevent_fd_set_close_fn).
func (f *FD) SetCloseFn(fn func(ev *Context, fde *FD, fd int)) { f.closeFn = fn }

// Tag returns the tag set with SetTag.
func (f *FD) Tag() uint64 { return f.tag }

// SetTag attaches an arbitrary number to the event.
func (f *FD) SetTag(tag uint64) { f.tag = tag }

// Free removes the event; it never fires again. It runs the close
// function, or closes the descriptor if SetAutoClose was called.
// Idempotent; allowed from any handler.
func (f *FD) Free() {
	if f.freed {
		return
	}
	if f.ctx.loop.handOver(f) {
		return
	}
	disown(&f.link)
	f.freeOwned()
}

// Freed reports whether the event has been freed.
func (f *FD) Freed() bool { return f.freed }

func (f *FD) freeOwned() {
	f.freed = true
	l := f.ctx.loop
	if l.tracers != nil && l.tracers.fd != nil {
		l.tracers.fd(f, EventDetach)
	}
	st := f.state
	for i, e := range st.events {
		if e == f {
			if i+1 < len(st.events) {
				copy(st.events[i:], st.events[i+1:])
			}
			st.events[len(st.events)-1] = nil
			st.events = st.events[:len(st.events)-1]
			break
		}
	}
	l.nFDEvents--
	if f.flags != 0 {
		l.nFDActive--
	}
	closing := f.closeFn != nil || f.autoClose
	if len(st.events) == 0 && st.kmask != 0 && !l.freed && !l.sharedChanges {
		// The number may be reused as soon as it is closed, by us or by
		// the caller right after Free: tell the kernel now, while it
		// still names our file. (poll watches numbers, not files, so
		// poll_mt, whose events may be freed by another goroutine while
		// the loop polls, leaves it to the next turn.)
		l.poller.Delete(int(st.fd))
		st.kmask = 0
	}
	l.markDirty(st)
	if f.closeFn != nil {
		fn := f.closeFn
		f.closeFn = nil
		fn(f.ctx, f, int(f.fd))
	} else if f.autoClose {
		f.autoClose = false
		unix.Close(int(f.fd))
	}
	if closing {
		st.checked = 0
	}
}

// want is the kernel interest the events on st need.
func (st *fdState) want() poller.Interest {
	var fl FDFlags
	for _, e := range st.events {
		fl |= e.flags
	}
	if st.gotErr && fl&(FDRead|FDError) == 0 {
		return 0
	}
	var in poller.Interest
	if fl&FDRead != 0 {
		in |= poller.Readable
	}
	if fl&FDWrite != 0 {
		in |= poller.Writable
	}
	if fl&FDError != 0 {
		in |= poller.ReadHangup
	}
	return in
}

// applyFDChanges tells the kernel what changed since the last wait.
func (l *loop) applyFDChanges() {
	// Swap buffers: a failure below may dirty fds again, and those must
	// not be lost.
	dirty := l.dirty
	l.dirty = l.dirtySpare[:0]
	for i, st := range dirty {
		dirty[i] = nil
		if !st.dirty {
			continue
		}
		st.dirty = false
		w := st.want()
		var err error
		switch {
		case w == st.kmask && (w == 0 || st.kgen == st.gen):
		case w == 0:
			err = l.poller.Delete(int(st.fd))
			st.kmask = 0
		case st.kmask == 0:
			err = l.poller.Add(int(st.fd), st.token(), w)
			if err == nil {
				l.auditSoon()
			}
		default:
			err = l.poller.Modify(int(st.fd), st.token(), w)
		}
		if err != nil {
			if errors.Is(err, poller.ErrNotRegistered) {
				// The file was closed behind our back, and the number
				// may name another one now: registering it anew would
				// attach the events to a file they never asked for (C
				// tevent does not either).
				st.kmask = 0
				l.closedBehind(st, err)
			} else {
				l.controlFailed(st, err)
			}
			continue
		}
		st.kmask, st.kgen = w, st.gen
		if w == 0 && len(st.events) == 0 && l.fdTable.get(int(st.fd)) == st {
			*l.fdTable.slot(int(st.fd)) = nil
		}
	}
	l.dirtySpare = dirty[:0]
}

// controlFailed handles a kernel refusal for one descriptor: its events
// get one error report each and are disabled; the error is logged; the
// loop goes on.
func (l *loop) controlFailed(st *fdState, err error) {
	l.disable(st, "tevent: kernel refused fd: its events get one error report, then are disabled (flags 0) until SetFlags", err)
}

// disable drops st's kernel registration, queues one error report for
// every event on st that waits for something, and sets their flags to 0.
func (l *loop) disable(st *fdState, msg string, err error) {
	if st.kmask != 0 {
		l.poller.Delete(int(st.fd))
		st.kmask = 0
	}
	for _, e := range st.events {
		if e.flags == 0 {
			continue
		}
		fl := e.flags & (FDRead | FDError)
		if fl == 0 {
			fl = FDWrite
		}
		l.reports = append(l.reports, fdReport{e, fl})
		e.flags = 0
		l.nFDActive--
	}
	l.debugf(levelError, msg, "fd", st.fd, "backend", l.backend, "error", err)
}

// dispatchFD runs one handler: a queued error report, or the next
// harvested ready fd that still has an event wanting it. It reports
// whether a handler ran.
func (l *loop) dispatchFD() bool {
	for len(l.reports) > 0 {
		r := l.reports[0]
		l.reports[0] = fdReport{}
		l.reports = l.reports[1:]
		if r.f.freed {
			continue
		}
		return l.callFD(r.f, r.flags)
	}
	for l.readyPos < l.readyN {
		e := l.ready[l.readyPos]
		l.readyPos++
		fd := int(uint32(e.Token))
		st := l.fdTable.get(fd)
		if st == nil || st.gen != uint32(e.Token>>32) || len(st.events) == 0 {
			continue // stale: the number's registration changed since
		}
		if e.Ready&poller.ReadyFailed != 0 {
			// A change the backend deferred was refused (io_uring): as
			// if Add or Modify had returned the error. (The Delete that
			// disables the events costs the backend nothing: it holds no
			// registration for the number any more.)
			if err := l.poller.Failure(e.Token); errors.Is(err, poller.ErrNotRegistered) {
				l.closedBehind(st, err)
			} else {
				l.controlFailed(st, err)
			}
			return l.dispatchFD()
		}
		if e.Ready&poller.ReadyInvalid != 0 {
			l.closedBehind(st, nil)
			return l.dispatchFD()
		}
		fl := readyFlags(e.Ready)
		n := len(st.events)
		rr := int(st.rr)
		if rr >= n {
			rr = 0
		}
		for k := 0; k < n; k++ {
			i := rr + k
			if i >= n {
				i -= n
			}
			f := st.events[i]
			if fl&f.flags == 0 {
				continue
			}
			st.rr = int32(i + 1)
			return l.callFD(f, fl&f.flags)
		}
		if e.Ready&poller.ReadyError != 0 && !st.gotErr && !st.dirty {
			// An error nobody asked for: stop asking the kernel about
			// this fd until its flags change, or it would spin. Not when
			// its events changed since the wait (dirty): then nobody
			// was asked, and the next wait asks the kernel afresh.
			st.gotErr = true
			st.dirty = true
			l.dirty = append(l.dirty, st)
		}
	}
	return false
}

// callFD runs f's handler (through its wrapper's hooks) with fl. It
// reports true: one thing was handled, even when a trace callback freed
// the event first.
func (l *loop) callFD(f *FD, fl FDFlags) bool {
	if l.tracers != nil && l.tracers.fd != nil {
		l.tracers.fd(f, EventBeforeHandler)
		if f.freed || l.freed {
			return true
		}
	}
	if f.ctx.wrap == nil {
		f.handler(f.ctx, f, fl)
	} else {
		f.ctx.callFD(f, fl)
	}
	return true
}

// closedBehind handles a registered descriptor found closed behind the
// loop's back.
func (l *loop) closedBehind(st *fdState, err error) {
	if err == nil {
		err = unix.EBADF
	}
	l.disable(st, "tevent: fd closed while its events were registered: each gets one error report, then they are disabled (flags 0); free fd events before closing their descriptor", err)
}

// Audit of registrations, for backends that do not report descriptors
// closed behind the loop's back (epoll forgets them silently, and a loop
// waiting for them would wait forever). When the loop has waited for a
// while without anything happening, every registration is checked with a
// Modify that changes nothing: the kernel says ENOENT for one whose file
// is gone. The first audit comes auditFirst after a registration; each
// fruitless one doubles the interval, up to auditMax.
const (
	auditFirst = time.Second
	auditMax   = time.Minute
)

// auditSoon schedules the next audit at most auditFirst from now.
func (l *loop) auditSoon() {
	if !l.auditClosed || l.auditEvery == l.auditStart {
		return
	}
	l.auditEvery = l.auditStart
	l.auditAt = 0
}

// auditTimeout caps a wait's timeout so that the loop wakes up for the
// next audit. The cap is the audit interval, counted from now, rather
// than the time left until the audit is due: that needs no clock read on
// every turn (a busy loop waits, without blocking, once per turn). The
// audit runs after the first wait that finds nothing once it is due (see
// loop.wait), so a wait that blocks is over by one interval after it
// began, and the audit comes at most one interval late.
func (l *loop) auditTimeout(timeout time.Duration) time.Duration {
	if l.auditAt == 0 {
		if l.auditEvery == 0 {
			l.auditEvery = l.auditStart
		}
		l.auditAt = monoNow() + int64(l.auditEvery)
	}
	if d := l.auditEvery; timeout < 0 || d < timeout {
		return d
	}
	return timeout
}

// audit checks every registration and reports the ones whose file is
// gone.
func (l *loop) audit() {
	found := false
	l.fdTable.each(func(st *fdState) {
		if st.kmask == 0 {
			return
		}
		if err := l.poller.Modify(int(st.fd), st.ktoken(), st.kmask); err != nil {
			if !errors.Is(err, poller.ErrNotRegistered) {
				l.poller.Delete(int(st.fd))
			}
			st.kmask = 0
			l.closedBehind(st, err)
			found = true
		}
	})
	if !found {
		l.auditEvery = min(2*l.auditEvery, auditMax)
	}
	l.auditAt = monoNow() + int64(l.auditEvery)
}

func readyFlags(r poller.Ready) FDFlags {
	var fl FDFlags
	if r&poller.ReadyRead != 0 {
		fl |= FDRead
	}
	if r&poller.ReadyWrite != 0 {
		fl |= FDWrite
	}
	if r&poller.ReadyError != 0 {
		fl |= FDError | FDRead
	}
	return fl
}

// warmReady touches the state and first event of every harvested fd
// before any is dispatched. The loads do not depend on each other, so the
// processor overlaps their cache misses instead of taking three in a row
// per dispatch (table, state, event), as it otherwise would with many
// descriptors.
func (l *loop) warmReady(n int) {
	var sink FDFlags
	for _, e := range l.ready[:n] {
		if st := l.fdTable.get(int(uint32(e.Token))); st != nil && len(st.events) > 0 {
			sink |= st.events[0].flags
		}
	}
	l.warmSink = sink
}
