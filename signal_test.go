package tevent

import (
	"syscall"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// Signals are only ever sent while an event for them is registered, and
// each test waits until the handler saw it before freeing the event:
// otherwise the signal's default action (terminate) would apply.

func killSelf(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := unix.Kill(unix.Getpid(), sig); err != nil {
		t.Fatalf("kill: %v", err)
	}
}

func TestSignalRunsOnLoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		loopG := goid()
		var gotSig syscall.Signal
		count, calls := 0, 0
		var gotInfo *SigInfo
		se, err := ev.AddSignal(syscall.SIGUSR1, SARestart|SASigInfo, func(hev *Context, se *Signal, sig syscall.Signal, n int, info *SigInfo) {
			if g := goid(); g != loopG {
				t.Errorf("signal handler ran on goroutine %d, not the loop's %d", g, loopG)
			}
			if hev != ev {
				t.Error("handler given another context")
			}
			calls++
			count += n
			gotSig = sig
			gotInfo = info
		})
		if err != nil {
			t.Fatal(err)
		}
		if se.Signum() != syscall.SIGUSR1 {
			t.Errorf("Signum() = %v", se.Signum())
		}
		killSelf(t, syscall.SIGUSR1)
		driveUntil(t, ev, func() bool { return calls > 0 })
		if gotSig != syscall.SIGUSR1 || count < 1 {
			t.Errorf("handler got signal %v count %d", gotSig, count)
		}
		if gotInfo != nil {
			t.Errorf("info = %+v, want nil (os/signal cannot supply it)", gotInfo)
		}
		// A burst: every arrival is counted at least once overall, and
		// none is invented.
		for range 3 {
			killSelf(t, syscall.SIGUSR1)
		}
		driveUntil(t, ev, func() bool { return count >= 2 })
		if count > 4 {
			t.Errorf("count %d after 4 signals", count)
		}
		se.Free()
	})
}

// TestSignalTwoContexts: every context with an event for a signal sees
// each arrival.
func TestSignalTwoContexts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		ev2, err := New(WithBackend(ev.Backend()))
		if err != nil {
			t.Fatal(err)
		}
		defer ev2.Free()
		n1, n2 := 0, 0
		if _, err := ev.AddSignal(syscall.SIGUSR1, 0, func(_ *Context, _ *Signal, _ syscall.Signal, c int, _ *SigInfo) { n1 += c }); err != nil {
			t.Fatal(err)
		}
		if _, err := ev2.AddSignal(syscall.SIGUSR1, 0, func(_ *Context, _ *Signal, _ syscall.Signal, c int, _ *SigInfo) { n2 += c }); err != nil {
			t.Fatal(err)
		}
		killSelf(t, syscall.SIGUSR1)
		driveUntil(t, ev, func() bool { return n1 > 0 })
		driveUntil(t, ev2, func() bool { return n2 > 0 })
		if n1 != 1 || n2 != 1 {
			t.Errorf("counts %d and %d, want 1 and 1", n1, n2)
		}
		// Freeing one context does not stop the other from listening.
		ev2.Free()
		killSelf(t, syscall.SIGUSR1)
		driveUntil(t, ev, func() bool { return n1 > 1 })
	})
}

// TestSignalResetHand: an SAResetHand event is freed after its first call;
// another event on the same signal keeps seeing it.
func TestSignalResetHand(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		once, always := 0, 0
		if _, err := ev.AddSignal(syscall.SIGUSR1, SAResetHand, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { once++ }); err != nil {
			t.Fatal(err)
		}
		keep, err := ev.AddSignal(syscall.SIGUSR1, SARestart, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { always++ })
		if err != nil {
			t.Fatal(err)
		}
		killSelf(t, syscall.SIGUSR1)
		driveUntil(t, ev, func() bool { return once > 0 && always > 0 })
		killSelf(t, syscall.SIGUSR1)
		driveUntil(t, ev, func() bool { return always > 1 })
		if once != 1 {
			t.Errorf("SAResetHand handler ran %d times, want 1", once)
		}
		keep.Free()
		expectErr(t, "LoopOnce after both signal events are gone", ev.LoopOnce(), ErrNoEvents)
	})
}

// TestSignalStopsListening: freeing the last event for a signal stops the
// goroutine that listened for it.
func TestSignalStopsListening(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		ignore := goleak.IgnoreCurrent()
		n := 0
		s := ev.NewScope()
		for range 3 {
			if _, err := s.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { n++ }); err != nil {
				t.Fatal(err)
			}
		}
		other, err := ev.AddSignal(syscall.SIGUSR1, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {})
		if err != nil {
			t.Fatal(err)
		}
		killSelf(t, syscall.SIGUSR2)
		driveUntil(t, ev, func() bool { return n == 3 })
		s.Free()
		other.Free()
		sigHub.mu.Lock()
		w1, w2 := sigHub.watchers[syscall.SIGUSR1], sigHub.watchers[syscall.SIGUSR2]
		sigHub.mu.Unlock()
		if w1 != nil || w2 != nil {
			t.Error("signal watcher still registered after the last event was freed")
		}
		goleak.VerifyNone(t, ignore)
		expectErr(t, "LoopOnce with no signal events", ev.LoopOnce(), ErrNoEvents)
	})
}

func TestSignalBad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		h := func(*Context, *Signal, syscall.Signal, int, *SigInfo) { t.Error("handler ran") }
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP, 0, -1, 1000} {
			se, err := ev.AddSignal(sig, 0, h)
			expectErr(t, "AddSignal("+sig.String()+")", err, ErrSignal)
			if se != nil {
				t.Errorf("AddSignal(%v) returned an event", sig)
			}
		}
		expectErr(t, "LoopOnce with no events", ev.LoopOnce(), ErrNoEvents)
	})
}
