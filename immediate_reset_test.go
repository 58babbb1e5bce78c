package tevent

import (
	"slices"
	"testing"
)

// TestImmediateReset: Reset (tevent_reset_immediate) undoes Schedule: the
// handler does not run, the immediate is no longer scheduled, the trace
// callback sees a detach, and the immediate can be scheduled again. Reset
// from the immediate's own handler cancels the handler's reschedule; on an
// immediate not scheduled, or freed, it does nothing.
func TestImmediateReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var trace []EventTracePoint
		ev.SetImmediateTraceCallback(func(_ *Immediate, p EventTracePoint) { trace = append(trace, p) })
		im := ev.NewImmediate()
		im.Reset() // not scheduled: nothing
		if len(trace) != 0 {
			t.Fatalf("Reset of an unscheduled immediate traced %v", trace)
		}
		im.Schedule(func(*Context, *Immediate) { t.Error("a reset immediate ran") })
		im.Reset()
		if im.Scheduled() || im.Freed() {
			t.Fatalf("after Reset: Scheduled %v, Freed %v; want false, false", im.Scheduled(), im.Freed())
		}
		if !slices.Equal(trace, []EventTracePoint{EventAttach, EventDetach}) {
			t.Fatalf("trace %v, want [attach detach]", trace)
		}
		expectErr(t, "LoopOnce with only a reset immediate", ev.LoopOnce(), ErrNoEvents)

		runs := 0
		var h ImmediateHandler
		h = func(_ *Context, im *Immediate) {
			runs++
			im.Schedule(h)
			im.Reset() // cancels the reschedule just made
		}
		im.Schedule(h)
		loopOnce(t, ev)
		if runs != 1 || im.Scheduled() {
			t.Fatalf("ran %d times, Scheduled %v; want once and false", runs, im.Scheduled())
		}
		expectErr(t, "LoopOnce after the handler reset itself", ev.LoopOnce(), ErrNoEvents)

		im.Free()
		im.Reset() // freed: nothing
		if im.Scheduled() {
			t.Fatal("a freed immediate is scheduled after Reset")
		}
	})
}
