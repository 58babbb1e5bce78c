package tevent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gotevent/tevent/internal/poller"
)

// loop is the state of one event loop, shared by a main context and its
// wrappers. Everything in it is touched only by the goroutine driving the
// loop, except the fields documented otherwise (atomics, the inbox).
type loop struct {
	main    *Context // the context New returned
	backend string
	poller  *poller.Poller
	log     *slog.Logger
	freed   bool // the main context is freed

	// What the backend declared (poller.Caps).
	sharedChanges bool // poll_mt: events change under a lock while the loop waits
	regularFiles  bool // regular files and directories can be watched
	auditClosed   bool // descriptors closed behind our back go unreported: audit them

	// Loop driving. running is 1 while a loop function runs (entered by
	// compare-and-swap, which is what catches a second goroutine).
	running      runFlag
	ownerG       atomic.Int64    // goroutine id of the driver, when recorded
	stopReq      atomic.Bool     // Stop was called: the loop call returns ErrStopped
	ctxStop      atomic.Bool     // LoopContext's context is done
	ctxDone      <-chan struct{} // LoopContext's ctx.Done(), while it runs
	freeReq      atomic.Bool     // Free was called from another goroutine
	inWait       atomic.Bool     // the loop's goroutine is blocked in the kernel wait
	depth        int
	allowNesting bool
	nestingHook  func(ev *Context, begin bool)
	trace        func(TracePoint)
	flow         func(flow CallFlow, req AnyReq, depth int) // SetCallDepthCallback
	hooked       bool                                       // trace or flow is set: no fast path
	// How long one loop turn may wait (SetWaitTimeout): negative for no
	// bound, 0 for polling.
	waitTimeout time.Duration

	// Calls from other goroutines wait behind the immediates queued
	// before they arrived: at the start of a loop turn the calls sent
	// since are assigned to a segment node (Immediate.calls > 0) at the
	// tail of the immediate queue (C's
	// tevent_common_threaded_activate_immediate). assigned and consumed
	// count inbox entries as inbox.sent does: those given to segments,
	// and those run (or dropped).
	segFree   *Immediate // spare segment nodes, linked by next
	headCalls int32      // calls ahead of the whole immediate queue
	assigned  uint64
	consumed  uint64

	// immediates, FIFO
	immHead, immTail *Immediate

	// timers
	timers timerHeap
	// The loop's clock (monotonic ns since clockBase), read lazily: it is
	// invalid at the start and end of every loop call and after every
	// kernel wait. Timer handlers' now and Context.Now come from it.
	now      int64
	nowValid bool

	// fd events (fd.go)
	fdTable    fdTable
	nFDEvents  int // FD events alive
	nFDActive  int // of those, the ones with flags: what can fire
	dirty      []*fdState
	dirtySpare []*fdState
	stateSlab  []fdState // where new fdStates come from
	warmSink   FDFlags   // keeps warmReady's loads from being optimised away
	ready      []poller.Event
	readyN     int
	readyPos   int
	reports    []fdReport // errors to hand to events before they are disabled
	tokenGen   uint32     // generation part of the next registration token
	waits      uint64     // kernel waits so far
	auditAt    int64      // when to audit registrations next (auditClosed)
	auditEvery time.Duration
	auditStart time.Duration // the first interval: auditFirst (tests lower it)

	// signals
	sigPending atomic.Bool
	sig        *ctxSignals

	// thread proxies
	proxies  atomic.Int32 // live proxies
	local    []proxyCall  // calls taken from the inbox, run one per turn
	localPos int

	// What other goroutines write (ThreadProxy.Schedule) sits on cache
	// lines of its own: producers hammering the inbox's mutex and counter
	// would otherwise keep stealing the lines of fields the loop reads
	// every turn (false sharing).
	_     [cacheLinePad]byte
	inbox proxyInbox
	_     [cacheLinePad]byte

	// per-event trace callbacks (eventtrace.go); nil when none is set
	tracers *eventTracers

	// requests finished before their creator returned (post.go)
	posts postQueue

	// blocking work pool (gopool.go)
	poolSize int
	pool     *workPool
}

// cacheLinePad separates data written by different goroutines: two
// 64-byte lines, as processors may fetch lines in adjacent pairs.
const cacheLinePad = 128

// LoopOnce waits for and handles exactly one thing, in tevent's order of
// priority: all pending signals, else one immediate (calls from thread
// proxies join the tail of the immediate queue at the start of each turn,
// and run one per LoopOnce like immediates), else one expired timer, else
// one ready fd event, waiting for the kernel at most until the next timer
// is due. With a wait timeout (SetWaitTimeout) it returns ErrWouldBlock
// when that passes with nothing handled.
func (ev *Context) LoopOnce() error {
	l := ev.loop
	if ev.freed {
		return ErrFreed
	}
	if !l.running.enter() {
		return ev.nested(false, nil)
	}
	if ev.wrap != nil || l.allowNesting {
		return ev.loopOnceOwned()
	}
	l.nowValid = false // the caller's code ran since the last loop call
	// Deferred, so that a handler's panic (or a Go function's, re-raised
	// on delivery) recovered by the caller leaves the loop usable.
	defer l.endOnce()
	// The common case of a busy loop, without the general path's calls:
	// one immediate, when nothing that goes before it is pending. (A
	// switch: the compiler turns the same test written with && into
	// booleans built and tested again, six instructions more.)
	switch {
	case l.immHead == nil, l.hooked, l.sigPending.Load(), l.stopReq.Load(),
		l.inbox.sent.Load() != l.consumed:
		return l.loopOnce()
	}
	l.runImmediate()
	return nil
}

// loopOnceOwned is LoopOnce, entered, on a wrapper or with nesting
// allowed: out of line, so that the common case's code stays straight.
func (ev *Context) loopOnceOwned() error {
	l := ev.loop
	if ev.wrap != nil {
		if l.allowNesting {
			l.ownerG.Store(goid())
		}
		return ev.wrappedLoop(l.loopOnce)
	}
	l.nowValid = false // the caller's code ran since the last loop call
	l.ownerG.Store(goid())
	defer l.release()
	return l.loopOnce()
}

// SetWaitTimeout bounds how long one LoopOnce waits for something to
// happen (tevent_context_set_wait_timeout) and returns the previous bound.
// With d 0 the loop polls: LoopOnce handles one thing if one is ready (a
// pending signal, an immediate or proxy call, an expired timer, or an fd
// found ready by a kernel wait that does not block) and otherwise returns
// ErrWouldBlock at once; LoopWait, LoopUntil, LoopContext and Req.Poll
// then return ErrWouldBlock too, as their C counterparts return -1 with
// errno EAGAIN. With d > 0, LoopOnce returns ErrWouldBlock when d passes
// with nothing handled, however soon the next timer is due; LoopWait,
// LoopContext and Req.Poll go on waiting, and LoopUntil checks its
// condition again, every d. A negative d, the default, waits as long as
// needed. ErrNoEvents (nothing left that could ever fire) comes first.
//
// C differs in two ways: its default is 30 seconds, and a positive value
// bounds only waits with no timer pending, after which tevent_loop_once
// returns 0; C's UINT32_MAX (wait forever) is a negative d here.
func (ev *Context) SetWaitTimeout(d time.Duration) time.Duration {
	l := ev.loop
	old := l.waitTimeout
	l.waitTimeout = max(d, -1)
	return old
}

// endOnce ends a LoopOnce entered without the owner recorded.
func (l *loop) endOnce() {
	l.nowValid = false
	l.running.leave()
}

// LoopWait runs the loop until the context has no fd, timer, signal or
// scheduled immediate events and no live thread proxies, or an error
// occurs. It returns nil when the context is freed by a handler, and
// ErrStopped after Stop. Fd events whose flags are 0 (disabled, or
// disabled after an error report) do not count, as in tevent 0.17.2: a
// loop left with only such events returns nil, as when nothing is left.
// (On poll_mt, whose events other goroutines change while the loop waits,
// they do count.) In polling mode (SetWaitTimeout(0)) it returns
// ErrWouldBlock once nothing is ready; with a positive wait timeout it
// goes on waiting, turn after turn, as tevent_loop_wait does.
func (ev *Context) LoopWait() error {
	return ev.enterLoop(true, nil, nil)
}

// LoopUntil runs the loop until finished returns true (checked before each
// turn), the context is freed, or an error occurs. It returns ErrNoEvents
// if nothing is left that could make finished true, and ErrStopped after
// Stop. With a positive wait timeout (SetWaitTimeout) finished is checked
// again after every wait that timed out, so a condition that becomes true
// without an event (set by another goroutine) is seen within that time; in
// polling mode it returns ErrWouldBlock once nothing is ready.
func (ev *Context) LoopUntil(finished func() bool) error {
	return ev.enterLoop(true, finished, nil)
}

// enterLoop runs LoopWait (finished nil) or LoopUntil; done is
// LoopContext's ctx.Done(), checked every turn.
func (ev *Context) enterLoop(wait bool, finished func() bool, done <-chan struct{}) error {
	l := ev.loop
	if ev.freed {
		return ErrFreed
	}
	if !l.running.enter() {
		return ev.nested(wait, finished)
	}
	l.ownerG.Store(goid())
	l.ctxDone = done // cleared by release
	if ev.wrap != nil {
		return ev.wrappedLoop(func() error { return l.run(finished) })
	}
	l.nowValid = false
	defer l.release()
	return l.run(finished)
}

// release ends a loop call entered with the owner recorded.
func (l *loop) release() {
	l.nowValid = false
	l.ctxDone = nil
	l.ownerG.Store(0)
	l.running.leave()
}

// run is LoopWait (finished nil) or LoopUntil.
func (l *loop) run(finished func() bool) error {
	if finished == nil {
		return l.loopWait()
	}
	return l.loopUntil(finished)
}

func (l *loop) loopWait() error {
	for !l.freed {
		if !l.hasEvents() {
			if l.nFDEvents > 0 && l.log != nil {
				l.debugf(levelWarning, "tevent: LoopWait out of events: only fd events with flags 0 are left", "fd_events", l.nFDEvents)
			}
			return nil
		}
		if err := l.loopOnce(); err != nil {
			if err == ErrNoEvents {
				// hasEvents counted calls queued for a proxy freed
				// since: they were dropped. Look again.
				continue
			}
			if err == ErrWouldBlock && l.waitTimeout > 0 {
				continue // a tick of the wait timeout: wait on
			}
			return err
		}
	}
	return nil
}

func (l *loop) loopUntil(finished func() bool) error {
	for !l.freed && !finished() {
		if err := l.loopOnce(); err != nil {
			if err == ErrWouldBlock && l.waitTimeout > 0 {
				continue // a tick: look at finished again
			}
			return err
		}
	}
	return nil
}

// nested handles a loop call made while the loop is already running:
// from one of the context's handlers (nesting) or from another goroutine
// (misuse). Nothing of the loop or a wrapper is touched before the call
// is known to come from the loop's own goroutine.
func (ev *Context) nested(wait bool, finished func() bool) error {
	l := ev.loop
	owner := l.ownerG.Load()
	if owner != 0 && owner != goid() {
		return fmt.Errorf("%w: a loop function was called while goroutine %d is running this context's loop; drive each context from one goroutine and use a ThreadProxy to reach it from others", ErrConcurrentUse, owner)
	}
	if l.inWait.Load() {
		// The loop's goroutine is blocked in the kernel wait: this call
		// comes from another one.
		return fmt.Errorf("%w: a loop function was called while another goroutine waits in this context's loop; drive each context from one goroutine and use a ThreadProxy to reach it from others", ErrConcurrentUse)
	}
	if !l.allowNesting {
		l.debugf(levelFatal, "tevent: loop function nested without AllowNesting")
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
	if ev.wrap != nil {
		if !ev.PushUse() {
			return errUseRefused(ev)
		}
		defer func() {
			if !ev.freed {
				ev.PopUse()
			}
		}()
	}
	l.depth++
	l.nowValid = false
	if l.nestingHook != nil {
		l.nestingHook(ev, true)
	}
	var err error
	switch {
	case finished != nil:
		err = l.loopUntil(finished)
	case wait:
		err = l.loopWait()
	default:
		err = l.loopOnce()
	}
	l.nowValid = false // the outer handler resumes later
	if l.nestingHook != nil && !l.freed {
		l.nestingHook(ev, false)
	}
	l.depth--
	return err
}

// hasEvents reports whether anything is left that LoopWait waits for.
func (l *loop) hasEvents() bool {
	return l.immHead != nil || l.timers.live > 0 || l.nFDActive > 0 || len(l.reports) > 0 ||
		(l.sig != nil && l.sig.n > 0) || l.proxies.Load() > 0 ||
		l.inbox.sent.Load() != l.consumed ||
		(l.sharedChanges && l.nFDEvents > 0) || l.stopReq.Load() || l.freeReq.Load() || l.ctxStop.Load()
}

func (l *loop) loopOnce() error {
	if !l.hooked {
		return l.runOne()
	}
	if l.trace != nil {
		l.trace(TraceBeforeLoopOnce)
		if l.freed {
			return nil
		}
	}
	err := l.runOne()
	if !l.freed && l.trace != nil {
		l.trace(TraceAfterLoopOnce)
	}
	if !l.freed && l.flow != nil {
		// A new event, and its requests, start at depth 0 (C does this
		// after each tevent_loop_once).
		l.flow(FlowReset, nil, 0)
	}
	return err
}

// runOne handles exactly one thing, waiting as long as needed (or as the
// wait timeout allows).
func (l *loop) runOne() error {
	deadline := int64(-1) // when the wait timeout runs out, once computed
	for {
		if l.freeReq.Load() {
			l.main.Free()
			return nil
		}
		if l.stopReq.Load() && l.stopReq.Swap(false) {
			return ErrStopped
		}
		if l.ctxStop.Load() {
			return errContextDone
		}
		if l.ctxDone != nil {
			// LoopContext: its context may have been cancelled by the
			// handler that just ran; context.AfterFunc, which sets
			// ctxStop and wakes the wait, runs on a goroutine of its own
			// and may come later.
			select {
			case <-l.ctxDone:
				return errContextDone
			default:
			}
		}
		if l.sigPending.Load() {
			l.sigPending.Store(false)
			if l.runSignals() {
				return nil
			}
		}
		if sent := l.inbox.sent.Load(); sent != l.assigned {
			// Calls from other goroutines join the tail of the immediate
			// queue, behind the immediates already queued.
			l.activateCalls(sent)
		}
		if l.headCalls > 0 {
			if l.runHeadCall() {
				return nil
			}
			continue // a free, or a dropped call: look again
		}
		if im := l.immHead; im != nil {
			if im.calls == 0 {
				l.runImmediate()
				return nil
			}
			if l.runSegment(im) {
				return nil
			}
			continue
		}
		if l.timers.live > 0 && l.runTimer() {
			return nil
		}
		if (l.readyPos < l.readyN || len(l.reports) > 0) && l.dispatchFD() {
			return nil
		}
		if l.freed {
			return nil
		}
		if !l.hasEvents() {
			return ErrNoEvents
		}
		limit := time.Duration(-1)
		if l.waitTimeout >= 0 {
			now := monoNow()
			if deadline < 0 {
				deadline = now + int64(l.waitTimeout)
			} else if now >= deadline {
				return ErrWouldBlock
			}
			limit = time.Duration(deadline - now)
		}
		if err := l.wait(limit); err != nil {
			return err
		}
		if l.freed {
			return nil
		}
	}
}

// wait applies pending fd changes and waits in the kernel until an fd is
// ready, the next timer is due, limit passes (unless it is negative), or
// another goroutine wakes the loop.
func (l *loop) wait(limit time.Duration) error {
	// A new turn: readiness reported from here on is for registrations
	// made before this point.
	l.waits++
	if len(l.dirty) > 0 {
		l.applyFDChanges()
		if len(l.reports) > 0 {
			// The kernel refused an fd: report that before waiting.
			return nil
		}
	}
	timeout := time.Duration(-1)
	if top := l.timers.peek(); top != nil {
		l.now, l.nowValid = monoNow(), true
		timeout = time.Duration(max(top.when-l.now, 0))
	}
	if limit >= 0 && (timeout < 0 || timeout > limit) {
		timeout = limit
	}
	if l.auditClosed && l.poller.Registered() > 0 {
		timeout = l.auditTimeout(timeout)
	}
	l.poller.BeginWait()
	if l.inbox.sent.Load() != l.assigned || l.sigPending.Load() || l.stopReq.Load() || l.freeReq.Load() || l.ctxStop.Load() {
		timeout = 0
	}
	if l.trace != nil {
		due := l.nextDue()
		l.trace(TraceBeforeWait)
		if l.freed {
			return nil
		}
		if timeout != 0 && !l.sharedChanges && l.changedBeforeWait(due) {
			// The callback changed what the wait was computed for: an
			// event added, freed or scheduled, the next timer moved, a
			// last event source gone. Do not block on stale facts: poll,
			// and look again on the next turn. (On poll_mt the callback
			// has handed the loop's state to other goroutines, which wake
			// the wait themselves.)
			timeout = 0
		}
	}
	l.inWait.Store(true)
	n, err := l.poller.Wait(l.ready, timeout)
	l.inWait.Store(false)
	if l.trace != nil && !l.freed {
		l.trace(TraceAfterWait)
	}
	l.nowValid = false // the clock moved while we waited
	if l.freed {
		return nil
	}
	l.readyN, l.readyPos = n, 0
	if n > 1 {
		l.warmReady(n)
	}
	if err != nil {
		l.debugf(levelFatal, "tevent: kernel wait failed", "backend", l.backend, "error", err)
		return fmt.Errorf("tevent: %s wait: %w", l.backend, err)
	}
	if n == 0 && l.auditClosed && l.auditAt != 0 && monoNow() >= l.auditAt {
		l.audit()
	}
	return nil
}

// nextDue is when the next timer is due, or -1 when none is armed.
func (l *loop) nextDue() int64 {
	if top := l.timers.peek(); top != nil {
		return top.when
	}
	return -1
}

// changedBeforeWait reports whether the TraceBeforeWait callback changed
// something the coming wait depends on; due is nextDue from before it.
func (l *loop) changedBeforeWait(due int64) bool {
	return l.immHead != nil || len(l.dirty) > 0 || len(l.reports) > 0 ||
		l.nextDue() != due || !l.hasEvents()
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

// Stop makes the loop function running on the context (or, if none is,
// the next one called) return ErrStopped, once, after the handler now
// running returns. It is safe from any goroutine and from handlers.
// Nothing is freed or lost: everything registered stays, and calling a
// loop function again goes on where the loop stopped.
func (ev *Context) Stop() {
	l := ev.loop
	l.stopReq.Store(true)
	l.wake()
}

// errContextDone ends a loop call made by LoopContext when its context is
// done; LoopContext returns the context's cause instead.
var errContextDone = errors.New("tevent: loop context done")

// LoopContext runs the loop as LoopWait does until ctx is done, and then
// returns context.Cause(ctx) (context.Canceled or
// context.DeadlineExceeded unless a cause was given), after the handler
// running at that moment returns. Nothing is freed or lost: what is
// registered stays registered, as after Stop, and a later loop call goes
// on from there (or Free the context). Like LoopWait it returns nil when
// nothing is left to wait for, and ErrStopped after Stop. A context that
// is already done returns at once, without a loop turn.
func (ev *Context) LoopContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if ctx.Done() == nil {
		return ev.LoopWait()
	}
	l := ev.loop
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		l.ctxStop.Store(true)
		l.wake()
		close(fired)
	})
	err := ev.enterLoop(true, nil, ctx.Done())
	if !stop() {
		<-fired
		l.ctxStop.Store(false)
	}
	if err == errContextDone {
		return context.Cause(ctx)
	}
	return err
}

// wake wakes the loop if it waits. Safe from any goroutine.
func (l *loop) wake() {
	in := &l.inbox
	in.mu.Lock()
	if !in.closed {
		in.poller.Wake()
	}
	in.mu.Unlock()
}
