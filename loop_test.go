package tevent

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestLoopEmpty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		expectErr(t, "LoopOnce on an empty context", ev.LoopOnce(), ErrNoEvents)
		expectErr(t, "LoopUntil on an empty context", ev.LoopUntil(func() bool { return false }), ErrNoEvents)
		if err := ev.LoopWait(); err != nil {
			t.Errorf("LoopWait on an empty context: %v", err)
		}
		// Unscheduled immediates, freed events and child scopes are not
		// events.
		ev.NewImmediate()
		ev.NewScope().NewScope()
		ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {}).Free()
		expectErr(t, "LoopOnce with nothing that can fire", ev.LoopOnce(), ErrNoEvents)
		if err := ev.LoopWait(); err != nil {
			t.Errorf("LoopWait with nothing that can fire: %v", err)
		}
	})
}

// TestLoopWaitReturnsWhenDone: LoopWait runs until the last event is gone.
func TestLoopWaitReturnsWhenDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		steps := 0
		fde, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, _ FDFlags) {
			var buf [8]byte
			unix.Read(fde.Fd(), buf[:])
			steps++
			fde.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = fde
		ev.AddTimer(time.Now().Add(5*time.Millisecond), func(*Context, *Timer, time.Time) {
			steps++
			writeBytes(t, p.fd[1], "x")
		})
		ev.NewImmediate().Schedule(func(*Context, *Immediate) { steps++ })
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if steps != 3 {
			t.Errorf("%d handlers ran, want 3", steps)
		}
	})
}

func TestLoopUntil(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		n := 0
		im := ev.NewImmediate()
		var h ImmediateHandler
		h = func(ev *Context, im *Immediate) { n++; im.Schedule(h) }
		im.Schedule(h)
		checks := 0
		if err := ev.LoopUntil(func() bool { checks++; return n == 5 }); err != nil {
			t.Fatal(err)
		}
		if n != 5 || checks != 6 {
			t.Errorf("ran %d handlers with %d checks, want 5 and 6", n, checks)
		}
		im.Free()
		if err := ev.LoopUntil(func() bool { return true }); err != nil {
			t.Errorf("LoopUntil already finished: %v", err)
		}
	})
}

// TestPriorityOrder sets up a signal, an immediate, an expired timer and a
// ready fd all at once: one LoopOnce each, in that order. All pending
// signals are handled by one LoopOnce.
func TestPriorityOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		rec := func(s string) { got = append(got, s) }
		s := ev.NewScope()
		defer s.Free()
		for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2} {
			if _, err := s.AddSignal(sig, 0, func(_ *Context, _ *Signal, sig syscall.Signal, _ int, _ *SigInfo) {
				rec(sig.String())
			}); err != nil {
				t.Fatal(err)
			}
		}
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		if _, err := s.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, _ FDFlags) { rec("fd"); fde.Free() }); err != nil {
			t.Fatal(err)
		}
		s.AddTimer(time.Now().Add(-time.Second), func(*Context, *Timer, time.Time) { rec("timer") })
		s.NewImmediate().Schedule(func(*Context, *Immediate) { rec("immediate") })
		killSelf(t, syscall.SIGUSR1)
		killSelf(t, syscall.SIGUSR2)
		waitSignalPending(t, ev, syscall.SIGUSR1, syscall.SIGUSR2)

		loopOnce(t, ev)
		slices.Sort(got)
		if want := []string{syscall.SIGUSR1.String(), syscall.SIGUSR2.String()}; !slices.Equal(got, want) {
			t.Fatalf("first LoopOnce ran %v, want both signal handlers", got)
		}
		got = nil
		for _, want := range []string{"immediate", "timer", "fd"} {
			loopOnce(t, ev)
			if len(got) != 1 || got[0] != want {
				t.Fatalf("LoopOnce ran %v, want [%s]", got, want)
			}
			got = nil
		}
	})
}

// TestLoopOnceOneEach: with many events of each kind ready, every LoopOnce
// runs exactly one handler, and the kinds come in priority order.
func TestLoopOnceOneEach(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		const n = 4
		for range n {
			p := newSockPair(t)
			writeBytes(t, p.fd[1], "x")
			if _, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, _ FDFlags) { got = append(got, "fd"); fde.Free() }); err != nil {
				t.Fatal(err)
			}
			ev.AddTimer(time.Now().Add(-time.Millisecond), func(*Context, *Timer, time.Time) { got = append(got, "timer") })
			ev.NewImmediate().Schedule(func(*Context, *Immediate) { got = append(got, "immediate") })
		}
		for i := range 3 * n {
			loopOnce(t, ev)
			if len(got) != i+1 {
				t.Fatalf("LoopOnce %d: %d handlers ran in total, want %d", i+1, len(got), i+1)
			}
		}
		var want []string
		for _, k := range []string{"immediate", "timer", "fd"} {
			for range n {
				want = append(want, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("ran %v, want %v", got, want)
		}
		expectErr(t, "LoopOnce at the end", ev.LoopOnce(), ErrNoEvents)
	})
}

func TestTracePoints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []TracePoint
		cb := func(p TracePoint) { got = append(got, p) }
		ev.SetTraceCallback(cb)
		if ev.TraceCallback() == nil {
			t.Error("TraceCallback() nil after SetTraceCallback")
		}
		// A turn that has work ready does not wait.
		ev.NewImmediate().Schedule(func(*Context, *Immediate) {})
		loopOnce(t, ev)
		if want := []TracePoint{TraceBeforeLoopOnce, TraceAfterLoopOnce}; !slices.Equal(got, want) {
			t.Errorf("immediate turn traced %v, want %v", got, want)
		}
		// A turn that waits for a timer.
		got = nil
		fired := false
		ev.AddTimer(time.Now().Add(5*time.Millisecond), func(*Context, *Timer, time.Time) {
			fired = true
			got = append(got, -1) // marks the handler
		})
		loopOnce(t, ev)
		if !fired {
			t.Fatal("timer did not fire")
		}
		if len(got) < 5 || got[0] != TraceBeforeLoopOnce || got[len(got)-1] != TraceAfterLoopOnce || got[len(got)-2] != -1 {
			t.Fatalf("timer turn traced %v", got)
		}
		waits := got[1 : len(got)-2]
		for i := 0; i < len(waits); i += 2 {
			if waits[i] != TraceBeforeWait || i+1 >= len(waits) || waits[i+1] != TraceAfterWait {
				t.Fatalf("waits not bracketed by BeforeWait/AfterWait: %v", got)
			}
		}
		// LoopWait: one Before/AfterLoopOnce pair per turn.
		got = nil
		for range 3 {
			ev.NewImmediate().Schedule(func(*Context, *Immediate) {})
		}
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		want := slices.Repeat([]TracePoint{TraceBeforeLoopOnce, TraceAfterLoopOnce}, 3)
		if !slices.Equal(got, want) {
			t.Errorf("LoopWait traced %v, want %v", got, want)
		}
		// nil resets.
		ev.SetTraceCallback(nil)
		if ev.TraceCallback() != nil {
			t.Error("TraceCallback() not nil after SetTraceCallback(nil)")
		}
		got = nil
		ev.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) {})
		loopOnce(t, ev)
		if len(got) != 0 {
			t.Errorf("trace callback called after reset: %v", got)
		}
		for _, p := range []TracePoint{TraceBeforeWait, TraceAfterWait, TraceBeforeLoopOnce, TraceAfterLoopOnce} {
			if p.String() == "" {
				t.Errorf("TracePoint(%d) has no name", int(p))
			}
		}
	})
}

func TestTags(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		seen := map[string]uint64{}
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		fde, err := ev.AddFD(p.fd[0], FDRead, func(_ *Context, fde *FD, _ FDFlags) { seen["fd"] = fde.Tag(); fde.Free() })
		if err != nil {
			t.Fatal(err)
		}
		te := ev.AddTimer(time.Now(), func(_ *Context, te *Timer, _ time.Time) { seen["timer"] = te.Tag() })
		im := ev.NewImmediate()
		im.Schedule(func(_ *Context, im *Immediate) { seen["immediate"] = im.Tag() })
		se, err := ev.AddSignal(syscall.SIGUSR1, 0, func(_ *Context, se *Signal, _ syscall.Signal, _ int, _ *SigInfo) {
			seen["signal"] = se.Tag()
			se.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []interface {
			Tag() uint64
			SetTag(uint64)
		}{fde, te, im, se} {
			if x.Tag() != 0 {
				t.Errorf("%T: new event has tag %d", x, x.Tag())
			}
		}
		fde.SetTag(1)
		te.SetTag(2)
		im.SetTag(3)
		se.SetTag(1 << 63)
		killSelf(t, syscall.SIGUSR1)
		driveUntil(t, ev, func() bool { return len(seen) == 4 })
		want := map[string]uint64{"fd": 1, "timer": 2, "immediate": 3, "signal": 1 << 63}
		for k, v := range want {
			if seen[k] != v {
				t.Errorf("%s handler saw tag %d, want %d", k, seen[k], v)
			}
		}
	})
}

// TestNilHandlersPanic: a nil handler is a programming error reported at
// registration, with a message saying so.
func TestNilHandlersPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		expectNilPanic(t, "AddFD", func() { ev.AddFD(p.fd[0], FDRead, nil) })
		expectNilPanic(t, "AddTimer", func() { ev.AddTimer(time.Now(), nil) })
		expectNilPanic(t, "AddSignal", func() { ev.AddSignal(syscall.SIGUSR1, 0, nil) })
		expectNilPanic(t, "OnFree", func() { ev.NewScope().OnFree(nil) })
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		expectNilPanic(t, "ThreadProxy.Schedule", func() { tp.Schedule(nil) })
		tp.Free()
		// Nothing half-registered was left behind.
		expectErr(t, "LoopOnce after the panics", ev.LoopOnce(), ErrNoEvents)
		sigHub.mu.Lock()
		w := sigHub.watchers[syscall.SIGUSR1]
		sigHub.mu.Unlock()
		if w != nil {
			t.Error("AddSignal with a nil handler left a signal watcher")
		}
	})
}

func TestWithLogger(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ev, err := New(WithLogger(l))
	if err != nil {
		t.Fatal(err)
	}
	ev.Free()
	mu.Lock()
	defer mu.Unlock()
	if buf.Len() == 0 {
		t.Error("nothing logged at debug level by New and Free")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}
