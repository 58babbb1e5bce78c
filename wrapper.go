package tevent

import (
	"fmt"
	"syscall"
	"time"
)

// WrapperHooks are the calls a wrapper context makes around the handlers
// of the events added through it, and around its use
// (struct tevent_wrapper_ops). Any hook may be nil.
type WrapperHooks struct {
	// Name names the wrapper in debug output.
	Name string

	// BeforeUse is called by PushUse and before a loop function runs
	// through the wrapper; returning false refuses the use.
	BeforeUse func(wrap *Context) bool
	// AfterUse is called by PopUse and after a loop function ran through
	// the wrapper.
	AfterUse func(wrap *Context)

	// The Before*Handler hooks run before each handler of an event added
	// through the wrapper, the After*Handler hooks after it. A Before hook
	// that frees the event (or re-arms a timer, or frees the wrapper or
	// the context) stops the handler; the After hook then still runs,
	// unless the wrapper or the context is gone.
	BeforeFDHandler func(wrap *Context, fde *FD, flags FDFlags)
	AfterFDHandler  func(wrap *Context, fde *FD, flags FDFlags)

	BeforeTimerHandler func(wrap *Context, te *Timer, now time.Time)
	AfterTimerHandler  func(wrap *Context, te *Timer, now time.Time)

	BeforeImmediateHandler func(wrap *Context, im *Immediate)
	AfterImmediateHandler  func(wrap *Context, im *Immediate)

	BeforeSignalHandler func(wrap *Context, se *Signal, signum syscall.Signal, count int)
	AfterSignalHandler  func(wrap *Context, se *Signal, signum syscall.Signal, count int)
}

// wrapper is what a wrapper context has beyond the shared loop.
type wrapper struct {
	hooks WrapperHooks
	uses  int
}

// errUseRefused is the error of a loop function on a wrapper whose
// BeforeUse hook refused.
func errUseRefused(w *Context) error {
	return fmt.Errorf("%w: wrapper %q refused use", ErrUseRefused, w.wrap.hooks.Name)
}

// NewWrapper creates a wrapper context (tevent_context_wrapper_create): it
// shares ev's loop (SameLoop reports true) and calls hooks around every
// handler of the events added through it. Handlers of those events are
// given the wrapper as their context. Freeing the wrapper frees its events,
// not ev; freeing ev frees the wrapper. A wrapper of a wrapper wraps the
// same main context.
func (ev *Context) NewWrapper(hooks WrapperHooks) (*Context, error) {
	l := ev.loop
	if ev.freed || l.freed {
		return nil, ev.Scope.freedError("NewWrapper")
	}
	w := &Context{loop: l, wrap: &wrapper{hooks: hooks}}
	w.Scope.init(w)
	ev.Scope.adopt(&w.Scope.link, w)
	l.debugf(levelTrace, "tevent: wrapper created", "name", hooks.Name)
	return w, nil
}

// IsWrapper reports whether ev is a wrapper context.
func (ev *Context) IsWrapper() bool { return ev.wrap != nil }

// Main returns the main context of a wrapper, or ev itself.
func (ev *Context) Main() *Context { return ev.loop.main }

// PushUse starts a use of the wrapper outside its handlers
// (tevent_context_push_use): it calls the BeforeUse hook and reports
// whether the use may go on; pair each true result with PopUse. On a main
// context it only reports whether the context is alive.
func (ev *Context) PushUse() bool {
	if ev.freed {
		return false
	}
	w := ev.wrap
	if w == nil {
		return true
	}
	if w.hooks.BeforeUse != nil && !w.hooks.BeforeUse(ev) {
		return false
	}
	w.uses++
	return true
}

// PopUse ends a use started by PushUse (tevent_context_pop_use).
func (ev *Context) PopUse() {
	w := ev.wrap
	if w == nil || w.uses == 0 {
		return
	}
	w.uses--
	if w.hooks.AfterUse != nil {
		w.hooks.AfterUse(ev)
	}
}

// wrappedLoop runs a loop function entered through wrapper w: the loop is
// already marked running by this goroutine, so the hooks run only once the
// use is known not to be concurrent.
func (w *Context) wrappedLoop(run func() error) error {
	l := w.loop
	defer l.release()
	if l.freed {
		return ErrFreed
	}
	if !w.PushUse() {
		return errUseRefused(w)
	}
	l.nowValid = false
	err := run()
	if !w.freed {
		w.PopUse()
	}
	return err
}

// freeOwned is called when the scope owning a wrapper is freed.
func (w *Context) freeOwned() {
	w.freed = true
	w.Scope.freeTree()
	w.loop.debugf(levelTrace, "tevent: wrapper freed", "name", w.wrap.hooks.Name)
}

func (w *Context) freeWrapper() {
	disown(&w.Scope.link)
	w.freeOwned()
}

// gone reports whether the wrapper or its loop was freed (by a hook or a
// handler): its hooks are not called any more.
func (w *Context) gone() bool { return w.freed || w.loop.freed }

// afterSkipped is called when a Before hook freed the event (or the
// wrapper) and its handler is skipped: the After hook still pairs with
// the Before hook while the wrapper lives.
func (w *Context) afterSkipped(after func(), has bool) {
	if has && !w.gone() {
		after()
	}
}

func (w *Context) callFD(f *FD, fl FDFlags) {
	h := &w.wrap.hooks
	if h.BeforeFDHandler != nil {
		h.BeforeFDHandler(w, f, fl)
		if f.freed || w.gone() {
			// A freed event never fires, even when its wrapper's hook
			// freed it.
			w.afterSkipped(func() { h.AfterFDHandler(w, f, fl) }, h.AfterFDHandler != nil)
			return
		}
	}
	f.handler(w, f, fl)
	if h.AfterFDHandler != nil {
		h.AfterFDHandler(w, f, fl)
	}
}

func (w *Context) callTimer(t *Timer, now time.Time) {
	h := &w.wrap.hooks
	if h.BeforeTimerHandler != nil {
		h.BeforeTimerHandler(w, t, now)
		if !t.firing || w.gone() { // freed or re-armed by the hook
			w.afterSkipped(func() { h.AfterTimerHandler(w, t, now) }, h.AfterTimerHandler != nil)
			return
		}
	}
	t.handler(w, t, now)
	if h.AfterTimerHandler != nil {
		h.AfterTimerHandler(w, t, now)
	}
}

func (w *Context) callImmediate(im *Immediate, fn ImmediateHandler) {
	h := &w.wrap.hooks
	if h.BeforeImmediateHandler != nil {
		h.BeforeImmediateHandler(w, im)
		if im.freed || w.gone() {
			w.afterSkipped(func() { h.AfterImmediateHandler(w, im) }, h.AfterImmediateHandler != nil)
			return
		}
	}
	fn(w, im)
	if h.AfterImmediateHandler != nil {
		h.AfterImmediateHandler(w, im)
	}
}

func (w *Context) callSignal(se *Signal, sig syscall.Signal, count int) {
	h := &w.wrap.hooks
	if h.BeforeSignalHandler != nil {
		h.BeforeSignalHandler(w, se, sig, count)
		if se.freed || w.gone() {
			w.afterSkipped(func() { h.AfterSignalHandler(w, se, sig, count) }, h.AfterSignalHandler != nil)
			return
		}
	}
	se.handler(w, se, sig, count, nil)
	if h.AfterSignalHandler != nil {
		h.AfterSignalHandler(w, se, sig, count)
	}
}
