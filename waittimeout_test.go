package tevent

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWaitTimeoutPolling: SetWaitTimeout(0) is tevent's polling mode
// (tevent_context_set_wait_timeout(ev, 0)): LoopOnce handles one ready
// thing per call (an immediate, an expired timer, a readable fd) and
// returns ErrWouldBlock at once when nothing is ready, leaving everything
// registered; a timer not yet due does not make it wait. ErrNoEvents still
// comes first when nothing could ever fire.
func TestWaitTimeoutPolling(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		if old := ev.SetWaitTimeout(0); old >= 0 {
			t.Fatalf("the default wait timeout is %v, want a negative one (no bound)", old)
		}
		expectErr(t, "LoopOnce with no events", ev.LoopOnce(), ErrNoEvents)

		far := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { t.Error("the far timer fired") })
		p := newSockPair(t)
		reads := 0
		fde, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, f *FD, _ FDFlags) {
			reads++
			var b [8]byte
			if _, err := unix.Read(f.Fd(), b[:]); err != nil {
				t.Error(err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing ready: ErrWouldBlock, as often as asked.
		for i := range 3 {
			if err := boundedLoop(t, "LoopOnce, nothing ready", ev.LoopOnce); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("LoopOnce %d with nothing ready: %v, want ErrWouldBlock", i, err)
			}
		}
		// One ready thing of each kind, one per LoopOnce, in priority order.
		var order []string
		ev.NewImmediate().Schedule(func(*Context, *Immediate) { order = append(order, "immediate") })
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { order = append(order, "timer") })
		writeBytes(t, p.fd[1], "x")
		for range 2 {
			loopOnce(t, ev)
		}
		for reads == 0 {
			// The fd: found by a wait that does not block. (A socketpair
			// is readable as soon as the write returns.)
			if err := ev.LoopOnce(); err != nil {
				t.Fatalf("LoopOnce with the fd readable: %v", err)
			}
		}
		if len(order) != 2 || order[0] != "immediate" || order[1] != "timer" || reads != 1 {
			t.Fatalf("ran %v and %d reads, want [immediate timer] then one read", order, reads)
		}
		expectErr(t, "LoopOnce after everything ready ran", ev.LoopOnce(), ErrWouldBlock)
		if far.Freed() || fde.Freed() {
			t.Fatal("polling freed an event")
		}
		far.Free()
		fde.Free()
		expectErr(t, "LoopOnce with nothing left", ev.LoopOnce(), ErrNoEvents)
	})
}

// TestWaitTimeoutPollingLoops: in polling mode LoopWait, LoopUntil,
// LoopContext and Req.Poll run what is ready and then return
// ErrWouldBlock, as tevent_loop_wait, tevent_loop_until and
// tevent_req_poll return -1 with errno EAGAIN (smbXcli_conn_is_connected's
// use: the request stays in progress). Through a wrapper too: it shares
// its main context's wait timeout.
func TestWaitTimeoutPollingLoops(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		w.SetWaitTimeout(0)
		ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
		ran := 0
		im := ev.NewImmediate()
		var h ImmediateHandler
		h = func(_ *Context, im *Immediate) {
			if ran++; ran < 3 {
				im.Schedule(h)
			}
		}
		im.Schedule(h)
		if err := boundedLoop(t, "LoopWait", ev.LoopWait); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("LoopWait in polling mode: %v, want ErrWouldBlock", err)
		}
		if ran != 3 {
			t.Fatalf("LoopWait ran the immediate %d times before returning, want 3", ran)
		}
		if err := boundedLoop(t, "LoopUntil", func() error { return w.LoopUntil(func() bool { return false }) }); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("LoopUntil in polling mode: %v, want ErrWouldBlock", err)
		}
		if err := boundedLoop(t, "LoopContext", func() error { return ev.LoopContext(t.Context()) }); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("LoopContext in polling mode: %v, want ErrWouldBlock", err)
		}
		req := Wakeup(ev, time.Now().Add(time.Hour))
		if err := boundedLoop(t, "Poll", func() error { return req.Poll(ev) }); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("Poll in polling mode: %v, want ErrWouldBlock", err)
		}
		if !req.IsInProgress() {
			t.Fatal("the polled request is no longer in progress")
		}
		req.Free()
	})
}

// TestWaitTimeoutBounded: with a positive wait timeout LoopOnce returns
// ErrWouldBlock when it passes with nothing handled, even with a timer due
// later; LoopWait and Req.Poll keep waiting through those ticks until
// their event comes, and LoopUntil checks its condition after each tick,
// so one set by another goroutine without any event is seen. A negative
// value restores waiting as long as needed. Also with the runtime poller,
// and with an fd registered (a kernel wait rather than a parked
// goroutine).
func TestWaitTimeoutBounded(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithRuntimePoller()}} {
		for _, withFD := range []bool{false, true} {
			name := fmt.Sprintf("runtimePoller=%v/fd=%v", opts != nil, withFD)
			t.Run(name, func(t *testing.T) {
				forEachBackendOpts(t, opts, func(t *testing.T, ev *Context) {
					var fde *FD
					if withFD {
						p := newSockPair(t)
						var err error
						if fde, err = ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { t.Error("the idle fd fired") }); err != nil {
							t.Fatal(err)
						}
					}
					testWaitTimeoutBounded(t, ev, fde)
				})
			})
		}
	}
}

// testWaitTimeoutBounded is TestWaitTimeoutBounded on ev; fde, if not
// nil, is an idle fd event, freed when LoopWait should return.
func testWaitTimeoutBounded(t *testing.T, ev *Context, fde *FD) {
	const tick = 2 * time.Millisecond
	{
		if old := ev.SetWaitTimeout(tick); old >= 0 {
			t.Fatalf("previous wait timeout %v, want the default (negative)", old)
		}
		if old := ev.SetWaitTimeout(tick); old != tick {
			t.Fatalf("previous wait timeout %v, want %v", old, tick)
		}
		far := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { t.Error("the far timer fired") })
		if err := boundedLoop(t, "LoopOnce", ev.LoopOnce); !errors.Is(err, ErrWouldBlock) {
			t.Fatalf("LoopOnce with only a far timer: %v, want ErrWouldBlock", err)
		}

		// LoopWait rides out the ticks until the timer 10 ticks away.
		fired := 0
		ev.AddTimer(time.Now().Add(10*tick), func(*Context, *Timer, time.Time) {
			fired++
			far.Free()
			if fde != nil {
				fde.Free()
			}
		})
		if err := boundedLoop(t, "LoopWait", ev.LoopWait); err != nil {
			t.Fatalf("LoopWait with a wait timeout: %v", err)
		}
		if fired != 1 {
			t.Fatalf("the near timer fired %d times, want 1", fired)
		}

		// Req.Poll too.
		req := Wakeup(ev, time.Now().Add(10*tick))
		if err := boundedLoop(t, "Poll", func() error { return req.Poll(nil) }); err != nil {
			t.Fatalf("Poll with a wait timeout: %v", err)
		}
		if _, err := req.Result(); err != nil {
			t.Fatal(err)
		}

		// LoopUntil sees a flag another goroutine sets, with no event.
		keep := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
		var flag atomic.Bool
		started := make(chan struct{})
		go func() { <-started; flag.Store(true) }()
		close(started)
		if err := boundedLoop(t, "LoopUntil", func() error { return ev.LoopUntil(flag.Load) }); err != nil {
			t.Fatalf("LoopUntil with a wait timeout: %v", err)
		}

		// Back to no bound: LoopOnce waits for the timer instead.
		if old := ev.SetWaitTimeout(-5); old != tick {
			t.Fatalf("previous wait timeout %v, want %v", old, tick)
		}
		keep.Free()
		ran := false
		ev.AddTimer(time.Now().Add(10*tick), func(*Context, *Timer, time.Time) { ran = true })
		if err := boundedLoop(t, "LoopOnce", ev.LoopOnce); err != nil || !ran {
			t.Fatalf("LoopOnce without a wait timeout: %v, timer ran %v; want nil and true", err, ran)
		}
	}
}

// TestWaitTimeoutProxyWakes: a call from another goroutine during a
// bounded wait is handled by that LoopOnce (it is what happened), not
// reported as ErrWouldBlock.
func TestWaitTimeoutProxyWakes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		ev.SetWaitTimeout(testTimeout)
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		done := goLoop(ev.LoopOnce)
		waitBlocked(t, ev)
		if err := tp.Schedule(func(*Context) { ran = true }); err != nil {
			t.Fatal(err)
		}
		if err := loopResult(t, "LoopOnce", done); err != nil || !ran {
			t.Fatalf("LoopOnce: %v, call ran %v; want nil and true", err, ran)
		}
		tp.Free()
	})
}
