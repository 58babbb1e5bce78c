package tevent

import "fmt"

// Queue runs requests one at a time, in the order they were added
// (tevent_queue). Add puts a request at the tail; when it reaches the head
// of a running queue its trigger function is called, on a later loop turn,
// and it stays at the head until it finishes, is received or is freed.
// Then the next entry is triggered, again on a later loop turn.
//
// A Queue is owned by the scope it was created on and, like everything
// else of its context, is used only from the goroutine that drives it.
type Queue struct {
	link       ownLink
	ev         *Context
	name       string
	head, tail *QueueEntry
	length     int
	running    bool
	freed      bool
	im         *Immediate
	triggerFn  ImmediateHandler
	// direct is the entry of the requests AddOptimizeEmptyArg triggers at
	// once: one at a time, as the queue is empty then, and never handed
	// out, so it is reused (see triggerDirect).
	direct QueueEntry
}

// QueueEntry is a request's place in a Queue (tevent_queue_entry).
type QueueEntry struct {
	q          *Queue
	req        AnyReq
	trigger    func(req AnyReq)          // Add's, or nil
	argTrigger func(req AnyReq, arg any) // AddOptimizeEmptyArg's, or nil
	arg        any
	prev, next *QueueEntry // in the queue
	reqNext    *QueueEntry // other entries of the same request
	tag        uint64
	triggered  bool
	// unlinked marks the queue's direct entry while its trigger runs: it
	// is not yet among its request's entries (triggerDirect).
	unlinked bool
}

// Tag returns the tag set with SetTag.
func (e *QueueEntry) Tag() uint64 { return e.tag }

// SetTag attaches an arbitrary number to the entry
// (tevent_queue_entry_set_tag).
func (e *QueueEntry) SetTag(tag uint64) { e.tag = tag }

// Queue returns the queue the entry is in, or nil once it left.
func (e *QueueEntry) Queue() *Queue { return e.q }

// Request returns the entry's request.
func (e *QueueEntry) Request() AnyReq { return e.req }

func (q *Queue) traceEntry(e *QueueEntry, p EventTracePoint) {
	if q.ev == nil {
		return
	}
	if tr := q.ev.loop.tracers; tr != nil && tr.queue != nil {
		tr.queue(e, p)
	}
}

// NewQueue creates a running, empty queue owned by s
// (tevent_queue_create). On a freed scope the queue never triggers
// anything.
func (s *Scope) NewQueue(name string) *Queue {
	q := &Queue{ev: s.ev, name: name, running: true}
	q.triggerFn = q.runHead
	if s.freed || s.ev == nil || s.ev.freed {
		q.freed = true
		q.running = false
		q.im = &Immediate{l: s.ev.loop, ctx: s.ev, freed: true}
		return q
	}
	q.im = s.NewImmediate()
	s.adopt(&q.link, q)
	return q
}

// Name returns the name given to NewQueue.
func (q *Queue) Name() string { return q.name }

// Add puts req at the tail of the queue (tevent_queue_add_entry). When req
// reaches the head of the running queue, trigger is called with it on a
// later loop turn, never from inside Add; trigger starts the request's
// work. The entry leaves the queue when req finishes, is received or is
// freed, or when the entry is freed, and the next entry is then
// triggered. A nil trigger makes a blocker: an entry that holds the queue
// from the moment it reaches the head until it leaves, without being
// called. A request that is no longer in progress (or was created on a
// freed scope), or a freed queue, gets an entry that is not in any queue.
func (q *Queue) Add(req AnyReq, trigger func(req AnyReq)) *QueueEntry {
	return q.add(req, trigger, nil, nil, false, "Queue.Add")
}

// AddOptimizeEmpty is Add, except that when the queue is running and empty
// and req has no callback yet, trigger is called at once, from inside
// AddOptimizeEmpty, instead of on a later loop turn
// (tevent_queue_add_optimize_empty): a write queue whose writes usually
// find it empty saves a loop turn each. The entry is in the queue while
// trigger runs, so what trigger adds to the queue waits behind it. If
// trigger finished req, its entry has already left the queue when
// AddOptimizeEmpty returns: the caller returns req.Post(ev), as after any
// request finished before its creator returned. Untrigger cannot be used
// with such an entry (trigger has no entry to pass it).
func (q *Queue) AddOptimizeEmpty(req AnyReq, trigger func(req AnyReq)) *QueueEntry {
	return q.add(req, trigger, nil, nil, true, "Queue.AddOptimizeEmpty")
}

// AddOptimizeEmptyArg is AddOptimizeEmpty with a trigger that is given
// arg, so that a caller passes its state (a pointer: no allocation)
// without making a closure per request. When trigger is called at once,
// from inside, it returns nil: that entry belongs to the request, and
// leaves the queue when the request finishes, is received or is freed,
// as any entry does; it costs no allocation when trigger finishes the
// request, and otherwise only the request's own record of its queue
// entries (if it has none yet). Otherwise it returns the entry, as Add
// does, and trigger is called with arg when the entry reaches the head.
// A nil trigger panics (a blocker is Add's).
func (q *Queue) AddOptimizeEmptyArg(req AnyReq, trigger func(req AnyReq, arg any), arg any) *QueueEntry {
	if trigger == nil {
		panic("tevent: Queue.AddOptimizeEmptyArg called with a nil trigger")
	}
	return q.add(req, nil, trigger, arg, true, "Queue.AddOptimizeEmptyArg")
}

func (q *Queue) add(req AnyReq, trigger func(req AnyReq), argTrigger func(AnyReq, any), arg any, direct bool, what string) *QueueEntry {
	if req == nil {
		panic("tevent: " + what + " called with a nil request")
	}
	blocker := trigger == nil && argTrigger == nil
	b := req.base()
	if q.freed || b.state != stInProgress || b.orphan {
		return &QueueEntry{req: req, trigger: trigger, argTrigger: argTrigger, arg: arg, triggered: blocker}
	}
	if q.ev != nil {
		b.sameLoopOrPanic(what, q.ev)
	}
	q.settle()
	direct = direct && q.length == 0 && q.running && !blocker && !req.hasCallback()
	if direct && argTrigger != nil && q.direct.q == nil && q.ev != nil && q.ev.loop.tracers == nil && b.flowFn() == nil {
		q.triggerDirect(req, b, argTrigger, arg)
		return nil
	}
	e := &QueueEntry{req: req, trigger: trigger, argTrigger: argTrigger, arg: arg, triggered: blocker}
	e.q = q
	e.prev = q.tail
	if q.tail != nil {
		q.tail.next = e
	} else {
		q.head = e
	}
	q.tail = e
	q.length++
	x := b.extra()
	e.reqNext = x.entries
	x.entries = e
	q.traceEntry(e, EventAttach)
	if fn := b.flowFn(); fn != nil {
		fn(FlowQueueEnter, req, int(b.depth))
		if e.q != q {
			return e // the callback freed the entry, its request or the queue
		}
	}
	if direct {
		q.trigger(e)
		if argTrigger != nil {
			return nil // AddOptimizeEmptyArg's rule, whatever the path
		}
		return e
	}
	q.kick()
	return e
}

// triggerDirect is AddOptimizeEmptyArg's direct trigger, on the empty
// queue, with no tracing callbacks to tell of the entry: the queue's own
// entry stands for req while trigger runs, at the head as any entry,
// but is put among req's entries only if req is still in progress when
// trigger returns (which costs req's extra record, if it has none yet),
// and otherwise leaves the queue then: a request finished at once costs
// nothing here. A request that finishes inside trigger cannot take the
// entry out itself, so the queue does it (settle) before anything that
// looks at it: from then on, as if the entry had left when req finished.
func (q *Queue) triggerDirect(req AnyReq, b *reqBase, trigger func(AnyReq, any), arg any) {
	e := &q.direct
	*e = QueueEntry{q: q, req: req, argTrigger: trigger, arg: arg, triggered: true, unlinked: true}
	q.head, q.tail = e, e
	q.length = 1
	trigger(req, arg)
	if !e.unlinked || e.req.base() != b {
		return // left the queue already (settle, Free), and maybe reused
	}
	if b.state != stInProgress {
		e.remove()
		return
	}
	e.unlinked = false
	x := b.extra()
	e.reqNext = x.entries
	x.entries = e
}

// settle takes the direct entry out of the queue when its request has
// finished (or was received or freed) inside the trigger (triggerDirect).
func (q *Queue) settle() {
	if e := &q.direct; e.unlinked && e.req.base().state != stInProgress {
		e.remove()
	}
}

// kick schedules the trigger of the head entry, if it is due.
func (q *Queue) kick() {
	if !q.running || q.head == nil || q.head.triggered || q.im.Scheduled() {
		return
	}
	q.im.Schedule(q.triggerFn)
}

// runHead is the immediate handler that triggers the head entry.
func (q *Queue) runHead(*Context, *Immediate) {
	e := q.head
	if !q.running || e == nil || e.triggered {
		return
	}
	q.trigger(e)
}

// trigger calls the trigger of e, the head entry.
func (q *Queue) trigger(e *QueueEntry) {
	e.triggered = true
	q.traceEntry(e, EventBeforeHandler)
	if e.q != q || q.freed || q.ev.loop.freed {
		return // the trace callback freed the entry, its request or the queue
	}
	b := e.req.base()
	if fn := b.flowFn(); fn != nil {
		fn(FlowQueueTrigger, e.req, int(b.depth))
		if e.q != q || q.freed || q.ev.loop.freed {
			return // the call-depth callback freed it
		}
	}
	switch { // neither: a blocker, untriggered
	case e.trigger != nil:
		e.trigger(e.req)
	case e.argTrigger != nil:
		e.argTrigger(e.req, e.arg)
	}
}

// Untrigger re-arms the entry at the head of a stopped queue
// (tevent_queue_entry_untrigger): a trigger that finds its request must
// stay queued without running yet calls Stop and then Untrigger, and the
// entry's trigger is called again after Start. It returns an error
// wrapping ErrQueueState, changing nothing, when the queue is running or
// the entry is not at its head (where C aborts), and ErrFreed when the
// entry is in no queue.
func (e *QueueEntry) Untrigger() error {
	q := e.q
	switch {
	case q == nil:
		return fmt.Errorf("%w: Untrigger of a queue entry that is in no queue (its request finished, or it or its queue was freed)", ErrFreed)
	case q.running:
		return fmt.Errorf("%w: Untrigger of an entry of queue %q, which is running: call Stop first", ErrQueueState, q.name)
	case q.head != e:
		return fmt.Errorf("%w: Untrigger of an entry that is not at the head of queue %q", ErrQueueState, q.name)
	}
	e.triggered = false
	return nil
}

// Start lets a stopped queue trigger its entries again
// (tevent_queue_start). A new queue is running.
func (q *Queue) Start() {
	if q.running || q.freed {
		return
	}
	q.running = true
	q.kick()
}

// Stop stops triggering entries (tevent_queue_stop). An entry already
// triggered keeps running; the entries after it wait until Start.
func (q *Queue) Stop() {
	q.running = false
	if q.im.Scheduled() {
		q.im.Schedule(nil)
	}
}

// Running reports whether the queue triggers its entries
// (tevent_queue_running).
func (q *Queue) Running() bool { return q.running }

// Length returns the number of entries in the queue, the one at the head
// included (tevent_queue_length).
func (q *Queue) Length() int {
	if q.direct.unlinked {
		q.settle()
	}
	return q.length
}

// Wait returns a request, owned by o, that finishes successfully when
// every entry added before it has left the queue (tevent_queue_wait_send).
// Like any entry, it is triggered on a later loop turn even when the queue
// is empty, and only while the queue runs.
func (q *Queue) Wait(o Owner) *Req[struct{}] {
	r := NewReq[struct{}](o)
	q.Add(r, queueWaitTrigger)
	return r
}

func queueWaitTrigger(req AnyReq) {
	req.(*Req[struct{}]).Done(struct{}{})
}

// Free frees the queue: its entries leave it without being triggered, and
// their requests are left as they are. Free is idempotent.
func (q *Queue) Free() {
	if q.freed {
		return
	}
	disown(&q.link)
	q.freeOwned()
}

func (q *Queue) freeOwned() {
	q.freed = true
	q.running = false
	for q.head != nil {
		q.head.remove()
	}
	q.im.Free()
}

// String describes the queue for debugging.
func (q *Queue) String() string {
	return fmt.Sprintf("tevent.Queue(%q) length=%d running=%v", q.name, q.Length(), q.running)
}

// Free takes the entry out of its queue without touching its request
// (freeing a tevent_queue_entry). If it was at the head, the next entry is
// triggered on a later loop turn. Free is idempotent.
func (e *QueueEntry) Free() { e.remove() }

// remove unlinks e from its queue and from its request, and schedules the
// next trigger if the head changed.
func (e *QueueEntry) remove() {
	q := e.q
	if q == nil {
		return
	}
	e.q = nil
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next = nil, nil
	q.length--
	q.traceEntry(e, EventDetach)
	b := e.req.base()
	if fn := b.flowFn(); fn != nil {
		fn(FlowQueueLeave, e.req, int(b.depth))
	}

	if e.unlinked {
		e.unlinked = false // not among the request's entries
	} else {
		for p := &b.ext().entries; *p != nil; p = &(*p).reqNext {
			if *p == e {
				*p = e.reqNext
				break
			}
		}
	}
	e.reqNext = nil
	if e == &q.direct {
		e.req, e.argTrigger, e.arg = nil, nil, nil // keep nothing alive
	}
	if !q.freed {
		q.kick()
	}
}
