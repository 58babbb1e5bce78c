package tevent

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Calls from another goroutine while a loop runs (issue 12, items 1 and
// 5): frees are handed over to the loop, creations are refused, and a loop
// whose last event source is freed that way returns.

// goLoop runs loop (a loop call on ev) on a goroutine of its own and
// returns the channel its result arrives on.
func goLoop(loop func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- loop() }()
	return done
}

// waitInKernel waits until ev's loop goroutine is blocked in the kernel
// wait (or parked in the poller), where only a wake-up can move it.
func waitInKernel(t testing.TB, ev *Context) {
	t.Helper()
	spinUntil(t, "the loop to wait in the kernel", func() bool { return ev.loop.inWait.Load() })
}

// loopResult waits for a loop call started with goLoop, at most
// testTimeout.
func loopResult(t testing.TB, what string, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatalf("%s: the loop call did not return within %v", what, testTimeout)
		return nil
	}
}

// skipShared skips backends on which other goroutines may change events
// under a lock while the loop waits (poll_mt): there, calls from other
// goroutines are the documented pattern, not a misuse.
func skipShared(t *testing.T, ev *Context) {
	t.Helper()
	if ev.loop.sharedChanges {
		t.Skip("poll_mt: changes from other goroutines under the trace lock are allowed")
	}
}

// TestOffLoopContextFree: Context.Free from another goroutine while
// LoopWait waits makes LoopWait return nil, the context freed by the loop;
// also on poll_mt, where other goroutines may change events while the
// loop waits, but freeing the context under the wait would race it.
func TestOffLoopContextFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy() // keeps LoopWait waiting
		if err != nil {
			t.Fatal(err)
		}
		done := goLoop(ev.LoopWait)
		waitInKernel(t, ev)
		ev.Free()
		if err := loopResult(t, "Context.Free from another goroutine", done); err != nil {
			t.Fatalf("LoopWait: %v", err)
		}
		if !ev.IsFreed() || !tp.Freed() {
			t.Fatalf("after LoopWait returned: context freed %v, proxy freed %v", ev.IsFreed(), tp.Freed())
		}
	})
}

// TestOffLoopContextFreeDuringHandler: Context.Free from another goroutine
// while LoopWait runs a handler (the driver is recorded) is handed over
// too: the handler finishes, then the loop frees the context (poll_mt
// included).
func TestOffLoopContextFreeDuringHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		inHandler := make(chan struct{})
		release := make(chan struct{})
		after := false
		ev.NewImmediate().Schedule(func(ev *Context, im *Immediate) {
			close(inHandler)
			<-release
			after = true
			im.Schedule(func(*Context, *Immediate) { t.Error("an immediate ran after Free") })
		})
		done := goLoop(ev.LoopWait)
		waitChan(t, "the handler to run", inHandler)
		ev.Free()
		close(release)
		if err := loopResult(t, "Context.Free during a handler", done); err != nil {
			t.Fatalf("LoopWait: %v", err)
		}
		if !ev.IsFreed() || !after {
			t.Fatalf("freed %v, handler finished %v", ev.IsFreed(), after)
		}
	})
}

// TestOffLoopProxyFree: ThreadProxy.Free from another goroutine while the
// loop waits, the proxy being its last event source, ends LoopWait (the
// seed's "simply talloc_free the proxy"), on every backend.
func TestOffLoopProxyFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		done := goLoop(ev.LoopWait)
		waitInKernel(t, ev)
		tp.Free()
		if err := loopResult(t, "ThreadProxy.Free from another goroutine", done); err != nil {
			t.Fatalf("LoopWait: %v", err)
		}
		if !tp.Freed() {
			t.Fatal("proxy not freed")
		}
		if err := tp.Schedule(func(*Context) {}); !errors.Is(err, ErrProxyFreed) {
			t.Fatalf("Schedule after Free: %v", err)
		}
	})
}

// TestOffLoopHandleFree: freeing an fd, timer, signal or scope (directly
// or through a wrapper), or a wrapper itself, from another goroutine while
// the loop waits is handed over to the loop; when that was the last event
// source LoopWait returns.
func TestOffLoopHandleFree(t *testing.T) {
	type handle interface{ Free() }
	cases := []struct {
		name string
		make func(t *testing.T, ev *Context) (handle, func() bool)
	}{
		{"fd", func(t *testing.T, ev *Context) (handle, func() bool) {
			p := newSockPair(t)
			f, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { t.Error("fd handler ran") })
			if err != nil {
				t.Fatal(err)
			}
			return f, f.Freed
		}},
		{"timer", func(t *testing.T, ev *Context) (handle, func() bool) {
			tm := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { t.Error("timer ran") })
			return tm, tm.Freed
		}},
		{"signal", func(t *testing.T, ev *Context) (handle, func() bool) {
			se, err := ev.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {})
			if err != nil {
				t.Fatal(err)
			}
			return se, func() bool { return se.freed }
		}},
		{"scope", func(t *testing.T, ev *Context) (handle, func() bool) {
			s := ev.NewScope()
			s.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { t.Error("timer ran") })
			return s, s.Freed
		}},
		{"wrapper-timer", func(t *testing.T, ev *Context) (handle, func() bool) {
			w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
			if err != nil {
				t.Fatal(err)
			}
			tm := w.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { t.Error("timer ran") })
			return tm, tm.Freed
		}},
		{"wrapper", func(t *testing.T, ev *Context) (handle, func() bool) {
			w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
			if err != nil {
				t.Fatal(err)
			}
			p := newSockPair(t)
			if _, err := w.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { t.Error("fd handler ran") }); err != nil {
				t.Fatal(err)
			}
			return w, w.IsFreed
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				skipShared(t, ev)
				h, freed := c.make(t, ev)
				done := goLoop(ev.LoopWait)
				waitInKernel(t, ev)
				h.Free()
				if err := loopResult(t, c.name+" freed from another goroutine", done); err != nil {
					t.Fatalf("LoopWait: %v", err)
				}
				if !freed() {
					t.Fatal("not freed after the loop returned")
				}
				if ev.IsFreed() {
					t.Fatal("the main context was freed")
				}
			})
		})
	}
}

// TestOffLoopImmediateFree: an immediate freed from another goroutine
// while the loop waits is freed by the loop; it never runs afterwards.
func TestOffLoopImmediateFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		skipShared(t, ev)
		im := ev.NewImmediate()
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		done := goLoop(ev.LoopWait)
		waitInKernel(t, ev)
		im.Free()
		var freed bool
		if err := tp.Schedule(func(ev *Context) { freed = im.Freed(); tp.Free() }); err != nil {
			t.Fatal(err)
		}
		if err := loopResult(t, "immediate freed from another goroutine", done); err != nil {
			t.Fatalf("LoopWait: %v", err)
		}
		if !freed {
			t.Fatal("the loop had not freed the immediate when the next proxy call ran")
		}
	})
}

// TestOffLoopCreateRefused: creating events on a context from another
// goroutine while its loop waits is refused, directly, through a child
// scope and through a wrapper: ErrConcurrentUse where an error can be
// returned, a panic naming the misuse where it cannot (AddTimer,
// Immediate.Schedule). Nothing is added, and the loop goes on.
func TestOffLoopCreateRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		skipShared(t, ev)
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		child := ev.NewScope()
		im := ev.NewImmediate()
		wim := w.NewImmediate()
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		p := newSockPair(t)
		done := goLoop(ev.LoopWait)
		waitInKernel(t, ev)
		for _, s := range []struct {
			name  string
			scope *Scope
		}{{"context", &ev.Scope}, {"child scope", child}, {"wrapper", &w.Scope}} {
			if _, err := s.scope.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) {}); !errors.Is(err, ErrConcurrentUse) {
				t.Errorf("%s: AddFD from another goroutine: %v, want ErrConcurrentUse", s.name, err)
			}
			if _, err := s.scope.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {}); !errors.Is(err, ErrConcurrentUse) {
				t.Errorf("%s: AddSignal from another goroutine: %v, want ErrConcurrentUse", s.name, err)
			}
			misusePanic(t, s.name+": AddTimer from another goroutine", func() {
				s.scope.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { t.Error("timer ran") })
			}, "AddTimer", "another goroutine", "ThreadProxy")
		}
		for _, c := range []*Context{ev, w} {
			if _, err := c.NewThreadProxy(); !errors.Is(err, ErrConcurrentUse) {
				t.Errorf("NewThreadProxy from another goroutine (wrapper %v): %v, want ErrConcurrentUse", c.IsWrapper(), err)
			}
		}
		for i, m := range []*Immediate{im, wim} {
			msg := misusePanic(t, "Immediate.Schedule from another goroutine", func() {
				m.Schedule(func(*Context, *Immediate) { t.Error("immediate ran") })
			}, "Immediate.Schedule", "another goroutine")
			if !strings.Contains(msg, ErrConcurrentUse.Error()) {
				t.Errorf("immediate %d: panic %q does not carry ErrConcurrentUse's text", i, msg)
			}
		}
		tp.Free()
		if err := loopResult(t, "after refused creations", done); err != nil {
			t.Fatalf("LoopWait: %v", err)
		}
		if im.Scheduled() || wim.Scheduled() || ev.loop.nFDEvents != 0 || ev.loop.timers.live != 0 || ev.loop.proxies.Load() != 0 {
			t.Fatalf("a refused call left something behind: fds %d timers %d proxies %d", ev.loop.nFDEvents, ev.loop.timers.live, ev.loop.proxies.Load())
		}
		// The context still works on its own goroutine.
		ran := false
		im.Schedule(func(*Context, *Immediate) { ran = true })
		driveUntil(t, ev, func() bool { return ran })
	})
}
