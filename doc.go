// Package tevent is Samba's tevent event library rebuilt for Go: a
// single-goroutine event loop with fd, timer, signal and immediate events,
// an ownership tree for lifetimes, thread proxies to pass work between
// loops, and async requests and queues built on top.
//
// # Contexts and goroutines
//
// A Context owns events. Its loop functions (LoopOnce, LoopWait,
// LoopUntil, LoopContext) wait for events and call their handlers on the
// goroutine that runs the loop, one handler at a time, so the state
// handlers share needs no locks. A context is driven by one goroutine at
// a time: run one context per goroutine, and reach a context from other
// goroutines only through a ThreadProxy, whose Schedule is safe from
// anywhere and runs the call on the target's loop. Calling a loop
// function from inside a handler is ErrNesting unless AllowNesting was
// called.
//
// To end a loop, from anywhere: Stop makes the running loop call (or the
// next one) return ErrStopped; LoopContext returns when its
// context.Context is done. Both leave everything registered, so a later
// loop call goes on where the loop stopped. A panic in a handler, or in a
// function run with Go (re-raised on the loop as a *PanicError), unwinds
// through the loop call; a caller that recovers it can go on using the
// context.
//
// # Goroutine rules: what is caught, what is handed over
//
// Safe from any goroutine: ThreadProxy.Schedule, ThreadProxy.Free (a
// loop whose last event source it was returns from LoopWait), Stop, and
// the context.Context given to LoopContext.
//
// Caught, at the cost of one atomic load, while the loop's goroutine is
// blocked in the kernel wait (a goroutine waiting in a loop call of that
// context's):
//
//   - a loop function called from a second goroutine: ErrConcurrentUse
//     (also while the loop runs handlers, through a wrapper too, before
//     any of the wrapper's hooks run);
//   - AddFD, AddSignal, NewThreadProxy: ErrConcurrentUse;
//   - AddTimer and Immediate.Schedule, which cannot return an error:
//     a panic whose message carries ErrConcurrentUse's text;
//   - Free of an fd, timer, immediate, signal, scope or wrapper: handed
//     over to the loop, which frees it on its next turn (and logs the
//     misuse);
//   - Context.Free: handed over too, and also while LoopWait, LoopUntil or
//     LoopContext runs handlers; the loop call then returns nil.
//
// Not caught: any other call from another goroutine (SetFlags, Update,
// NewScope, NewImmediate, NewWrapper, Go, NewReq and the like), and any
// call at all from another goroutine while the loop runs handlers or
// between loop calls, apart from the loop functions and Context.Free
// above. These are data races, which go test -race reports; checking them
// would cost every call on the loop's own goroutine. On poll_mt, whose
// pattern is to change events from other goroutines under a lock the
// trace callback releases around the kernel wait, none of this applies
// (creations and frees under that lock are allowed) except Context.Free,
// which is handed over to the loop there too.
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
//  2. else one immediate (calls that arrived through a proxy join the
//     tail of the immediate queue at the start of a turn, and run one per
//     turn like immediates);
//  3. else one expired timer;
//  4. else one ready fd event, after waiting in the kernel at most until
//     the next timer is due (or until the wait timeout set with
//     SetWaitTimeout runs out: then ErrWouldBlock; 0 is polling mode).
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
// A descriptor the kernel refuses (a regular file on epoll) or one closed
// while its events are registered is reported once to each of its events
// as an error (FDRead or FDError, or FDWrite to a write-only event), and
// the events are disabled: their Flags become 0. poll finds a closed
// descriptor at once (POLLNVAL); epoll forgets it silently, so the loop
// audits its registrations when it has been idle for a second, then less
// and less often. Disabled fd events (flags 0) are not pending work, as in
// tevent 0.17.2: a loop left with only such events makes LoopOnce and
// LoopUntil return ErrNoEvents instead of waiting forever, and LoopWait
// return nil, as when nothing is left.
//
// # Sockets from Go's net package
//
// A net.Conn is driven by the Go runtime's own poller. To drive it with
// the loop instead, give the loop a descriptor of its own: duplicate the
// connection's descriptor inside (*net.TCPConn).SyscallConn()'s Control
// (unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)), then close the net.Conn;
// the duplicate shares the open file, already non-blocking. Or call File,
// which returns a duplicate in an *os.File: take its Fd, call
// unix.SetNonblock(fd, true) on it (Fd makes it blocking) and keep the
// *os.File alive, or duplicate it again and close the *os.File. Add the
// descriptor with AddFD and SetAutoClose; see the AddFD (netConn)
// example.
//
// # Backends
//
// Backends lists them, default first: "epoll" on Linux, "poll" (portable),
// "poll_mt" (poll whose wait is woken when another goroutine changes fd
// events, for code that shares a context under a lock released by the
// trace callback around the wait), "standard" (epoll that falls back to
// poll for good if epoll fails) and, on Linux, "io_uring": the epoll set
// waited on through an io_uring (IORING_OP_EPOLL_WAIT, Linux 6.15), with a
// turn's fd changes submitted in the same system call as the wait. Where
// the kernel or a sandbox gives no usable io_uring, "io_uring" runs on
// epoll instead and logs why (at warning level, through WithLogger) when
// the context is made; Backend then reports "epoll". A loop with no descriptor to watch parks
// its goroutine on a channel instead of making a system call, so waking
// it from another goroutine is cheap. With descriptors, the epoll
// backends block an OS thread in epoll_wait, as C tevent does, unless
// WithRuntimePoller hands the epoll descriptor to the Go runtime's
// poller.
//
// # Errors
//
// Errors wrap the sentinels ErrFreed, ErrNesting, ErrConcurrentUse,
// ErrUnknownBackend, ErrBadFD, ErrSignal, ErrProxyFreed, ErrTimeout,
// ErrCancelled, ErrWrongContext, ErrNoEvents, ErrStopped, ErrUseRefused,
// ErrNotFinished, ErrWouldBlock and ErrQueueState; match them with
// errors.Is. A panic in a Go function
// reaches the loop as a *PanicError (errors.As). A nil handler is a
// programming error and panics when it is registered, never later inside
// the loop.
package tevent
