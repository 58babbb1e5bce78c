package tevent

import (
	"fmt"
	"reflect"
	"time"
)

// ReqState is the state of an async request (enum tevent_req_state).
type ReqState int

const (
	// ReqInit is the zero state; NewReq never returns a request in it.
	ReqInit ReqState = iota
	// ReqInProgress: the request is running.
	ReqInProgress
	// ReqDone: the request finished successfully (Done).
	ReqDone
	// ReqUserError: the request finished with an error (Error, including
	// ErrCancelled from a cancel function).
	ReqUserError
	// ReqTimedOut: the request's end time passed (ErrTimeout).
	ReqTimedOut
	// ReqReceived: the result was taken with Result, or the request was
	// freed.
	ReqReceived
)

var reqStateNames = [...]string{
	ReqInit:       "ReqInit",
	ReqInProgress: "ReqInProgress",
	ReqDone:       "ReqDone",
	ReqUserError:  "ReqUserError",
	ReqTimedOut:   "ReqTimedOut",
	ReqReceived:   "ReqReceived",
}

// String returns the state's name, such as "ReqDone".
func (s ReqState) String() string {
	if s >= 0 && int(s) < len(reqStateNames) {
		return reqStateNames[s]
	}
	return fmt.Sprintf("ReqState(%d)", int(s))
}

// AnyReq is the non-generic view of a request that every *Req[T]
// satisfies. Queues take requests of any result type through it; it cannot
// be implemented outside this package.
type AnyReq interface {
	// Scope returns the scope that owns the request's sub-events and
	// sub-requests.
	Scope() *Scope
	// State returns the request's state.
	State() ReqState
	// IsInProgress reports whether the request has not finished yet.
	IsInProgress() bool
	// Error finishes the request with err, unless err is nil.
	Error(err error) bool
	// Cancel asks the request's cancel function to cancel it.
	Cancel() bool
	// SetEndtime makes the request time out at at.
	SetEndtime(ev *Context, at time.Time) bool
	// Poll runs ev's loop until the request has finished.
	Poll(ev *Context) error
	// Free frees the request without receiving its result.
	Free()
	// String describes the request for debugging.
	String() string

	base() *reqBase
	deliver(pq *postQueue) bool
	hasCallback() bool
}

// reqState is a ReqState stored in a byte, to keep requests small.
type reqState uint8

const (
	stInProgress = reqState(ReqInProgress)
	stDone       = reqState(ReqDone)
	stUserError  = reqState(ReqUserError)
	stTimedOut   = reqState(ReqTimedOut)
	stReceived   = reqState(ReqReceived)
)

// finished reports whether s is one of the end states a request reaches
// by Done, Error, its end time or its cancel function.
func (s reqState) finished() bool { return s >= stDone && s <= stTimedOut }

// reqBase is the part of a request that does not depend on its result
// type: what queues and the goroutine pool work with. It holds only what
// every request needs; the rest, which most requests never use, lives in
// a reqExtra allocated on first use, so that a plain request is one small
// allocation. (The cancel and cleanup functions, which every stream
// request sets, are typed fields of Req[T], so that such a request is one
// allocation too.)
type reqBase struct {
	link ownLink  // in the scope given to NewReq
	ev   *Context // the context of that scope
	// errOrExtra is the error the request finished with or, once the request
	// has a reqExtra, that reqExtra, which then holds the error: one
	// field for both keeps a plain request (80 bytes for a Req[int]) in a
	// smaller size class. Read and set it through errv, setErr, ext and
	// extra; *reqExtra never leaves the package as an error.
	errOrExtra error

	state reqState
	// ends holds two states in one byte, to keep the request in its size
	// class: how the request finished, still set once received (low
	// nibble, finState), and the last state its cleanup function was
	// called with or set in (high nibble, cleanedAt).
	ends   uint8
	orphan bool // created on a freed scope: nothing of it will run

	deferPost bool // Post came before the request finished
	posted    bool // waiting in a context's post queue
	notified  bool // the callback has been called

	// depth is the call depth (SetCallDepthCallback): the parent
	// request's plus one, 0 for a request not created under another.
	depth uint16
}

// reqExtra holds the parts of a request that most requests never use.
type reqExtra struct {
	err error // the request's error (see reqBase.errOrExtra)

	// The request's own scope, valid once scope.req is set (Scope). It
	// lives here, rather than in an allocation of its own, so that a
	// request with sub-events costs no more allocations than before.
	scope Scope

	printFn any // func(*Req[T]) string

	postEv  *Context    // the context a deferring Post was given, if not the request's own
	timer   *Timer      // end time (SetEndtime)
	entries *QueueEntry // queue entries of this request, via reqNext
	job     *poolJob    // the blocking work behind a Go request
	profile *ReqProfile // set by EnableProfile, or inherited from the parent
}

// finState returns how the request finished (stInProgress while it runs,
// or when it was freed before it finished).
func (b *reqBase) finState() reqState { return reqState(b.ends & 0x0f) }

// setFinState records how the request finished.
func (b *reqBase) setFinState(s reqState) { b.ends = b.ends&0xf0 | uint8(s) }

// cleanedAt returns the last state the cleanup function was called with,
// or the state it was set in.
func (b *reqBase) cleanedAt() reqState { return reqState(b.ends >> 4) }

// setCleanedAt records the state the cleanup function was called with or
// set in.
func (b *reqBase) setCleanedAt(s reqState) { b.ends = b.ends&0x0f | uint8(s)<<4 }

// Error makes *reqExtra an error, so that it fits in reqBase.errOrExtra; it is
// never returned to users.
func (x *reqExtra) Error() string { return "tevent: internal request extra" }

// ext returns the request's reqExtra, or nil if it has none.
func (b *reqBase) ext() *reqExtra {
	x, _ := b.errOrExtra.(*reqExtra)
	return x
}

// extra returns the request's reqExtra, creating it on first use.
func (b *reqBase) extra() *reqExtra {
	if x, ok := b.errOrExtra.(*reqExtra); ok {
		return x
	}
	x := &reqExtra{err: b.errOrExtra}
	b.errOrExtra = x
	return x
}

// errv returns the request's error.
func (b *reqBase) errv() error {
	if x, ok := b.errOrExtra.(*reqExtra); ok {
		return x.err
	}
	return b.errOrExtra
}

// setErr sets the request's error.
func (b *reqBase) setErr(err error) {
	if x, ok := b.errOrExtra.(*reqExtra); ok {
		x.err = err
		return
	}
	b.errOrExtra = err
}

// firstEntry returns the newest queue entry of the request, if any.
func (b *reqBase) firstEntry() *QueueEntry {
	if x := b.ext(); x != nil {
		return x.entries
	}
	return nil
}

// postCtx returns the context a deferring Post was given (nil: the
// request's own).
func (b *reqBase) postCtx() *Context {
	if x := b.ext(); x != nil {
		return x.postEv
	}
	return nil
}

// Req is an async request whose result is a T (tevent_req). An
// implementation creates it with NewReq, starts the work (sub-events and
// sub-requests created from req.Scope()), and returns it; it later
// finishes it with Done or Error, from a handler on the loop. The caller
// sets a callback with SetCallback, which is called exactly once, on the
// loop, when the request has finished; the callback takes the result with
// Result.
//
// A request that finishes before its creator returns (no callback can be
// set yet) is returned through Post, so that its callback runs on a later
// loop turn rather than inside the creator.
//
// A Req belongs to the Context of the scope it was created on and, like
// everything else of that context, is used only from the goroutine that
// drives it.
type Req[T any] struct {
	reqBase
	val       T
	callback  func(r *Req[T])
	cancelFn  func(r *Req[T]) bool            // SetCancelFn
	cleanupFn func(r *Req[T], state ReqState) // SetCleanupFn
}

// NewReq creates a request owned by o, in state ReqInProgress
// (tevent_req_create): o is a *Scope, or a *Context for its root scope.
// Freeing o frees the request. The request's own scope, Scope(), is freed
// when its result is received or it is freed. On a freed scope the
// request never runs anything: its Scope is freed too. A nil owner
// panics.
func NewReq[T any](o Owner) *Req[T] {
	s := ownerScope(o, "NewReq")
	ev := s.ev
	r := &Req[T]{reqBase: reqBase{ev: ev, state: stInProgress, ends: uint8(stInProgress)}}
	if s.freed || ev == nil || ev.freed {
		r.orphan = true
		return r
	}
	s.adopt(&r.link, r)
	if p := parentReq(s); p != nil {
		if x := p.ext(); x != nil && x.profile != nil {
			r.extra().profile = x.profile.newSub(r)
		}
		r.depth = p.depth
		if r.depth < maxCallDepth {
			r.depth++
		}
	}
	if flowLoops.Load() != 0 {
		tellFlow(FlowCreate, r, &r.reqBase, int(r.depth))
	}
	return r
}

// parentReq finds the request whose scope s is (or is under), if any.
func parentReq(s *Scope) *reqBase {
	for sc := s; sc != nil; sc = sc.link.owner {
		if sc.req != nil {
			return sc.req
		}
	}
	return nil
}

func (r *Req[T]) base() *reqBase { return &r.reqBase }

func (r *Req[T]) hasCallback() bool { return r.callback != nil }

// Scope returns the request's own scope: sub-events and sub-requests
// created on it live until the request's result is received (Result) or
// the request is freed, and are freed with it. After that, Scope returns
// a freed scope, on which new events never fire.
func (r *Req[T]) Scope() *Scope {
	x := r.extra()
	s := &x.scope
	if s.req == nil {
		s.init(r.ev)
		// Not linked into the parent: the request frees it itself, after
		// its cleanup function has run, as C tevent frees a request's
		// state after its destructor.
		s.freed = r.orphan || r.state == stReceived
		s.req = &r.reqBase
	}
	return s
}

// SetCallback sets the function called, once, when the request has
// finished (tevent_req_set_callback). It runs on the loop: directly from
// the handler that finishes the request, or on a later loop turn when the
// request was finished before its creator returned (see Post). If the
// request has already finished and its callback has not run yet, fn is
// called on a later loop turn.
func (r *Req[T]) SetCallback(fn func(r *Req[T])) {
	r.callback = fn
	if fn != nil && !r.posted && !r.notified && r.state.finished() {
		r.schedule(r.postCtx())
	}
}

// Done finishes the request successfully with result v
// (tevent_req_done). Finishing a request that already finished panics;
// finishing one that timed out or was freed does nothing, since its
// implementation cannot know that yet.
func (r *Req[T]) Done(v T) {
	if r.state != stInProgress {
		r.finishAgain("Done")
		return
	}
	r.val = v
	r.finish(stDone)
}

// Error finishes the request with err and returns true, unless err is nil:
// then it does nothing and returns false (tevent_req_error). It panics
// like Done on a request that already finished.
func (r *Req[T]) Error(err error) bool {
	if err == nil {
		return false
	}
	if r.state != stInProgress {
		r.finishAgain("Error")
		return true
	}
	r.setErr(err)
	r.finish(stUserError)
	return true
}

// finishAgain handles Done or Error on a request that is no longer in
// progress.
func (r *Req[T]) finishAgain(how string) {
	if fs := r.finState(); fs == stTimedOut || fs == stInProgress {
		// Timed out behind the implementation's back, or freed before it
		// finished: the late completion has nowhere to go.
		return
	}
	panic(fmt.Sprintf("tevent: %s called on a request that already finished: %v", how, r))
}

// finish moves the request to state and calls back (tevent_req_finish).
func (r *Req[T]) finish(state reqState) {
	r.state = state
	r.setFinState(state)
	if x := r.ext(); x != nil || r.cleanupFn != nil {
		r.finishExtra(x, state)
		if r.state != state {
			return // received or freed by its cleanup function
		}
	} else if flowLoops.Load() != 0 {
		tellFlow(FlowCleanup, r, &r.reqBase, int(r.depth))
		if r.state != state {
			return // received or freed by the callback
		}
	}
	if r.deferPost {
		r.deferPost = false
		r.schedule(r.postCtx())
		return
	}
	if r.callback != nil && !r.notified {
		r.notified = true
		if flowLoops.Load() != 0 {
			r.notifyFlow()
		}
		r.callback(r)
	}
}

// notifyFlow tells the call-depth callback that the request calls back:
// at the caller's depth, one less than the request's.
func (r *Req[T]) notifyFlow() {
	tellFlow(FlowNotify, r, &r.reqBase, max(int(r.depth)-1, 0))
}

// Notify calls the request's callback now, while the request stays in
// progress (tevent_req_notify_callback): how an implementation hands its
// caller an interim result, as Samba's smb2cli_notify, smb2cli_read and
// tldap do. The callback sees IsInProgress true (Result would return
// ErrNotFinished), so the interim result travels some other way, such as
// a field the caller reads; the callback runs again, once, when the
// request finishes. After Post on the request in progress
// (tevent_req_defer_callback) the callback runs on a later loop turn
// instead, and that deferral is used up, as in C: later callbacks,
// including the final one, run directly. Without a callback, Notify does
// nothing. Notify on a request that finished panics, like Done; on one
// that timed out or was freed, or was created on a freed scope, it does
// nothing.
func (r *Req[T]) Notify() {
	if r.state != stInProgress {
		r.finishAgain("Notify")
		return
	}
	if r.orphan {
		return
	}
	if r.deferPost {
		r.deferPost = false
		r.schedule(r.postCtx())
		return
	}
	if r.callback != nil {
		if flowLoops.Load() != 0 {
			r.notifyFlow()
		}
		r.callback(r)
	}
}

// finishExtra is the part of finish that concerns the request's extra (x,
// nil if it has none) and its cleanup function: its profile, end time,
// cleanup function and queue entries or pool job.
func (r *Req[T]) finishExtra(x *reqExtra, state reqState) {
	if x != nil {
		if x.profile != nil {
			x.profile.stop(ReqState(state), x.err)
		}
		if x.timer != nil {
			x.timer.Free()
			x.timer = nil
		}
	}
	r.cleanup()
	r.detach()
}

// detach takes the request out of its queues and releases its pool job;
// done when it finishes or is received, whichever comes first.
func (b *reqBase) detach() {
	x := b.ext()
	if x == nil {
		return
	}
	for x.entries != nil {
		x.entries.remove()
	}
	if j := x.job; j != nil {
		x.job = nil
		j.release()
	}
}

// cleanup calls the cleanup function with the current state, at most once
// per state and only for states after the one it was set in.
func (r *Req[T]) cleanup() {
	if r.cleanupFn != nil && r.cleanedAt() >= r.state {
		return
	}
	if fn := r.flowFn(); fn != nil {
		// Told every time without a cleanup function, once per state
		// with one, as tevent_req_cleanup does.
		state := r.state
		fn(FlowCleanup, r, int(r.depth))
		if r.state != state {
			return // the callback received or freed the request
		}
	}
	if r.cleanupFn == nil {
		return
	}
	r.setCleanedAt(r.state)
	r.cleanupFn(r, ReqState(r.state))
}

// Post makes the completion of a request that finished before its creator
// returned reach the callback on a later loop turn of ev, never inside the
// creator (tevent_req_post). It returns r, for "return req.Post(ev)". On a
// request still in progress it defers the callback: when the request
// finishes, the callback runs on a later loop turn instead of directly
// (tevent_req_defer_callback). A nil ev means the request's own context.
func (r *Req[T]) Post(ev *Context) *Req[T] {
	if ev != nil && ev != r.ev && !r.orphan {
		r.sameLoopOrPanic("Post", ev)
	}
	switch {
	case r.state == stInProgress:
		r.deferPost = true
		if ev != nil && ev != r.ev {
			r.extra().postEv = ev
		} else if x := r.ext(); x != nil {
			x.postEv = nil
		}
	case !r.notified && r.state.finished():
		r.schedule(ev)
	}
	return r
}

// schedule arranges for the callback to run on a later turn of ev's loop.
func (r *Req[T]) schedule(ev *Context) {
	if r.posted || r.orphan {
		return
	}
	if ev == nil {
		ev = r.ev
	}
	if ev.freed {
		return
	}
	r.posted = true
	ev.loop.posts.push(ev, r)
}

// deliver calls back a posted request, from its context's post queue pq.
// It returns false, doing nothing, when the request is no longer posted
// (it was received or freed meanwhile).
func (r *Req[T]) deliver(pq *postQueue) bool {
	if !r.posted {
		return false
	}
	r.posted = false
	if pq.count > 0 {
		pq.im.Schedule(deliverPosted)
	}
	if r.notified || r.callback == nil {
		return true
	}
	if r.state.finished() {
		r.notified = true
		if flowLoops.Load() != 0 {
			r.notifyFlow()
		}
		r.callback(r)
	} else if r.state == stInProgress {
		if flowLoops.Load() != 0 {
			r.notifyFlow()
		}
		r.callback(r) // a Notify deferred by Post
	}
	return true
}

// IsInProgress reports whether the request has not finished yet
// (tevent_req_is_in_progress).
func (r *Req[T]) IsInProgress() bool { return r.state == stInProgress }

// State returns the request's state.
func (r *Req[T]) State() ReqState { return ReqState(r.state) }

// Result returns the request's result, once (the _recv function of a
// tevent request, and tevent_req_received): the value given to Done, or
// the error given to Error, ErrTimeout or ErrCancelled. The request is
// then received: its scope, and every sub-event and sub-request in it, is
// freed. Result on a request still in progress returns an error and
// changes nothing; a second Result, or Result after Free, returns an error
// (wrapping ErrFreed) and the zero value.
func (r *Req[T]) Result() (T, error) {
	switch r.state {
	case stInProgress:
		var zero T
		return zero, fmt.Errorf("%w: Result called on %v, which is still in progress", ErrNotFinished, r)
	case stReceived:
		var zero T
		return zero, fmt.Errorf("tevent: Result called on %v, whose result was already received or which was freed: %w", r, ErrFreed)
	}
	v, err := r.val, r.errv()
	disown(&r.link)
	r.receive()
	return v, err
}

// receive ends the request's life: its result is gone, its events and
// scope are freed and its cleanup function is called with ReqReceived.
func (r *Req[T]) receive() {
	r.state = stReceived
	r.deferPost = false
	r.posted = false // its entry in the post queue is skipped
	if x := r.ext(); x != nil || r.cleanupFn != nil {
		r.receiveExtra(x)
	} else {
		if r.errOrExtra != nil {
			r.errOrExtra = nil
		}
		if flowLoops.Load() != 0 {
			tellFlow(FlowCleanup, r, &r.reqBase, int(r.depth))
		}
	}
	// Let go of what the request referred to; most of it is usually nil.
	var zero T
	r.val = zero
	if r.callback != nil {
		r.callback = nil
	}
	if r.cancelFn != nil {
		r.cancelFn = nil
	}
}

// receiveExtra is the part of receive that concerns the request's extra
// (x, nil if it has none) and its cleanup function.
func (r *Req[T]) receiveExtra(x *reqExtra) {
	if x != nil && x.timer != nil {
		x.timer.Free()
		x.timer = nil
	}
	r.cleanup()
	r.detach()
	r.cleanupFn = nil
	if x = r.ext(); x == nil {
		r.errOrExtra = nil
		return
	}
	if x.scope.req != nil {
		x.scope.Free()
	}
	x.err = nil
	x.postEv = nil
	x.printFn = nil
}

// Free frees the request without receiving it: its callback will not be
// called, its scope is freed and its cleanup function is called with
// ReqReceived (talloc_free of a tevent_req). Free is idempotent and may be
// called from any handler, including the request's own callback.
func (r *Req[T]) Free() {
	if r.state == stReceived {
		return
	}
	disown(&r.link)
	r.receive()
}

// freeOwned is called when the scope that owns the request is freed.
func (r *Req[T]) freeOwned() {
	if r.state != stReceived {
		r.receive()
	}
}

// Poll runs ev's loop until the request is no longer in progress
// (tevent_req_poll). It returns the first loop error, such as
// ErrNoEvents when nothing is left that could finish the request, or
// ErrWouldBlock in polling mode (SetWaitTimeout(0)) when nothing is ready. A nil
// ev means the request's own context. A request finished before Post
// (or by a Go job) has its callback delivered on a later loop turn: Poll
// returns once the request is finished, which may be one turn before its
// callback has run; loop once more (or use LoopUntil) to see it.
func (r *Req[T]) Poll(ev *Context) error {
	if ev == nil {
		ev = r.ev
	}
	if !r.orphan && !SameLoop(ev, r.ev) {
		return fmt.Errorf("%w: Poll of %s with a context that is not its own: poll it with the context it was created on", ErrWrongContext, r)
	}
	for r.state == stInProgress {
		if err := ev.LoopOnce(); err != nil {
			if err == ErrWouldBlock && ev.loop.waitTimeout > 0 {
				continue // a tick of the wait timeout: tevent_req_poll goes on
			}
			return err
		}
	}
	return nil
}

// SetEndtime makes the request finish with ErrTimeout (state ReqTimedOut)
// if it is still in progress at at; a later SetEndtime replaces the end
// time (tevent_req_set_endtime). The zero time.Time means no end time, as
// for Go deadlines: it clears one set before. It returns false, and does
// nothing, on a request that is no longer in progress or a freed context.
// A nil ev means the request's own context.
func (r *Req[T]) SetEndtime(ev *Context, at time.Time) bool {
	if ev == nil {
		ev = r.ev
	}
	if r.state != stInProgress || r.orphan || ev.freed {
		return false
	}
	r.sameLoopOrPanic("SetEndtime", ev)
	x := r.ext()
	if x != nil && x.timer != nil {
		x.timer.Free()
		x.timer = nil
	}
	if at.IsZero() {
		return true
	}
	x = r.extra()
	owner := r.link.owner
	if owner == nil || ev != r.ev {
		owner = &ev.Scope
	}
	x.timer = owner.AddTimer(at, r.timedOut)
	return true
}

func (r *Req[T]) timedOut(*Context, *Timer, time.Time) {
	r.ext().timer = nil
	if r.state != stInProgress {
		return
	}
	r.setErr(ErrTimeout)
	r.finish(stTimedOut)
}

// SetCancelFn sets the function Cancel calls (tevent_req_set_cancel_fn). It
// must finish the request itself, typically with Error(ErrCancelled), or
// arrange for it to finish soon, and report whether it did.
func (r *Req[T]) SetCancelFn(fn func(r *Req[T]) bool) {
	if r.state == stReceived {
		return
	}
	r.cancelFn = fn
}

// Cancel asks the request to cancel itself (tevent_req_cancel): it calls
// the cancel function and returns what it returns. A request without one,
// or no longer in progress, cannot be cancelled: Cancel returns false.
func (r *Req[T]) Cancel() bool {
	if r.state == stReceived {
		return false
	}
	if fn := r.flowFn(); fn != nil {
		fn(FlowCancel, r, int(r.depth))
	}
	if r.state != stInProgress {
		return false
	}
	if r.cancelFn == nil {
		return false
	}
	return r.cancelFn(r)
}

// SetCleanupFn sets a function called when the request finishes and when
// it is received or freed (tevent_req_set_cleanup_fn), with the state it
// reaches: ReqDone, ReqUserError or ReqTimedOut, then ReqReceived. It is
// called at most once per state, never for the state the request is in
// when it is set, and before the request's scope is freed.
func (r *Req[T]) SetCleanupFn(fn func(r *Req[T], state ReqState)) {
	if r.state == stReceived {
		return
	}
	r.cleanupFn = fn
	r.setCleanedAt(r.state)
}

// SetPrintFn sets the function String calls to describe the request
// (tevent_req_set_print_fn); nil restores DefaultString. Like C's, it is
// dropped when the request is received or freed.
func (r *Req[T]) SetPrintFn(fn func(r *Req[T]) string) {
	if r.state == stReceived {
		return
	}
	if fn == nil {
		if x := r.ext(); x != nil {
			x.printFn = nil
		}
		return
	}
	r.extra().printFn = fn
}

// String describes the request for debugging (tevent_req_print): with
// the function set by SetPrintFn, if any, else with DefaultString.
func (r *Req[T]) String() string {
	if x := r.ext(); x != nil && x.printFn != nil {
		return x.printFn.(func(*Req[T]) string)(r)
	}
	return r.DefaultString()
}

// DefaultString is String without a print function
// (tevent_req_default_print): the request's result type, address, state
// and error, for a print function to build on.
func (r *Req[T]) DefaultString() string {
	s := fmt.Sprintf("tevent.Req[%v](%p) state=%v", reflect.TypeFor[T](), r, ReqState(r.state))
	if err := r.errv(); err != nil {
		s += fmt.Sprintf(" err=%q", err.Error())
	}
	if x := r.ext(); x != nil && x.timer != nil {
		s += " endtime=set"
	}
	if r.posted {
		s += " posted"
	}
	return s
}

// Wakeup returns a request, owned by o (a *Scope or a *Context), that
// finishes successfully at at (tevent_wakeup_send); a time in the past
// finishes it on the next loop turn.
func Wakeup(o Owner, at time.Time) *Req[struct{}] {
	r := NewReq[struct{}](o)
	r.Scope().AddTimer(at, func(*Context, *Timer, time.Time) {
		r.Done(struct{}{})
	})
	return r
}

// sameLoopOrPanic panics when ev is not on the request's loop: its handler
// would run on another goroutine's loop, racing with this one.
func (b *reqBase) sameLoopOrPanic(what string, ev *Context) {
	if !SameLoop(ev, b.ev) {
		panic(fmt.Sprintf("tevent: %v: %s given a context that is not the request's own: pass the context the request was created on (or nil)", ErrWrongContext, what))
	}
}
