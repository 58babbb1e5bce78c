package tevent

// EventTracePoint names a point in an event's life reported to the
// per-event trace callbacks (enum tevent_event_trace_point).
type EventTracePoint int

const (
	// EventAttach: the event was added (an immediate: scheduled; a queue
	// entry: added).
	EventAttach EventTracePoint = iota
	// EventDetach: the event was freed, fired for the last time, or (an
	// immediate) cancelled.
	EventDetach
	// EventBeforeHandler: the event's handler is about to run (a queue
	// entry: its trigger). Freeing the event, its scope or the context
	// from the callback (for a queue entry: the entry, its request or the
	// queue) stops the handler.
	EventBeforeHandler
)

func (p EventTracePoint) String() string {
	switch p {
	case EventAttach:
		return "attach"
	case EventDetach:
		return "detach"
	case EventBeforeHandler:
		return "before-handler"
	}
	return "event-trace-point(?)"
}

// eventTracers holds the per-event trace callbacks of a main context.
type eventTracers struct {
	fd        func(*FD, EventTracePoint)
	timer     func(*Timer, EventTracePoint)
	signal    func(*Signal, EventTracePoint)
	immediate func(*Immediate, EventTracePoint)
	queue     func(*QueueEntry, EventTracePoint)
}

func (ev *Context) tracersFor() *eventTracers {
	l := ev.loop
	if l.tracers == nil {
		l.tracers = &eventTracers{}
	}
	return l.tracers
}

// SetFDTraceCallback sets the callback told when fd events are added,
// freed and about to be handled (tevent_set_trace_fd_callback); nil
// resets it. Wrappers share their main context's callbacks.
func (ev *Context) SetFDTraceCallback(fn func(fde *FD, p EventTracePoint)) {
	ev.tracersFor().fd = fn
}

// FDTraceCallback returns the fd trace callback, so a component can chain
// to the one it replaces (tevent_get_trace_fd_callback).
func (ev *Context) FDTraceCallback() func(fde *FD, p EventTracePoint) {
	return ev.tracersFor().fd
}

// SetTimerTraceCallback is SetFDTraceCallback for timers
// (tevent_set_trace_timer_callback).
func (ev *Context) SetTimerTraceCallback(fn func(te *Timer, p EventTracePoint)) {
	ev.tracersFor().timer = fn
}

// TimerTraceCallback returns the timer trace callback.
func (ev *Context) TimerTraceCallback() func(te *Timer, p EventTracePoint) {
	return ev.tracersFor().timer
}

// SetSignalTraceCallback is SetFDTraceCallback for signal events
// (tevent_set_trace_signal_callback).
func (ev *Context) SetSignalTraceCallback(fn func(se *Signal, p EventTracePoint)) {
	ev.tracersFor().signal = fn
}

// SignalTraceCallback returns the signal trace callback.
func (ev *Context) SignalTraceCallback() func(se *Signal, p EventTracePoint) {
	return ev.tracersFor().signal
}

// SetImmediateTraceCallback is SetFDTraceCallback for immediates
// (tevent_set_trace_immediate_callback).
func (ev *Context) SetImmediateTraceCallback(fn func(im *Immediate, p EventTracePoint)) {
	ev.tracersFor().immediate = fn
}

// ImmediateTraceCallback returns the immediate trace callback.
func (ev *Context) ImmediateTraceCallback() func(im *Immediate, p EventTracePoint) {
	return ev.tracersFor().immediate
}

// SetQueueTraceCallback is SetFDTraceCallback for queue entries
// (tevent_set_trace_queue_callback).
func (ev *Context) SetQueueTraceCallback(fn func(qe *QueueEntry, p EventTracePoint)) {
	ev.tracersFor().queue = fn
}

// QueueTraceCallback returns the queue entry trace callback.
func (ev *Context) QueueTraceCallback() func(qe *QueueEntry, p EventTracePoint) {
	return ev.tracersFor().queue
}
