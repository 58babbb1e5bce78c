package tevent

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Calls from other goroutines are C's threaded immediates
// (tevent_threaded_schedule_immediate): at the start of a loop turn the
// calls queued so far join the tail of the immediate queue
// (tevent_common_threaded_activate_immediate), behind the immediates
// already there, and then run one per turn like immediates.

// sendFrom schedules calls on tp from a goroutine of its own and waits
// until every Schedule has returned: the calls are then queued, and not
// yet taken by the loop, which runs on the test's goroutine.
func sendFrom(t *testing.T, tp *ThreadProxy, calls ...func(*Context)) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for _, fn := range calls {
			if err := tp.Schedule(fn); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Schedule did not return")
	}
}

// orderLog records what ran, one name per handler.
type orderLog []string

// forEachProxy runs fn on every backend with a thread proxy of the
// context and an empty order log.
func forEachProxy(t *testing.T, fn func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog)) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Free()
		var o orderLog
		fn(t, ev, tp, &o)
	})
}

func (o *orderLog) im(name string) ImmediateHandler {
	return func(*Context, *Immediate) { *o = append(*o, name) }
}

func (o *orderLog) call(name string) func(*Context) {
	return func(*Context) { *o = append(*o, name) }
}

func (o *orderLog) want(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(*o, want) {
		t.Fatalf("ran %v, want %v", *o, want)
	}
}

// runTurns runs n LoopOnce calls, each of which must handle one thing.
func runTurns(t *testing.T, ev *Context, n int) {
	t.Helper()
	for i := range n {
		if err := ev.LoopOnce(); err != nil {
			t.Fatalf("LoopOnce %d: %v", i, err)
		}
	}
}

// TestProxyCallsBehindImmediates: with immediates I1, I2 queued and calls
// c1, c2 sent from another goroutine, the loop runs I1 I2 c1 c2 (C's
// order), one per LoopOnce, and then a timer that was already due, then a
// ready fd: the calls have immediate priority, above both.
func TestProxyCallsBehindImmediates(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		ev.AddTimer(time.Now().Add(-time.Second), func(*Context, *Timer, time.Time) { *o = append(*o, "T") })
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		fde, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, f *FD, _ FDFlags) {
			*o = append(*o, "F")
			f.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer fde.Free()
		ev.NewImmediate().Schedule(o.im("I1"))
		ev.NewImmediate().Schedule(o.im("I2"))
		sendFrom(t, tp, o.call("c1"), o.call("c2"))
		runTurns(t, ev, 4)
		o.want(t, "I1", "I2", "c1", "c2")
		runTurns(t, ev, 1)
		o.want(t, "I1", "I2", "c1", "c2", "T")
		driveUntil(t, ev, func() bool { return len(*o) == 6 })
		o.want(t, "I1", "I2", "c1", "c2", "T", "F")
	})
}

// TestProxyCallScheduleImmediateRunsAfterBatch: a call that schedules an
// immediate, in a batch c1 c2 c3: the immediate runs after the whole
// batch (C runs c1 c2 c3 I1: the batch is already queued).
func TestProxyCallScheduleImmediateRunsAfterBatch(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		im := ev.NewImmediate()
		c1 := func(*Context) {
			*o = append(*o, "c1")
			im.Schedule(o.im("I1"))
		}
		sendFrom(t, tp, c1, o.call("c2"), o.call("c3"))
		runTurns(t, ev, 4)
		o.want(t, "c1", "c2", "c3", "I1")
	})
}

// TestProxyCallsJoinAtTurnStart: calls are taken at the start of each
// loop turn, not only when the calls taken before have all run. c1 (of
// batch c1 c2) has another goroutine send d1 and waits for it to be
// queued; on the next turn d1 joins the queue behind c2; then c2
// schedules immediate I1, which goes behind d1. C: c1 c2 d1 I1.
func TestProxyCallsJoinAtTurnStart(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		c1 := func(*Context) {
			*o = append(*o, "c1")
			sendFrom(t, tp, o.call("d1"))
		}
		c2 := func(*Context) {
			*o = append(*o, "c2")
			ev.NewImmediate().Schedule(o.im("I1"))
		}
		sendFrom(t, tp, c1, c2)
		runTurns(t, ev, 4)
		o.want(t, "c1", "c2", "d1", "I1")
	})
}

// TestProxyCallsInterleaveWithImmediateChain: a self-rescheduling
// immediate A and calls arriving in two batches: each batch waits only
// for the immediates queued before it. A c1 c2 A c3 A ...: the chain
// cannot starve the calls, and calls are not run ahead of it either.
func TestProxyCallsInterleaveWithImmediateChain(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		links := 0
		var a ImmediateHandler
		a = func(_ *Context, im *Immediate) {
			links++
			*o = append(*o, fmt.Sprintf("A%d", links))
			if links < 4 {
				im.Schedule(a)
			}
		}
		ev.NewImmediate().Schedule(a)
		sendFrom(t, tp, o.call("c1"), o.call("c2"))
		runTurns(t, ev, 1) // A1 (the calls join behind it), A2 goes behind them
		sendFrom(t, tp, o.call("c3"))
		runTurns(t, ev, 6)
		o.want(t, "A1", "c1", "c2", "A2", "c3", "A3", "A4")
	})
}

// TestProxyCallsOnePerTurn: every call is one LoopOnce, also when calls
// of a freed proxy are dropped between them (they do not count as the
// turn's one thing) and when a handed-over Free sits between them; calls
// of every proxy share the one queue, in the order they were sent.
func TestProxyCallsOnePerTurn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp1, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		tp2, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		defer tp1.Free()
		var o orderLog
		sendFrom(t, tp1, o.call("a1"))
		sendFrom(t, tp2, o.call("dropped1"), o.call("dropped2"))
		sendFrom(t, tp1, o.call("a2"))
		tp2.Free() // its calls are dropped, its free is handed over
		sendFrom(t, tp1, o.call("a3"))
		runTurns(t, ev, 3)
		o.want(t, "a1", "a2", "a3")
		if err := tp1.Schedule(o.call("a4")); err != nil {
			t.Fatal(err)
		}
		runTurns(t, ev, 1)
		o.want(t, "a1", "a2", "a3", "a4")
	})
}

// TestProxyCallsManyBatches: many batches arriving while a chain of
// immediates runs, from several goroutines: every call runs once, each
// sender's in order.
func TestProxyCallsManyBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		const senders, per = 4, 5000
		last := make([]int, senders)
		total, bad := 0, 0
		chain := 0
		var h ImmediateHandler
		h = func(_ *Context, im *Immediate) {
			if chain++; total < senders*per {
				im.Schedule(h)
			}
		}
		ev.NewImmediate().Schedule(h)
		done := make(chan struct{})
		for s := range senders {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := 1; i <= per; i++ {
					if err := tp.Schedule(func(*Context) {
						if last[s] != i-1 {
							bad++
						}
						last[s] = i
						total++
					}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		driveUntil(t, ev, func() bool { return total == senders*per })
		for range senders {
			waitChan(t, "a sender", done)
		}
		tp.Free()
		if bad != 0 {
			t.Fatalf("%d calls ran out of their sender's order", bad)
		}
	})
}

// TestProxyCallsBufferBounded: calls that keep coming while earlier ones
// are still queued (a sender keeping two in flight, each call waiting
// until the sender has queued the next, so that the calls taken never all
// run before more are taken) do not make the loop's buffer of taken calls
// grow with the number of calls.
func TestProxyCallsBufferBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		const n = 20000
		ran, maxCap := 0, 0
		next := make(chan struct{}, 1)
		sent := make(chan struct{}, 1)
		failed := false
		call := func(*Context) {
			ran++
			if ran > n-2 || failed {
				return // the sender sends no more
			}
			next <- struct{}{}
			select {
			case <-sent:
			case <-time.After(testTimeout):
				t.Error("the sender did not queue the next call")
				failed = true
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				if i >= 2 {
					select {
					case <-next: // a call in flight ran and waits for the next
					case <-time.After(testTimeout):
						t.Error("the loop stopped running calls")
						return
					}
				}
				if err := tp.Schedule(call); err != nil {
					t.Error(err)
					return
				}
				if i >= 2 {
					sent <- struct{}{}
				}
			}
		}()
		driveUntil(t, ev, func() bool {
			maxCap = max(maxCap, cap(ev.loop.local))
			return ran == n || failed
		})
		waitChan(t, "the sender", done)
		tp.Free()
		if maxCap > 256 {
			t.Fatalf("the loop's buffer of taken calls grew to %d entries with at most 2 calls queued", maxCap)
		}
	})
}

// TestProxyCallBehindImmediateAllocs: a call queued behind an immediate
// (the segment node path) allocates nothing once the loop is warm: the
// nodes are reused.
func TestProxyCallBehindImmediateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are checked in full runs")
	}
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Free()
		im := ev.NewImmediate()
		h := func(*Context, *Immediate) {}
		fn := func(*Context) {}
		turn := func() {
			im.Schedule(h)
			if err := tp.Schedule(fn); err != nil {
				t.Fatal(err)
			}
			loopOnce(t, ev) // the immediate; the call joins behind it
			im.Schedule(h)  // behind the call
			loopOnce(t, ev) // the call
			loopOnce(t, ev) // the immediate
		}
		for range 64 {
			turn()
		}
		if n := testing.AllocsPerRun(1000, turn); n != 0 {
			t.Errorf("call behind an immediate: %v allocations, want 0", n)
		}
	})
}

// The turns below start with only calls queued, none behind an immediate.
// A loop that skipped reading the call counter on such turns (to spare
// the cache line the producers write on every call) and placed the calls
// when an immediate is queued would get the second test wrong: it cannot
// tell a call sent before the turn started from one sent during it.

// TestProxyCallsSentBeforeTurnAheadOfItsImmediate: batch c1 c2; after c1's
// turn d1 is sent; c2 then schedules immediate I1. d1 was queued when c2's
// turn started, so it joined the queue then, ahead of I1. C: c1 c2 d1 I1.
func TestProxyCallsSentBeforeTurnAheadOfItsImmediate(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		c2 := func(*Context) {
			*o = append(*o, "c2")
			ev.NewImmediate().Schedule(o.im("I1"))
		}
		sendFrom(t, tp, o.call("c1"), c2)
		runTurns(t, ev, 1)
		sendFrom(t, tp, o.call("d1"))
		runTurns(t, ev, 3)
		o.want(t, "c1", "c2", "d1", "I1")
	})
}

// TestProxyCallsSentDuringTurnBehindItsImmediate: batch c1 c2 c3; c2 has
// another goroutine send d1, waits until it is queued, and then schedules
// immediate I1. d1 came after c2's turn started, so it joins on the next
// turn, behind I1 and c3. C: c1 c2 c3 I1 d1.
func TestProxyCallsSentDuringTurnBehindItsImmediate(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		c2 := func(*Context) {
			*o = append(*o, "c2")
			sendFrom(t, tp, o.call("d1"))
			ev.NewImmediate().Schedule(o.im("I1"))
		}
		sendFrom(t, tp, o.call("c1"), c2, o.call("c3"))
		runTurns(t, ev, 5)
		o.want(t, "c1", "c2", "c3", "I1", "d1")
	})
}

// TestProxyCallsSentBetweenTurnsBehindCallersImmediate: batch c1 c2; after
// c1's turn d1 is sent and the loop's caller schedules immediate I1, both
// between two turns. I1 is queued before the next turn starts and d1
// joins then, behind it. C: c1 c2 I1 d1.
func TestProxyCallsSentBetweenTurnsBehindCallersImmediate(t *testing.T) {
	forEachProxy(t, func(t *testing.T, ev *Context, tp *ThreadProxy, o *orderLog) {
		sendFrom(t, tp, o.call("c1"), o.call("c2"))
		runTurns(t, ev, 1)
		sendFrom(t, tp, o.call("d1"))
		ev.NewImmediate().Schedule(o.im("I1"))
		runTurns(t, ev, 3)
		o.want(t, "c1", "c2", "I1", "d1")
	})
}
