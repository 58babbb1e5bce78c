package tevent

// Nesting and concurrent drivers: loop calls from handlers (AllowNesting) and from a second goroutine, and what each reports.

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestNestingRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var errs []error
		hookCalls := 0
		ev.SetNestingHook(func(*Context, bool) { hookCalls++ })
		inner := false
		ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) {
			ev.NewImmediate().Schedule(func(*Context, *Immediate) { inner = true })
			errs = append(errs, ev.LoopOnce(), ev.LoopWait(), ev.LoopUntil(func() bool { return inner }))
		})
		loopOnce(t, ev)
		if len(errs) != 3 {
			t.Fatal("timer did not run")
		}
		for i, err := range errs {
			expectErr(t, []string{"nested LoopOnce", "nested LoopWait", "nested LoopUntil"}[i], err, ErrNesting)
		}
		if inner || hookCalls != 0 {
			t.Errorf("refused nested loop ran something: inner=%v hook calls=%d", inner, hookCalls)
		}
		// The loop still works afterwards.
		loopOnce(t, ev)
		if !inner {
			t.Error("immediate scheduled by the timer did not run")
		}
	})
}

func TestNestingAllowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		ev.AllowNesting()
		var got []string
		ev.SetNestingHook(func(hev *Context, begin bool) {
			if hev != ev {
				t.Error("nesting hook given another context")
			}
			if begin {
				got = append(got, "begin")
			} else {
				got = append(got, "end")
			}
		})
		var nestedErr error
		ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) {
			got = append(got, "timer")
			ev.NewImmediate().Schedule(func(*Context, *Immediate) { got = append(got, "inner") })
			nestedErr = ev.LoopOnce()
			got = append(got, "timer done")
		})
		loopOnce(t, ev)
		if nestedErr != nil {
			t.Fatalf("nested LoopOnce: %v", nestedErr)
		}
		if want := []string{"timer", "begin", "inner", "end", "timer done"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		// Nested LoopUntil/LoopWait work too.
		got = nil
		done := false
		ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) {
			ev.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) { done = true })
			if err := ev.LoopUntil(func() bool { return done }); err != nil {
				t.Errorf("nested LoopUntil: %v", err)
			}
			if err := ev.LoopWait(); err != nil {
				t.Errorf("nested LoopWait: %v", err)
			}
		})
		loopOnce(t, ev)
		if !done || !slices.Equal(got, []string{"begin", "end", "begin", "end"}) {
			t.Errorf("done=%v hook calls %v", done, got)
		}
	})
}

// TestConcurrentDrivers: a second goroutine calling a loop function while
// another drives the context gets an error, not a data race.
func TestConcurrentDrivers(t *testing.T) {
	for _, driver := range []string{"LoopWait", "LoopOnce", "LoopUntil"} {
		t.Run(driver, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				tp, err := ev.NewThreadProxy()
				if err != nil {
					t.Fatal(err)
				}
				waiting := make(chan struct{})
				var once sync.Once
				ev.SetTraceCallback(func(p TracePoint) {
					if p == TraceBeforeWait {
						once.Do(func() { close(waiting) })
					}
				})
				stop := false
				loopErr := make(chan error, 1)
				go func() {
					switch driver {
					case "LoopWait":
						loopErr <- ev.LoopWait()
					case "LoopOnce":
						loopErr <- ev.LoopOnce()
					case "LoopUntil":
						loopErr <- ev.LoopUntil(func() bool { return stop })
					}
				}()
				waitChan(t, "the loop to wait", waiting)
				for _, call := range []func() error{ev.LoopOnce, ev.LoopWait, func() error { return ev.LoopUntil(func() bool { return true }) }} {
					err := call()
					if !errors.Is(err, ErrConcurrentUse) && !errors.Is(err, ErrNesting) {
						t.Errorf("second driver got %v, want ErrConcurrentUse or ErrNesting", err)
					}
				}
				if err := tp.Schedule(func(ev *Context) { stop = true; tp.Free() }); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-loopErr:
					if err != nil {
						t.Errorf("first driver: %v", err)
					}
				case <-time.After(testTimeout):
					t.Fatal("first driver did not return")
				}
				ev.SetTraceCallback(nil)
			})
		})
	}
}

// TestMisuseConcurrentDriveMessage: a loop call from a second goroutine
// while one drives the context is refused with ErrConcurrentUse, whose
// message names the fix; nothing runs on the wrong goroutine; also with
// AllowNesting, which must not let the second goroutine in as a "nested"
// call.
func TestMisuseConcurrentDriveMessage(t *testing.T) {
	for _, nesting := range []bool{false, true} {
		for _, driver := range []string{"LoopWait", "LoopUntil", "LoopOnce"} {
			name := driver
			if nesting {
				name += "+AllowNesting"
			}
			t.Run(name, func(t *testing.T) {
				withBackend(t, Backends()[0], func(t *testing.T, ev *Context) {
					if nesting {
						ev.AllowNesting()
					}
					tp, err := ev.NewThreadProxy()
					if err != nil {
						t.Fatal(err)
					}
					waiting := make(chan struct{})
					var once sync.Once
					ev.SetTraceCallback(func(p TracePoint) {
						if p == TraceBeforeWait {
							once.Do(func() { close(waiting) })
						}
					})
					loopG := make(chan int64, 1)
					ran := 0 // touched only by handlers, on the driver
					stop := false
					req := NewReq[int](&ev.Scope)
					res := make(chan error, 1)
					go func() {
						loopG <- goid()
						switch driver {
						case "LoopWait":
							res <- ev.LoopWait()
						case "LoopUntil":
							res <- ev.LoopUntil(func() bool { return stop })
						case "LoopOnce":
							res <- ev.LoopOnce()
						}
					}()
					g := <-loopG
					waitChan(t, "the loop to wait", waiting)
					// Something a wrongly admitted second driver would run.
					for _, call := range []struct {
						name string
						fn   func() error
					}{
						{"LoopOnce", ev.LoopOnce},
						{"LoopWait", ev.LoopWait},
						{"LoopUntil", func() error { return ev.LoopUntil(func() bool { return false }) }},
						{"Req.Poll", func() error { return req.Poll(ev) }},
					} {
						err := call.fn()
						if !errors.Is(err, ErrConcurrentUse) {
							t.Errorf("%s from a second goroutine: %v, want ErrConcurrentUse", call.name, err)
							continue
						}
						msg := err.Error()
						if !strings.Contains(msg, "goroutine") || !(strings.Contains(msg, "ThreadProxy") || strings.Contains(msg, "AllowNesting")) {
							t.Errorf("%s from a second goroutine: %q does not name the fix", call.name, msg)
						}
					}
					if err := tp.Schedule(func(ev *Context) {
						if goid() != g {
							t.Error("proxy call ran off the driver's goroutine")
						}
						ran++
						stop = true
						tp.Free()
					}); err != nil {
						t.Fatal(err)
					}
					select {
					case err := <-res:
						if err != nil {
							t.Errorf("driver %s: %v", driver, err)
						}
					case <-time.After(testTimeout):
						t.Fatal("driver did not return")
					}
					ev.SetTraceCallback(nil)
					req.Free()
					if ran != 1 {
						t.Errorf("proxy call ran %d times", ran)
					}
					// Now that the first driver is gone, this goroutine may
					// drive the context.
					fired := false
					ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired = true })
					loopOnce(t, ev)
					if !fired {
						t.Error("context unusable after the refused calls")
					}
				})
			})
		}
	}
}

// TestMisuseTwoDriversRace: two goroutines call LoopOnce on one context
// in a tight loop. Each call either handles one event or is refused with
// ErrConcurrentUse (or ErrNesting); every event runs exactly once and,
// under -race, no data race is reported.
func TestMisuseTwoDriversRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		const steps = 2000
		imSteps, timers := 0, 0
		im := ev.NewImmediate()
		var step ImmediateHandler
		var done atomic.Bool
		check := func() {
			if imSteps == steps && timers == 100 {
				done.Store(true)
			}
		}
		step = func(_ *Context, im *Immediate) {
			imSteps++
			if imSteps < steps {
				im.Schedule(step)
			}
			check()
		}
		im.Schedule(step)
		for i := range 100 {
			ev.AddTimer(time.Now().Add(time.Duration(i)*10*time.Microsecond), func(*Context, *Timer, time.Time) { timers++; check() })
		}
		var handled, refused [2]int
		var wg sync.WaitGroup
		for d := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(testTimeout)
				for !done.Load() {
					if time.Now().After(deadline) {
						t.Error("events not done in time")
						return
					}
					err := ev.LoopOnce()
					switch {
					case err == nil:
						handled[d]++
					case errors.Is(err, ErrConcurrentUse) || errors.Is(err, ErrNesting):
						refused[d]++
					case errors.Is(err, ErrNoEvents):
						done.Store(true)
					default:
						t.Errorf("driver %d: %v", d, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if imSteps != steps || timers != 100 {
			t.Errorf("ran %d immediates and %d timers, want %d and 100", imSteps, timers, steps)
		}
		if h := handled[0] + handled[1]; h != steps+100 {
			t.Errorf("%d LoopOnce calls handled something, want exactly %d", h, steps+100)
		}
		t.Logf("handled %v, refused %v", handled, refused)
	})
}

// TestMisuseNestedLoop: every loop function, called without AllowNesting
// from inside a handler of every kind, under every driver, returns
// ErrNesting with a message that names AllowNesting, runs nothing, and
// leaves the outer loop working.
func TestMisuseNestedLoop(t *testing.T) {
	inners := []struct {
		name string
		call func(ev *Context) error
	}{
		{"LoopOnce", (*Context).LoopOnce},
		{"LoopWait", (*Context).LoopWait},
		{"LoopUntil", func(ev *Context) error { return ev.LoopUntil(func() bool { return false }) }},
		{"Req.Poll", func(ev *Context) error { return NewReq[int](&ev.Scope).Poll(ev) }},
		{"wrapper LoopOnce", func(ev *Context) error {
			w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
			if err != nil {
				return err
			}
			defer w.Free()
			return w.LoopOnce()
		}},
	}
	kinds := []string{"timer", "immediate", "fd", "proxy", "signal", "request callback", "queue trigger"}
	drivers := []string{"LoopOnce", "LoopWait", "LoopUntil"}
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			withBackend(t, Backends()[0], func(t *testing.T, ev *Context) {
				for _, kind := range kinds {
					var errs []error
					canary := 0
					handler := func(ev *Context) {
						// Something a wrongly run nested loop would run.
						ev.NewImmediate().Schedule(func(*Context, *Immediate) { canary++ })
						before := canary
						for _, in := range inners {
							errs = append(errs, in.call(ev))
						}
						if canary != before {
							t.Errorf("%s/%s: a refused nested call ran a handler", driver, kind)
						}
					}
					ranAll := false
					switch kind {
					case "timer":
						ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) { handler(ev); ranAll = true })
					case "immediate":
						ev.NewImmediate().Schedule(func(ev *Context, _ *Immediate) { handler(ev); ranAll = true })
					case "fd":
						p := newSockPair(t)
						writeBytes(t, p.fd[1], "x")
						if _, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, _ FDFlags) {
							fde.Free()
							handler(ev)
							ranAll = true
						}); err != nil {
							t.Fatal(err)
						}
					case "proxy":
						tp, err := ev.NewThreadProxy()
						if err != nil {
							t.Fatal(err)
						}
						go tp.Schedule(func(ev *Context) { tp.Free(); handler(ev); ranAll = true })
					case "signal":
						if _, err := ev.AddSignal(syscall.SIGUSR2, 0, func(ev *Context, se *Signal, _ syscall.Signal, _ int, _ *SigInfo) {
							se.Free()
							handler(ev)
							ranAll = true
						}); err != nil {
							t.Fatal(err)
						}
						killSelf(t, syscall.SIGUSR2)
					case "request callback":
						r := Wakeup(&ev.Scope, time.Now())
						r.SetCallback(func(r *Req[struct{}]) { r.Free(); handler(ev); ranAll = true })
					case "queue trigger":
						q := ev.NewQueue("q")
						r := NewReq[int](&ev.Scope)
						q.Add(r, func(AnyReq) { handler(ev); r.Done(1); r.Free(); q.Free(); ranAll = true })
					}
					var err error
					switch driver {
					case "LoopOnce":
						driveUntil(t, ev, func() bool { return ranAll })
					case "LoopWait":
						// Every armed event frees itself: LoopWait returns
						// once it and the canary have run.
						err = ev.LoopWait()
					case "LoopUntil":
						err = ev.LoopUntil(func() bool { return ranAll })
					}
					if err != nil {
						t.Errorf("%s/%s: outer loop: %v", driver, kind, err)
					}
					if len(errs) != len(inners) {
						t.Fatalf("%s/%s: handler did not run", driver, kind)
					}
					for i, e := range errs {
						if !errors.Is(e, ErrNesting) {
							t.Errorf("%s/%s: nested %s: %v, want ErrNesting", driver, kind, inners[i].name, e)
						} else if !strings.Contains(e.Error(), "AllowNesting") {
							t.Errorf("%s/%s: nested %s: %q does not name AllowNesting", driver, kind, inners[i].name, e)
						}
					}
					// The outer loop goes on: the canary runs now.
					driveUntil(t, ev, func() bool { return canary == 1 })
				}
			})
		})
	}
}

// TestMisuseNestingAllowedInHandler: AllowNesting called from inside a
// handler whose loop was entered before it (with LoopOnce, which does not
// record its goroutine) records the driving goroutine then, so that very
// handler may nest, and so may later ones; another goroutine still may not.
func TestMisuseNestingAllowedInHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var first, second, other error
		inner := 0
		ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) {
			ev.NewImmediate().Schedule(func(*Context, *Immediate) { inner++ })
			ev.AllowNesting()
			first = ev.LoopOnce()
			done := make(chan struct{})
			go func() { other = ev.LoopOnce(); close(done) }()
			<-done
		})
		loopOnce(t, ev)
		if first != nil || inner != 1 {
			t.Errorf("nested LoopOnce in the handler that called AllowNesting: %v (inner ran %d times)", first, inner)
		}
		if !errors.Is(other, ErrConcurrentUse) {
			t.Errorf("LoopOnce from another goroutine inside a nesting handler: %v", other)
		}
		ran := false
		ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) {
			ev.NewImmediate().Schedule(func(*Context, *Immediate) { ran = true })
			second = ev.LoopOnce()
		})
		loopOnce(t, ev)
		if second != nil || !ran {
			t.Errorf("nested LoopOnce in a later handler: %v (ran: %v)", second, ran)
		}
	})
}
