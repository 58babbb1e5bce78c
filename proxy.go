package tevent

import (
	"sync"
	"sync/atomic"
)

// ThreadProxy lets any goroutine schedule calls onto a context's loop
// (tevent_thread_proxy / tevent_threaded_context). Calls run on the loop's
// goroutine as immediate-priority work, one per LoopOnce, in the order each
// sending goroutine made them. A live proxy is an event source: it keeps
// LoopWait running.
type ThreadProxy struct {
	link  ownLink
	ev    *Context
	freed atomic.Bool
}

type proxyCall struct {
	tp *ThreadProxy
	fn func(ev *Context)
}

// proxyInbox is the multi-producer queue between Schedule and the loop.
// The loop holds mu only to swap the slice out, never while running
// handlers.
type proxyInbox struct {
	mu     sync.Mutex
	calls  []proxyCall
	closed bool
	queued atomic.Int32 // len(calls), readable without mu
}

// NewThreadProxy creates a proxy owned by the context. It fails with
// ErrFreed on a freed context.
func (ev *Context) NewThreadProxy() (*ThreadProxy, error) {
	m := ev.mainContext()
	if ev.freed || m.freed {
		return nil, ErrFreed
	}
	tp := &ThreadProxy{ev: m}
	m.proxies.Add(1)
	ev.Scope.adopt(&tp.link, tp)
	return tp, nil
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
	ev := tp.ev
	in := &ev.inbox
	in.mu.Lock()
	if in.closed || tp.freed.Load() {
		in.mu.Unlock()
		return ErrProxyFreed
	}
	in.calls = append(in.calls, proxyCall{tp, fn})
	in.queued.Store(int32(len(in.calls)))
	if ev.sleeping.Load() == 1 && ev.sleeping.CompareAndSwap(1, 0) {
		ev.poller.Wake()
	}
	in.mu.Unlock()
	return nil
}

// notify wakes the loop if it is waiting in the kernel. Safe from any
// goroutine.
func (ev *Context) notify() {
	if ev.sleeping.Load() == 1 && ev.sleeping.CompareAndSwap(1, 0) {
		ev.inbox.mu.Lock()
		if !ev.inbox.closed {
			ev.poller.Wake()
		}
		ev.inbox.mu.Unlock()
	}
}

// Free frees the proxy: later Schedule calls return ErrProxyFreed and
// calls not yet run are dropped. Call it on the loop's goroutine (or let
// the context's Free do it); Schedule may race with it from anywhere.
func (tp *ThreadProxy) Free() {
	if tp.freed.Load() {
		return
	}
	disown(&tp.link)
	tp.freeOwned()
}

func (tp *ThreadProxy) freeOwned() {
	ev := tp.ev
	ev.inbox.mu.Lock()
	if !tp.freed.Swap(true) {
		ev.proxies.Add(-1)
	}
	ev.inbox.mu.Unlock()
}

// Freed reports whether the proxy has been freed.
func (tp *ThreadProxy) Freed() bool { return tp.freed.Load() }

// runProxyCall runs one queued call, taking a new batch from the inbox
// when the local one is used up. It reports whether a call ran.
func (ev *Context) runProxyCall() bool {
	for {
		if ev.localPos >= len(ev.local) {
			if ev.inbox.queued.Load() == 0 {
				return false
			}
			in := &ev.inbox
			old := ev.local
			clear(old)
			in.mu.Lock()
			ev.local = in.calls
			in.calls = old[:0]
			in.queued.Store(0)
			in.mu.Unlock()
			ev.localPos = 0
			continue
		}
		c := ev.local[ev.localPos]
		ev.local[ev.localPos] = proxyCall{}
		ev.localPos++
		if c.tp.freed.Load() {
			continue
		}
		c.fn(ev)
		return true
	}
}
