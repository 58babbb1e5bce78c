package tevent

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

func TestTimerEqualDeadlinesInAddOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		at := time.Now().Add(2 * time.Millisecond)
		var got []int
		for i := range 20 {
			ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, i) })
		}
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		want := make([]int, 20)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) {
			t.Errorf("fired %v, want %v", got, want)
		}
	})
}

// TestTimerOrderAndHeap: many timers with deadlines already past, added in
// random order, some updated and some freed, fire in deadline order (ties
// in the order added or last updated), one per LoopOnce, without waiting.
func TestTimerOrderAndHeap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Now().Add(-time.Hour)
		type rec struct {
			at  time.Time
			seq int
		}
		var fired []rec
		type live struct {
			te  *Timer
			at  time.Time
			seq int
		}
		seq := 0
		timers := map[int]*live{}
		for i := range 300 {
			at := base.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
			l := &live{at: at, seq: seq}
			seq++
			l.te = ev.AddTimer(at, func(_ *Context, te *Timer, now time.Time) {
				if now.Before(l.at) {
					t.Errorf("timer due %v fired with now %v", l.at, now)
				}
				fired = append(fired, rec{l.at, l.seq})
			})
			timers[i] = l
		}
		for i := range 300 {
			l := timers[i]
			switch rng.IntN(4) {
			case 0:
				l.te.Free()
				delete(timers, i)
			case 1:
				l.at = base.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
				l.seq = seq
				seq++
				l.te.Update(l.at)
			}
		}
		start := time.Now()
		for n := 0; n < len(timers); n++ {
			before := len(fired)
			loopOnce(t, ev)
			if len(fired) != before+1 {
				t.Fatalf("LoopOnce fired %d timers, want 1", len(fired)-before)
			}
		}
		if d := time.Since(start); d > testTimeout/2 {
			t.Errorf("past-due timers took %v", d)
		}
		if !sort.SliceIsSorted(fired, func(i, j int) bool {
			if !fired[i].at.Equal(fired[j].at) {
				return fired[i].at.Before(fired[j].at)
			}
			return fired[i].seq < fired[j].seq
		}) {
			t.Errorf("timers fired out of order")
		}
		expectErr(t, "LoopOnce after all timers fired", ev.LoopOnce(), ErrNoEvents)
	})
}

func TestTimerUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		rec := func(s string) TimerHandler {
			return func(*Context, *Timer, time.Time) { got = append(got, s) }
		}
		now := time.Now()
		// Earlier: a timer an hour away moved to now fires at once.
		far := ev.AddTimer(now.Add(time.Hour), rec("far"))
		near := ev.AddTimer(now.Add(10*time.Millisecond), rec("near"))
		far.Update(now)
		loopOnce(t, ev)
		if !slices.Equal(got, []string{"far"}) {
			t.Fatalf("after moving earlier: %v", got)
		}
		// Later: moved past another timer, it fires after it.
		a := ev.AddTimer(now, rec("a"))
		ev.AddTimer(now.Add(15*time.Millisecond), rec("b"))
		a.Update(now.Add(25 * time.Millisecond))
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"far", "near", "b", "a"}; !slices.Equal(got, want) {
			t.Errorf("fired %v, want %v", got, want)
		}
		if d := time.Since(now); d < 25*time.Millisecond {
			t.Errorf("timer moved to 25ms fired after %v", d)
		}
		// Update on a fired timer does nothing: it is gone.
		far.Update(time.Now())
		near.Free()
		expectErr(t, "LoopOnce after Update of a fired timer", ev.LoopOnce(), ErrNoEvents)
	})
}

func TestTimerUpdateInOwnHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		n := 0
		var nows []time.Time
		ev.AddTimer(time.Now(), func(ev *Context, te *Timer, now time.Time) {
			n++
			nows = append(nows, now)
			if n < 5 {
				te.Update(now.Add(time.Millisecond))
			}
		})
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("re-armed timer fired %d times, want 5", n)
		}
		for i := 1; i < len(nows); i++ {
			if nows[i].Sub(nows[i-1]) < time.Millisecond {
				t.Errorf("re-armed timer fired %v after the previous run, want >= 1ms", nows[i].Sub(nows[i-1]))
			}
		}
	})
}

// TestTimerUpdateThenFreeInHandler: re-armed then freed in its handler, a
// timer does not fire again.
func TestTimerUpdateThenFreeInHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		n := 0
		ev.AddTimer(time.Now(), func(ev *Context, te *Timer, now time.Time) {
			n++
			te.Update(now)
			te.Free()
		})
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("fired %d times, want 1", n)
		}
	})
}

func TestTimerFiredFreeIsNoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var fired *Timer
		var got []string
		te := ev.AddTimer(time.Now(), func(_ *Context, te *Timer, _ time.Time) {
			fired = te
			got = append(got, "first")
		})
		loopOnce(t, ev)
		if fired != te {
			t.Fatal("handler not given its own timer")
		}
		// Another timer added after the first fired must not be affected
		// by the first one's Free.
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { got = append(got, "second") })
		te.Free()
		te.Free()
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"first", "second"}; !slices.Equal(got, want) {
			t.Errorf("fired %v, want %v", got, want)
		}
	})
}

func TestTimerPastDeadlines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		ev.AddTimer(time.Now().Add(-time.Hour), func(*Context, *Timer, time.Time) { got = append(got, "hour ago") })
		ev.AddTimer(time.Time{}, func(*Context, *Timer, time.Time) { got = append(got, "zero time") })
		ev.AddTimer(time.Unix(0, 0), func(*Context, *Timer, time.Time) { got = append(got, "epoch") })
		start := time.Now()
		for range 3 {
			loopOnce(t, ev)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("past-due timers took %v to fire", d)
		}
		if want := []string{"zero time", "epoch", "hour ago"}; !slices.Equal(got, want) {
			t.Errorf("fired %v, want %v", got, want)
		}
	})
}

// TestTimerWaits: LoopOnce with only a future timer waits for it and
// hands the handler a time not before the deadline.
func TestTimerWaits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		at := time.Now().Add(20 * time.Millisecond)
		var got time.Time
		ev.AddTimer(at, func(_ *Context, _ *Timer, now time.Time) { got = now })
		loopOnce(t, ev)
		if got.IsZero() {
			t.Fatal("LoopOnce returned before the timer fired")
		}
		if got.Before(at) || time.Now().Before(at) {
			t.Errorf("timer due %v fired at %v", at, got)
		}
	})
}

// TestTimerFreeSiblingSameDeadline: a timer's handler frees a
// not-yet-fired timer with the same deadline.
func TestTimerFreeSiblingSameDeadline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		at := time.Now()
		var got []string
		var b *Timer
		ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "a"); b.Free() })
		b = ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "b") })
		ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "c") })
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"a", "c"}; !slices.Equal(got, want) {
			t.Errorf("fired %v, want %v", got, want)
		}
	})
}

// TestNowCachedPerTurn: Now reads the clock once per loop turn, so two
// calls in one handler agree, and a later turn sees a later time.
func TestNowCachedPerTurn(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	w, err := ev.NewWrapper(WrapperHooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Free()

	var first, second, viaWrapper time.Time
	ev.NewImmediate().Schedule(func(ev *Context, im *Immediate) {
		first = ev.Now()
		spinUntil(t, "the clock to move", func() bool { return time.Since(first) > time.Millisecond })
		second = ev.Now()
		viaWrapper = w.Now()
	})
	loopOnce(t, ev)
	if !first.Equal(second) || !first.Equal(viaWrapper) {
		t.Fatalf("Now changed within one turn: %v, %v, wrapper %v", first, second, viaWrapper)
	}

	var later time.Time
	ev.AddTimer(time.Now().Add(-time.Second), func(ev *Context, _ *Timer, now time.Time) {
		later = ev.Now()
	})
	loopOnce(t, ev)
	if !later.After(second) {
		t.Fatalf("Now in a later turn %v is not after %v", later, second)
	}
	// Deadlines built from Now are on the monotonic clock.
	if d := time.Until(ev.Now()); d > 0 || d < -time.Minute {
		t.Fatalf("Now is %v from time.Now", -d)
	}
}

// TestTimerNowFreshAcrossLoopCalls: a timer handler's now (and Now) is
// read after the caller's code between loop calls ran, not cached from an
// earlier call: a due timer must not be handed a time from before it was
// added.
func TestTimerNowFreshAcrossLoopCalls(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	ev.NewImmediate().Schedule(func(ev *Context, im *Immediate) { _ = ev.Now() })
	loopOnce(t, ev) // the loop has read its clock
	mark := time.Now()
	spinUntil(t, "the clock to move", func() bool { return time.Since(mark) > 2*time.Millisecond })
	before := time.Now()
	var got, gotNow time.Time
	ev.AddTimer(before.Add(-time.Second), func(ev *Context, _ *Timer, now time.Time) {
		got, gotNow = now, ev.Now()
	})
	loopOnce(t, ev)
	if got.Before(before) {
		t.Fatalf("timer handler's now is %v older than the time it was added", before.Sub(got))
	}
	if !gotNow.Equal(got) {
		t.Fatalf("Now in the handler %v differs from its now %v", gotNow, got)
	}
}
