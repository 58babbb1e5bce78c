package tevent

import (
	"testing"
	"time"
)

// TestHotPathAllocations pins the allocation cost of the hot paths: a
// loop turn that runs an immediate, an fd handler or a proxy call
// allocates nothing, and a timer costs exactly its own handle.
func TestHotPathAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	forEachBackend(t, func(t *testing.T, ev *Context) {
		im := ev.NewImmediate()
		var h ImmediateHandler
		h = func(ev *Context, im *Immediate) { im.Schedule(h) }
		im.Schedule(h)
		if n := testing.AllocsPerRun(1000, func() { loopOnce(t, ev) }); n != 0 {
			t.Errorf("immediate turn: %v allocations, want 0", n)
		}
		im.Free()

		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		fde, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) {})
		if err != nil {
			t.Fatal(err)
		}
		loopOnce(t, ev) // first turn registers it with the kernel
		if n := testing.AllocsPerRun(1000, func() { loopOnce(t, ev) }); n != 0 {
			t.Errorf("fd turn: %v allocations, want 0", n)
		}
		fde.Free()

		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		fn := func(*Context) {}
		for i := 0; i < 64; i++ { // let the inbox buffers reach their size
			tp.Schedule(fn)
			loopOnce(t, ev)
		}
		if n := testing.AllocsPerRun(1000, func() {
			if err := tp.Schedule(fn); err != nil {
				t.Fatal(err)
			}
			loopOnce(t, ev)
		}); n != 0 {
			t.Errorf("proxy schedule + turn: %v allocations, want 0", n)
		}
		tp.Free()

		th := func(*Context, *Timer, time.Time) {}
		past := time.Now().Add(-time.Second)
		for i := 0; i < 64; i++ { // grow the heap array first
			ev.AddTimer(past, th)
			loopOnce(t, ev)
		}
		if n := testing.AllocsPerRun(1000, func() {
			ev.AddTimer(past, th)
			loopOnce(t, ev)
		}); n != 1 {
			t.Errorf("timer add + fire: %v allocations, want 1 (the handle)", n)
		}
	})
}
