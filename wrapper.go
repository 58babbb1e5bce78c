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

	BeforeFDHandler func(wrap *Context, fde *FD, flags FDFlags)
	AfterFDHandler  func(wrap *Context, fde *FD, flags FDFlags)

	BeforeTimerHandler func(wrap *Context, te *Timer, now time.Time)
	AfterTimerHandler  func(wrap *Context, te *Timer, now time.Time)

	BeforeImmediateHandler func(wrap *Context, im *Immediate)
	AfterImmediateHandler  func(wrap *Context, im *Immediate)

	BeforeSignalHandler func(wrap *Context, se *Signal, signum syscall.Signal, count int)
	AfterSignalHandler  func(wrap *Context, se *Signal, signum syscall.Signal, count int)
}

// errUseRefused is returned by loop functions on a wrapper whose BeforeUse
// hook refused.
var errUseRefused = fmt.Errorf("tevent: wrapper refused use")

// NewWrapper creates a wrapper context (tevent_context_wrapper_create): it
// shares ev's loop (SameLoop reports true) and calls hooks around every
// handler of the events added through it. Handlers of those events are
// given the wrapper as their context. Freeing the wrapper frees its events,
// not ev; freeing ev frees the wrapper. A wrapper of a wrapper wraps the
// same main context.
func (ev *Context) NewWrapper(hooks WrapperHooks) (*Context, error) {
	m := ev.mainContext()
	if ev.freed || m.freed {
		return nil, ErrFreed
	}
	h := hooks
	w := &Context{main: m, hooks: &h, backend: m.backend, log: m.log}
	w.Scope.init(w)
	ev.Scope.adopt(&w.Scope.link, w)
	m.debugf(levelTrace, "tevent: wrapper created", "name", h.Name)
	return w, nil
}

// IsWrapper reports whether ev is a wrapper context.
func (ev *Context) IsWrapper() bool { return ev.main != nil }

// Main returns the main context of a wrapper, or ev itself.
func (ev *Context) Main() *Context { return ev.mainContext() }

// PushUse starts a use of the wrapper outside its handlers
// (tevent_context_push_use): it calls the BeforeUse hook and reports
// whether the use may go on; pair each true result with PopUse. On a main
// context it only reports whether the context is alive.
func (ev *Context) PushUse() bool {
	if ev.freed {
		return false
	}
	if ev.main == nil {
		return true
	}
	if ev.hooks.BeforeUse != nil && !ev.hooks.BeforeUse(ev) {
		return false
	}
	ev.uses++
	return true
}

// PopUse ends a use started by PushUse (tevent_context_pop_use).
func (ev *Context) PopUse() {
	if ev.main == nil || ev.uses == 0 {
		return
	}
	ev.uses--
	if ev.hooks.AfterUse != nil {
		ev.hooks.AfterUse(ev)
	}
}

func (w *Context) wrapperLoop(run func(m *Context) error) error {
	if w.main.freed {
		return ErrFreed
	}
	if !w.PushUse() {
		return errUseRefused
	}
	err := run(w.main)
	if !w.freed {
		w.PopUse()
	}
	return err
}

// freeOwned is called when the scope owning a wrapper is freed.
func (w *Context) freeOwned() {
	if w.main == nil {
		// A main context is never owned by a scope.
		w.Scope.freeTree()
		return
	}
	w.freed = true
	w.Scope.freeTree()
	w.main.debugf(levelTrace, "tevent: wrapper freed", "name", w.hooks.Name)
}

func (w *Context) freeWrapper() {
	disown(&w.Scope.link)
	w.freeOwned()
}

func (w *Context) callFD(f *FD, fl FDFlags) {
	h := w.hooks
	if h.BeforeFDHandler != nil {
		h.BeforeFDHandler(w, f, fl)
	}
	f.handler(w, f, fl)
	if h.AfterFDHandler != nil {
		h.AfterFDHandler(w, f, fl)
	}
}

func (w *Context) callTimer(t *Timer, now time.Time) {
	h := w.hooks
	if h.BeforeTimerHandler != nil {
		h.BeforeTimerHandler(w, t, now)
	}
	t.handler(w, t, now)
	if h.AfterTimerHandler != nil {
		h.AfterTimerHandler(w, t, now)
	}
}

func (w *Context) callImmediate(im *Immediate, fn ImmediateHandler) {
	h := w.hooks
	if h.BeforeImmediateHandler != nil {
		h.BeforeImmediateHandler(w, im)
	}
	fn(w, im)
	if h.AfterImmediateHandler != nil {
		h.AfterImmediateHandler(w, im)
	}
}

func (w *Context) callSignal(se *Signal, sig syscall.Signal, count int) {
	h := w.hooks
	if h.BeforeSignalHandler != nil {
		h.BeforeSignalHandler(w, se, sig, count)
	}
	se.handler(w, se, sig, count, nil)
	if h.AfterSignalHandler != nil {
		h.AfterSignalHandler(w, se, sig, count)
	}
}
