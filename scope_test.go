package tevent

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestScopeFreeOrder checks talloc's order: a scope frees its children
// newest first (recursively), then runs its destructors last added first.
func TestScopeFreeOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var order []string
		rec := func(s string) func() { return func() { order = append(order, s) } }

		s := ev.NewScope()
		s.OnFree(rec("s.d1"))
		c1 := s.NewScope()
		c1.OnFree(rec("c1"))
		g1 := c1.NewScope()
		g1.OnFree(rec("g1"))
		c2 := s.NewScope()
		c2.OnFree(rec("c2.d1"))
		c2.OnFree(rec("c2.d2"))
		s.OnFree(rec("s.d2"))
		c3 := s.NewScope()
		c3.OnFree(rec("c3"))
		c3.Free() // freed early: unlinked, not freed again with s
		if !c3.Freed() {
			t.Error("c3.Freed() false after Free")
		}

		s.Free()
		want := []string{"c3", "c2.d2", "c2.d1", "g1", "c1", "s.d2", "s.d1"}
		if !slices.Equal(order, want) {
			t.Errorf("free order %v, want %v", order, want)
		}
		for _, x := range []*Scope{s, c1, g1, c2} {
			if !x.Freed() {
				t.Error("a scope is not Freed() after its parent was freed")
			}
		}

		// Idempotent.
		s.Free()
		c1.Free()
		if len(order) != len(want) {
			t.Errorf("second Free ran destructors again: %v", order)
		}

		// A child of a freed scope is born freed; OnFree on a freed scope
		// runs at once.
		late := s.NewScope()
		if !late.Freed() {
			t.Error("child of a freed scope is not freed")
		}
		ran := false
		s.OnFree(func() { ran = true })
		if !ran {
			t.Error("OnFree on a freed scope did not run at once")
		}
	})
}

// TestScopeManyChildren: a child table past its first kidChunk slots (in
// chunks) keeps the rules of a small one: children freed early are
// unlinked, their slots reused, the rest freed newest first; emptied, it
// starts over.
func TestScopeManyChildren(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	s := ev.NewScope()
	var order []int
	kids := make(map[int]*Scope)
	next := 0
	add := func() {
		i := next
		next++
		c := s.NewScope()
		c.OnFree(func() { order = append(order, i) })
		kids[i] = c
	}
	for range 3*kidChunk + 10 {
		add()
	}
	// Free every third one early, in a scattered order, then add as
	// many again: they take the freed slots, in every chunk.
	var early []int
	for i := 0; i < next; i += 3 {
		early = append(early, i)
	}
	for k := range early {
		i := early[(k*7)%len(early)]
		kids[i].Free()
		delete(kids, i)
	}
	order = order[:0]
	for range len(early) + kidChunk {
		add()
	}
	if got, want := s.live, len(kids); got != want {
		t.Fatalf("live children %d, want %d", got, want)
	}
	s.Free()
	if len(order) != len(kids) {
		t.Fatalf("%d children freed with the scope, want %d", len(order), len(kids))
	}
	if !slices.IsSortedFunc(order, func(a, b int) int { return b - a }) {
		t.Errorf("children not freed newest first: %v...", order[:min(len(order), 20)])
	}

	// Emptied one by one, a big table starts over and grows again.
	s2 := ev.NewScope()
	var cs []*Scope
	for range 2*kidChunk + 1 {
		cs = append(cs, s2.NewScope())
	}
	for _, c := range cs {
		c.Free()
	}
	if s2.live != 0 || s2.slots() != 0 {
		t.Fatalf("emptied scope: %d live, %d slots", s2.live, s2.slots())
	}
	cs = cs[:0]
	for range 2*kidChunk + 1 {
		cs = append(cs, s2.NewScope())
	}
	s2.Free()
	for i, c := range cs {
		if !c.Freed() {
			t.Fatalf("child %d not freed with its scope", i)
		}
	}
}

// TestScopeFreesItsEvents: every kind of event owned by a scope is gone
// when the scope is freed, and the context's own events are untouched.
func TestScopeFreesItsEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		p := newSockPair(t)
		writeBytes(t, p.fd[1], "x")

		s := ev.NewScope()
		child := s.NewScope()
		fired := map[string]int{}
		s.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired["timer"]++ })
		child.AddTimer(time.Now().Add(-time.Second), func(*Context, *Timer, time.Time) { fired["child timer"]++ })
		fde, err := s.AddFD(p.give(0), FDRead, func(*Context, *FD, FDFlags) { fired["fd"]++ })
		if err != nil {
			t.Fatal(err)
		}
		fde.SetAutoClose()
		im := s.NewImmediate()
		im.Schedule(func(*Context, *Immediate) { fired["immediate"]++ })
		se, err := s.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { fired["signal"]++ })
		if err != nil {
			t.Fatal(err)
		}
		_ = se

		ctxTimer := 0
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { ctxTimer++ })

		s.Free()
		if fdIsOpen(p.fd[0]) {
			t.Error("auto-close fd still open after its scope was freed")
		}
		if im.Scheduled() {
			t.Error("immediate still scheduled after its scope was freed")
		}
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if len(fired) != 0 {
			t.Errorf("events of a freed scope fired: %v", fired)
		}
		if ctxTimer != 1 {
			t.Errorf("context timer fired %d times, want 1", ctxTimer)
		}
		// Adding to a freed scope.
		if _, err := s.AddFD(p.fd[1], FDWrite, func(*Context, *FD, FDFlags) {}); !errors.Is(err, ErrFreed) {
			t.Errorf("AddFD on a freed scope: %v, want ErrFreed", err)
		}
		if _, err := s.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {}); !errors.Is(err, ErrFreed) {
			t.Errorf("AddSignal on a freed scope: %v, want ErrFreed", err)
		}
		dead := s.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { fired["dead timer"]++ })
		dead.Update(time.Now())
		deadIm := s.NewImmediate()
		deadIm.Schedule(func(*Context, *Immediate) { fired["dead immediate"]++ })
		expectErr(t, "LoopOnce with only dead events", ev.LoopOnce(), ErrNoEvents)
		if len(fired) != 0 {
			t.Errorf("events added to a freed scope fired: %v", fired)
		}
		dead.Free()
		deadIm.Free()
	})
}

// TestScopeFreeStopsTimers: freeing a scope from a handler stops the
// scope's pending timers, including ones already due.
func TestScopeFreeStopsTimers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		s := ev.NewScope()
		var got []string
		now := time.Now()
		for _, name := range []string{"a", "b", "c"} {
			s.AddTimer(now.Add(-time.Millisecond), func(*Context, *Timer, time.Time) { got = append(got, name) })
		}
		ev.AddTimer(now.Add(-2*time.Millisecond), func(*Context, *Timer, time.Time) {
			got = append(got, "killer")
			s.Free()
		})
		ev.AddTimer(now, func(*Context, *Timer, time.Time) { got = append(got, "after") })
		if err := ev.LoopWait(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"killer", "after"}; !slices.Equal(got, want) {
			t.Errorf("fired %v, want %v", got, want)
		}
	})
}

func TestContextFreeRunsDestructors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var order []string
		ev.OnFree(func() { order = append(order, "ctx") })
		s := ev.NewScope()
		s.OnFree(func() { order = append(order, "s") })
		s2 := ev.NewScope()
		s2.OnFree(func() { order = append(order, "s2") })
		// Freeing the root scope frees the context.
		ev.Scope.Free()
		if !ev.IsFreed() {
			t.Fatal("ev.Scope.Free() did not free the context")
		}
		if want := []string{"s2", "s", "ctx"}; !slices.Equal(order, want) {
			t.Errorf("order %v, want %v", order, want)
		}
		ev.Free()
		if len(order) != 3 {
			t.Errorf("second Free ran destructors again: %v", order)
		}
	})
}

// TestFreeFromOwnHandler frees each kind of event from inside its own
// handler: it must not fire again, and the loop must notice it is gone.
func TestFreeFromOwnHandler(t *testing.T) {
	t.Run("fd", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			p := newSockPair(t)
			writeBytes(t, p.fd[1], "x") // never read: stays readable
			n := 0
			fde, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, fde *FD, _ FDFlags) {
				n++
				fde.Free()
				fde.Free()
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = fde
			sentinel := false
			ev.AddTimer(time.Now().Add(20*time.Millisecond), func(*Context, *Timer, time.Time) { sentinel = true })
			driveUntil(t, ev, func() bool { return sentinel })
			if n != 1 {
				t.Errorf("fd handler ran %d times, want 1", n)
			}
			expectErr(t, "LoopOnce after everything fired", ev.LoopOnce(), ErrNoEvents)
		})
	})
	t.Run("timer", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			n := 0
			ev.AddTimer(time.Now(), func(ev *Context, te *Timer, _ time.Time) {
				n++
				te.Free()
				te.Free()
			})
			if err := ev.LoopWait(); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("timer ran %d times, want 1", n)
			}
		})
	})
	t.Run("immediate", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			n := 0
			im := ev.NewImmediate()
			var h ImmediateHandler
			h = func(ev *Context, im *Immediate) {
				n++
				im.Schedule(h) // rescheduled, then freed: must not run
				im.Free()
				im.Free()
				im.Schedule(h) // no-op on a freed immediate
			}
			im.Schedule(h)
			if err := ev.LoopWait(); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("immediate ran %d times, want 1", n)
			}
			if im.Scheduled() {
				t.Error("freed immediate reports Scheduled")
			}
		})
	})
	t.Run("signal", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			n := 0
			_, err := ev.AddSignal(syscall.SIGUSR1, 0, func(ev *Context, se *Signal, _ syscall.Signal, _ int, _ *SigInfo) {
				n++
				se.Free()
				se.Free()
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Kill(unix.Getpid(), unix.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			driveUntil(t, ev, func() bool { return n > 0 })
			if n != 1 {
				t.Errorf("signal handler ran %d times, want 1", n)
			}
			expectErr(t, "LoopOnce after the signal event freed itself", ev.LoopOnce(), ErrNoEvents)
		})
	})
	t.Run("scope", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			s := ev.NewScope()
			var got []string
			s.AddTimer(time.Now(), func(*Context, *Timer, time.Time) {
				got = append(got, "first")
				s.Free()
			})
			s.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { got = append(got, "second") })
			s.NewImmediate() // never scheduled
			if err := ev.LoopWait(); err != nil {
				t.Fatal(err)
			}
			if want := []string{"first"}; !slices.Equal(got, want) {
				t.Errorf("ran %v, want %v", got, want)
			}
		})
	})
	t.Run("proxy", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, ev *Context) {
			tp, err := ev.NewThreadProxy()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			sent := make(chan error, 1)
			go func() {
				sent <- tp.Schedule(func(ev *Context) {
					n++
					tp.Free()
					tp.Free()
				})
			}()
			waitChan(t, "Schedule", sent)
			if err := ev.LoopWait(); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("proxy call ran %d times, want 1", n)
			}
			expectErr(t, "Schedule after the proxy freed itself", tp.Schedule(func(*Context) {}), ErrProxyFreed)
		})
	})
}

// TestFreeFromOtherHandler frees a ready event of each kind from another
// event's handler that runs first: the freed one never fires.
func TestFreeFromOtherHandler(t *testing.T) {
	type target struct {
		name string
		// setup makes a ready event that records into fired, and returns
		// its Free.
		setup func(t *testing.T, ev *Context, fired *[]string) func()
	}
	rec := func(fired *[]string, s string) { *fired = append(*fired, s) }
	targets := []target{
		{"fd", func(t *testing.T, ev *Context, fired *[]string) func() {
			p := newSockPair(t)
			writeBytes(t, p.fd[1], "x")
			fde, err := ev.AddFD(p.give(0), FDRead, func(*Context, *FD, FDFlags) { rec(fired, "fd") })
			if err != nil {
				t.Fatal(err)
			}
			fde.SetAutoClose()
			return fde.Free
		}},
		{"timer", func(t *testing.T, ev *Context, fired *[]string) func() {
			return ev.AddTimer(time.Now().Add(-time.Second), func(*Context, *Timer, time.Time) { rec(fired, "timer") }).Free
		}},
		{"future timer", func(t *testing.T, ev *Context, fired *[]string) func() {
			return ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) { rec(fired, "future timer") }).Free
		}},
		{"immediate", func(t *testing.T, ev *Context, fired *[]string) func() {
			im := ev.NewImmediate()
			im.Schedule(func(*Context, *Immediate) { rec(fired, "immediate") })
			return im.Free
		}},
		{"signal", func(t *testing.T, ev *Context, fired *[]string) func() {
			se, err := ev.AddSignal(syscall.SIGUSR2, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { rec(fired, "signal") })
			if err != nil {
				t.Fatal(err)
			}
			return se.Free
		}},
		{"scope", func(t *testing.T, ev *Context, fired *[]string) func() {
			s := ev.NewScope()
			s.AddTimer(time.Now().Add(-time.Second), func(*Context, *Timer, time.Time) { rec(fired, "scope timer") })
			im := s.NewImmediate()
			im.Schedule(func(*Context, *Immediate) { rec(fired, "scope immediate") })
			s.NewScope().AddTimer(time.Now(), func(*Context, *Timer, time.Time) { rec(fired, "grandchild timer") })
			return s.Free
		}},
		{"proxy", func(t *testing.T, ev *Context, fired *[]string) func() {
			tp, err := ev.NewThreadProxy()
			if err != nil {
				t.Fatal(err)
			}
			// Queued but not yet run when the proxy is freed: dropped.
			for range 3 {
				if err := tp.Schedule(func(*Context) { rec(fired, "proxy call") }); err != nil {
					t.Fatal(err)
				}
			}
			return tp.Free
		}},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, ev *Context) {
				var fired []string
				// The killer is an immediate scheduled before the target
				// is created, so it runs first whatever the target is.
				killer := ev.NewImmediate()
				var free func()
				killer.Schedule(func(*Context, *Immediate) {
					rec(&fired, "killer")
					free()
					free() // idempotent
				})
				free = tg.setup(t, ev, &fired)
				if err := ev.LoopWait(); err != nil {
					t.Fatalf("LoopWait: %v", err)
				}
				if want := []string{"killer"}; !slices.Equal(fired, want) {
					t.Errorf("ran %v, want %v", fired, want)
				}
			})
		})
	}
}

// TestFreeSignalFromSiblingHandler: two events share one arrival of a
// signal; the first to run frees the second, which must not run.
func TestFreeSignalFromSiblingHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ev *Context) {
		var got []string
		var a, b *Signal
		var err error
		a, err = ev.AddSignal(syscall.SIGUSR1, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {
			got = append(got, "a")
			b.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err = ev.AddSignal(syscall.SIGUSR1, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) {
			got = append(got, "b")
			a.Free()
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Kill(unix.Getpid(), unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		driveUntil(t, ev, func() bool { return len(got) > 0 })
		if len(got) != 1 {
			t.Errorf("handlers ran %v, want exactly one", got)
		}
		a.Free()
		b.Free()
	})
}

// TestFreeContextInsideHandler frees the context from each kind of
// handler: the loop call returns nil, everything after reports ErrFreed,
// and handles made afterwards never fire.
func TestFreeContextInsideHandler(t *testing.T) {
	kinds := []string{"fd", "timer", "immediate", "signal", "proxy", "scope destructor"}
	for _, kind := range kinds {
		for _, driver := range []string{"LoopOnce", "LoopWait", "LoopUntil"} {
			t.Run(kind+"/"+driver, func(t *testing.T) {
				forEachBackend(t, func(t *testing.T, ev *Context) {
					testFreeContextInside(t, ev, kind, driver)
				})
			})
		}
	}
}

func testFreeContextInside(t *testing.T, ev *Context, kind, driver string) {
	p := newSockPair(t)
	// An auto-close fd, disabled, that the Free must close.
	keep, err := ev.AddFD(p.give(1), FDWrite, func(*Context, *FD, FDFlags) {})
	if err != nil {
		t.Fatal(err)
	}
	keep.SetFlags(0)
	keep.SetAutoClose()
	destroyed := false
	ev.NewScope().OnFree(func() { destroyed = true })
	// A guard: if the loop does not stop, this fails the test and frees
	// the context itself.
	ev.AddTimer(time.Now().Add(testTimeout), func(ev *Context, _ *Timer, _ time.Time) {
		t.Error("loop did not return after the context was freed")
		ev.Free()
	})

	ran, late := false, 0
	kill := func(ev *Context) {
		ran = true
		// Work queued just before the Free must never run.
		ev.NewImmediate().Schedule(func(*Context, *Immediate) { late++ })
		ev.AddTimer(time.Now().Add(-time.Hour), func(*Context, *Timer, time.Time) { late++ })
		ev.Free()
		if !ev.IsFreed() {
			t.Error("IsFreed() false inside the handler after Free")
		}
	}
	switch kind {
	case "fd":
		writeBytes(t, p.fd[1], "x")
		fde, err := ev.AddFD(p.fd[0], FDRead, func(ev *Context, _ *FD, _ FDFlags) { kill(ev) })
		if err != nil {
			t.Fatal(err)
		}
		_ = fde
	case "timer":
		ev.AddTimer(time.Now(), func(ev *Context, _ *Timer, _ time.Time) { kill(ev) })
	case "immediate":
		ev.NewImmediate().Schedule(func(ev *Context, _ *Immediate) { kill(ev) })
	case "signal":
		if _, err := ev.AddSignal(syscall.SIGUSR1, 0, func(ev *Context, _ *Signal, _ syscall.Signal, _ int, _ *SigInfo) { kill(ev) }); err != nil {
			t.Fatal(err)
		}
		if err := unix.Kill(unix.Getpid(), unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	case "proxy":
		tp, err := ev.NewThreadProxy()
		if err != nil {
			t.Fatal(err)
		}
		if err := tp.Schedule(kill); err != nil {
			t.Fatal(err)
		}
		if err := tp.Schedule(func(*Context) { late++ }); err != nil {
			t.Fatal(err)
		}
	case "scope destructor":
		s := ev.NewScope()
		s.OnFree(func() { kill(ev) })
		ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { s.Free() })
	}

	switch driver {
	case "LoopOnce":
		err = ev.LoopOnce()
	case "LoopWait":
		err = ev.LoopWait()
	case "LoopUntil":
		err = ev.LoopUntil(func() bool { return false })
	}
	if err != nil {
		t.Fatalf("%s returned %v after the context was freed by a handler, want nil", driver, err)
	}
	if !ran {
		t.Fatal("the handler that frees the context did not run")
	}
	if !ev.IsFreed() {
		t.Fatal("context not freed")
	}
	if late != 0 {
		t.Errorf("%d events ran after the context was freed", late)
	}
	if !destroyed {
		t.Error("scope destructor did not run")
	}
	if fdIsOpen(p.fd[1]) {
		t.Error("auto-close fd still open after the context was freed")
	}

	expectErr(t, "LoopOnce", ev.LoopOnce(), ErrFreed)
	expectErr(t, "LoopWait", ev.LoopWait(), ErrFreed)
	expectErr(t, "LoopUntil", ev.LoopUntil(func() bool { return false }), ErrFreed)
	fde, err := ev.AddFD(p.fd[0], FDRead, func(*Context, *FD, FDFlags) { late++ })
	expectErr(t, "AddFD", err, ErrFreed)
	if fde != nil {
		t.Error("AddFD on a freed context returned an event")
	}
	_, err = ev.AddSignal(syscall.SIGUSR1, 0, func(*Context, *Signal, syscall.Signal, int, *SigInfo) { late++ })
	expectErr(t, "AddSignal", err, ErrFreed)
	_, err = ev.NewThreadProxy()
	expectErr(t, "NewThreadProxy", err, ErrFreed)
	te := ev.AddTimer(time.Now(), func(*Context, *Timer, time.Time) { late++ })
	if te == nil {
		t.Fatal("AddTimer on a freed context returned nil")
	}
	te.Update(time.Now())
	te.SetTag(1)
	te.Free()
	im := ev.NewImmediate()
	if im == nil {
		t.Fatal("NewImmediate on a freed context returned nil")
	}
	im.Schedule(func(*Context, *Immediate) { late++ })
	if im.Scheduled() {
		t.Error("immediate of a freed context reports Scheduled")
	}
	im.Free()
	if !ev.NewScope().Freed() {
		t.Error("NewScope on a freed context is not freed")
	}
	ev.Free() // idempotent
	if late != 0 {
		t.Errorf("%d handlers ran on a freed context", late)
	}
}
