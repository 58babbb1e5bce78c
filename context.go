package tevent

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/backends"
)

// Context is an event context: it owns fd, timer, signal and immediate
// events and thread proxies, and its loop functions call their handlers on
// the goroutine that runs the loop. A Context is driven by one goroutine at
// a time; only ThreadProxy.Schedule, ThreadProxy.Free and Stop may be
// called from other goroutines (see the package documentation for what is
// caught and what is handed over to the loop).
//
// Context embeds its root Scope: events added with ev.AddTimer and the like
// are owned by the context itself.
//
// A main context (from New) and its wrappers (NewWrapper) share one loop:
// the Context is a small view of it, and every handle reaches the loop
// through the context it was created on.
type Context struct {
	Scope

	loop  *loop    // shared by the main context and its wrappers
	wrap  *wrapper // set on a wrapper context only
	freed bool
}

// Option configures New.
type Option func(*config)

type config struct {
	backend       string
	log           *slog.Logger
	strict        bool
	poolSize      int
	runtimePoller bool
}

// WithBackend selects the backend by name: one of Backends().
func WithBackend(name string) Option { return func(c *config) { c.backend = name } }

// WithLogger sends the context's debug output to l (tevent_set_debug).
// Without it the context is silent.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithOneEventPerWait makes every kernel wait harvest at most one ready fd,
// as C tevent does. Use it for code that reads blocking descriptors, where
// readiness harvested earlier could have gone stale by the time its turn
// comes. By default many ready fds are harvested per wait and each is
// re-checked before its handler runs, which is correct for non-blocking
// descriptors.
func WithOneEventPerWait() Option { return func(c *config) { c.strict = true } }

// WithPoolSize sets how many goroutines run blocking work started with Go
// (default: runtime.GOMAXPROCS(0)). A size of zero or less means the
// default.
func WithPoolSize(n int) Option { return func(c *config) { c.poolSize = n } }

// WithRuntimePoller makes the epoll backends hand the epoll descriptor to
// the Go runtime's network poller: a loop waiting for fds parks its
// goroutine instead of blocking an OS thread in epoll_wait, and a wake-up
// from another goroutine costs no system call. It suits many mostly idle
// loops. The price is paid while busy: every new readiness on the loop's
// fds also wakes the runtime's poller thread, so fd throughput is lower
// than with the default, which blocks in epoll_wait as C tevent does. A
// loop with no fds to watch parks its goroutine either way. The io_uring
// backend always blocks a thread in io_uring_enter (its epoll fallback
// honours the option).
func WithRuntimePoller() Option { return func(c *config) { c.runtimePoller = true } }

var defaultBackend struct {
	sync.Mutex
	name string
}

// Backends lists the available backends, the default first
// (tevent_backend_list).
func Backends() []string {
	defaultBackend.Lock()
	def := defaultBackend.name
	defaultBackend.Unlock()
	names := backends.Names()
	if def == "" {
		return names
	}
	out := []string{def}
	for _, n := range names {
		if n != def {
			out = append(out, n)
		}
	}
	return out
}

// SetDefaultBackend sets the backend New uses without WithBackend
// (tevent_set_default_backend).
func SetDefaultBackend(name string) error {
	if !backends.Known(name) {
		return fmt.Errorf("%w: %q (have %v)", ErrUnknownBackend, name, backends.Names())
	}
	defaultBackend.Lock()
	defaultBackend.name = name
	defaultBackend.Unlock()
	return nil
}

// New creates an event context (tevent_context_init, _byname).
func New(opts ...Option) (*Context, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.backend == "" {
		c.backend = Backends()[0]
	}
	if !backends.Known(c.backend) {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownBackend, c.backend, backends.Names())
	}
	ev := &Context{}
	l := &loop{main: ev, backend: c.backend, log: c.log, poolSize: c.poolSize, auditStart: auditFirst, waitTimeout: -1}
	ev.loop = l
	ev.Scope.init(ev)
	b, err := backends.Open(c.backend, backends.Options{Runtime: c.runtimePoller, OnFallback: l.fellBack, OnUnavailable: l.unavailable})
	if err != nil {
		return nil, fmt.Errorf("tevent: creating %s backend: %w", c.backend, err)
	}
	l.poller = poller.New(b)
	l.inbox.poller = l.poller
	caps := l.poller.Caps()
	l.sharedChanges = caps&poller.CapSharedChanges != 0
	l.regularFiles = caps&poller.CapRegularFiles != 0
	l.auditClosed = caps&poller.CapReportsClosed == 0
	n := 256
	if c.strict {
		n = 1
	}
	l.ready = make([]poller.Event, n)
	if l.poolSize <= 0 {
		l.poolSize = runtime.GOMAXPROCS(0)
	}
	l.debugf(levelTrace, "tevent: context created", "backend", c.backend)
	return ev, nil
}

// fellBack is told by the standard backend that it fell back to poll.
func (l *loop) fellBack(cause, err error) {
	if err != nil {
		l.debugf(levelFatal, "tevent: cannot fall back to poll", "error", err, "cause", cause)
		return
	}
	l.debugf(levelWarning, "tevent: epoll failed, falling back to poll", "error", cause)
}

// unavailable is told that the backend asked for cannot run on this system
// and which one runs in its place: said once, when the context is made.
// From then on the context reports the one in use.
func (l *loop) unavailable(name, instead string, cause error) {
	l.debugf(levelWarning, "tevent: backend unavailable on this system, using another in its place", "backend", name, "instead", instead, "error", cause)
	l.backend = instead
}

// Backend returns the name of the backend in use. A context asked for
// "io_uring" on a system that gives no usable io_uring runs on epoll and
// reports "epoll" (the context's logger was told why). A "standard"
// context keeps reporting "standard" after it fell back to poll: falling
// back is what that backend is.
func (ev *Context) Backend() string { return ev.loop.backend }

// IsFreed reports whether the context has been freed. Freed is the same.
func (ev *Context) IsFreed() bool { return ev.freed }

// Free frees every event, scope, request and proxy the context owns,
// closes auto-close descriptors and the backend's own, and makes later
// calls return ErrFreed. It may be called from inside a handler: the loop
// call running it then returns nil. Freeing a wrapper frees what was
// created through it, never its main context or the loop.
//
// Free must be called on the goroutine that drives the context (or, while
// no loop function runs, by any single goroutine that owns it). To end a
// loop from another goroutine, use Stop or a ThreadProxy call that frees.
func (ev *Context) Free() {
	if ev.freed {
		return
	}
	l := ev.loop
	if l.otherGoroutine() {
		// Another goroutine drives the loop: freeing here would race with
		// it (also on poll_mt, whose events other goroutines may change
		// while it waits: not the poller it waits in). The loop frees the
		// context on its next turn instead.
		if ev.wrap != nil {
			l.handOverNow(ev)
			return
		}
		l.debugf(levelWarning, "tevent: Context.Free called from another goroutine while the loop runs; handed over to the loop")
		l.freeReq.Store(true)
		l.wake()
		return
	}
	if ev.wrap != nil {
		ev.freeWrapper()
		return
	}
	ev.freeMain()
}

// InLoopWait reports whether the goroutine driving the context's loop is
// blocked in the kernel wait: a caller that sees true is not that
// goroutine. It costs one atomic load, so libraries built on a context can
// catch a call made from another goroutine on their hot paths; false
// proves nothing (the loop may be running a handler on its own goroutine
// or another one).
func (ev *Context) InLoopWait() bool { return ev.loop.inWait.Load() }

// offLoop reports whether the caller is known not to be the goroutine
// driving the loop: the loop is blocked in the kernel wait, or its driver
// was recorded and is another goroutine.
func (l *loop) offLoop() bool {
	return !l.sharedChanges && l.otherGoroutine()
}

// otherGoroutine is offLoop on every backend: the caller is known not to
// be the goroutine driving the loop, even where other goroutines may
// change events while the loop waits (poll_mt).
func (l *loop) otherGoroutine() bool {
	if l.inWait.Load() {
		return true
	}
	if l.running.held() {
		if o := l.ownerG.Load(); o != 0 && o != goid() {
			return true
		}
	}
	return false
}

func (ev *Context) freeMain() {
	l := ev.loop
	ev.freed = true
	l.freed = true
	// The context's own timers are its children too, kept only in the
	// heap: they go first, then the other children newest first, then
	// the destructors.
	ev.Scope.freed = true
	l.freeRootTimers()
	ev.Scope.freeTree()
	if l.pool != nil {
		l.pool.close()
	}
	l.inbox.mu.Lock()
	l.inbox.closed = true
	clear(l.inbox.calls)
	l.inbox.calls = nil
	l.inbox.mu.Unlock()
	clear(l.local)
	l.local, l.localPos = nil, 0
	l.immHead, l.immTail, l.headCalls = nil, nil, 0
	l.posts = postQueue{}
	l.timers = timerHeap{}
	l.fdTable, l.dirty = fdTable{}, nil
	l.poller.Close()
	l.dropFlow()
	l.debugf(levelTrace, "tevent: context freed", "backend", l.backend)
}

// AllowNesting permits loop functions to be called from inside the
// context's own handlers (tevent_loop_allow_nesting).
func (ev *Context) AllowNesting() {
	l := ev.loop // a wrapper's loop is its main context's
	l.allowNesting = true
	if l.running.held() && l.ownerG.Load() == 0 {
		// Called from a handler of a running loop: record the driving
		// goroutine now, so the same handler may already nest.
		l.ownerG.Store(goid())
	}
}

// SetNestingHook sets fn to be called with begin=true before and
// begin=false after each nested loop call (tevent_loop_set_nesting_hook).
func (ev *Context) SetNestingHook(fn func(ev *Context, begin bool)) {
	ev.loop.nestingHook = fn
}

// SameLoop reports whether a and b share one loop: the same context, or
// wrappers of the same main context (tevent_context_same_loop).
func SameLoop(a, b *Context) bool {
	if a == nil || b == nil {
		return false
	}
	return a.loop == b.loop
}
