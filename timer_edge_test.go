package tevent

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------
// Context.Now

// TestTimerEdgeNowFreshAfterWait: a trace callback that reads ev.Now() at
// the start of a loop turn (a natural thing for a latency probe to do)
// must not fix the value handlers see after the kernel wait: inside a
// timer's own handler ev.Now() is not before the timer's deadline, or
// ev.AddTimer(ev.Now().Add(d), h) would undershoot by the whole wait.
// (Found by review: the cache was cleared only at turn boundaries.)
func TestTimerEdgeNowFreshAfterWait(t *testing.T) {
	for _, point := range []TracePoint{TraceBeforeLoopOnce, TraceBeforeWait} {
		t.Run(point.String(), func(t *testing.T) {
			ev, err := New()
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Free()
			ev.SetTraceCallback(func(p TracePoint) {
				if p == point {
					_ = ev.Now()
				}
			})
			deadline := time.Now().Add(30 * time.Millisecond)
			var inHandler, nowArg time.Time
			fired := false
			ev.AddTimer(deadline, func(ev *Context, _ *Timer, now time.Time) {
				fired = true
				nowArg = now
				inHandler = ev.Now()
			})
			stop := time.Now().Add(testTimeout)
			for !fired && time.Now().Before(stop) {
				loopOnce(t, ev)
			}
			if !fired {
				t.Fatal("timer did not fire")
			}
			if inHandler.Before(deadline) {
				t.Errorf("ev.Now() in the timer's handler is %v before its deadline (the handler's now is %v after it): Now was cached before the kernel wait",
					deadline.Sub(inHandler), nowArg.Sub(deadline))
			}
		})
	}
}

// TestTimerEdgeNowNestedLoop: with AllowNesting, a nested loop turn run from a
// handler reads a fresh clock (not the outer turn's cached one), and the
// outer handler sees a time at least as late after the nested turn.
func TestTimerEdgeNowNestedLoop(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	ev.AllowNesting()
	var outerBefore, inner, outerAfter time.Time
	var innerDeadline time.Time
	done := false
	ev.NewImmediate().Schedule(func(ev *Context, _ *Immediate) {
		outerBefore = ev.Now()
		innerDeadline = time.Now().Add(20 * time.Millisecond)
		fired := false
		ev.AddTimer(innerDeadline, func(ev *Context, _ *Timer, _ time.Time) {
			fired = true
			inner = ev.Now()
		})
		stop := time.Now().Add(testTimeout)
		for !fired && time.Now().Before(stop) {
			if err := ev.LoopOnce(); err != nil {
				t.Errorf("nested LoopOnce: %v", err)
				return
			}
		}
		outerAfter = ev.Now()
		done = true
	})
	loopOnce(t, ev)
	if !done {
		t.Fatal("outer handler did not finish")
	}
	if inner.Before(innerDeadline) {
		t.Errorf("Now in a nested turn is %v before the timer's deadline (outer turn's cache leaked in)", innerDeadline.Sub(inner))
	}
	if outerAfter.Before(inner) || !outerAfter.After(outerBefore) {
		t.Errorf("outer Now after nesting %v, before %v, inner %v", outerAfter, outerBefore, inner)
	}
}

// ---------------------------------------------------------------------
// Context.Free and root timers

// TestTimerEdgeTimerReArmedDuringContextFree: a root timer whose handler
// frees the context is firing (not in the heap), so freeRootTimers does
// not see it. Re-arming it while Context.Free runs (here from the timer
// trace callback, which Free calls for every root timer it frees) must
// not arm it in the heap Free then throws away; before Update refused a
// freed context, its later Free indexed the new, empty slot table.
func TestTimerEdgeTimerReArmedDuringContextFree(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	var firing *Timer
	other := ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {})
	ev.SetTimerTraceCallback(func(te *Timer, p EventTracePoint) {
		if p == EventDetach && te == other && firing != nil {
			firing.Update(time.Now().Add(time.Hour))
		}
	})
	firing = ev.AddTimer(time.Now().Add(-time.Second), func(ev *Context, _ *Timer, _ time.Time) {
		ev.Free()
	})
	loopOnce(t, ev)
	if !ev.IsFreed() {
		t.Fatal("context not freed")
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Timer.Free after Context.Free panicked: %v", r)
		}
	}()
	firing.Free()
}

// TestTimerEdgeFreeRootTimerAfterContextFreeInHandler: a root timer's
// handler frees the context and then re-arms itself; the timer must
// never fire and freeing it later must not panic. (Passes: documents the
// behaviour.)
func TestTimerEdgeFreeRootTimerAfterContextFreeInHandler(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	calls := 0
	te := ev.AddTimer(time.Now().Add(-time.Second), func(ev *Context, te *Timer, _ time.Time) {
		calls++
		ev.Free()
		te.Update(time.Now().Add(-time.Second))
	})
	loopOnce(t, ev)
	if err := ev.LoopOnce(); err != ErrFreed {
		t.Fatalf("LoopOnce on a freed context: %v", err)
	}
	te.Free()
	te.Free()
	if calls != 1 {
		t.Fatalf("handler ran %d times", calls)
	}
}

// TestTimerEdgeContextFreeOrder: Context.Free frees the context's own
// timers (kept only in the heap) first, most recently armed first, then
// its other children newest first, and runs its destructors last, as
// the package documentation (doc.go) says a scope does. (Found by review: the root timers used to
// be freed after the destructors.)
func TestTimerEdgeContextFreeOrder(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	ev.SetTimerTraceCallback(func(te *Timer, p EventTracePoint) {
		if p == EventDetach {
			log = append(log, fmt.Sprintf("detach %d", te.Tag()))
		}
	})
	ev.OnFree(func() { log = append(log, "destructor") })
	s := ev.NewScope()
	s.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {}).SetTag(1)
	ev.AddTimer(time.Now().Add(time.Hour), func(*Context, *Timer, time.Time) {}).SetTag(2)
	ev.Free()
	want := []string{"detach 2", "detach 1", "destructor"}
	if !slices.Equal(log, want) {
		t.Errorf("Context.Free order %q, want %q (newest child first, destructors last)", log, want)
	}
}

// ---------------------------------------------------------------------
// Heap model tests (internal API)

type refEntry struct {
	when int64
	ord  uint64
	t    *Timer
}

func refLess(a, b refEntry) int {
	if a.when != b.when {
		if a.when < b.when {
			return -1
		}
		return 1
	}
	switch {
	case a.ord < b.ord:
		return -1
	case a.ord > b.ord:
		return 1
	}
	return 0
}

type heapModel struct {
	t      *testing.T
	th     *timerHeap
	ref    []refEntry // sorted
	cur    map[*Timer]refEntry
	armed  []*Timer
	idx    map[*Timer]int
	ord    uint64
	rng    *rand.Rand
	spread int64
}

func newHeapModel(t *testing.T, seed uint64, spread int64) *heapModel {
	return &heapModel{t: t, th: &timerHeap{}, cur: map[*Timer]refEntry{}, idx: map[*Timer]int{},
		rng: rand.New(rand.NewPCG(seed, 7)), spread: spread}
}

func (m *heapModel) arm(tm *Timer) { m.armSorted(tm, true) }

// armSorted arms tm; with sorted false the reference is only appended to
// (call m.sortRef before using it), so filling a large heap stays cheap.
func (m *heapModel) armSorted(tm *Timer, sorted bool) {
	when := m.rng.Int64N(m.spread)
	m.ord++
	e := refEntry{when, m.ord, tm}
	if sorted {
		i, _ := slices.BinarySearchFunc(m.ref, e, refLess)
		m.ref = slices.Insert(m.ref, i, e)
	} else {
		m.ref = append(m.ref, e)
	}
	m.cur[tm] = e
	m.idx[tm] = len(m.armed)
	m.armed = append(m.armed, tm)
	m.th.push(tm, when)
}

func (m *heapModel) forget(tm *Timer) {
	e := m.cur[tm]
	i, ok := slices.BinarySearchFunc(m.ref, e, refLess)
	if !ok {
		m.t.Fatalf("model lost %p", tm)
	}
	m.ref = slices.Delete(m.ref, i, i+1)
	delete(m.cur, tm)
	j := m.idx[tm]
	last := m.armed[len(m.armed)-1]
	m.armed[j] = last
	m.idx[last] = j
	m.armed = m.armed[:len(m.armed)-1]
	delete(m.idx, tm)
}

func (m *heapModel) disarm(tm *Timer) {
	m.forget(tm)
	m.th.disarm(tm)
}

func (m *heapModel) update(tm *Timer) {
	// As Timer.Update does: disarm (which may compact), then push.
	m.forget(tm)
	m.th.disarm(tm)
	m.arm(tm)
}

func (m *heapModel) pop() {
	e := m.th.peek()
	if len(m.ref) == 0 {
		if e != nil {
			m.t.Fatalf("heap returned an entry (when %d) but the model is empty", e.when)
		}
		return
	}
	if e == nil {
		m.t.Fatalf("heap empty but %d timers armed (live=%d, entries=%d)", len(m.ref), m.th.live, len(m.th.h))
	}
	want := m.ref[0]
	if e.t != want.t || e.when != want.when {
		m.t.Fatalf("heap top is when=%d (%p), want when=%d ord=%d (%p)", e.when, e.t, want.when, want.ord, want.t)
	}
	got := m.th.popLive()
	if got != want.t {
		m.t.Fatalf("popLive returned %p, want %p", got, want.t)
	}
	m.forget(got)
}

func (m *heapModel) sortRef() { slices.SortFunc(m.ref, refLess) }

// drain pops everything, checking each pop against the sorted reference
// (walked, not deleted from, so that a large drain is linear).
func (m *heapModel) drain() {
	for i, want := range m.ref {
		e := m.th.peek()
		if e == nil {
			m.t.Fatalf("heap empty after %d of %d pops (live=%d)", i, len(m.ref), m.th.live)
		}
		if e.t != want.t || e.when != want.when {
			m.t.Fatalf("pop %d of %d: heap top when=%d (%p), want when=%d ord=%d (%p)", i, len(m.ref), e.when, e.t, want.when, want.ord, want.t)
		}
		if got := m.th.popLive(); got != want.t {
			m.t.Fatalf("popLive returned %p, want %p", got, want.t)
		}
	}
	m.ref, m.armed = nil, nil
	clear(m.cur)
	clear(m.idx)
}

func (m *heapModel) check() {
	th := m.th
	if th.live != len(m.ref) {
		m.t.Fatalf("live=%d, model has %d", th.live, len(m.ref))
	}
	stale := 0
	for i := range th.h {
		if th.isStale(&th.h[i]) {
			stale++
		}
		if i > 0 {
			p := (i - 1) / 4
			if th.h[i].less(&th.h[p]) {
				m.t.Fatalf("heap property broken at %d (parent %d), size %d", i, p, len(th.h))
			}
		}
	}
	if stale != th.stale || len(th.h)-stale != th.live {
		m.t.Fatalf("entries=%d stale counted %d recorded %d live %d", len(th.h), stale, th.stale, th.live)
	}
	if got := len(th.armedNewestFirst()); got != len(m.ref) {
		m.t.Fatalf("armedNewestFirst() lists %d, want %d", got, len(m.ref))
	}
}

// TestTimerEdgeTimerHeapModel drives the heap directly at sizes around the
// edge cases (0, 1, 2, 5, the branchless limit and past it) with many equal
// deadlines, frees, re-arms (disarm then push, with compaction in between)
// and renumbering, checking every pop against a sorted reference.
func TestTimerEdgeTimerHeapModel(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 6, 17, 21, 85, 32768, 32769, 32770}
	for _, renum := range []bool{false, true} {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("n=%d/renumber=%v", n, renum), func(t *testing.T) {
				if renum {
					old := seqLimit
					seqLimit = uint32(n + 300)
					defer func() { seqLimit = old }()
				}
				m := newHeapModel(t, uint64(n)+1, int64(max(n/8, 2)))
				small := n < 200
				for range n {
					m.armSorted(&Timer{}, false)
				}
				m.sortRef()
				m.check()
				ops := 2000
				if !small {
					ops = 600
				}
				for k := range ops {
					switch r := m.rng.IntN(10); {
					case r < 3 && len(m.armed) > 0:
						m.disarm(m.armed[m.rng.IntN(len(m.armed))])
					case r < 6 && len(m.armed) > 0:
						m.update(m.armed[m.rng.IntN(len(m.armed))])
					case r < 8:
						m.pop()
					default:
						if len(m.armed) < n+3 {
							m.arm(&Timer{})
						} else {
							m.pop()
						}
					}
					if small || k%200 == 0 {
						m.check()
					}
				}
				// Top the heap back up to n, then drain it.
				for len(m.armed) < n {
					m.armSorted(&Timer{}, false)
				}
				m.sortRef()
				m.check()
				m.drain()
				if e := m.th.peek(); e != nil || m.th.live != 0 || len(m.th.h) != 0 {
					t.Fatalf("after draining: top %v live %d entries %d", e, m.th.live, len(m.th.h))
				}
			})
		}
	}
}

// TestTimerEdgeRenumberThroughLoop: repeated renumbering (seqLimit well above
// the live count, so it happens again and again) while timers are added,
// freed and re-armed from handlers with equal deadlines; slots are reused
// all the time. Firing order must be (deadline, last armed), a freed timer
// must never fire, and none may be lost.
func TestTimerEdgeRenumberThroughLoop(t *testing.T) {
	old := seqLimit
	seqLimit = 97
	defer func() { seqLimit = old }()

	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Now().Add(-time.Hour)

	type rec struct {
		id    int
		at    time.Time
		order int
	}
	order := 0
	live := map[int]*rec{}
	handles := map[int]*Timer{}
	freed := map[int]bool{}
	nextID := 0
	fires := 0
	var failure string

	var add func()
	var handler func(id int) TimerHandler
	handler = func(id int) TimerHandler {
		return func(ev *Context, te *Timer, _ time.Time) {
			if failure != "" {
				return
			}
			r, ok := live[id]
			if !ok || freed[id] {
				failure = fmt.Sprintf("timer %d fired but was freed or is not armed", id)
				return
			}
			// It must be the earliest armed timer.
			for _, o := range live {
				if o.at.Before(r.at) || (o.at.Equal(r.at) && o.order < r.order) {
					failure = fmt.Sprintf("timer %d (at +%v, order %d) fired before %d (at +%v, order %d)",
						id, r.at.Sub(base), r.order, o.id, o.at.Sub(base), o.order)
					return
				}
			}
			delete(live, id)
			fires++
			// Mutate from the handler: re-arm itself sometimes (to an
			// equal deadline as others), free others, add new ones.
			switch rng.IntN(6) {
			case 0:
				at := base.Add(time.Duration(rng.IntN(4)) * time.Millisecond)
				te.Update(at)
				live[id] = &rec{id, at, order}
				order++
			case 1:
				for oid := range live {
					handles[oid].Free()
					handles[oid].Free()
					freed[oid] = true
					delete(live, oid)
					break
				}
			case 2:
				for oid := range live {
					at := base.Add(time.Duration(rng.IntN(4)) * time.Millisecond)
					handles[oid].Update(at)
					live[oid] = &rec{oid, at, order}
					order++
					break
				}
			}
			if nextID < 3000 {
				add()
				// Keep the live count well under seqLimit: renumbering
				// sets the counter to the live count, and it must climb
				// back to seqLimit for the next renumbering.
				if len(live) < 50 && rng.IntN(2) == 0 {
					add()
				}
			}
		}
	}
	add = func() {
		id := nextID
		nextID++
		at := base.Add(time.Duration(rng.IntN(4)) * time.Millisecond)
		handles[id] = ev.AddTimer(at, handler(id))
		live[id] = &rec{id, at, order}
		order++
	}
	for range 60 {
		add()
	}
	stop := time.Now().Add(testTimeout)
	for len(live) > 0 && failure == "" && time.Now().Before(stop) {
		loopOnce(t, ev)
	}
	if failure != "" {
		t.Fatal(failure)
	}
	if len(live) > 0 {
		t.Fatalf("%d timers never fired (live=%d)", len(live), ev.loop.timers.live)
	}
	if ev.loop.timers.live != 0 {
		t.Fatalf("heap live=%d after all fired", ev.loop.timers.live)
	}
	if nextID < 1000 || fires < 1000 {
		t.Fatalf("test exercised too little: %d added, %d fired", nextID, fires)
	}
}

// ---------------------------------------------------------------------
// Slot reuse, wrappers

// TestTimerEdgeSlotReuseStaleEntry: a handler frees a due timer with the same
// deadline and adds a new one (which takes the freed slot). The freed
// timer's stale entry is still in the heap right below the top; it must
// not be taken for the new timer's live entry, and the new timer must
// fire after the older due ones.
func TestTimerEdgeSlotReuseStaleEntry(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	at := time.Now().Add(-time.Second)
	var got []string
	var b *Timer
	a := ev.AddTimer(at, func(ev *Context, _ *Timer, _ time.Time) {
		got = append(got, "a")
		b.Free()
		ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "d") })
	})
	b = ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "b") })
	ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "c") })
	_ = a
	stop := time.Now().Add(testTimeout)
	for ev.loop.timers.live > 0 && time.Now().Before(stop) {
		loopOnce(t, ev)
	}
	if s := strings.Join(got, ""); s != "acd" {
		t.Fatalf("fired %q, want \"acd\"", s)
	}
}

// TestTimerEdgeWrapperTimers: timers added through a wrapper interleave with
// main-context timers in (deadline, armed) order, are called with the
// wrapper and its hooks, and die with the wrapper; Update through the
// timer's own context works from the handler.
func TestTimerEdgeWrapperTimers(t *testing.T) {
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	var got []string
	w, err := ev.NewWrapper(WrapperHooks{
		BeforeTimerHandler: func(*Context, *Timer, time.Time) { got = append(got, "<") },
		AfterTimerHandler:  func(*Context, *Timer, time.Time) { got = append(got, ">") },
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Second)
	rearmed := false
	ev.AddTimer(at, func(c *Context, _ *Timer, _ time.Time) {
		if c != ev {
			t.Errorf("main timer called with %p", c)
		}
		got = append(got, "m1")
	})
	wt := w.AddTimer(at, func(c *Context, te *Timer, _ time.Time) {
		if c != w || te.Context() != w {
			t.Errorf("wrapper timer called with %p, Context %p", c, te.Context())
		}
		got = append(got, "w1")
		if !rearmed {
			rearmed = true
			te.Update(at) // after m2
		}
	})
	ev.AddTimer(at, func(*Context, *Timer, time.Time) { got = append(got, "m2") })
	dead := w.NewScope().AddTimer(at.Add(time.Millisecond), func(*Context, *Timer, time.Time) { got = append(got, "dead") })
	ev.AddTimer(at.Add(time.Millisecond), func(*Context, *Timer, time.Time) {
		got = append(got, "m3")
		w.Free()
	})
	w.AddTimer(at.Add(2*time.Millisecond), func(*Context, *Timer, time.Time) { got = append(got, "dead2") })
	_ = wt
	// "dead" is freed before it is due; "dead2" dies with the wrapper,
	// which m3 frees.
	dead.Free()
	stop := time.Now().Add(testTimeout)
	for ev.loop.timers.live > 0 && time.Now().Before(stop) {
		loopOnce(t, ev)
	}
	want := "m1 < w1 > m2 < w1 > m3"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("fired %q, want %q", s, want)
	}
}
