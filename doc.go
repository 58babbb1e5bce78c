// Package tevent is Samba's tevent event library rebuilt for Go: a
// single-goroutine event loop with fd, timer, signal and immediate events,
// an ownership tree for lifetimes, thread proxies to pass work between
// loops, and async requests and queues built on top.
//
// # Contexts and goroutines
//
// A Context owns events. Its loop functions (LoopOnce, LoopWait,
// LoopUntil) wait for events and call their handlers on the goroutine
// that runs the loop, one handler at a time, so the state handlers share
// needs no locks. A context is driven by one goroutine at a time: run one
// context per goroutine, and reach a context from other goroutines only
// through a ThreadProxy, whose Schedule is safe from anywhere and runs the
// call on the target's loop. Calling a loop function from a second
// goroutine while one runs is reported as ErrConcurrentUse or ErrNesting;
// calling one from inside a handler is ErrNesting unless AllowNesting was
// called.
//
// # Ownership
//
// Every event, request, queue and proxy is owned by a Scope: the context
// itself (Context embeds its root Scope) or a child made with NewScope.
// Freeing a scope frees what it owns, newest first, then runs its OnFree
// destructors, last added first; freeing the context frees everything.
// This is the role talloc parents play in C tevent. Every handle has an
// idempotent Free that is allowed inside any handler, including the
// event's own; a freed event never fires again.
//
// # One event per turn, in priority order
//
// LoopOnce handles exactly one thing, in tevent's order of priority:
//
//  1. all pending signals;
//  2. else one immediate (or one call that arrived through a proxy);
//  3. else one expired timer;
//  4. else one ready fd event, after waiting in the kernel at most until
//     the next timer is due.
//
// Many ready fds are harvested per kernel wait; each is re-checked before
// its handler runs (a freed or re-flagged event does not fire), ready fds
// take turns, and several events on one fd take turns too. Descriptors
// should be non-blocking; WithOneEventPerWait gives C tevent's strict one
// fd per wait for code that reads blocking descriptors.
//
// Fd changes reach the kernel lazily, once per loop turn, as libev does.
// Timers live in a 4-ary heap on the monotonic clock; equal deadlines fire
// in the order added. Context.Now is the loop's cached clock, read once
// per loop turn: ev.AddTimer(ev.Now().Add(d), h) sets a relative deadline
// without a clock read. Signals arrive through os/signal and are fanned out
// to every context with an event for them.
//
// # Backends
//
// Backends lists them, default first: "epoll" on Linux, "poll" (portable),
// "poll_mt" (poll whose wait is woken when another goroutine changes fd
// events, for code that shares a context under a lock released by the
// trace callback around the wait) and "standard" (epoll that falls back to
// poll for good if epoll fails). With epoll a loop that has nothing to do
// parks its goroutine in the Go runtime's poller instead of blocking an OS
// thread, so waking it from another goroutine is cheap.
//
// # Errors
//
// Errors wrap the sentinels ErrFreed, ErrNesting, ErrUnknownBackend,
// ErrBadFD, ErrSignal, ErrProxyFreed, ErrTimeout and ErrCancelled (plus
// ErrConcurrentUse, ErrWrongContext and ErrNoEvents); match them with
// errors.Is. A nil handler is a programming error and panics when it is
// registered, never later inside the loop.
package tevent
