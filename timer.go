package tevent

import "time"

// TimerHandler is called once when a timer's deadline has passed; now is
// the time the loop read from the clock.
type TimerHandler func(ev *Context, te *Timer, now time.Time)

// Timer is a one-shot timer event (tevent_timer).
//
// A Timer is 48 bytes: AddTimer's one allocation.
type Timer struct {
	link    ownLink
	ctx     *Context // the context it was added through (a wrapper or main)
	handler TimerHandler
	tag     uint64
	slot    uint32 // its slot in the timer heap's side table while armed
	armed   bool
	firing  bool
	freed   bool
}

// AddTimer adds a timer that fires once at (or after) at, on the
// monotonic clock; a time in the past fires on the next loop turn. Timers
// with equal deadlines fire in the order added. On a freed scope the timer
// never fires. A nil handler panics.
func (s *Scope) AddTimer(at time.Time, h TimerHandler) *Timer {
	if h == nil {
		panic("tevent: AddTimer called with a nil TimerHandler")
	}
	t := &Timer{ctx: s.ev, handler: h}
	if s.freed || s.ev.freed {
		t.freed = true
		return t
	}
	ev := s.ev.loop
	if ev.inWait.Load() {
		ev.mustBeLoopGoroutine("AddTimer") // kept out of line: the check is one load
	}
	t.armed = true
	ev.timers.push(t, toMono(at))
	if s != &s.ev.Scope || s.ev.wrap != nil {
		s.adopt(&t.link, t)
	}
	// Timers of a main context itself are not entered in its child
	// table: the heap already holds them, and Context.Free frees them from
	// there, before its other children and most recently armed first
	// (only a timer trace callback can see that order). Entering them too
	// cost timer_fire 1.7x and timer_churn 1.2x (tevent-bench, old/new
	// medians of 3 interleaved runs), so this second free path stays.
	if ev.tracers != nil && ev.tracers.timer != nil {
		ev.tracers.timer(t, EventAttach)
	}
	if ev.log != nil {
		ev.debugf(levelTrace, "tevent: added timed event", "timer", t, "at", at)
	}
	return t
}

// Update moves the timer's deadline to at (tevent_update_timer). It also
// re-arms a timer from inside its own handler. On a fired or freed timer
// it does nothing.
func (t *Timer) Update(at time.Time) {
	if t.freed || (!t.armed && !t.firing) {
		return
	}
	ev := t.ctx.loop
	if ev.freed {
		// Its context is freed, or being freed (from a handler or a
		// trace callback): it must not be armed again.
		t.Free()
		return
	}
	if t.armed {
		ev.timers.disarm(t)
	}
	t.armed = true
	t.firing = false
	ev.timers.push(t, toMono(at))
}

// Tag returns the tag set with SetTag.
func (t *Timer) Tag() uint64 { return t.tag }

// SetTag attaches an arbitrary number to the timer.
func (t *Timer) SetTag(tag uint64) { t.tag = tag }

// Free cancels the timer. It is idempotent, a no-op once the timer has
// fired, and allowed from any handler.
func (t *Timer) Free() {
	if t.freed {
		return
	}
	if t.ctx.loop.handOver(t) {
		return
	}
	disown(&t.link)
	t.freeOwned()
}

func (t *Timer) freeOwned() {
	wasLive := t.armed || t.firing
	t.freed = true
	t.firing = false
	ev := t.ctx.loop
	if t.armed {
		t.armed = false
		ev.timers.disarm(t)
	}
	if wasLive {
		// Armed, or freed by its own handler: either way its detach is
		// reported here (a timer that fires and is not freed reports it
		// in runTimer).
		t.detached(ev, "tevent: destroying timer event")
	}
}

// detached reports that t is gone: to the timer trace callback and the
// debug log.
func (t *Timer) detached(ev *loop, msg string) {
	if tr := ev.tracers; tr != nil && tr.timer != nil {
		tr.timer(t, EventDetach)
	}
	if ev.log != nil {
		ev.debugf(levelTrace, msg, "timer", t)
	}
}

// Context returns the context the timer was added to (a wrapper, if it
// was added through one).
func (t *Timer) Context() *Context { return t.ctx }

// runTimer fires the earliest timer if it has expired. It reports whether
// a handler ran.
func (ev *loop) runTimer() bool {
	top := ev.timers.peek()
	if top == nil {
		return false
	}
	if !ev.nowValid || top.when > ev.now {
		ev.now, ev.nowValid = monoNow(), true
		if top.when > ev.now {
			return false
		}
	}
	t := ev.timers.popLive()
	t.armed = false
	t.firing = true
	now := fromMono(ev.now) // what ev.Now() returns in the handler
	if ev.tracers != nil && ev.tracers.timer != nil {
		ev.tracers.timer(t, EventBeforeHandler)
		if !t.firing || ev.freed {
			return true // freed (or re-armed) by the trace callback
		}
	}
	if t.ctx.wrap == nil {
		t.handler(t.ctx, t, now)
	} else {
		t.ctx.callTimer(t, now)
	}
	if t.firing {
		// Neither re-armed with Update nor freed by its handler: gone.
		t.firing = false
		t.freed = true
		disown(&t.link)
		t.detached(ev, "tevent: ending timer event")
	}
	return true
}

// freeRootTimers frees the timers the main context itself owns, which
// only the heap knows (see AddTimer), most recently armed first. A trace
// callback may free others meanwhile.
func (l *loop) freeRootTimers() {
	for _, t := range l.timers.armedNewestFirst() {
		if t.link.owner == nil && !t.freed {
			t.freeOwned()
		}
	}
}

// Freed reports whether the timer will never fire again: it was freed,
// it fired and was not re-armed, or it was added on a freed scope or
// context (which AddTimer, unable to fail, reports this way).
func (t *Timer) Freed() bool { return t.freed }
