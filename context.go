package tevent

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gotevent/tevent/internal/poller"
)

// Context is an event context: it owns fd, timer, signal and immediate
// events and thread proxies, and its loop functions call their handlers on
// the goroutine that runs the loop. A Context is driven by one goroutine at
// a time; only ThreadProxy.Schedule may be called from other goroutines.
//
// Context embeds its root Scope: events added with ev.AddTimer and the like
// are owned by the context itself.
type Context struct {
	Scope

	backend  string
	poller   poller.Poller
	log      *slog.Logger
	freed    bool
	pollMT   bool // poll_mt: fd changes from another goroutine wake the wait
	standard bool // epoll that falls back to poll

	// loop driving
	running      int32        // 1 while a loop function runs: set by CAS, cleared by idle
	ownerG       atomic.Int64 // goroutine id of the driver, when recorded
	depth        int
	allowNesting bool
	nestingHook  func(ev *Context, begin bool)
	trace        func(TracePoint)

	// immediates, FIFO
	immHead, immTail *Immediate

	// timers
	timers timerHeap
	// The loop's clock (monotonic ns since clockBase), read lazily: it is
	// invalid at the start and end of every loop call and after every
	// kernel wait. Timer handlers' now and Context.Now come from it.
	now      int64
	nowValid bool

	// fd events
	fdTable    []*fdState
	nFDEvents  int
	dirty      []*fdState
	dirtySpare []*fdState
	stateSlab  []fdState // where new fdStates come from
	warmSink   FDFlags   // keeps warmReady's loads from being optimised away
	ready      []poller.Event
	readyN     int
	readyPos   int
	refused    []poller.Event // fds the kernel refused, reported once as errors
	waits      uint64         // kernel waits so far

	// signals
	sigPending atomic.Bool
	sig        *ctxSignals

	// thread proxies and wake-ups
	proxies  atomic.Int32 // live proxies
	local    []proxyCall  // calls taken from the inbox, run one per turn
	localPos int

	// What other goroutines write (ThreadProxy.Schedule, wake-ups) sits on
	// cache lines of its own: producers hammering the inbox's mutex and
	// counter would otherwise keep stealing the lines of fields the loop
	// reads every turn (false sharing).
	_        [cacheLinePad]byte
	inbox    proxyInbox
	sleeping atomic.Int32
	_        [cacheLinePad]byte

	// wrappers (wrapper.go): set on a wrapper context only
	main  *Context
	hooks *WrapperHooks
	uses  int

	// per-event trace callbacks (eventtrace.go); nil when none is set
	tracers *eventTracers

	// blocking work pool (gopool.go)
	poolSize int
	pool     *workPool
}

// cacheLinePad separates data written by different goroutines: two
// 64-byte lines, as processors may fetch lines in adjacent pairs.
const cacheLinePad = 128

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
// (default: runtime.GOMAXPROCS(0)).
func WithPoolSize(n int) Option { return func(c *config) { c.poolSize = n } }

// WithRuntimePoller makes the epoll backends hand the epoll descriptor to
// the Go runtime's network poller: a loop waiting for fds parks its
// goroutine instead of blocking an OS thread in epoll_wait, and a wake-up
// from another goroutine costs no system call. It suits many mostly idle
// loops. The price is paid while busy: every new readiness on the loop's
// fds also wakes the runtime's poller thread, so fd throughput is lower
// than with the default, which blocks in epoll_wait as C tevent does. A
// loop with no fds to watch parks its goroutine either way.
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
	names := platformBackends()
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
	if !knownBackend(name) {
		return fmt.Errorf("%w: %q (have %v)", ErrUnknownBackend, name, platformBackends())
	}
	defaultBackend.Lock()
	defaultBackend.name = name
	defaultBackend.Unlock()
	return nil
}

func knownBackend(name string) bool {
	for _, n := range platformBackends() {
		if n == name {
			return true
		}
	}
	return false
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
	if !knownBackend(c.backend) {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownBackend, c.backend, platformBackends())
	}
	ev := &Context{backend: c.backend, log: c.log, poolSize: c.poolSize}
	ev.Scope.init(ev)
	p, err := newPoller(c.backend, !c.runtimePoller)
	if err != nil {
		return nil, fmt.Errorf("tevent: creating %s backend: %w", c.backend, err)
	}
	ev.poller = p
	ev.pollMT = c.backend == "poll_mt"
	ev.standard = c.backend == "standard"
	n := 256
	if c.strict {
		n = 1
	}
	ev.ready = make([]poller.Event, n)
	if ev.poolSize <= 0 {
		ev.poolSize = runtime.GOMAXPROCS(0)
	}
	ev.debugf(levelTrace, "tevent: context created", "backend", c.backend)
	return ev, nil
}

// Backend returns the name of the backend in use. A "standard" context
// keeps reporting "standard" after it fell back to poll.
func (ev *Context) Backend() string { return ev.backend }

// IsFreed reports whether the context has been freed.
func (ev *Context) IsFreed() bool { return ev.freed }

// Free frees every event, scope, request and proxy the context owns,
// closes auto-close descriptors and the backend's own, and makes later
// calls return ErrFreed. It may be called from inside a handler: the loop
// call running it then returns nil.
func (ev *Context) Free() {
	if ev.freed {
		return
	}
	if ev.main != nil {
		ev.freeWrapper()
		return
	}
	ev.freed = true
	// The context's own timers are its children too, kept only in the
	// heap: they go first, then the other children newest first, then
	// the destructors.
	ev.Scope.freed = true
	ev.freeRootTimers()
	ev.Scope.freeTree()
	if ev.pool != nil {
		ev.pool.close()
	}
	ev.inbox.mu.Lock()
	ev.inbox.closed = true
	clear(ev.inbox.calls)
	ev.inbox.calls = nil
	ev.inbox.mu.Unlock()
	clear(ev.local)
	ev.local, ev.localPos = nil, 0
	ev.immHead, ev.immTail = nil, nil
	ev.timers = timerHeap{}
	ev.fdTable, ev.dirty = nil, nil
	if ev.poller != nil {
		ev.poller.Close()
	}
	ev.debugf(levelTrace, "tevent: context freed", "backend", ev.backend)
}

// AllowNesting permits loop functions to be called from inside the
// context's own handlers (tevent_loop_allow_nesting).
func (ev *Context) AllowNesting() {
	ev = ev.mainContext() // a wrapper's loop is its main context's
	ev.allowNesting = true
	if atomic.LoadInt32(&ev.running) == 1 && ev.ownerG.Load() == 0 {
		// Called from a handler of a running loop: record the driving
		// goroutine now, so the same handler may already nest.
		ev.ownerG.Store(goid())
	}
}

// SetNestingHook sets fn to be called with begin=true before and
// begin=false after each nested loop call (tevent_loop_set_nesting_hook).
func (ev *Context) SetNestingHook(fn func(ev *Context, begin bool)) {
	ev.mainContext().nestingHook = fn
}

// SameLoop reports whether a and b share one loop: the same context, or
// wrappers of the same main context (tevent_context_same_loop).
func SameLoop(a, b *Context) bool {
	if a == nil || b == nil {
		return false
	}
	return a.mainContext() == b.mainContext()
}

func (ev *Context) mainContext() *Context {
	if ev.main != nil {
		return ev.main
	}
	return ev
}
