package tevent

import "sync/atomic"

// CallFlow names a step in the flow of requests reported to the call-depth
// callback (enum tevent_thread_call_depth_cmd).
type CallFlow int

const (
	// FlowReset: the depth goes back to the given one. After each loop
	// turn it is reported with a nil request and depth 0 (a new event
	// starts at the top); ResetCallDepth reports it with a request and
	// that request's depth; replacing the callback reports it to the old
	// one with nil and 0.
	FlowReset CallFlow = iota
	// FlowCreate: a request was created (NewReq, and every request
	// made by Wakeup, Go, Queue.Wait and the like), with its depth.
	FlowCreate
	// FlowCancel: Cancel was called on the request.
	FlowCancel
	// FlowCleanup: the request finished or was received (or freed), before
	// its cleanup function, if any, runs for that state.
	FlowCleanup
	// FlowNotify: the request's callback is about to run (on finishing,
	// or Notify); the depth is the caller's, one less than the request's.
	FlowNotify
	// FlowQueueEnter: the request was added to a queue.
	FlowQueueEnter
	// FlowQueueTrigger: the request's queue entry is about to be
	// triggered.
	FlowQueueTrigger
	// FlowQueueLeave: the request's queue entry left its queue.
	FlowQueueLeave
)

var callFlowNames = [...]string{
	FlowReset:        "reset",
	FlowCreate:       "create",
	FlowCancel:       "cancel",
	FlowCleanup:      "cleanup",
	FlowNotify:       "notify",
	FlowQueueEnter:   "queue-enter",
	FlowQueueTrigger: "queue-trigger",
	FlowQueueLeave:   "queue-leave",
}

func (f CallFlow) String() string {
	if f >= 0 && int(f) < len(callFlowNames) {
		return callFlowNames[f]
	}
	return "call-flow(?)"
}

// SetCallDepthCallback sets fn to be told of each step in the life of the
// context's requests, with the request's call depth
// (tevent_thread_call_depth_set_callback): request-flow tracing, as
// winbindd indents its debug output by it. A request created on the scope
// of another request (r.Scope(), or a scope under it) is one deeper than
// that request; any other starts at depth 0. nil switches tracing off.
// The callback it replaces is first told FlowReset with a nil request and
// depth 0. C keeps one callback per thread; here it is one per loop,
// shared by the context's wrappers, and it runs on the loop's goroutine.
func (ev *Context) SetCallDepthCallback(fn func(flow CallFlow, req AnyReq, depth int)) {
	l := ev.loop
	if l.freed {
		return
	}
	old := l.flow
	if old != nil {
		old(FlowReset, nil, 0)
	}
	switch {
	case old == nil && fn != nil:
		flowLoops.Add(1)
	case old != nil && fn == nil:
		flowLoops.Add(-1)
	}
	l.flow = fn
	l.hooked = l.trace != nil || l.flow != nil
}

// flowLoops counts the loops that have a call-depth callback: while it is
// 0, requests do not look for one (a load of this counter is all tracing
// costs them).
var flowLoops atomic.Int32

// dropFlow forgets the loop's call-depth callback when the loop is freed.
func (l *loop) dropFlow() {
	if l.flow != nil {
		l.flow = nil
		flowLoops.Add(-1)
	}
}

// ResetCallDepth tells the call-depth callback of req's context that the
// depth is req's again (tevent_thread_call_depth_reset_from_req): for a
// send function that created sub-requests and logs afterwards. It does
// nothing without a callback, and on a request created on a freed scope.
func ResetCallDepth(req AnyReq) {
	if req == nil {
		return
	}
	b := req.base()
	if fn := b.flowFn(); fn != nil {
		fn(FlowReset, req, int(b.depth))
	}
}

// tellFlow tells the call-depth callback of b's loop, if it has one, of
// flow for r (b is r's base). Hot paths call it only when flowLoops is not
// 0, so that the call costs them nothing otherwise.
//
//go:noinline
func tellFlow(flow CallFlow, r AnyReq, b *reqBase, depth int) {
	if fn := b.flowFn(); fn != nil {
		fn(flow, r, depth)
	}
}

// flowFn returns the call-depth callback of the request's loop, or nil.
func (b *reqBase) flowFn() func(CallFlow, AnyReq, int) {
	if flowLoops.Load() == 0 || b.orphan {
		return nil
	}
	return b.ev.loop.flow
}

// maxCallDepth is where a request's depth stops growing (it is kept in a
// uint16 so that a request stays in its size class).
const maxCallDepth = 1<<16 - 1
