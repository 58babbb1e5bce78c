package tevent

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWrapperHooksAroundEveryHandler: events added through a wrapper run
// between its before and after hooks, get the wrapper as their context,
// and share the main context's loop.
func TestWrapperHooksAroundEveryHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var log []string
		add := func(s string) { log = append(log, s) }
		w, err := ev.NewWrapper(WrapperHooks{
			Name:                   "test",
			BeforeFDHandler:        func(w *Context, f *FD, fl FDFlags) { add("before-fd") },
			AfterFDHandler:         func(w *Context, f *FD, fl FDFlags) { add("after-fd") },
			BeforeTimerHandler:     func(w *Context, te *Timer, now time.Time) { add("before-timer") },
			AfterTimerHandler:      func(w *Context, te *Timer, now time.Time) { add("after-timer") },
			BeforeImmediateHandler: func(w *Context, im *Immediate) { add("before-imm") },
			AfterImmediateHandler:  func(w *Context, im *Immediate) { add("after-imm") },
			BeforeSignalHandler:    func(w *Context, se *Signal, sig syscall.Signal, n int) { add("before-sig") },
			AfterSignalHandler:     func(w *Context, se *Signal, sig syscall.Signal, n int) { add("after-sig") },
		})
		if err != nil {
			t.Fatal(err)
		}
		if !SameLoop(ev, w) || !w.IsWrapper() || w.Main() != ev || ev.IsWrapper() {
			t.Fatal("wrapper does not report sharing the main loop")
		}
		other, _ := New()
		defer other.Free()
		if SameLoop(ev, other) || SameLoop(w, other) {
			t.Fatal("SameLoop true for different contexts")
		}
		var gotCtx []*Context
		w.NewImmediate().Schedule(func(c *Context, im *Immediate) { add("imm"); gotCtx = append(gotCtx, c) })
		loopOnce(t, ev)
		w.AddTimer(time.Now(), func(c *Context, te *Timer, now time.Time) { add("timer"); gotCtx = append(gotCtx, c) })
		loopOnce(t, ev)
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		fde, err := w.AddFD(p.fd[0], FDRead, func(c *Context, f *FD, fl FDFlags) {
			add("fd")
			gotCtx = append(gotCtx, c)
			f.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		if fde.Context() != w {
			t.Fatal("FD.Context() is not the wrapper")
		}
		loopOnce(t, ev)
		se, err := w.AddSignal(syscall.SIGUSR2, 0, func(c *Context, se *Signal, sig syscall.Signal, n int, _ *SigInfo) {
			add("sig")
			gotCtx = append(gotCtx, c)
			se.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		unix.Kill(unix.Getpid(), syscall.SIGUSR2)
		driveUntil(t, ev, func() bool { return len(gotCtx) == 4 })
		_ = se
		want := "before-imm imm after-imm before-timer timer after-timer before-fd fd after-fd before-sig sig after-sig"
		if got := strings.Join(log, " "); got != want {
			t.Fatalf("hook order\n got %s\nwant %s", got, want)
		}
		for i, c := range gotCtx {
			if c != w {
				t.Fatalf("handler %d got context %p, want the wrapper %p", i, c, w)
			}
		}
	})
}

// TestWrapperFreeFreesOnlyItsEvents: freeing the wrapper frees its events
// and leaves the main context and its events alive; freeing the main
// context frees the wrapper.
func TestWrapperFreeFreesOnlyItsEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		w, _ := ev.NewWrapper(WrapperHooks{})
		wFired, mFired := false, false
		w.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { wFired = true })
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { mFired = true })
		p := newSockPair(t)
		closed := -1
		fde, _ := w.AddFD(p.give(0), FDRead, func(*Context, *FD, FDFlags) {})
		fde.SetCloseFn(func(c *Context, f *FD, fd int) { closed = fd; unix.Close(fd) })
		w.Free()
		if !w.IsFreed() || ev.IsFreed() {
			t.Fatal("freeing the wrapper freed the main context, or not itself")
		}
		if closed != p.fd[0] {
			t.Fatalf("wrapper's fd event not freed: close fn got %d", closed)
		}
		if _, err := w.AddFD(p.fd[1], FDRead, func(*Context, *FD, FDFlags) {}); !errors.Is(err, ErrFreed) {
			t.Fatalf("AddFD on a freed wrapper: %v, want ErrFreed", err)
		}
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if wFired || !mFired {
			t.Fatalf("wrapper timer fired=%v (want false), main timer fired=%v (want true)", wFired, mFired)
		}
		w2, _ := ev.NewWrapper(WrapperHooks{})
		ev.Free()
		if !w2.IsFreed() {
			t.Fatal("freeing the main context did not free its wrapper")
		}
		if err := w2.LoopOnce(); !errors.Is(err, ErrFreed) {
			t.Fatalf("LoopOnce on a freed wrapper: %v", err)
		}
	})
}

// TestWrapperUse: PushUse/PopUse call the use hooks; a refusing BeforeUse
// fails PushUse and loop calls through the wrapper; loop calls through an
// accepting wrapper run the main loop between the hooks.
func TestWrapperUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var log []string
		allow := true
		w, _ := ev.NewWrapper(WrapperHooks{
			BeforeUse: func(w *Context) bool { log = append(log, "before"); return allow },
			AfterUse:  func(w *Context) { log = append(log, "after") },
		})
		if !w.PushUse() {
			t.Fatal("PushUse refused")
		}
		w.PopUse()
		ran := false
		ev.NewImmediate().Schedule(func(*Context, *Immediate) { ran = true; log = append(log, "imm") })
		if err := w.LoopOnce(); err != nil || !ran {
			t.Fatalf("LoopOnce through wrapper: err=%v ran=%v", err, ran)
		}
		allow = false
		if w.PushUse() {
			t.Fatal("PushUse succeeded though BeforeUse refused")
		}
		if err := w.LoopOnce(); err == nil {
			t.Fatal("LoopOnce through a refusing wrapper succeeded")
		}
		if got, want := strings.Join(log, " "), "before after before imm after before before"; got != want {
			t.Fatalf("use hooks\n got %s\nwant %s", got, want)
		}
		if !ev.PushUse() {
			t.Fatal("PushUse on a live main context is false")
		}
		ev.PopUse()
	})
}

// TestEventTraceCallbacks: attach, before-handler and detach are reported
// for every kind of event, and a getter lets a second component chain.
func TestEventTraceCallbacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var log []string
		note := func(kind string, p EventTracePoint) { log = append(log, kind+":"+p.String()) }
		ev.SetFDTraceCallback(func(f *FD, p EventTracePoint) { note("fd", p) })
		ev.SetTimerTraceCallback(func(te *Timer, p EventTracePoint) { note("timer", p) })
		ev.SetImmediateTraceCallback(func(im *Immediate, p EventTracePoint) { note("imm", p) })
		ev.SetSignalTraceCallback(func(se *Signal, p EventTracePoint) { note("sig", p) })
		// A second component chains to the first.
		prev := ev.TimerTraceCallback()
		chained := 0
		ev.SetTimerTraceCallback(func(te *Timer, p EventTracePoint) { chained++; prev(te, p) })

		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) {})
		loopOnce(t, ev)
		cancelled := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
		cancelled.Free()
		im := ev.NewImmediate()
		im.Schedule(func(*Context, *Immediate) {})
		loopOnce(t, ev)
		im.Schedule(func(*Context, *Immediate) {})
		im.Schedule(nil)
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		f, _ := ev.AddFD(p.fd[0], FDRead, func(c *Context, f *FD, fl FDFlags) { f.Free() })
		_ = f
		loopOnce(t, ev)
		se, _ := ev.AddSignal(syscall.SIGUSR2, 0, func(c *Context, se *Signal, sig syscall.Signal, n int, _ *SigInfo) {})
		se.Free()
		want := "timer:attach timer:before-handler timer:detach timer:attach timer:detach " +
			"imm:attach imm:before-handler imm:attach imm:detach " +
			"fd:attach fd:before-handler fd:detach sig:attach sig:detach"
		if got := strings.Join(log, " "); got != want {
			t.Fatalf("trace\n got %s\nwant %s", got, want)
		}
		if chained != 5 {
			t.Fatalf("chained timer callback called %d times, want 5", chained)
		}
		ev.SetFDTraceCallback(nil)
		if ev.FDTraceCallback() != nil {
			t.Fatal("SetFDTraceCallback(nil) did not reset")
		}
	})
}

// TestLoggerLevels: silent without a logger; with one, trace output at
// debug level and a nesting misuse at tevent's fatal level.
func TestLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ev, err := New(WithLogger(l))
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	ev.AddTimer(time.Now(), func(ev *Context, te *Timer, now time.Time) {
		if err := ev.LoopOnce(); !errors.Is(err, ErrNesting) {
			t.Errorf("nested LoopOnce: %v", err)
		}
	})
	ev.NewImmediate().Schedule(func(*Context, *Immediate) {})
	loopOnce(t, ev)
	loopOnce(t, ev)
	out := buf.String()
	for _, want := range []string{
		"level=DEBUG msg=\"tevent: added timed event\"",
		"level=DEBUG msg=\"tevent: schedule immediate event\"",
		"level=DEBUG msg=\"tevent: run immediate event\"",
		"level=DEBUG msg=\"tevent: ending timer event\"",
		fmt.Sprintf("level=%s msg=\"tevent: loop function nested without AllowNesting\"", levelFatal),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q; got:\n%s", want, out)
		}
	}
}

// TestWrapperLoopFromSecondGoroutine (issue 12, item 11): a loop call
// through a wrapper from a second goroutine, while another goroutine runs
// the loop (through the main context or a wrapper, waiting or running a
// handler), is refused with ErrConcurrentUse before the wrapper's hooks
// run or its use count changes: no data race, as with a main context.
func TestWrapperLoopFromSecondGoroutine(t *testing.T) {
	for _, driver := range []string{"main", "wrapper", "nesting"} {
		t.Run(driver, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				uses := 0
				w, err := ev.NewWrapper(WrapperHooks{Name: "w",
					BeforeUse: func(*Context) bool { uses++; return true },
					AfterUse:  func(*Context) { uses-- },
				})
				if err != nil {
					t.Fatal(err)
				}
				if driver == "nesting" {
					ev.AllowNesting()
				}
				tp, err := ev.NewThreadProxy()
				if err != nil {
					t.Fatal(err)
				}
				drive := ev.LoopWait
				if driver == "wrapper" {
					drive = w.LoopWait
				}
				done := goLoop(drive)
				waitInKernel(t, ev)
				for _, call := range []struct {
					name string
					fn   func() error
				}{
					{"LoopOnce", w.LoopOnce},
					{"LoopWait", w.LoopWait},
					{"LoopUntil", func() error { return w.LoopUntil(func() bool { return true }) }},
				} {
					if err := call.fn(); !errors.Is(err, ErrConcurrentUse) {
						t.Errorf("wrapper %s from a second goroutine: %v, want ErrConcurrentUse", call.name, err)
					}
				}
				var usesSeen int
				if err := tp.Schedule(func(*Context) { usesSeen = uses; tp.Free() }); err != nil {
					t.Fatal(err)
				}
				if err := loopResult(t, "the driving loop", done); err != nil {
					t.Fatal(err)
				}
				want := 0
				if driver == "wrapper" {
					want = 1 // the driver's own use
				}
				if usesSeen != want || w.wrap.uses != 0 {
					t.Fatalf("uses during the loop %d (want %d), after %d (want 0)", usesSeen, want, w.wrap.uses)
				}
			})
		})
	}
}

// TestWrapperLoopFromSecondGoroutineDuringHandler: the same while the
// loop runs a handler, not waiting: the second goroutine's call through
// the wrapper must not run the BeforeUse hook, which would race with the
// handler over the state they share.
func TestWrapperLoopFromSecondGoroutineDuringHandler(t *testing.T) {
	for _, driver := range []string{"LoopWait", "LoopOnce"} {
		t.Run(driver, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				shared := 0
				w, err := ev.NewWrapper(WrapperHooks{Name: "w",
					BeforeUse: func(*Context) bool { shared++; return true },
				})
				if err != nil {
					t.Fatal(err)
				}
				inHandler := make(chan struct{})
				var stop atomic.Bool
				w.NewImmediate().Schedule(func(*Context, *Immediate) {
					close(inHandler)
					deadline := time.Now().Add(testTimeout)
					for !stop.Load() && time.Now().Before(deadline) {
						shared++
					}
				})
				drive := w.LoopWait
				if driver == "LoopOnce" {
					drive = w.LoopOnce
				}
				done := goLoop(drive)
				waitChan(t, "the handler", inHandler)
				err = w.LoopOnce()
				stop.Store(true)
				if !errors.Is(err, ErrConcurrentUse) {
					t.Errorf("wrapper LoopOnce from a second goroutine during a handler: %v, want ErrConcurrentUse", err)
				}
				if err := loopResult(t, "the driving loop", done); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
