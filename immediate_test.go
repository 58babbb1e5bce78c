package tevent

import (
	"slices"
	"testing"
)

func TestImmediateFIFO(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []int
		for i := range 10 {
			ev.NewImmediate().Schedule(func(ev *Context, im *Immediate) { got = append(got, i) })
		}
		for i := range 10 {
			loopOnce(t, ev)
			if len(got) != i+1 {
				t.Fatalf("after %d LoopOnce calls %d immediates ran", i+1, len(got))
			}
		}
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
			t.Errorf("ran %v, want %v", got, want)
		}
		expectErr(t, "LoopOnce after all immediates ran", ev.LoopOnce(), ErrNoEvents)
	})
}

// TestImmediateReschedule: scheduling an already scheduled immediate moves
// it to the tail and replaces its handler.
func TestImmediateReschedule(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		rec := func(s string) ImmediateHandler {
			return func(*Context, *Immediate) { got = append(got, s) }
		}
		a, b, c := ev.NewImmediate(), ev.NewImmediate(), ev.NewImmediate()
		a.Schedule(rec("a-old"))
		b.Schedule(rec("b"))
		c.Schedule(rec("c"))
		a.Schedule(rec("a"))
		if !a.Scheduled() {
			t.Error("Scheduled() false for a scheduled immediate")
		}
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"b", "c", "a"}; !slices.Equal(got, want) {
			t.Errorf("ran %v, want %v", got, want)
		}
		if a.Scheduled() {
			t.Error("Scheduled() true after the immediate ran")
		}
		// An immediate runs again each time it is scheduled.
		a.Schedule(rec("a again"))
		loopOnce(t, ev)
		if got[len(got)-1] != "a again" {
			t.Errorf("rescheduled immediate did not run: %v", got)
		}
	})
}

func TestImmediateCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		a, b := ev.NewImmediate(), ev.NewImmediate()
		a.Schedule(func(*Context, *Immediate) { got = append(got, "a") })
		b.Schedule(func(*Context, *Immediate) { got = append(got, "b") })
		a.Schedule(nil)
		if a.Scheduled() {
			t.Error("Scheduled() true after Schedule(nil)")
		}
		a.Schedule(nil) // cancelling an unscheduled immediate is fine
		loopOnce(t, ev)
		expectErr(t, "LoopOnce after the only other immediate ran", ev.LoopOnce(), ErrNoEvents)
		if want := []string{"b"}; !slices.Equal(got, want) {
			t.Errorf("ran %v, want %v", got, want)
		}
		// Cancelled from another immediate's handler before its turn.
		c := ev.NewImmediate()
		a.Schedule(func(*Context, *Immediate) { got = append(got, "a2"); c.Schedule(nil) })
		c.Schedule(func(*Context, *Immediate) { got = append(got, "c2") })
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"b", "a2"}; !slices.Equal(got, want) {
			t.Errorf("ran %v, want %v", got, want)
		}
	})
}

// TestImmediateFromHandler: an immediate scheduled from a handler (itself
// or another) runs on a later LoopOnce, never the same one.
func TestImmediateFromHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		a, b := ev.NewImmediate(), ev.NewImmediate()
		n := 0
		var self ImmediateHandler
		self = func(ev *Context, im *Immediate) {
			n++
			got = append(got, "self")
			if n < 3 {
				im.Schedule(self)
			}
		}
		a.Schedule(func(ev *Context, im *Immediate) {
			got = append(got, "a")
			b.Schedule(func(*Context, *Immediate) { got = append(got, "b") })
			im.Schedule(self)
		})
		want := [][]string{
			{"a"},
			{"a", "b"},
			{"a", "b", "self"},
			{"a", "b", "self", "self"},
			{"a", "b", "self", "self", "self"},
		}
		for i, w := range want {
			loopOnce(t, ev)
			if !slices.Equal(got, w) {
				t.Fatalf("after LoopOnce %d: %v, want %v", i+1, got, w)
			}
		}
		expectErr(t, "LoopOnce at the end", ev.LoopOnce(), ErrNoEvents)
	})
}

func TestImmediateFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		ran := 0
		im := ev.NewImmediate()
		im.Schedule(func(*Context, *Immediate) { ran++ })
		im.Free()
		if im.Scheduled() {
			t.Error("Scheduled() true after Free")
		}
		im.Free()
		im.Schedule(func(*Context, *Immediate) { ran++ })
		expectErr(t, "LoopOnce with a freed immediate", ev.LoopOnce(), ErrNoEvents)
		// Freed with its scope.
		s := ev.NewScope()
		im2 := s.NewImmediate()
		im2.Schedule(func(*Context, *Immediate) { ran++ })
		s.Free()
		im2.Schedule(func(*Context, *Immediate) { ran++ })
		expectErr(t, "LoopOnce with an immediate of a freed scope", ev.LoopOnce(), ErrNoEvents)
		if ran != 0 {
			t.Errorf("freed immediates ran %d times", ran)
		}
	})
}

// TestImmediateQueueModel drives a few immediates through random
// schedules, reschedules, cancels, frees and runs, and checks the order
// they run in against a plain slice: Schedule's fast path for an
// immediate not queued relies on such an immediate having no links left
// from where it was before (run from the head, cancelled, or moved).
func TestImmediateQueueModel(t *testing.T) {
	ev := newReqTestContext(t)
	const n = 6
	var ims [n]*Immediate
	var model []int // indices of the scheduled immediates, in queue order
	var ran []int
	for i := range ims {
		ims[i] = ev.NewImmediate()
	}
	handler := func(i int) ImmediateHandler {
		return func(*Context, *Immediate) { ran = append(ran, i) }
	}
	remove := func(i int) {
		if k := slices.Index(model, i); k >= 0 {
			model = slices.Delete(model, k, k+1)
		}
	}
	rng := uint64(42)
	for step := 0; step < 20000; step++ {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		i := int(rng>>8) % n
		switch op := int(rng>>20) % 8; {
		case op < 4: // schedule, or move to the tail
			ims[i].Schedule(handler(i))
			if !ims[i].Freed() {
				remove(i)
				model = append(model, i)
			}
		case op == 4: // cancel
			ims[i].Reset()
			remove(i)
		case op == 5 && (rng>>40)%16 == 0: // free, and make a new one
			ims[i].Free()
			remove(i)
			ims[i] = ev.NewImmediate()
		default: // run the head
			if len(model) == 0 {
				continue
			}
			ran = ran[:0]
			loopOnce(t, ev)
			if want := model[0]; len(ran) != 1 || ran[0] != want {
				t.Fatalf("step %d: ran %v, want [%d] (queue %v)", step, ran, want, model)
			}
			model = model[1:]
		}
		for j, im := range ims {
			if im.Scheduled() != slices.Contains(model, j) {
				t.Fatalf("step %d: immediate %d Scheduled() = %v, model queue %v", step, j, im.Scheduled(), model)
			}
		}
	}
}
