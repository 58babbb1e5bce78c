package tevent

import (
	"fmt"

	"github.com/gotevent/tevent/internal/poller"
	"sync"
	"sync/atomic"
)

// ThreadProxy lets any goroutine schedule calls onto a context's loop
// (tevent_thread_proxy / tevent_threaded_context). Calls run on the loop's
// goroutine as immediates, one per LoopOnce, in the order each sending
// goroutine made them. As tevent_threaded_schedule_immediate's do, they
// join the tail of the immediate queue at the start of a loop turn,
// behind the immediates already queued; an immediate a call schedules
// runs after the calls that arrived with it. So a chain of immediates
// that reschedule themselves cannot starve the calls. A live proxy is an
// event source: it keeps LoopWait running.
//
// Tevent's "ownership hand-over" of the data a call works on is, with Go
// closures, this: fn captures variables, not values. Whatever fn reads or
// writes belongs to the loop's goroutine from the moment Schedule is
// called; the sending goroutine must not touch it again (copy values into
// local variables before Schedule if it still needs them), or the two
// goroutines race.
type ThreadProxy struct {
	link  ownLink
	ctx   *Context
	freed atomic.Bool
}

// proxyCall is one entry of the inbox: a call of a proxy, or (fn nil) the
// loop's own work handed over by another goroutine: freeing item.
type proxyCall struct {
	tp   *ThreadProxy
	fn   func(ev *Context)
	item owned
}

// proxyInbox is the multi-producer queue between other goroutines and the
// loop. The loop holds mu only to swap the slice out, never while running
// handlers.
type proxyInbox struct {
	mu     sync.Mutex
	calls  []proxyCall
	closed bool
	poller *poller.Poller // the loop's, here so producers read no loop line
	_      [cacheLinePad]byte
	// sent counts the entries ever appended to calls (written under mu,
	// readable without it): the loop compares it with its own counts at
	// the start of every turn. On a line of its own, so that the loop's
	// read does not take the line of mu and calls from the producers.
	sent atomic.Uint64
}

// NewThreadProxy creates a proxy owned by the context. It fails with
// ErrFreed on a freed context, and with ErrConcurrentUse when called from
// another goroutine while the context's loop waits: create proxies on the
// goroutine that drives the context, before handing them to others.
func (ev *Context) NewThreadProxy() (*ThreadProxy, error) {
	l := ev.loop
	if ev.freed || l.freed {
		return nil, ev.Scope.freedError("NewThreadProxy")
	}
	if err := l.foreign("NewThreadProxy"); err != nil {
		return nil, err
	}
	return l.newProxy(ev), nil
}

func (l *loop) newProxy(ev *Context) *ThreadProxy {
	tp := &ThreadProxy{ctx: ev}
	l.proxies.Add(1)
	ev.Scope.adopt(&tp.link, tp)
	return tp
}

// Schedule queues fn to run on the proxy's context loop. It is safe from
// any goroutine, never blocks on the target loop, and never loses a call
// while the proxy lives. After the proxy or its context is freed it
// returns ErrProxyFreed. Calls queued but not yet run when the proxy is
// freed are dropped. A burst of calls between two loop turns costs at most
// one wake-up. A nil fn panics.
func (tp *ThreadProxy) Schedule(fn func(ev *Context)) error {
	if fn == nil {
		panic("tevent: ThreadProxy.Schedule called with a nil function")
	}
	l := tp.ctx.loop
	in := &l.inbox
	in.mu.Lock()
	if in.closed || tp.freed.Load() {
		in.mu.Unlock()
		return ErrProxyFreed
	}
	in.calls = append(in.calls, proxyCall{tp: tp, fn: fn})
	in.sent.Store(in.sent.Load() + 1)
	in.poller.Wake()
	in.mu.Unlock()
	return nil
}

// Free frees the proxy: later Schedule calls return ErrProxyFreed and
// calls not yet run are dropped. It may be called from any goroutine,
// including while the loop waits: a loop whose last event source was the
// proxy then returns from LoopWait.
func (tp *ThreadProxy) Free() {
	l := tp.ctx.loop
	in := &l.inbox
	in.mu.Lock()
	if tp.freed.Swap(true) {
		in.mu.Unlock()
		return
	}
	l.proxies.Add(-1)
	if !in.closed {
		// Unlinking it from its scope is the loop's work: hand it over.
		in.calls = append(in.calls, proxyCall{item: tp})
		in.sent.Store(in.sent.Load() + 1)
		in.poller.Wake()
	}
	in.mu.Unlock()
}

// freeOwned is called when the proxy's scope is freed, on the loop.
func (tp *ThreadProxy) freeOwned() {
	l := tp.ctx.loop
	l.inbox.mu.Lock()
	if !tp.freed.Swap(true) {
		l.proxies.Add(-1)
	}
	l.inbox.mu.Unlock()
}

// Freed reports whether the proxy has been freed.
func (tp *ThreadProxy) Freed() bool { return tp.freed.Load() }

// handOver hands the free of item to the loop when it is called from
// another goroutine while the loop waits in the kernel (a misuse that
// would otherwise race with the loop): the loop frees item on its next
// turn, and the misuse is logged. It reports whether it handed over.
func (l *loop) handOver(item owned) bool {
	if !l.inWait.Load() || l.sharedChanges {
		return false
	}
	l.handOverNow(item)
	return true
}

// handOverNow queues the free of item for the loop and wakes it.
func (l *loop) handOverNow(item owned) {
	in := &l.inbox
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.calls = append(in.calls, proxyCall{item: item})
	in.sent.Store(in.sent.Load() + 1)
	in.poller.Wake()
	in.mu.Unlock()
	if l.log != nil {
		l.debugf(levelWarning, "tevent: Free called from another goroutine while the loop runs; handed over to the loop", "item", fmt.Sprintf("%T", item))
	}
}

// foreign reports a call that may only be made on the loop's goroutine,
// made while that goroutine is blocked in the kernel wait.
func (l *loop) foreign(what string) error {
	if l.inWait.Load() && !l.sharedChanges {
		return fmt.Errorf("%w: %s called from another goroutine while the loop waits in it; call it on the goroutine that drives the context, or reach that goroutine through a ThreadProxy", ErrConcurrentUse, what)
	}
	return nil
}

// mustBeLoopGoroutine is foreign for calls that cannot return an error.
func (l *loop) mustBeLoopGoroutine(what string) {
	if err := l.foreign(what); err != nil {
		panic(err.Error())
	}
}

// activateCalls puts the calls sent since the last loop turn started at
// the tail of the immediate queue, behind the immediates already there
// (C's tevent_common_threaded_activate_immediate, at the start of a loop
// turn). Only the count moves: the calls stay in the inbox until they are
// needed, and are then taken a whole batch at a time (takeCalls). On an
// empty immediate queue they go to headCalls, the calls ahead of every
// immediate; else the segment node at the tail (a new one if the tail is
// an immediate) stands for that many more calls.
func (l *loop) activateCalls(sent uint64) {
	n := int32(sent - l.assigned)
	l.assigned = sent
	t := l.immTail
	if t == nil {
		l.headCalls += n
		return
	}
	if t.calls > 0 {
		t.calls += n
		return
	}
	seg := l.segFree
	if seg != nil {
		l.segFree = seg.next
		seg.next = nil
	} else {
		seg = &Immediate{l: l}
	}
	seg.calls = n
	seg.scheduled = true
	seg.prev = t
	t.next = seg
	l.immTail = seg
}

// runHeadCall runs the next of the calls ahead of the immediate queue. It
// reports whether a call ran (or the loop was freed): frees handed over
// by other goroutines and calls of freed proxies do not count.
func (l *loop) runHeadCall() bool {
	l.headCalls--
	return l.runCall()
}

// runSegment runs the next call of seg, the segment at the head of the
// immediate queue, as runHeadCall does.
func (l *loop) runSegment(seg *Immediate) bool {
	if seg.calls--; seg.calls == 0 {
		// Unlinked before the call runs: an immediate it schedules
		// goes behind the calls still queued.
		l.unlinkImmediate(seg)
		seg.next = l.segFree
		l.segFree = seg
	}
	return l.runCall()
}

// runCall runs the next call taken from the inbox, one per loop turn as
// C runs one threaded immediate; see runHeadCall.
func (l *loop) runCall() bool {
	if l.localPos == len(l.local) {
		// Take the inbox's calls: the next one is among them.
		in := &l.inbox
		old := l.local[:0]
		in.mu.Lock()
		l.local = in.calls
		in.calls = old
		in.mu.Unlock()
		l.localPos = 0
	}
	i := l.localPos
	c := l.local[i]
	l.local[i] = proxyCall{}
	l.localPos = i + 1
	l.consumed++
	if c.fn == nil {
		l.freeHandedOver(c.item)
		return l.freed
	}
	if c.tp.freed.Load() {
		return false
	}
	c.fn(c.tp.ctx)
	return true
}

// freeHandedOver frees item on the loop: a handle another goroutine freed.
func (l *loop) freeHandedOver(item owned) {
	if tp, ok := item.(*ThreadProxy); ok {
		disown(&tp.link) // already marked freed by Free
		return
	}
	item.(interface{ Free() }).Free() // an event, a scope or a wrapper
}
