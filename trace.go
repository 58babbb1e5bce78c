package tevent

// TracePoint names a point in the loop reported to the trace callback
// (tevent_trace_point).
type TracePoint int

const (
	// TraceBeforeWait is reported just before the loop waits in the kernel.
	// What the callback changes counts: when it frees the context the
	// loop call returns at once, and when it adds, frees or schedules
	// events (or Stop is called) the loop polls instead of blocking and
	// looks again. (On poll_mt, where the callback hands the loop's state
	// to other goroutines, the changes they make wake the wait instead.)
	TraceBeforeWait TracePoint = iota
	// TraceAfterWait is reported just after the kernel wait returns.
	TraceAfterWait
	// TraceBeforeLoopOnce is reported when a loop turn starts.
	TraceBeforeLoopOnce
	// TraceAfterLoopOnce is reported when a loop turn ends.
	TraceAfterLoopOnce
)

func (p TracePoint) String() string {
	switch p {
	case TraceBeforeWait:
		return "before-wait"
	case TraceAfterWait:
		return "after-wait"
	case TraceBeforeLoopOnce:
		return "before-loop-once"
	case TraceAfterLoopOnce:
		return "after-loop-once"
	}
	return "trace-point(?)"
}

// SetTraceCallback sets fn to be called at each TracePoint; nil resets it
// (tevent_set_trace_callback). The poll_mt pattern uses it to release a
// lock around the kernel wait.
func (ev *Context) SetTraceCallback(fn func(TracePoint)) {
	l := ev.loop
	l.trace = fn
	l.hooked = l.trace != nil || l.flow != nil
}

// TraceCallback returns the current trace callback, so that a component
// can chain to the one it replaces (tevent_get_trace_callback).
func (ev *Context) TraceCallback() func(TracePoint) { return ev.loop.trace }
