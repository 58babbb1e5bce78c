package tevent

// ImmediateHandler is called when a scheduled immediate runs.
type ImmediateHandler func(ev *Context, im *Immediate)

// Immediate is an immediate event (tevent_immediate): created once and
// scheduled any number of times; each schedule runs its handler once, on
// a later loop turn, before timers and fds.
type Immediate struct {
	link       ownLink
	l          *loop    // ctx.loop, one load away on the hot path
	ctx        *Context // the context it was created on (a wrapper or main)
	handler    ImmediateHandler
	prev, next *Immediate
	tag        uint64
	scheduled  bool
	freed      bool
	wrapped    bool // ctx is a wrapper: its hooks run around the handler
	// calls > 0 marks the loop's own node for that many proxy calls
	// (proxy.go's activateCalls); user immediates have 0.
	calls int32
}

// NewImmediate creates an immediate event owned by s
// (tevent_create_immediate). On a freed scope it never runs.
func (s *Scope) NewImmediate() *Immediate {
	im := &Immediate{l: s.ev.loop, ctx: s.ev, wrapped: s.ev.wrap != nil}
	if s.freed || s.ev.freed {
		im.freed = true
		return im
	}
	s.adopt(&im.link, im)
	return im
}

// Schedule (re)schedules im at the tail of the context's immediate queue
// with handler h; one already scheduled moves to the tail. A nil h
// cancels it. Immediates run in the order scheduled, one per LoopOnce.
// Called from another goroutine while the loop waits in the kernel, it
// panics (ErrConcurrentUse's text): reach the loop through a ThreadProxy.
func (im *Immediate) Schedule(h ImmediateHandler) {
	if im.freed {
		return
	}
	ev := im.l
	if ev.inWait.Load() {
		ev.mustBeLoopGoroutine("Immediate.Schedule") // kept out of line: the check is one load
	}
	if im.scheduled {
		ev.unlinkImmediate(im)
		if h == nil && ev.tracers != nil && ev.tracers.immediate != nil {
			ev.tracers.immediate(im, EventDetach)
		}
	}
	if h == nil {
		im.handler = nil
		return
	}
	im.handler = h
	im.scheduled = true
	im.next = nil
	im.prev = ev.immTail
	if ev.immTail != nil {
		ev.immTail.next = im
	} else {
		ev.immHead = im
	}
	ev.immTail = im
	if ev.tracers != nil && ev.tracers.immediate != nil {
		ev.tracers.immediate(im, EventAttach)
	}
	if ev.log != nil {
		ev.debugf(levelTrace, "tevent: schedule immediate event", "immediate", im)
	}
}

// Reset cancels the immediate if it is scheduled and keeps it for later
// use (tevent_reset_immediate): the same as Schedule(nil). It may be called
// from the immediate's own handler, and on an immediate that is not
// scheduled or is freed, where it does nothing.
func (im *Immediate) Reset() { im.Schedule(nil) }

// Context returns the context the immediate was created on (a wrapper, if
// it was created through one).
func (im *Immediate) Context() *Context { return im.ctx }

// Scheduled reports whether im is waiting to run.
func (im *Immediate) Scheduled() bool { return im.scheduled }

func (ev *loop) unlinkImmediate(im *Immediate) {
	if im.prev != nil {
		im.prev.next = im.next
	} else {
		ev.immHead = im.next
	}
	if im.next != nil {
		im.next.prev = im.prev
	} else {
		ev.immTail = im.prev
	}
	im.prev, im.next = nil, nil
	im.scheduled = false
}

// Tag returns the tag set with SetTag.
func (im *Immediate) Tag() uint64 { return im.tag }

// SetTag attaches an arbitrary number to the immediate.
func (im *Immediate) SetTag(tag uint64) { im.tag = tag }

// Free cancels and frees the immediate; idempotent.
func (im *Immediate) Free() {
	if im.freed {
		return
	}
	if im.l.handOver(im) {
		return
	}
	disown(&im.link)
	im.freeOwned()
}

func (im *Immediate) freeOwned() {
	im.freed = true
	if im.scheduled {
		im.l.unlinkImmediate(im)
		if tr := im.l.tracers; tr != nil && tr.immediate != nil {
			tr.immediate(im, EventDetach)
		}
	}
	im.handler = nil
}

// runImmediate runs the first scheduled immediate.
func (ev *loop) runImmediate() {
	im := ev.immHead
	ev.immHead = im.next
	if ev.immHead != nil {
		ev.immHead.prev = nil
	} else {
		ev.immTail = nil
	}
	im.next = nil
	im.scheduled = false
	h := im.handler
	im.handler = nil
	if ev.tracers != nil && ev.tracers.immediate != nil {
		ev.tracers.immediate(im, EventBeforeHandler)
		if im.freed || ev.freed {
			return
		}
	}
	if ev.log != nil {
		ev.debugf(levelTrace, "tevent: run immediate event", "immediate", im)
	}
	if !im.wrapped {
		h(im.ctx, im)
	} else {
		im.ctx.callImmediate(im, h)
	}
}

// Freed reports whether the immediate was freed, or created on a freed
// scope or context: then it never runs.
func (im *Immediate) Freed() bool { return im.freed }
