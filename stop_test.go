package tevent

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Context.Stop and Context.LoopContext: goroutine-safe ways to make a
// running loop return, leaving everything registered.

// TestStopFromAnotherGoroutine: Stop from another goroutine while the loop
// waits makes LoopWait return ErrStopped; what was registered stays, and
// the next loop call goes on from there. Also through a wrapper (Stop on
// the wrapper stops the shared loop).
func TestStopFromAnotherGoroutine(t *testing.T) {
	for _, via := range []string{"main", "wrapper"} {
		t.Run(via, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				on := ev
				if via == "wrapper" {
					w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
					if err != nil {
						t.Fatal(err)
					}
					on = w
				}
				fired := false
				tm := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { fired = true })
				done := goLoop(on.LoopWait)
				waitInKernel(t, ev)
				on.Stop()
				if err := loopResult(t, "LoopWait after Stop", done); !errors.Is(err, ErrStopped) {
					t.Fatalf("LoopWait after Stop: %v, want ErrStopped", err)
				}
				if tm.Freed() || fired || ev.IsFreed() {
					t.Fatalf("Stop changed what was registered: timer freed %v fired %v context freed %v", tm.Freed(), fired, ev.IsFreed())
				}
				// Once: the next call goes on.
				tm.Update(time.Now())
				if err := boundedLoop(t, "LoopWait", ev.LoopWait); err != nil || !fired {
					t.Fatalf("LoopWait after the stop: %v (timer fired %v)", err, fired)
				}
			})
		})
	}
}

// TestStopFromHandlerAndBeforeLoop: Stop from a handler ends the running
// loop call after the handler; Stop with no loop running makes the next
// loop call (LoopOnce too) return ErrStopped, once.
func TestStopFromHandlerAndBeforeLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		n := 0
		im := ev.NewImmediate()
		var h ImmediateHandler
		h = func(ev *Context, im *Immediate) {
			n++
			if n == 3 {
				ev.Stop()
			}
			im.Schedule(h)
		}
		im.Schedule(h)
		if err := ev.LoopWait(); !errors.Is(err, ErrStopped) || n != 3 {
			t.Fatalf("LoopWait: %v after %d runs, want ErrStopped after 3", err, n)
		}
		im.Schedule(nil)
		ev.Stop()
		if err := ev.LoopOnce(); !errors.Is(err, ErrStopped) {
			t.Fatalf("LoopOnce after Stop: %v, want ErrStopped", err)
		}
		im.Schedule(h)
		if err := ev.LoopOnce(); err != nil || n != 4 {
			t.Fatalf("LoopOnce after the stop was consumed: %v (runs %d)", err, n)
		}
	})
}

// TestLoopContext: LoopContext returns the context's cause once it is
// done (cancelled from another goroutine, deadline, cause), leaving
// everything registered; nil when nothing is left; ErrStopped after Stop;
// at once, without a turn, for a context already done.
func TestLoopContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tm := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})

		ctx, cancel := context.WithCancel(context.Background())
		done := goLoop(func() error { return ev.LoopContext(ctx) })
		waitInKernel(t, ev)
		cancel()
		if err := loopResult(t, "LoopContext", done); !errors.Is(err, context.Canceled) {
			t.Fatalf("LoopContext after cancel: %v, want context.Canceled", err)
		}
		if tm.Freed() {
			t.Fatal("LoopContext freed the timer")
		}

		cause := errors.New("shutting down")
		ctx2, cancel2 := context.WithCancelCause(context.Background())
		done = goLoop(func() error { return ev.LoopContext(ctx2) })
		waitInKernel(t, ev)
		cancel2(cause)
		if err := loopResult(t, "LoopContext", done); err != cause {
			t.Fatalf("LoopContext with a cause: %v, want the cause", err)
		}

		ctx3, cancel3 := context.WithDeadline(context.Background(), time.Now())
		defer cancel3()
		ran := false
		ev.NewImmediate().Schedule(func(*Context, *Immediate) { ran = true })
		if err := ev.LoopContext(ctx3); !errors.Is(err, context.DeadlineExceeded) || ran {
			t.Fatalf("LoopContext on a done context: %v (a turn ran: %v)", err, ran)
		}

		ctx4, cancel4 := context.WithCancel(context.Background())
		defer cancel4()
		done = goLoop(func() error { return ev.LoopContext(ctx4) })
		waitInKernel(t, ev)
		ev.Stop()
		if err := loopResult(t, "LoopContext", done); !errors.Is(err, ErrStopped) {
			t.Fatalf("LoopContext after Stop: %v, want ErrStopped", err)
		}

		tm.Free()
		if err := boundedLoop(t, "LoopContext", func() error { return ev.LoopContext(ctx4) }); err != nil || !ran {
			t.Fatalf("LoopContext with nothing left: %v (immediate ran %v)", err, ran)
		}
		// A context that never ends (Background) is plain LoopWait.
		if err := ev.LoopContext(context.Background()); err != nil {
			t.Fatalf("LoopContext(Background) with nothing left: %v", err)
		}
	})
}

// TestLoopContextAgain: a LoopContext that returned because its context
// was done leaves no trace: the next loop call runs normally.
func TestLoopContextAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		im := ev.NewImmediate()
		var h ImmediateHandler
		h = func(_ *Context, im *Immediate) {
			n++
			if n == 2 {
				cancel()
			}
			if n < 5 {
				im.Schedule(h)
			}
		}
		im.Schedule(h)
		if err := ev.LoopContext(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("LoopContext: %v", err)
		}
		if err := ev.LoopWait(); err != nil || n != 5 {
			t.Fatalf("LoopWait after LoopContext: %v, %d runs", err, n)
		}
	})
}
