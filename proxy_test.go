package tevent

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestProxyRunsOnLoop(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithRuntimePoller()}} {
		name := "default"
		if opts != nil {
			name = "runtime poller"
		}
		t.Run(name, func(t *testing.T) {
			forEachBackendOpts(t, opts, func(t *testing.T, ev *Context) {
				tp, err := ev.NewThreadProxy()
				if err != nil {
					t.Fatal(err)
				}
				if tp.Freed() {
					t.Error("new proxy reports Freed")
				}
				loopG := goid()
				var got []int
				const n = 50
				waiting := loopWaits(ev)
				sent := make(chan struct{})
				go func() {
					defer close(sent)
					// Wait until the loop sleeps, so that the first call
					// has to wake it.
					<-waiting
					for i := range n {
						if err := tp.Schedule(func(cev *Context) {
							if g := goid(); g != loopG {
								t.Errorf("call ran on goroutine %d, not the loop's %d", g, loopG)
							}
							if cev != ev {
								t.Error("call given another context")
							}
							got = append(got, i)
							if i == n-1 {
								tp.Free()
							}
						}); err != nil {
							t.Errorf("Schedule: %v", err)
						}
					}
				}()
				if err := ev.LoopWait(); err != nil {
					t.Fatal(err)
				}
				waitChan(t, "sender", sent)
				if len(got) != n {
					t.Fatalf("%d calls ran, want %d", len(got), n)
				}
				for i, v := range got {
					if v != i {
						t.Fatalf("calls ran out of order: %v", got)
					}
				}
				ev.SetTraceCallback(nil)
			})
		})
	}
}

// TestProxyMasterWorkers ports tevent's multi-threaded request/reply test:
// each worker goroutine has its own context and proxy, sends a request to
// the master through the master's proxy, carrying its own proxy, and
// loops until the master's reply arrives through it.
func TestProxyMasterWorkers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, master *Context) {
		const workers = 8
		mtp, err := master.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		requests := 0
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- runWorker(master.Backend(), w, mtp, &requests)
			}()
		}
		driveUntil(t, master, func() bool { return requests == workers })
		mtp.Free()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

func runWorker(backend string, id int, master *ThreadProxy, requests *int) error {
	ev, err := New(WithBackend(backend))
	if err != nil {
		return err
	}
	defer ev.Free()
	wtp, err := ev.NewThreadProxy()
	if err != nil {
		return err
	}
	reply := -1
	timedOut := false
	guard := ev.AddTimer(time.Now().Add(testTimeout), func(*Context, *Timer, time.Time) { timedOut = true })
	err = master.Schedule(func(mev *Context) {
		// On the master's loop.
		*requests++
		if err := wtp.Schedule(func(*Context) { reply = id * 10 }); err != nil {
			panic(fmt.Sprintf("reply to worker %d: %v", id, err))
		}
	})
	if err != nil {
		return fmt.Errorf("worker %d: request: %w", id, err)
	}
	if err := ev.LoopUntil(func() bool { return reply >= 0 || timedOut }); err != nil {
		return fmt.Errorf("worker %d: loop: %w", id, err)
	}
	guard.Free()
	if timedOut {
		return fmt.Errorf("worker %d: no reply within %v", id, testTimeout)
	}
	if reply != id*10 {
		return fmt.Errorf("worker %d: reply %d, want %d", id, reply, id*10)
	}
	wtp.Free()
	// Nothing left: the loop returns at once.
	return ev.LoopWait()
}

// TestProxyManyProducers: producers schedule concurrently; every call runs,
// in the order each producer made them.
func TestProxyManyProducers(t *testing.T) {
	producers, per := 8, 100_000
	if testing.Short() {
		per = 5_000
	}
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		next := make([]int, producers) // loop goroutine only
		total := 0
		bad := 0
		var wg sync.WaitGroup
		for p := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					if err := tp.Schedule(func(*Context) {
						if next[p] != i {
							bad++
						}
						next[p] = i + 1
						total++
					}); err != nil {
						t.Errorf("producer %d: Schedule: %v", p, err)
						return
					}
				}
			}()
		}
		driveUntil(t, ev, func() bool { return total == producers*per || bad > 0 })
		wg.Wait()
		if bad > 0 {
			t.Errorf("%d calls ran out of their sender's order", bad)
		}
		for p, n := range next {
			if n != per {
				t.Errorf("producer %d: %d calls ran, want %d", p, n, per)
			}
		}
		tp.Free()
	})
}

func TestProxyScheduleAfterFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		tp2, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		tp.Free()
		if !tp.Freed() {
			t.Error("Freed() false after Free")
		}
		ran := 0
		expectErr(t, "Schedule after proxy Free", tp.Schedule(func(*Context) { ran++ }), ErrProxyFreed)
		// From another goroutine too.
		res := make(chan error, 1)
		go func() { res <- tp.Schedule(func(*Context) { ran++ }) }()
		select {
		case err := <-res:
			expectErr(t, "Schedule after proxy Free, other goroutine", err, ErrProxyFreed)
		case <-time.After(testTimeout):
			t.Fatal("Schedule blocked")
		}
		// The other proxy still works, until the context is freed.
		if err := tp2.Schedule(func(*Context) { ran++ }); err != nil {
			t.Fatal(err)
		}
		loopOnce(t, ev)
		if ran != 1 {
			t.Fatalf("%d calls ran, want 1", ran)
		}
		ev.Free()
		if !tp2.Freed() {
			t.Error("proxy not Freed() after its context was freed")
		}
		go func() { res <- tp2.Schedule(func(*Context) { ran++ }) }()
		select {
		case err := <-res:
			expectErr(t, "Schedule after context Free", err, ErrProxyFreed)
		case <-time.After(testTimeout):
			t.Fatal("Schedule blocked")
		}
		if _, err := ev.NewThreadProxy(); !errors.Is(err, ErrFreed) {
			t.Errorf("NewThreadProxy on a freed context: %v, want ErrFreed", err)
		}
		if ran != 1 {
			t.Errorf("%d calls ran after Free", ran-1)
		}
	})
}

// TestProxyScheduleRacesFree: Schedule from another goroutine races Free
// on the loop goroutine; no panic, no deadlock, no call runs after Free
// returned, and Schedule reports ErrProxyFreed from then on.
func TestProxyScheduleRacesFree(t *testing.T) {
	rounds := 1000
	if testing.Short() {
		rounds = 200
	}
	forEachBackend(t, func(t *testing.T, ev *Context) {
		late := 0
		for r := range rounds {
			tp, err := ev.NewThreadProxy()
			if err != nil {
				t.Fatal(err)
			}
			freed := false // loop goroutine only
			var sent atomic.Int64
			done := make(chan error, 1)
			go func() {
				for {
					err := tp.Schedule(func(*Context) {
						if freed {
							late++
						}
					})
					if err != nil {
						done <- err
						return
					}
					if sent.Add(1)%16 == 0 {
						runtime.Gosched() // keep the backlog small
					}
				}
			}()
			// Let a few calls run first in some rounds.
			for range r % 3 {
				loopOnce(t, ev)
			}
			tp.Free()
			freed = true
			select {
			case err := <-done:
				if !errors.Is(err, ErrProxyFreed) {
					t.Fatalf("round %d: Schedule: %v, want ErrProxyFreed", r, err)
				}
			case <-time.After(testTimeout):
				t.Fatalf("round %d: sender still scheduling after Free", r)
			}
			// Calls queued before the Free are dropped.
			for {
				err := ev.LoopOnce()
				if errors.Is(err, ErrNoEvents) {
					break
				}
				if err != nil {
					t.Fatalf("round %d: LoopOnce: %v", r, err)
				}
			}
		}
		if late != 0 {
			t.Errorf("%d calls ran after their proxy was freed", late)
		}
	})
}

// TestProxyScheduleRacesContextFree: as above, freeing the whole context.
func TestProxyScheduleRacesContextFree(t *testing.T) {
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	for _, b := range Backends() {
		t.Run(b, func(t *testing.T) {
			before := openFDCount(t)
			for r := range rounds {
				ev, err := New(WithBackend(b))
				if err != nil {
					t.Fatal(err)
				}
				tp, err := ev.NewThreadProxy()
				if err != nil {
					t.Fatal(err)
				}
				freed := false
				late := 0
				done := make(chan error, 1)
				go func() {
					for {
						if err := tp.Schedule(func(*Context) {
							if freed {
								late++
							}
						}); err != nil {
							done <- err
							return
						}
					}
				}()
				for range r % 3 {
					loopOnce(t, ev)
				}
				ev.Free()
				freed = true
				select {
				case err := <-done:
					expectErr(t, "Schedule racing context Free", err, ErrProxyFreed)
				case <-time.After(testTimeout):
					t.Fatalf("round %d: sender still scheduling after Free", r)
				}
				if late != 0 {
					t.Fatalf("round %d: calls ran after the context was freed", r)
				}
			}
			if after := openFDCount(t); before >= 0 && after != before {
				t.Errorf("descriptor leak: %d before, %d after", before, after)
			}
		})
	}
}

// TestProxyLoopWaitEndsWithLastProxy: a live proxy keeps LoopWait running;
// freeing the last one (from a scheduled call) ends it, even with further
// calls still queued for it.
func TestProxyLoopWaitEndsWithLastProxy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		tp1, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		tp2, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		var calls []string
		waiting := loopWaits(ev)
		go func() {
			<-waiting
			tp1.Schedule(func(*Context) { calls = append(calls, "free tp1"); tp1.Free() })
			<-waiting
			tp2.Schedule(func(*Context) { calls = append(calls, "free tp2"); tp2.Free() })
			tp2.Schedule(func(*Context) { calls = append(calls, "late") })
		}()
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || calls[0] != "free tp1" || calls[1] != "free tp2" {
			t.Errorf("calls %v", calls)
		}
		ev.SetTraceCallback(nil)
	})
}

// TestPollMTAddFromOtherGoroutine ports tevent's poll_mt threaded test:
// the loop goroutine holds a mutex except while it waits in the kernel
// (released at TraceBeforeWait, retaken at TraceAfterWait). Another
// goroutine takes the mutex while the loop waits, adds an fd event on a
// readable pipe and releases it: the waiting loop must wake up and handle
// it, although its only timer is a minute away.
func TestPollMTAddFromOtherGoroutine(t *testing.T) {
	if !slicesContains(Backends(), "poll_mt") {
		t.Skip("no poll_mt backend")
	}
	withBackend(t, "poll_mt", func(t *testing.T, ev *Context) {
		p := newPipePair(t)
		writeBytes(t, p.fd[1], "x")
		// Escape hatch, so a failure cannot leave the loop blocked for a
		// minute: a proxy call wakes it.
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		handled, bail := false, false
		var readN int
		var timer *Timer
		started := make(chan struct{})
		loopDone := make(chan error, 1)
		go func() {
			mu.Lock()
			ev.SetTraceCallback(func(tp TracePoint) {
				switch tp {
				case TraceBeforeWait:
					mu.Unlock()
				case TraceAfterWait:
					mu.Lock()
				}
			})
			timer = ev.AddTimer(time.Now().Add(time.Minute), func(*Context, *Timer, time.Time) {})
			close(started)
			err := ev.LoopUntil(func() bool { return handled || bail })
			ev.SetTraceCallback(nil)
			timer.Free()
			mu.Unlock()
			loopDone <- err
		}()
		<-started
		mu.Lock() // only possible while the loop waits
		fde, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, fl FDFlags) {
			var buf [8]byte
			readN, _ = unix.Read(fde.Fd(), buf[:])
			handled = true
			fde.Free()
		})
		mu.Unlock()
		if err != nil {
			tp.Schedule(func(*Context) { bail = true })
			<-loopDone
			t.Fatal(err)
		}
		_ = fde
		select {
		case err := <-loopDone:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(testTimeout):
			tp.Schedule(func(*Context) { bail = true })
			<-loopDone
			t.Fatal("the waiting loop did not handle the fd added from another goroutine")
		}
		if !handled || readN != 1 {
			t.Errorf("handled=%v read %d bytes", handled, readN)
		}
		tp.Free()
	})
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
