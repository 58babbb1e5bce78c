package tevent

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A panic in a Go function (issue 12, item 6) and the pool's result
// delivery after a wrapper is freed (item 7).

// errBoom is what the panicking Go functions panic with.
var errBoom = errors.New("boom")

// recoverLoop runs one loop call and returns what it panicked with.
func recoverLoop(loop func() error) (p any, err error) {
	defer func() { p = recover() }()
	return nil, loop()
}

// panickingGoFn is a Go function that panics, named so that its frame can
// be found in the stack carried by the PanicError.
func panickingGoFn(context.Context) (int, error) { panic(errBoom) }

// checkPanicError checks that p is the *PanicError of panickingGoFn.
func checkPanicError(t *testing.T, p any) {
	t.Helper()
	pe, ok := p.(*PanicError)
	if !ok {
		t.Fatalf("the loop call panicked with %T %v, want *PanicError", p, p)
	}
	if pe.Value != errBoom || !errors.Is(pe, errBoom) {
		t.Fatalf("PanicError.Value = %v, want errBoom (and errors.Is through Unwrap)", pe.Value)
	}
	if want := "tevent: panic in a Go function: boom\n"; !strings.HasPrefix(pe.Error(), want) {
		t.Fatalf("PanicError.Error() = %q, want it to begin %q", pe.Error(), want)
	}
	if !strings.Contains(string(pe.Stack), "panickingGoFn") {
		t.Fatalf("PanicError.Stack does not show the pool goroutine's frame:\n%s", pe.Stack)
	}
}

// TestGoPanicSurfacesOnLoop: a panic in a Go function finishes the request
// with *PanicError and re-raises it from the loop call that delivers it,
// on the loop's goroutine, where it can be recovered: from LoopOnce, from
// LoopWait, and for a request made through a wrapper. The loop keeps
// working after the panic was recovered.
func TestGoPanicSurfacesOnLoop(t *testing.T) {
	for _, how := range []string{"LoopOnce", "LoopWait", "wrapper"} {
		t.Run(how, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				on := ev
				if how == "wrapper" {
					w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
					if err != nil {
						t.Fatal(err)
					}
					on = w
				}
				r := Go(on, panickingGoFn)
				var p any
				for p == nil && r.State() == ReqInProgress {
					var err error
					loop := ev.LoopOnce
					if how == "LoopWait" {
						loop = ev.LoopWait
					}
					p, err = recoverLoop(loop)
					if p == nil && err != nil {
						t.Fatalf("%s: %v", how, err)
					}
				}
				checkPanicError(t, p)
				if r.State() != ReqUserError {
					t.Fatalf("request state %v, want ReqUserError", r.State())
				}
				_, err := r.Result()
				var pe *PanicError
				if !errors.As(err, &pe) || pe.Value != errBoom {
					t.Fatalf("Result error %v, want the *PanicError", err)
				}
				// The loop is usable again on this goroutine.
				r2 := Go(ev, func(context.Context) (int, error) { return 7, nil })
				driveUntil(t, ev, func() bool { return r2.State() != ReqInProgress })
				if v, err := r2.Result(); v != 7 || err != nil {
					t.Fatalf("Go after the recovered panic: %v, %v", v, err)
				}
			})
		})
	}
}

// TestHandlerPanicLeavesLoopUsable: a handler's panic recovered by the
// caller of LoopOnce leaves the loop usable (not marked running for
// good), like one recovered from LoopWait.
func TestHandlerPanicLeavesLoopUsable(t *testing.T) {
	for _, how := range []string{"LoopOnce", "LoopOnce-traced", "LoopWait", "wrapper"} {
		t.Run(how, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				loop := ev.LoopOnce
				switch how {
				case "LoopOnce-traced":
					ev.SetTraceCallback(func(TracePoint) {})
				case "LoopWait":
					loop = ev.LoopWait
				case "wrapper":
					w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
					if err != nil {
						t.Fatal(err)
					}
					loop = w.LoopOnce
				}
				ev.NewImmediate().Schedule(func(*Context, *Immediate) { panic(errBoom) })
				if p, _ := recoverLoop(loop); p != errBoom {
					t.Fatalf("%s panicked with %v, want errBoom", how, p)
				}
				ran := false
				ev.NewImmediate().Schedule(func(*Context, *Immediate) { ran = true })
				if err := ev.LoopOnce(); err != nil || !ran {
					t.Fatalf("LoopOnce after a recovered handler panic: %v (ran %v)", err, ran)
				}
			})
		})
	}
}

// TestGoAfterWrapperFreed: the first Go call of a context made through a
// wrapper must not give the wrapper the pool's result delivery: once the
// wrapper is freed, running and later Go requests of the main context
// still finish, and WithPoolSize still applies.
func TestGoAfterWrapperFreed(t *testing.T) {
	forEachBackendOpts(t, []Option{WithPoolSize(1)}, func(t *testing.T, ev *Context) {
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		rw := Go(w, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
		rmain := Go(ev, func(context.Context) (int, error) { <-release; return 1, nil })
		if got := ev.loop.pool.size; got != 1 {
			t.Fatalf("pool size %d, want WithPoolSize's 1", got)
		}
		w.Free() // frees rw, whose job is cancelled
		if rw.State() != ReqReceived {
			t.Fatalf("the wrapper's request: state %v, want received (freed)", rw.State())
		}
		close(release)
		if err := boundedLoop(t, "Poll", func() error { return rmain.Poll(ev) }); err != nil {
			t.Fatalf("Poll of the main context's request after the wrapper was freed: %v", err)
		}
		if v, err := rmain.Result(); v != 1 || err != nil {
			t.Fatalf("Result: %v, %v", v, err)
		}
		later := Go(ev, func(context.Context) (int, error) { return 2, nil })
		if err := boundedLoop(t, "Poll", func() error { return later.Poll(ev) }); err != nil {
			t.Fatalf("Poll of a later Go request: %v", err)
		}
		if v, err := later.Result(); v != 2 || err != nil {
			t.Fatalf("Result: %v, %v", v, err)
		}
	})
}
