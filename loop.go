package tevent

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent/internal/poller"
)

// LoopOnce waits for and handles exactly one thing, in tevent's order of
// priority: all pending signals, else one immediate (or one call from a
// thread proxy), else one expired timer, else one ready fd event, waiting
// for the kernel at most until the next timer is due.
func (ev *Context) LoopOnce() error {
	if ev.freed {
		return ErrFreed
	}
	if ev.main != nil {
		return ev.wrapperLoop(func(m *Context) error { return m.LoopOnce() })
	}
	if !atomic.CompareAndSwapInt32(&ev.running, 0, 1) {
		return ev.nested(false, nil)
	}
	ev.nowValid = false // the caller's code ran since the last loop call
	if ev.allowNesting {
		return ev.loopOnceRecordingOwner()
	}
	defer ev.idle()
	if ev.immHead != nil && ev.trace == nil && !ev.sigPending.Load() {
		// The common case of a busy loop, without the general path's
		// calls: one immediate.
		ev.runImmediate()
		ev.nowValid = false
		return nil
	}
	err := ev.loopOnce()
	ev.nowValid = false
	return err
}

// LoopWait runs the loop until the context has no fd, timer, signal or
// scheduled immediate events and no live thread proxies, or an error
// occurs. It returns nil when the context is freed by a handler.
func (ev *Context) LoopWait() error {
	if ev.freed {
		return ErrFreed
	}
	if ev.main != nil {
		return ev.wrapperLoop(func(m *Context) error { return m.LoopWait() })
	}
	if !atomic.CompareAndSwapInt32(&ev.running, 0, 1) {
		return ev.nested(true, nil)
	}
	ev.nowValid = false
	ev.ownerG.Store(goid())
	defer ev.release()
	return ev.loopWait()
}

// LoopUntil runs the loop until finished returns true (checked before each
// turn), the context is freed, or an error occurs. It returns ErrNoEvents
// if nothing is left that could make finished true.
func (ev *Context) LoopUntil(finished func() bool) error {
	if ev.freed {
		return ErrFreed
	}
	if ev.main != nil {
		return ev.wrapperLoop(func(m *Context) error { return m.LoopUntil(finished) })
	}
	if !atomic.CompareAndSwapInt32(&ev.running, 0, 1) {
		return ev.nested(true, finished)
	}
	ev.nowValid = false
	ev.ownerG.Store(goid())
	defer ev.release()
	return ev.loopUntil(finished)
}

// loopOnceRecordingOwner is LoopOnce on a context that allows nesting:
// it records the driving goroutine so that a nested call can be told from
// a call from another goroutine.
func (ev *Context) loopOnceRecordingOwner() error {
	ev.ownerG.Store(goid())
	defer ev.release()
	return ev.loopOnce()
}

func (ev *Context) release() {
	ev.nowValid = false
	if ev.ownerG.Load() != 0 {
		ev.ownerG.Store(0)
	}
	ev.idle()
}

func (ev *Context) loopWait() error {
	for !ev.freed && ev.hasEvents() {
		if err := ev.loopOnce(); err != nil {
			if err == ErrNoEvents {
				// hasEvents counted calls queued for a proxy freed
				// since: they were dropped, and nothing is left.
				return nil
			}
			return err
		}
	}
	return nil
}

func (ev *Context) loopUntil(finished func() bool) error {
	for !ev.freed && !finished() {
		if err := ev.loopOnce(); err != nil {
			return err
		}
	}
	return nil
}

// nested handles a loop call made while the loop is already running:
// from one of the context's handlers (nesting) or from another goroutine
// (misuse).
func (ev *Context) nested(wait bool, finished func() bool) error {
	owner := ev.ownerG.Load()
	if owner != 0 && owner != goid() {
		ev.debugf(levelError, "tevent: context driven from two goroutines", "owner", owner)
		return fmt.Errorf("%w: a loop function was called while goroutine %d is running this context's loop; drive each context from one goroutine and use a ThreadProxy to reach it from others", ErrConcurrentUse, owner)
	}
	if !ev.allowNesting {
		ev.debugf(levelFatal, "tevent: loop function nested without AllowNesting")
		if owner == 0 {
			return fmt.Errorf("%w: loop function called while the context's loop is running: from one of its own handlers (call AllowNesting to permit that) or from another goroutine (%w)", ErrNesting, ErrConcurrentUse)
		}
		return fmt.Errorf("%w: loop function called from one of the context's own handlers; call AllowNesting to permit it", ErrNesting)
	}
	if owner == 0 {
		// Cannot tell who is running the loop: it was entered before
		// AllowNesting was called.
		return fmt.Errorf("%w: loop function called while the context's loop is running, from a handler entered before AllowNesting or from another goroutine (%w)", ErrNesting, ErrConcurrentUse)
	}
	ev.depth++
	ev.nowValid = false
	if ev.nestingHook != nil {
		ev.nestingHook(ev, true)
	}
	var err error
	switch {
	case finished != nil:
		err = ev.loopUntil(finished)
	case wait:
		err = ev.loopWait()
	default:
		err = ev.loopOnce()
	}
	ev.nowValid = false // the outer handler resumes later
	if ev.nestingHook != nil && !ev.freed {
		ev.nestingHook(ev, false)
	}
	ev.depth--
	return err
}

// hasEvents reports whether anything is left that LoopWait waits for.
func (ev *Context) hasEvents() bool {
	return ev.immHead != nil || ev.timers.live > 0 || ev.nFDEvents > 0 ||
		(ev.sig != nil && ev.sig.n > 0) || ev.proxies.Load() > 0 ||
		ev.inbox.queued.Load() > 0 || ev.localPos < len(ev.local)
}

func (ev *Context) loopOnce() error {
	if ev.trace == nil {
		return ev.runOne()
	}
	ev.trace(TraceBeforeLoopOnce)
	err := ev.runOne()
	if !ev.freed && ev.trace != nil {
		ev.trace(TraceAfterLoopOnce)
	}
	return err
}

// runOne handles exactly one thing, waiting as long as needed.
func (ev *Context) runOne() error {
	for {
		if ev.sigPending.Load() {
			ev.sigPending.Store(false)
			if ev.runSignals() {
				return nil
			}
		}
		if ev.immHead != nil {
			ev.runImmediate()
			return nil
		}
		if (ev.localPos < len(ev.local) || ev.inbox.queued.Load() != 0) && ev.runProxyCall() {
			return nil
		}
		if ev.timers.live > 0 && ev.runTimer() {
			return nil
		}
		if (ev.readyPos < ev.readyN || len(ev.refused) > 0) && ev.dispatchFD() {
			return nil
		}
		if ev.freed {
			return nil
		}
		if !ev.hasEvents() {
			return ErrNoEvents
		}
		if err := ev.wait(); err != nil {
			return err
		}
		if ev.freed {
			return nil
		}
	}
}

// wait applies pending fd changes and waits in the kernel until an fd is
// ready, the next timer is due, or another goroutine wakes the loop.
func (ev *Context) wait() error {
	// A new turn: readiness reported from here on (by the kernel, or a
	// refusal below) is for events added before this point.
	ev.waits++
	if len(ev.dirty) > 0 {
		ev.applyFDChanges()
		if len(ev.refused) > 0 {
			// The kernel refused an fd: report that before waiting.
			return nil
		}
	}
	timeout := time.Duration(-1)
	if top := ev.timers.peek(); top != nil {
		ev.now, ev.nowValid = monoNow(), true
		d := top.when - ev.now
		if d < 0 {
			d = 0
		}
		timeout = time.Duration(d)
	}
	ev.sleeping.Store(1)
	if ev.inbox.queued.Load() != 0 || ev.sigPending.Load() {
		timeout = 0
	}
	if ev.trace != nil {
		ev.trace(TraceBeforeWait)
	}
	n, err := ev.poller.Wait(ev.ready, timeout)
	ev.sleeping.Store(0)
	ev.nowValid = false // the clock moved while we waited
	if ev.trace != nil && !ev.freed {
		ev.trace(TraceAfterWait)
	}
	if ev.freed {
		return nil
	}
	ev.readyN, ev.readyPos = n, 0
	if n > 1 {
		ev.warmReady(n)
	}
	if err != nil {
		if ev.standard && errors.Is(err, poller.ErrFatal) {
			fbErr := ev.fallBackToPoll(err)
			if fbErr == nil {
				return nil
			}
			err = fmt.Errorf("%w; %w", err, fbErr)
		}
		ev.debugf(levelFatal, "tevent: kernel wait failed", "backend", ev.backend, "error", err)
		return fmt.Errorf("tevent: %s wait: %w", ev.backend, err)
	}
	return nil
}

// fallBackToPoll replaces a failed epoll with poll for the rest of the
// context's life ("standard" backend); every fd is registered again, so no
// event is lost. It returns why it could not, or nil.
func (ev *Context) fallBackToPoll(cause error) error {
	p, err := newFallbackPoller()
	if err != nil {
		ev.debugf(levelFatal, "tevent: cannot fall back to poll", "error", err)
		return fmt.Errorf("falling back to poll: %w", err)
	}
	ev.debugf(levelWarning, "tevent: epoll failed, falling back to poll", "error", cause)
	ev.inbox.mu.Lock()
	old := ev.poller
	ev.poller = p
	ev.standard = false
	ev.inbox.mu.Unlock()
	old.Close()
	// Wake-ups aimed at the old poller may be lost: poll once without
	// blocking on the next wait.
	p.Wake()
	ev.readyN, ev.readyPos = 0, 0
	for _, st := range ev.fdTable {
		if st == nil {
			continue
		}
		st.kmask = 0
		st.failed = false
		if !st.dirty {
			st.dirty = true
			ev.dirty = append(ev.dirty, st)
		}
	}
	return nil
}

// goid returns the current goroutine's id. It is slow (it formats a stack
// header), so it is only called when a loop is entered with LoopWait or
// LoopUntil, when nesting is allowed, and on misuse.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseInt(string(b), 10, 64)
	return id
}
