package tevent

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Misuse: each is a clear error (or, where an error cannot be returned, a
// panic whose message names the misuse and the fix), never silent damage.
// Every test checks that the context still works afterwards.

// misusePanic runs fn, which must panic with a message containing every
// one of words; it returns the message.
func misusePanic(t *testing.T, what string, fn func(), words ...string) string {
	t.Helper()
	var msg string
	func() {
		defer func() {
			r := recover()
			if r == nil {
				t.Errorf("%s: no panic", what)
				return
			}
			msg = fmt.Sprint(r)
		}()
		fn()
	}()
	for _, w := range words {
		if msg != "" && !strings.Contains(msg, w) {
			t.Errorf("%s: panic %q does not mention %q", what, msg, w)
		}
	}
	return msg
}

// expectNoFDLeak fails the test if, at its end, more or fewer descriptors
// are open than now (for tests that make contexts without withBackend).
func expectNoFDLeak(t *testing.T) {
	t.Helper()
	before := openFDCount(t)
	t.Cleanup(func() {
		if before < 0 {
			return
		}
		if after := openFDCount(t); after != before {
			t.Errorf("descriptor leak: %d open before, %d after", before, after)
		}
	})
}

// TestMisuseUseAfterFree: every call on a freed context, and on handles
// freed with it, is either a clear error (ErrFreed, ErrProxyFreed) or a
// documented no-op; none panics, fires, or touches a descriptor.
func TestMisuseUseAfterFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		fired := 0
		h := func(*Context, *Timer, time.Time) { fired++ }
		fde, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { fired++ })
		if err != nil {
			t.Fatal(err)
		}
		te := ev.AddTimer(time.Now(), h)
		im := ev.NewImmediate()
		se, err := ev.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { fired++ })
		if err != nil {
			t.Fatal(err)
		}
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		sc := ev.NewScope()
		q := ev.NewQueue("q")
		r := NewReq[int](&ev.Scope)
		w, err := ev.NewWrapper(WrapperHooks{Name: "w"})
		if err != nil {
			t.Fatal(err)
		}
		// Another goroutine keeps scheduling while the context is freed.
		stopSend := make(chan struct{})
		var sendErrs sync.Map
		var sends sync.WaitGroup
		sends.Add(1)
		go func() {
			defer sends.Done()
			for {
				select {
				case <-stopSend:
					return
				default:
				}
				if err := tp.Schedule(func(*Context) {}); err != nil {
					sendErrs.Store(err.Error(), err)
					if errors.Is(err, ErrProxyFreed) {
						return
					}
				}
			}
		}()
		ev.Free()
		sends.Wait()
		close(stopSend)
		sendErrs.Range(func(_, v any) bool {
			if !errors.Is(v.(error), ErrProxyFreed) {
				t.Errorf("Schedule racing with Free: %v", v)
			}
			return true
		})
		if !fdIsOpen(p.fd[0]) {
			t.Fatal("Free closed a descriptor that was not auto-close")
		}

		// Loop functions.
		expectErr(t, "LoopOnce", ev.LoopOnce(), ErrFreed)
		expectErr(t, "LoopWait", ev.LoopWait(), ErrFreed)
		expectErr(t, "LoopUntil", ev.LoopUntil(func() bool { return false }), ErrFreed)
		expectErr(t, "wrapper LoopOnce", w.LoopOnce(), ErrFreed)
		if err := r.Poll(ev); err != nil && !errors.Is(err, ErrFreed) {
			t.Errorf("Poll of a request freed with its context: %v", err)
		}
		if _, err := r.Result(); !errors.Is(err, ErrFreed) {
			t.Errorf("Result of a request freed with its context: %v", err)
		}
		// Constructors.
		if _, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) {}); !errors.Is(err, ErrFreed) {
			t.Errorf("AddFD: %v", err)
		}
		if _, err := sc.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) {}); !errors.Is(err, ErrFreed) {
			t.Errorf("scope AddFD: %v", err)
		}
		if _, err := ev.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {}); !errors.Is(err, ErrFreed) {
			t.Errorf("AddSignal: %v", err)
		}
		if _, err := ev.NewThreadProxy(); !errors.Is(err, ErrFreed) {
			t.Errorf("NewThreadProxy: %v", err)
		}
		if _, err := w.NewThreadProxy(); !errors.Is(err, ErrFreed) {
			t.Errorf("wrapper NewThreadProxy: %v", err)
		}
		if _, err := ev.NewWrapper(WrapperHooks{}); !errors.Is(err, ErrFreed) {
			t.Errorf("NewWrapper: %v", err)
		}
		expectErr(t, "Schedule", tp.Schedule(func(*Context) { fired++ }), ErrProxyFreed)
		// Inert handles.
		ev.AddTimer(time.Now(), h).Free()
		sc.AddTimer(time.Now(), h)
		ev.NewImmediate().Schedule(func(*Context, *Immediate) { fired++ })
		if !ev.NewScope().Freed() || !sc.NewScope().Freed() {
			t.Error("a scope made on a freed context is not born freed")
		}
		ranNow := false
		sc.OnFree(func() { ranNow = true })
		if !ranNow {
			t.Error("OnFree on a freed scope did not run at once")
		}
		if nr := NewReq[int](&ev.Scope); nr.IsInProgress() {
			if err := nr.Poll(ev); err == nil {
				t.Error("Poll of a request made on a freed context returned nil")
			}
		}
		// Handles freed with the context.
		te.Update(time.Now())
		im.Schedule(func(*Context, *Immediate) { fired++ })
		if im.Scheduled() {
			t.Error("a freed immediate reports Scheduled")
		}
		fde.SetFlags(FDRead | FDWrite)
		fde.SetAutoClose()
		fde.Free()
		se.Free()
		tp.Free()
		q.Add(NewReq[int](&ev.Scope), func(AnyReq) { fired++ })
		q.Start()
		if q.Length() != 0 {
			t.Errorf("freed queue has %d entries", q.Length())
		}
		r.Free()
		if _, err := r.Result(); !errors.Is(err, ErrFreed) {
			t.Errorf("Result of a freed request: %v", err)
		}
		sc.Free()
		w.Free()
		ev.Free()
		if !fdIsOpen(p.fd[0]) {
			t.Error("SetAutoClose+Free on a freed event closed the descriptor")
		}
		if fired != 0 {
			t.Errorf("%d handlers ran after Free", fired)
		}
	})
}

// TestMisuseFreedHandles: handles freed on a live context stay dead (no
// call revives them), and freeing twice, or from inside their own
// handler, is harmless; the context keeps working.
func TestMisuseFreedHandles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")
		fired := 0
		fde, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { fired++ })
		if err != nil {
			t.Fatal(err)
		}
		fde.Free()
		fde.SetFlags(FDRead)
		fde.Free()
		te := ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired++ })
		te.Free()
		te.Update(time.Now())
		im := ev.NewImmediate()
		im.Free()
		im.Schedule(func(*Context, *Immediate) { fired++ })
		sc := ev.NewScope()
		sc.Free()
		sc.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired++ })
		sc.NewImmediate().Schedule(func(*Context, *Immediate) { fired++ })
		if _, err := sc.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { fired++ }); !errors.Is(err, ErrFreed) {
			t.Errorf("AddFD on a freed scope: %v", err)
		}
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		tp.Free()
		expectErr(t, "Schedule on a freed proxy", tp.Schedule(func(*Context) { fired++ }), ErrProxyFreed)
		// Self-free from inside, twice.
		selfFreed := 0
		ev.AddTimer(time.Now(), func(_ *Context, te *Timer, _ time.Time) {
			te.Free()
			te.Free()
			te.Update(time.Now())
			selfFreed++
		})
		sentinel := false
		ev.AddTimer(time.Now().Add(2*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
		driveUntil(t, ev, func() bool { return sentinel })
		if fired != 0 || selfFreed != 1 {
			t.Errorf("freed handles fired %d times; self-freeing timer ran %d times", fired, selfFreed)
		}
		// The freed event left the fd alone: a new event on it works.
		got := false
		f2, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { got = true })
		if err != nil {
			t.Fatal(err)
		}
		driveUntil(t, ev, func() bool { return got })
		f2.Free()
	})
}

// TestMisuseWrongContextNoDamage: a request handed to another context's
// loop is refused (ErrWrongContext from Poll, a panic naming the misuse
// elsewhere), and the refusal changes nothing: the other context does not
// run, the request still completes on its own context.
func TestMisuseWrongContextNoDamage(t *testing.T) {
	expectNoFDLeak(t)
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	bFired := 0
	b.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { bFired++ })
	r := NewReq[int](&a.Scope)
	a.AddTimer(time.Now().Add(time.Millisecond), func(*Context, *Timer, time.Time) { r.Done(7) })
	err = r.Poll(b)
	if !errors.Is(err, ErrWrongContext) || !strings.Contains(err.Error(), "Poll") {
		t.Errorf("Poll with another context: %v", err)
	}
	if bFired != 0 {
		t.Error("Poll with the wrong context ran that context's loop")
	}
	misusePanic(t, "SetEndtime", func() { r.SetEndtime(b, time.Now()) }, "SetEndtime", "context")
	misusePanic(t, "Post", func() { r.Post(b) }, "Post", "context")
	qb := b.NewQueue("qb")
	misusePanic(t, "Queue.Add", func() { qb.Add(r, func(AnyReq) {}) }, "Queue.Add", "context")
	if qb.Length() != 0 {
		t.Errorf("queue of b holds %d entries after a refused Add", qb.Length())
	}
	// Queue.Wait with a scope of another context.
	misusePanic(t, "Queue.Wait", func() { qb.Wait(&a.Scope) }, "context")
	if qb.Length() != 0 {
		t.Errorf("queue of b holds %d entries after a refused Wait", qb.Length())
	}
	// Nothing was damaged: the request finishes on a, with no timeout.
	if err := r.Poll(a); err != nil {
		t.Fatalf("Poll on its own context: %v", err)
	}
	if v, err := r.Result(); v != 7 || err != nil {
		t.Errorf("Result = %d, %v", v, err)
	}
	loopOnce(t, b)
	if bFired != 1 {
		t.Errorf("b's timer fired %d times", bFired)
	}
	// A ThreadProxy is the one handle meant for other goroutines' use:
	// a's proxy used from b's handler runs on a.
	tp, err := a.NewThreadProxy()
	if err != nil {
		t.Fatal(err)
	}
	ranOn := (*Context)(nil)
	b.NewImmediate().Schedule(func(*Context, *Immediate) {
		if err := tp.Schedule(func(ev *Context) { ranOn = ev }); err != nil {
			t.Errorf("Schedule from another context's handler: %v", err)
		}
	})
	loopOnce(t, b)
	driveUntil(t, a, func() bool { return ranOn != nil })
	if ranOn != a {
		t.Error("proxy call ran on the wrong context")
	}
	tp.Free()
}
