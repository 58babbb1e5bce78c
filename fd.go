package tevent

import (
	"fmt"

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
type FD struct {
	link      ownLink
	ev        *Context // the main context
	wrap      *Context // the wrapper it was added through, or nil
	state     *fdState
	handler   FDHandler
	closeFn   func(ev *Context, fde *FD, fd int)
	fd        int32 // int32 packs with the flags: FD stays at 80 bytes
	flags     FDFlags
	autoClose bool
	freed     bool
	tag       uint64
	// since is ev.waits+1 at AddFD: readiness harvested by an earlier
	// wait may belong to a file that had this number before, so the
	// event ignores it.
	since uint64
}

// fdState is what the context knows of one descriptor number: the events
// on it and what the kernel was last told.
type fdState struct {
	fd     int
	events []*FD
	inline [1]*FD // events' storage while the fd has one event
	rr     int    // round-robin start among events
	kmask  uint32 // interest registered with the kernel
	dirty  bool   // kernel interest must be recomputed before the next wait
	gotErr bool   // error seen that no event wanted: stop asking until flags change
	failed bool   // the kernel refused this fd: disabled until flags change
	// resync asks the next applyFDChanges to tell the kernel again even if
	// the interest did not change: the number may name a new file now.
	resync bool
	// checked is ev.waits+1 when the fd was last seen open: AddFD checks a
	// descriptor once per loop turn, not once per event.
	checked uint64
}

// AddFD adds an fd event on fd waiting for flags (tevent_add_fd). A
// negative or closed fd gives ErrBadFD; a freed scope or context gives
// ErrFreed. A nil handler panics.
//
// Changes reach the kernel lazily, once per loop turn, so adding and
// freeing events between two turns costs no system call: the validity
// check runs once per descriptor per turn. The price is that a descriptor
// closed after its events were freed and added again before the next turn
// is not caught here; the kernel then refuses it, and the loop reports it
// once to the event's handler as an error (FDRead or FDError, whose read
// sees EBADF) and logs it, then disables the event.
func (s *Scope) AddFD(fd int, flags FDFlags, h FDHandler) (*FD, error) {
	if h == nil {
		panic("tevent: AddFD called with a nil FDHandler")
	}
	w := s.ev
	ev := w.mainContext()
	if s.freed || ev.freed {
		return nil, ErrFreed
	}
	if fd < 0 {
		return nil, fmt.Errorf("%w: %d", ErrBadFD, fd)
	}
	st := ev.fdStateFor(fd)
	if st.checked != ev.waits+1 {
		// One validity check per descriptor per loop turn: adding and
		// freeing events on a known fd between turns costs no syscall.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("%w: %d: %w", ErrBadFD, fd, err)
		}
		st.checked = ev.waits + 1
		if st.kmask != 0 {
			// Registered on an earlier turn: the caller may have closed
			// the fd since and got its number back for a new file, which
			// epoll does not watch. Re-registering costs one epoll_ctl.
			st.resync = true
		}
	}
	f := &FD{ev: ev, state: st, handler: h, fd: int32(fd), flags: flags & fdAllFlags, since: ev.waits + 1}
	if w != ev {
		f.wrap = w
	}
	st.events = append(st.events, f)
	ev.nFDEvents++
	ev.markDirty(st)
	s.adopt(&f.link, f)
	if ev.tracers != nil && ev.tracers.fd != nil {
		ev.tracers.fd(f, EventAttach)
	}
	return f, nil
}

func (ev *Context) fdStateFor(fd int) *fdState {
	if fd >= len(ev.fdTable) {
		n := 2 * len(ev.fdTable)
		if n <= fd {
			n = fd + 64
		}
		t := make([]*fdState, n)
		copy(t, ev.fdTable)
		ev.fdTable = t
	}
	st := ev.fdTable[fd]
	if st == nil {
		if len(ev.stateSlab) == 0 {
			// States come from slabs, so the states of neighbouring fds
			// share cache lines as they would in a C array.
			ev.stateSlab = make([]fdState, 64)
		}
		st = &ev.stateSlab[0]
		ev.stateSlab = ev.stateSlab[1:]
		st.fd = fd
		st.events = st.inline[:0]
		ev.fdTable[fd] = st
	}
	return st
}

func (ev *Context) markDirty(st *fdState) {
	st.gotErr = false
	st.failed = false
	if !st.dirty {
		st.dirty = true
		ev.dirty = append(ev.dirty, st)
	}
	if ev.pollMT {
		ev.notify()
	}
}

// Context returns the context the event was added to (a wrapper, if it
// was added through one).
func (f *FD) Context() *Context {
	if f.wrap != nil {
		return f.wrap
	}
	return f.ev
}

// Fd returns the descriptor.
func (f *FD) Fd() int { return int(f.fd) }

// Flags returns the flags the event waits for.
func (f *FD) Flags() FDFlags { return f.flags }

// SetFlags changes what the event waits for (tevent_fd_set_flags); 0
// disables it without freeing it. Allowed inside handlers.
func (f *FD) SetFlags(flags FDFlags) {
	flags &= fdAllFlags
	if f.freed || f.flags == flags {
		return
	}
	f.flags = flags
	f.ev.markDirty(f.state)
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
	disown(&f.link)
	f.freeOwned()
}

func (f *FD) freeOwned() {
	f.freed = true
	ev := f.ev
	if ev.tracers != nil && ev.tracers.fd != nil {
		ev.tracers.fd(f, EventDetach)
	}
	st := f.state
	for i, e := range st.events {
		if e == f {
			copy(st.events[i:], st.events[i+1:])
			st.events[len(st.events)-1] = nil
			st.events = st.events[:len(st.events)-1]
			break
		}
	}
	ev.nFDEvents--
	closing := f.closeFn != nil || f.autoClose
	if len(st.events) == 0 && st.kmask != 0 && ev.poller != nil && !ev.pollMT {
		// The number may be reused as soon as it is closed, by us or by
		// the caller right after Free: tell the kernel now, while it
		// still names our file. (poll watches numbers, not files, so
		// poll_mt, whose events may be freed by another goroutine while
		// the loop polls, leaves it to the next turn.)
		ev.poller.Control(st.fd, st.kmask, 0)
		st.kmask = 0
	}
	ev.markDirty(st)
	if f.closeFn != nil {
		fn := f.closeFn
		f.closeFn = nil
		fn(f.Context(), f, int(f.fd))
	} else if f.autoClose {
		f.autoClose = false
		unix.Close(int(f.fd))
	}
	if closing {
		st.checked = 0
	}
}

// want is the kernel interest the events on st need.
func (st *fdState) want() uint32 {
	var m uint32
	var fl FDFlags
	for _, e := range st.events {
		fl |= e.flags
	}
	if fl&FDRead != 0 {
		m |= poller.In
	}
	if fl&FDWrite != 0 {
		m |= poller.Out
	}
	if fl&FDError != 0 {
		m |= poller.RdHup
	}
	if st.gotErr && fl&(FDRead|FDError) == 0 {
		return 0
	}
	if st.failed {
		return 0
	}
	return m
}

// applyFDChanges tells the kernel what changed since the last wait.
func (ev *Context) applyFDChanges() {
	// Swap buffers: a failure below may dirty fds again (the "standard"
	// fallback re-registers everything), and those must not be lost.
	dirty := ev.dirty
	ev.dirty = ev.dirtySpare[:0]
	for i, st := range dirty {
		dirty[i] = nil
		if !st.dirty {
			continue
		}
		st.dirty = false
		w := st.want()
		if w != st.kmask || st.resync {
			st.resync = false
			if err := ev.poller.Control(st.fd, st.kmask, w); err != nil {
				ev.controlFailed(st, w, err)
				continue
			}
			st.kmask = w
		}
		if w == 0 && len(st.events) == 0 && st.fd < len(ev.fdTable) && ev.fdTable[st.fd] == st {
			ev.fdTable[st.fd] = nil
		}
	}
	ev.dirtySpare = dirty[:0]
}

// controlFailed handles a kernel refusal for one descriptor: the events on
// it are disabled (as C tevent does on EBADF) and the error is logged; the
// loop goes on. Changing the flags of an event on it tries again.
func (ev *Context) controlFailed(st *fdState, w uint32, err error) {
	if ev.standard && err != unix.EBADF {
		if ev.fallBackToPoll(err) == nil {
			return
		}
	}
	st.failed = true
	if st.kmask != 0 {
		ev.poller.Control(st.fd, st.kmask, 0)
		st.kmask = 0
	}
	// Report it once, as an error, so the handler's next read sees the
	// kernel's error and the event can be freed, instead of waiting
	// forever for readiness that will never come.
	ev.refused = append(ev.refused, poller.Event{Fd: int32(st.fd), Events: poller.Err})
	ev.debugf(levelError, "tevent: kernel refused fd: its events get one error report, then are disabled until their flags change",
		"fd", st.fd, "backend", ev.backend, "error", err)
}

// dispatchFD runs one handler for the next harvested ready fd that still
// has an event wanting it. It reports whether a handler ran.
func (ev *Context) dispatchFD() bool {
	for {
		var e poller.Event
		switch {
		case len(ev.refused) > 0:
			e = ev.refused[0]
			ev.refused = ev.refused[1:]
		case ev.readyPos < ev.readyN:
			e = ev.ready[ev.readyPos]
			ev.readyPos++
		default:
			return false
		}
		fd := int(e.Fd)
		var st *fdState
		if fd < len(ev.fdTable) {
			st = ev.fdTable[fd]
		}
		if st == nil || len(st.events) == 0 {
			if st == nil {
				// Not ours: make sure the kernel forgets it. (A known fd
				// with no events was already deregistered, or will be
				// on the next wait.)
				ev.poller.Control(fd, poller.In, 0)
			}
			continue
		}
		n := len(st.events)
		if st.rr >= n {
			st.rr = 0
		}
		for k := 0; k < n; k++ {
			i := st.rr + k
			if i >= n {
				i -= n
			}
			f := st.events[i]
			fl := readyFlags(e.Events) & f.flags
			if fl == 0 || f.since > ev.waits {
				continue
			}
			st.rr = i + 1
			if ev.tracers != nil && ev.tracers.fd != nil {
				ev.tracers.fd(f, EventBeforeHandler)
			}
			if f.wrap == nil {
				f.handler(ev, f, fl)
			} else {
				f.wrap.callFD(f, fl)
			}
			return true
		}
		if e.Events&poller.Err != 0 && !st.gotErr && !st.dirty {
			// An error nobody asked for: stop asking the kernel about
			// this fd until its flags change, or it would spin. Not when
			// its events changed since the wait (dirty): then nobody
			// was asked, and the next wait asks the kernel afresh.
			st.gotErr = true
			if !st.dirty {
				st.dirty = true
				ev.dirty = append(ev.dirty, st)
			}
		}
	}
}

func readyFlags(m uint32) FDFlags {
	var fl FDFlags
	if m&poller.In != 0 {
		fl |= FDRead
	}
	if m&poller.Out != 0 {
		fl |= FDWrite
	}
	if m&poller.Err != 0 {
		fl |= FDError | FDRead
	}
	return fl
}

// warmReady touches the state and first event of every harvested fd
// before any is dispatched. The loads do not depend on each other, so the
// processor overlaps their cache misses instead of taking three in a row
// per dispatch (table, state, event), as it otherwise would with many
// descriptors.
func (ev *Context) warmReady(n int) {
	var sink FDFlags
	table := ev.fdTable
	for _, e := range ev.ready[:n] {
		if fd := int(e.Fd); fd < len(table) {
			if st := table[fd]; st != nil && len(st.events) > 0 {
				sink |= st.events[0].flags
			}
		}
	}
	ev.warmSink = sink
}
